/**
 * Every code block of the README compiles and runs: the TypeScript ones are type-checked against the
 * package's declarations (strict) and run; blocks marked "(continues the library example above)" run
 * after it; the server example is examples/server.js itself; the job-module example runs as a job.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');

interface Block {
  lang: string;
  code: string;
  line: number;
}

function blocks(): Block[] {
  const out: Block[] = [];
  const re = /^```(\w+)\n([\s\S]*?)^```$/gm;
  for (let m = re.exec(readme); m; m = re.exec(readme)) out.push({ lang: m[1], code: m[2], line: readme.slice(0, m.index).split('\n').length });
  return out;
}

const CONTINUES = '// (continues the library example above)';

/** A folder where `rfho` resolves to this checkout, as it would from an installed package. */
function sandbox(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rfho-readme-'));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(root, path.join(dir, 'node_modules', 'rfho'), 'dir');
  return dir;
}

/** Type-checks (strict) and compiles TypeScript programs in `dir`, then runs each; returns their outputs. */
function compileAndRun(dir: string, programs: { [file: string]: string }): { [file: string]: string } {
  for (const [file, code] of Object.entries(programs)) fs.writeFileSync(path.join(dir, file), code);
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true, target: 'es2022', module: 'commonjs', esModuleInterop: true, outDir: 'out', skipLibCheck: true,
      typeRoots: [path.join(root, 'node_modules', '@types')], types: ['node'],
    },
    files: Object.keys(programs),
  }));
  const tsc = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { encoding: 'utf8' });
  assert.equal(tsc.status, 0, `the README's TypeScript does not compile:\n${tsc.stdout}${tsc.stderr}`);
  const outputs: { [file: string]: string } = {};
  for (const file of Object.keys(programs)) {
    const js = path.join(dir, 'out', file.replace(/\.ts$/, '.js'));
    const r = spawnSync(process.execPath, [js], { encoding: 'utf8', cwd: dir, timeout: 240_000 });
    assert.equal(r.status, 0, `${file} failed (${r.signal ?? r.status}):\n${r.stderr}`);
    outputs[file] = r.stdout;
  }
  return outputs;
}

describe('README code blocks', function () {
  this.timeout(600_000);
  const all = blocks();

  it('the library example, the blocks that continue it, and the autodiff example type-check and run', () => {
    const ts = all.filter((b) => b.lang === 'ts');
    const library = ts.find((b) => b.code.includes('rf.bilevel(') && !b.code.startsWith(CONTINUES));
    const continuations = ts.filter((b) => b.code.startsWith(CONTINUES));
    const others = ts.filter((b) => b !== library && !continuations.includes(b));
    assert.ok(library, 'the library example');
    assert.ok(continuations.length >= 2, 'the async and checkpointing blocks continue it');
    // imports stay at the top; the rest runs in an async function (the continuations use await)
    const imports = (code: string) => code.split('\n').filter((l) => l.startsWith('import ')).join('\n');
    const body = (code: string) => code.split('\n').filter((l) => !l.startsWith('import ')).join('\n');
    const wrap = (code: string) => `${imports(code)}\n(async () => {\n${body(code)}\n})().catch((e) => { console.error(e); process.exit(1); });\n`;
    const programs: { [file: string]: string } = { 'library.ts': wrap([library!.code, ...continuations.map((b) => b.code)].join('\n{\n') + '\n}'.repeat(continuations.length)) };
    others.forEach((b, i) => (programs[`block${i}-line${b.line}.ts`] = wrap(b.code)));
    const out = compileAndRun(sandbox(), programs);
    // the library example prints the validation error and the learning rate's hypergradient, then 5 records
    const lines = out['library.ts'].trim().split('\n');
    const [value, dlr] = lines[0].split(' ').map(Number);
    assert.ok(value > 0 && value < 5 && Number.isFinite(dlr), lines[0]);
    assert.match(out['library.ts'], /\[\s*[\d.]+(,\s*[\d.]+){4}\s*\]/, 'five validation errors');
    const autodiff = Object.keys(out).find((f) => f.startsWith('block'))!;
    assert.match(out[autodiff], /Tensor\(\[3\], float64\) \[ 3, 12, 27 \]/, 'grad of Σx³ at [1, 2, 3], printed with its values');
  });

  it('the server example is examples/server.js, which parses', () => {
    const server = all.find((b) => b.lang === 'js' && b.code.includes('http.createServer'));
    assert.ok(server);
    assert.equal(server!.code, fs.readFileSync(path.join(root, 'examples', 'server.js'), 'utf8'));
    const r = spawnSync(process.execPath, ['--check', path.join(root, 'examples', 'server.js')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });

  it('the job-module example runs as a job of a JobRunner', () => {
    const module = all.find((b) => b.lang === 'js' && b.code.startsWith('// my-problem.js'));
    const use = all.find((b) => b.lang === 'js' && b.code.includes("require.resolve('./my-problem.js')"));
    assert.ok(module && use);
    const dir = sandbox();
    fs.writeFileSync(path.join(dir, 'my-problem.js'), module!.code);
    fs.writeFileSync(path.join(dir, 'use.js'), `const rf = require('rfho');\n${use!.code}`);
    const r = spawnSync(process.execPath, ['use.js'], { encoding: 'utf8', cwd: dir, timeout: 240_000 });
    assert.equal(r.status, 0, `${r.signal ?? r.status}: ${r.stderr}`);
    const [validation] = r.stdout.trim().split(' ');
    assert.ok(Number(validation) > 0 && Number(validation) < 5, r.stdout);
  });
});

describe('bench/RESULTS.md', () => {
  it('is what bench/results-md.ts makes from the newest results files (never edited by hand), and the results files are named by date', async () => {
    const { resultsMarkdown } = await import('../bench/results-md');
    assert.equal(fs.readFileSync(path.join(root, 'bench', 'RESULTS.md'), 'utf8'), resultsMarkdown(path.join(root, 'bench', 'results')), 'run node dist/bench/results-md.js');
    for (const f of fs.readdirSync(path.join(root, 'bench', 'results')).filter((x) => x.endsWith('.json'))) assert.match(f, /^\d{4}-\d{2}-\d{2}-[\w-]+\.json$/);
  });
});
