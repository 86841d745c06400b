/**
 * The architecture as the folder layout states it: each folder of lib/ is a layer that imports only
 * from layers below it (or its own), and no module imports itself back through others (no cycles).
 * Read from the sources' import statements, static and dynamic.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as rfho from '../lib';
import * as rfhoInternal from '../lib/internal';

const lib = path.resolve(__dirname, '..', '..', 'lib');

/** Bottom to top; folders on one line are one layer (they may import each other, never in a cycle of files). */
const LAYERS: string[][] = [
  ['errors', 'config'], // error classes and how values are shown in messages; the settings (rf.config)
  ['native'], // the addon's loader
  ['tensor', 'util'], // tensors, scopes, validation; stepwise computations
  ['kernels'], // validated native calls
  ['autodiff', 'ops'], // the engine, differentiable ops, transforms (ops record on the engine; transforms use ops)
  ['models', 'hyperparameters'], // parameter layouts, models, losses; hyperparameters and their constraints
  ['dynamics'], // training dynamics, optimize
  ['hyper'], // problems, hypergradients, trajectories, the outer loop
  ['data', 'io', 'report'], // datasets, weight files, run folders and plots
  ['experiments'], // the paper's experiments
  ['jobs'], // jobs in worker threads and over BullMQ
  ['serve'], // the HTTP service
  ['cli'], // the command line
];

function rank(folder: string): number {
  const r = LAYERS.findIndex((l) => l.includes(folder));
  return r < 0 ? LAYERS.length : r; // lib/index.ts and lib/internal.ts (the two entry points): the top
}

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

/** The lib/ files a source file imports at run time (import/export from, import(), require(); `import type` is erased). */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8').replace(/^(?:import|export) type [^;]*;/gm, '');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from\s+|import\(\s*|require\(\s*)'(\.[^']+)'/g)) {
    const target = path.resolve(path.dirname(file), m[1]);
    const resolved = [`${target}.ts`, path.join(target, 'index.ts')].find((f) => fs.existsSync(f));
    if (resolved) out.push(resolved);
  }
  return out;
}

const folderOf = (file: string) => path.relative(lib, file).split(path.sep)[0].replace(/\.ts$/, '');

describe('architecture', () => {
  const files = sources(lib);
  const graph = new Map(files.map((f) => [f, importsOf(f)]));

  it('every folder of lib/ has a layer, and no import goes from a lower layer to a higher one', () => {
    for (const f of files) {
      const folder = folderOf(f);
      if (folder !== 'index' && folder !== 'internal') assert.ok(LAYERS.some((l) => l.includes(folder)), `lib/${folder}/ has no layer in this test: add it where it belongs`);
    }
    const wrong: string[] = [];
    for (const [f, deps] of graph) {
      for (const d of deps) if (rank(folderOf(d)) > rank(folderOf(f))) wrong.push(`${path.relative(lib, f)} imports ${path.relative(lib, d)}`);
    }
    assert.deepEqual(wrong, []);
  });

  it('no import cycles between modules', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (f: string) => {
      state.set(f, 'open');
      stack.push(f);
      for (const d of graph.get(f) ?? []) {
        if (state.get(d) === 'open') cycles.push([...stack.slice(stack.indexOf(d)), d].map((x) => path.relative(lib, x)).join(' → '));
        else if (!state.has(d)) visit(d);
      }
      stack.pop();
      state.set(f, 'done');
    };
    for (const f of files) if (!state.has(f)) visit(f);
    assert.deepEqual(cycles, []);
  });

  it("only the autodiff layer reads the engine's state: ops state their implementations and autodiff/implementations picks one", () => {
    const readers: string[] = [];
    for (const f of files) {
      if (folderOf(f) === 'autodiff') continue;
      const text = fs.readFileSync(f, 'utf8');
      for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*'[^']*autodiff\/engine'/g)) {
        if (m[1].split(',').map((n) => n.trim()).includes('engine')) readers.push(path.relative(lib, f));
      }
    }
    assert.deepEqual(readers, []);
  });
});

describe('the public surface', () => {
  it("a name both in rf and in rf.kernels is two things (an op and its raw kernel), and rfho/internal's building blocks are not in rf", () => {
    const rf = rfho as unknown as Record<string, unknown> & { kernels: Record<string, unknown> };
    const internal = rfhoInternal as unknown as Record<string, unknown>;
    const both = Object.keys(rf.kernels).filter((k) => k in rf);
    assert.deepEqual(both.filter((k) => rf[k] === rf.kernels[k]), [], 'one home for a name with one meaning');
    assert.ok(both.length > 0 && both.every((k) => typeof rf[k] === 'function'));
    assert.deepEqual(Object.keys(internal).filter((k) => k in rf), [], 'internals exported flat');
    for (const name of ['xentGradJvp', 'padSlice', 'assembleSlices', 'takePrimalUnused']) assert.ok(!(name in rf), name);
  });
});
