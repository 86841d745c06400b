/**
 * Plots with Vega-Lite (compiled and rendered headless by Vega to SVG) and PNG rasterised from the
 * SVG by resvg. Both libraries are ESM, loaded on first use.
 */
import * as fs from 'node:fs';

// TypeScript compiles `import()` to `require()` under CommonJS; Vega needs a real dynamic import.
const dynamicImport = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<any>;

export type VegaLiteSpec = Record<string, unknown>;
/** A chart's title, with an optional subtitle that says what is measured. */
export type Title = string | { text: string; subtitle?: string };

/**
 * The font the plots ask for, by name, and the one the PNG rasteriser is given: DejaVu Sans or
 * Liberation Sans (Debian's fonts-dejavu-core / fonts-liberation), else the system's sans-serif.
 * Naming it keeps the SVG and the PNG alike (resvg's own default for "sans-serif" is often a serif).
 */
const FONT_FAMILY = 'DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif';
const FONT_FILES = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf', '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf',
  '/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf', '/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf',
].filter((f) => fs.existsSync(f));

/**
 * Vega and Vega-Lite are optional (peer) dependencies: a library user needs no plotting. Absent,
 * reports are written without plots and one warning says how to get them.
 */
let warnedMissing = false;
async function loadVega(): Promise<{ vega: any; vl: any } | null> {
  try {
    return { vega: await dynamicImport('vega'), vl: await dynamicImport('vega-lite') };
  } catch {
    if (!warnedMissing) {
      warnedMissing = true;
      process.emitWarning('plots skipped: the optional packages vega and vega-lite are not installed (npm install vega vega-lite @resvg/resvg-js)', { code: 'RFHO_NO_PLOTS' });
    }
    return null;
  }
}

/** Renders a Vega-Lite spec to SVG text (null without Vega). */
export async function renderSvg(spec: VegaLiteSpec): Promise<string | null> {
  const lib = await loadVega();
  if (!lib) return null;
  const compiled = lib.vl.compile({ background: 'white', config: { font: FONT_FAMILY }, ...spec }).spec;
  const view = new lib.vega.View(lib.vega.parse(compiled), { renderer: 'none' });
  return view.toSVG();
}

/** Writes `<base>.svg` and, when the rasteriser is available, `<base>.png`. Returns the files written (none without Vega). */
export async function writePlot(spec: VegaLiteSpec, base: string): Promise<string[]> {
  const svg = await renderSvg(spec);
  if (svg === null) return [];
  fs.writeFileSync(`${base}.svg`, svg);
  const files = [`${base}.svg`];
  try {
    const mod = await dynamicImport('@resvg/resvg-js');
    const Resvg = mod.Resvg ?? mod.default?.Resvg;
    const png = new Resvg(svg, {
      background: 'white', fitTo: { mode: 'zoom', value: 2 },
      font: { loadSystemFonts: true, fontFiles: FONT_FILES, defaultFontFamily: FONT_FILES.length ? (FONT_FILES[0].includes('DejaVu') ? 'DejaVu Sans' : 'Liberation Sans') : 'sans-serif', sansSerifFamily: FONT_FILES.length ? (FONT_FILES[0].includes('DejaVu') ? 'DejaVu Sans' : 'Liberation Sans') : undefined },
    }).render().asPng();
    fs.writeFileSync(`${base}.png`, png);
    files.push(`${base}.png`);
  } catch {
    // PNG is a convenience: the SVG is the plot.
  }
  return files;
}

export function lineChart(opts: { title: Title; data: Record<string, unknown>[]; x: string; y: string; series?: string; xTitle?: string; yTitle?: string; logY?: boolean }): VegaLiteSpec {
  return {
    title: opts.title,
    width: 480,
    height: 280,
    data: { values: opts.data },
    mark: { type: 'line', point: opts.data.length <= 60 },
    encoding: {
      x: { field: opts.x, type: 'quantitative', title: opts.xTitle ?? opts.x },
      y: { field: opts.y, type: 'quantitative', title: opts.yTitle ?? opts.y, scale: opts.logY ? { type: 'log' } : { zero: false } },
      ...(opts.series ? { color: { field: opts.series, type: 'nominal', title: null, legend: { labelLimit: 400 } } } : {}),
    },
  };
}

