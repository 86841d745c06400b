/**
 * Plots with Vega-Lite (compiled and rendered headless by Vega to SVG) and PNG rasterised from the
 * SVG by resvg. Both libraries are ESM, loaded on first use.
 */
import * as fs from 'node:fs';

// TypeScript compiles `import()` to `require()` under CommonJS; Vega needs a real dynamic import.
const dynamicImport = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<any>;

export type VegaLiteSpec = Record<string, unknown>;

/** Renders a Vega-Lite spec to SVG text. */
export async function renderSvg(spec: VegaLiteSpec): Promise<string> {
  const vega = await dynamicImport('vega');
  const vl = await dynamicImport('vega-lite');
  const compiled = vl.compile({ background: 'white', ...spec }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  return view.toSVG();
}

/** Writes `<base>.svg` and, when the rasteriser is available, `<base>.png`. Returns the files written. */
export async function writePlot(spec: VegaLiteSpec, base: string): Promise<string[]> {
  const svg = await renderSvg(spec);
  fs.writeFileSync(`${base}.svg`, svg);
  const files = [`${base}.svg`];
  try {
    const mod = await dynamicImport('@resvg/resvg-js');
    const Resvg = mod.Resvg ?? mod.default?.Resvg;
    const png = new Resvg(svg, { background: 'white', fitTo: { mode: 'zoom', value: 2 }, font: { loadSystemFonts: true } }).render().asPng();
    fs.writeFileSync(`${base}.png`, png);
    files.push(`${base}.png`);
  } catch {
    // PNG is a convenience: the SVG is the plot.
  }
  return files;
}

export function lineChart(opts: { title: string; data: Record<string, unknown>[]; x: string; y: string; series?: string; xTitle?: string; yTitle?: string; logY?: boolean }): VegaLiteSpec {
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

export function histogram(opts: { title: string; data: Record<string, unknown>[]; field: string; group: string; bins?: number; xTitle?: string }): VegaLiteSpec {
  return {
    title: opts.title,
    width: 480,
    height: 280,
    data: { values: opts.data },
    mark: { type: 'bar', opacity: 0.7 },
    encoding: {
      x: { field: opts.field, type: 'quantitative', bin: { maxbins: opts.bins ?? 40 }, title: opts.xTitle ?? opts.field },
      y: { aggregate: 'count', type: 'quantitative', stack: null, title: 'examples' },
      color: { field: opts.group, type: 'nominal', title: null },
    },
  };
}