export function histogram(opts: { title: Title; data: Record<string, unknown>[]; field: string; group: string; bins?: number; xTitle?: string; extent?: [number, number] }): VegaLiteSpec {
  return {
    title: opts.title,
    width: 480,
    height: 280,
    data: { values: opts.data },
    mark: { type: 'bar', opacity: 0.7 },
    encoding: {
      x: { field: opts.field, type: 'quantitative', bin: { maxbins: opts.bins ?? 40, ...(opts.extent ? { extent: opts.extent } : {}) }, title: opts.xTitle ?? opts.field },
      y: { aggregate: 'count', type: 'quantitative', stack: null, title: 'examples' },
      color: { field: opts.group, type: 'nominal', title: null },
    },
  };
}

/** Bars with their values written on them: one bar per `x`, several panels side by side by `panel`. */
export function barChart(opts: { title: Title; data: Record<string, unknown>[]; x: string; y: string; panel: string; yTitle: string; format?: string }): VegaLiteSpec {
  const order = Array.from(new Set(opts.data.map((d) => String(d[opts.panel])))); // panels in the data's order
  return {
    title: opts.title,
    data: { values: opts.data },
    facet: { column: { field: opts.panel, type: 'nominal', title: null, sort: order } },
    resolve: { scale: { x: 'independent' } },
    spec: {
      width: 220,
      height: 240,
      layer: [
        { mark: { type: 'bar' }, encoding: { x: { field: opts.x, type: 'nominal', sort: null, title: null, axis: { labelAngle: 0 } }, y: { field: opts.y, type: 'quantitative', title: opts.yTitle, scale: { domain: [0, 1] } }, color: { field: opts.x, type: 'nominal', legend: null } } },
        { mark: { type: 'text', dy: -8 }, encoding: { x: { field: opts.x, type: 'nominal', sort: null }, y: { field: opts.y, type: 'quantitative' }, text: { field: opts.y, type: 'quantitative', format: opts.format ?? '.3f' } } },
      ],
    },
  };
}

/** A vertical rule at x = value with a label, layered over a chart whose x is quantitative. */
export function withRule(spec: VegaLiteSpec, value: number, label: string): VegaLiteSpec {
  const { title, width, height, data, ...rest } = spec as Record<string, unknown>;
  return {
    title, width, height, data,
    layer: [
      rest,
      { data: { values: [{ at: value, label }] }, mark: { type: 'rule', color: 'black', strokeDash: [4, 3] }, encoding: { x: { field: 'at', type: 'quantitative' } } },
      { data: { values: [{ at: value, label }] }, mark: { type: 'text', align: 'left', dx: 4, dy: -4, baseline: 'bottom' }, encoding: { x: { field: 'at', type: 'quantitative' }, y: { value: 0 }, text: { field: 'label' } } },
    ],
  };
}

/** One line chart per series, stacked, each with its own y scale (log where `logY` names the series). */
export function panels(opts: { title: Title; data: Record<string, unknown>[]; x: string; y: string; series: string; xTitle: string; logY: (series: string) => boolean }): VegaLiteSpec {
  const names = Array.from(new Set(opts.data.map((d) => String(d[opts.series]))));
  return {
    title: opts.title,
    vconcat: names.map((name) => ({
      width: 480,
      height: 120,
      data: { values: opts.data.filter((d) => String(d[opts.series]) === name) },
      mark: { type: 'line', point: opts.data.length <= 180 },
      encoding: {
        x: { field: opts.x, type: 'quantitative', title: opts.xTitle },
        y: { field: opts.y, type: 'quantitative', title: name, scale: opts.logY(name) ? { type: 'log' } : { zero: false } },
      },
    })),
  };
}

/** A matrix as coloured cells, rows top to bottom (a task-interaction matrix). */
export function heatMap(opts: { title: Title; matrix: number[][]; rowTitle: string; columnTitle: string; valueTitle: string }): VegaLiteSpec {
  const data = opts.matrix.flatMap((row, j) => row.map((value, k) => ({ row: j, column: k, value })));
  return {
    title: opts.title,
    width: 300,
    height: 300,
    data: { values: data },
    mark: 'rect',
    encoding: {
      x: { field: 'column', type: 'ordinal', title: opts.columnTitle },
      y: { field: 'row', type: 'ordinal', title: opts.rowTitle },
      color: { field: 'value', type: 'quantitative', title: opts.valueTitle, scale: { scheme: 'blues' } },
    },
  };
}
