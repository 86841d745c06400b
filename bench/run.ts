/**
 * The benchmark suite (`npm run bench`): kernels, HC hypergradients (T = 100, 1000), HVPs of the
 * FR MLP, and the FR forward/reverse grid — each against JAX and PyTorch where the peer
 * environment exists (.venv-peers, see BENCHMARKS.md). Every case runs in its own process (clean
 * peak memory); implementations alternate A B A B so that machine drift cancels in the ratios.
 * Peers' values and hypergradients are checked against rfho's before their times count.
 *   node dist/bench/run.js [--quick] [--only kernels,revolve,hc,linear,hvp,fr,slope,service,serve,queue] [--out bench/results]
 *   (revolve: Revolve planning against the dynamic programme it replaced, bench/revolve.ts; linear:
 *   the linear model's forward, truncated and kept-logits passes against the same without them,
 *   bench/linearModes.ts)
 *   (service: the event loop's delay in-process and jobs side by side, bench/service.ts; serve: the
 *   HTTP service's latency while jobs run, bench/serve.ts; queue: jobs over BullMQ, bench/queue.ts,
 *   with a Redis at RFHO_TEST_REDIS)
 *   (fr-reverse and fr-forward pick half of the FR grid)
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { emit, machine, median } from './common';
import { lineChart, writePlot } from '../lib/report/plots';
import { HcData, hcDataAvailable } from './problems';

const root = path.resolve(__dirname, '..', '..');
const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const opt = (name: string, d: string) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : d);
const quick = flag('quick');
const only = new Set(opt('only', 'kernels,revolve,hc,linear,hvp,fr,slope,service,serve,queue').split(','));
const outDir = path.resolve(opt('out', path.join(root, 'bench', 'results')));
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rfho-bench-'));
const python = path.join(root, '.venv-peers', 'bin', 'python');
const havePeers = fs.existsSync(python);

type Row = Record<string, unknown> & { impl: string; seconds?: number; peak_mb?: number };

function runCase(impl: 'rfho' | 'jax' | 'torch', args: Record<string, unknown>, timeoutS = 1800): Row | null {
  const { env: extraEnv, ...caseArgs } = args as Record<string, unknown> & { env?: Record<string, string> };
  const folder = String(caseArgs.case).startsWith('fr') ? `fr-m${caseArgs.m}` : caseArgs.data ? `${caseArgs.case}-${caseArgs.data}` : String(caseArgs.case);
  const json = JSON.stringify({ folder: path.join(dataDir, folder), ...caseArgs });
  const cmd = impl === 'rfho' ? [process.execPath, [path.join(__dirname, 'case.js'), json]]
    : [python, [path.join(root, 'bench', 'peers', `${impl}_bench.py`), json]];
  // extra environment (RFHO_SPARSE_DATA=0 for the dense-data comparison) for rfho only
  const env = impl === 'rfho' && extraEnv ? { ...process.env, ...extraEnv } : process.env;
  const r = spawnSync(cmd[0] as string, cmd[1] as string[], { encoding: 'utf8', timeout: timeoutS * 1000, maxBuffer: 1 << 26, env });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('CASE ') || l.startsWith('PEER '));
  if (!line) {
    console.error(`  ${impl} ${json}: failed (${r.signal ?? r.status}) ${(r.stderr ?? '').split('\n').slice(-4).join(' | ')}`);
    return null;
  }
  const row = JSON.parse(line.slice(5));
  return { ...row, impl };
}

function relDiff(a: number[], b: number[]): number {
  let num = 0, den = 0;
  a.forEach((x, i) => {
    num = Math.max(num, Math.abs(x - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  });
  return num / Math.max(den, 1e-30);
}

/** Checks a peer against rfho: same validation value and hypergradient to float32 rounding. */
function agrees(peer: Row, ours: Row, tol: number): { ok: boolean; detail: string } {
  const dv = Math.abs((peer.value as number) - (ours.value as number)) / Math.max(Math.abs(ours.value as number), 1e-30);
  const keys = ['grad_head', 'grad_groups'].filter((k) => Array.isArray(ours[k]) && Array.isArray(peer[k]));
  let dg = 0;
  for (const k of keys) dg = Math.max(dg, relDiff(peer[k] as number[], ours[k] as number[]));
  for (const k of ['grad_lr', 'grad_mu']) if (typeof ours[k] === 'number' && typeof peer[k] === 'number') dg = Math.max(dg, Math.abs((peer[k] as number) - (ours[k] as number)) / Math.max(Math.abs(ours[k] as number), 1e-30));
  return { ok: dv <= tol && dg <= tol, detail: `value ${dv.toExponential(1)}, hypergradient ${dg.toExponential(1)}` };
}

const results: Row[] = [];

function compare(label: Record<string, unknown>, impls: ('rfho' | 'jax' | 'torch')[], args: Record<string, unknown>, rounds: number, tol = 2e-3): void {
  const rows: Record<string, Row[]> = {};
  for (let r = 0; r < rounds; r++) {
    for (const impl of impls) {
      if (impl !== 'rfho' && !havePeers) continue;
      const row = runCase(impl, args);
      if (row) (rows[impl] ??= []).push(row);
    }
  }
  const ours = rows.rfho?.[0];
  const summary: Record<string, unknown> = { ...label };
  for (const [impl, rs] of Object.entries(rows)) {
    const sec = median(rs.map((x) => x.seconds as number));
    const peak = Math.max(...rs.map((x) => x.peak_mb as number));
    summary[`${impl}_s`] = +sec.toFixed(3);
    if (rs.length > 1) summary[`${impl}_runs_s`] = rs.map((x) => +(x.seconds as number).toFixed(3));
    summary[`${impl}_peak_mb`] = +peak.toFixed(0);
    if (impl !== 'rfho' && ours) {
      const check = agrees(rs[0], ours, tol);
      summary[`${impl}_agrees`] = check.ok;
      summary[`${impl}_check`] = check.detail;
      if (check.ok) {
        summary[`speedup_vs_${impl}`] = +(sec / (summary.rfho_s as number)).toFixed(2);
        summary[`memory_ratio_vs_${impl}`] = +((summary.rfho_peak_mb as number) / peak).toFixed(3);
      }
    }
  }
  if (ours && typeof ours.trajectory_mb === 'number') summary.rfho_trajectory_mb = +(ours.trajectory_mb as number).toFixed(1);
  if (ours && typeof ours.recomputed === 'number') summary.rfho_recomputed = ours.recomputed;
  results.push(summary as Row);
  emit(summary);
}

/**
 * The bar's Forward-HG slope, in training steps of the same library: rfho's from one process that
 * interleaves training steps, Forward-HG at m = 4 and 16, and the products one tangent direction
 * must do (bench/case.ts frSlope); JAX's from its jacfwd times at m = 4 and 16 (T = 100: the FR
 * rows of this run, or measured here when `--only slope` left them out) over its own jit-compiled
 * training step (fr-train).
 */
function forwardSlope(): void {
  const ours = runCase('rfho', { case: 'fr-slope', m: 4, T: 20, reps: 5 });
  const row: Record<string, unknown> = { bench: 'fr', method: 'forward-slope' };
  if (ours) {
    row.rfho_train_step_ms = +((ours.train_step_s as number) * 1e3).toFixed(2);
    row.rfho_slope_ms = +((ours.slope_s as number) * 1e3).toFixed(2);
    row.rfho_slope_steps = +(ours.slope_steps as number).toFixed(2);
    row.rfho_tangent_products_ms = +((ours.tangent_products_s as number) * 1e3).toFixed(2);
    row.rfho_tangent_products_steps = +(ours.tangent_products_steps as number).toFixed(2);
  }
  const jaxTrain = havePeers ? runCase('jax', { case: 'fr-train', m: 4, T: 100, reps: 3 }) : null;
  const fwd = (m: number) => (results.find((r) => r.bench === 'fr' && r.method === 'forward' && r.m === m && r.T === 100)?.jax_s as number | undefined)
    ?? (havePeers ? (runCase('jax', { case: 'fr-forward', m, T: 100, reps: 1 })?.seconds as number | undefined) : undefined);
  const j4 = fwd(4), j16 = fwd(16);
  if (jaxTrain && j4 !== undefined && j16 !== undefined) {
    const step = (jaxTrain.seconds as number) / 100, slope = (j16 - j4) / 12 / 100;
    row.jax_train_step_ms = +(step * 1e3).toFixed(2);
    row.jax_slope_ms = +(slope * 1e3).toFixed(2);
    row.jax_slope_steps = +(slope / step).toFixed(2);
  }
  results.push(row as Row);
  emit(row);
}

async function main() {
  fs.mkdirSync(outDir, { recursive: true });
  console.log(`# rfho benchmark suite on ${machine()}${havePeers ? '' : ' (peers skipped: no .venv-peers; see BENCHMARKS.md)'}`);
  // Sections that are programs of their own, each in a fresh process.
  for (const [section, file] of [['kernels', 'kernels.js'], ['revolve', 'revolve.js'], ['linear', 'linearModes.js'], ['service', 'service.js'], ['serve', 'serve.js'], ['queue', 'queue.js']] as const) {
    if (!only.has(section)) continue;
    const r = spawnSync(process.execPath, [path.join(__dirname, file), ...(quick ? ['--quick'] : [])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    process.stdout.write(r.stdout);
    for (const l of r.stdout.split('\n')) if (l.startsWith('BENCH ')) results.push({ impl: section, ...JSON.parse(l.slice(6)) });
  }
  if (only.has('hc')) {
    compare({ bench: 'hc', T: 100 }, ['rfho', 'jax', 'torch'], { case: 'hc', T: 100, reps: 3 }, quick ? 1 : 3);
    if (!quick) compare({ bench: 'hc', T: 1000 }, ['rfho', 'jax'], { case: 'hc', T: 1000, reps: 1 }, 2);
    // the same with rfho's sparse data layout turned off: what the dense products alone give
    compare({ bench: 'hc', T: 100, data: 'dense (RFHO_SPARSE_DATA=0)' }, ['rfho', 'jax'], { case: 'hc', T: 100, reps: 3, env: { RFHO_SPARSE_DATA: '0' } }, quick ? 1 : 3);
    // Dense data: Fashion-MNIST (about half the pixels non-zero) and a standardized Gaussian
    // matrix of another width. Each data set is written once by a short run first, so that the
    // timed runs read the same raw files as the peers (building them is not the benchmark's peak).
    const dense: { data: HcData; T: number; dtype?: 'float64'; rounds: number }[] = [
      { data: 'fashion', T: 100, rounds: 3 }, { data: 'fashion', T: 1000, rounds: 2 },
      { data: 'fashion', T: 100, dtype: 'float64', rounds: 3 }, { data: 'gaussian-300', T: 100, rounds: 3 },
    ];
    for (const { data, T, dtype, rounds } of dense) {
      if (quick && (T > 100 || dtype)) continue;
      if (!hcDataAvailable(data)) {
        console.log(`# hc on ${data}: skipped (install Debian's dataset-fashion-mnist for this row)`);
        continue;
      }
      runCase('rfho', { case: 'hc', T: 1, reps: 0, data, dtype });
      compare({ bench: 'hc', T, data, ...(dtype ? { dtype } : {}) }, ['rfho', 'jax'], { case: 'hc', T, reps: T > 100 ? 1 : 3, data, dtype }, quick ? 1 : rounds);
    }
  }
  if (only.has('hvp')) {
    const rows: Record<string, Row[]> = {};
    for (let r = 0; r < (quick ? 1 : 2); r++) {
      for (const impl of ['rfho', 'jax'] as const) {
        if (impl === 'jax' && !havePeers) continue;
        const row = runCase(impl, { case: 'hvp', m: 1, reps: 3, ks: [1, 8, 64] });
        if (row) (rows[impl] ??= []).push(row);
      }
    }
    for (const k of [1, 8, 64]) {
      const s: Record<string, unknown> = { bench: 'hvp', k };
      for (const [impl, rs] of Object.entries(rows)) {
        const g = median(rs.map((x) => x.grad_seconds as number)), h = median(rs.map((x) => x[`hvp${k}_seconds`] as number));
        s[`${impl}_grad_s`] = +g.toFixed(4);
        s[`${impl}_hvp_per_direction_s`] = +(h / k).toFixed(4);
        s[`${impl}_hvp_direction_over_grad`] = +(h / k / g).toFixed(2);
      }
      if (rows.jax && rows.rfho) s.speedup_vs_jax = +((s.jax_hvp_per_direction_s as number) / (s.rfho_hvp_per_direction_s as number)).toFixed(2);
      results.push(s as Row);
      emit(s);
    }
  }
  // `fr` is the whole grid; `fr-reverse` and `fr-forward` its halves
  const frReverse = only.has('fr') || only.has('fr-reverse'), frForward = only.has('fr') || only.has('fr-forward');
  if (frReverse || frForward) {
    // BENCHMARKS.md's grid is m ∈ {1, 4, 16, 64} × T ∈ {100, 400, 1600}; T = 1600 runs checkpointed
    // only (JAX's unrolled trajectory would need ~40 GB), and forward mode, linear in T, at T = 400
    // for m = 4 only (the flat memory line of the paper's figure; m = 16 there would take ~16 min).
    const ms = quick ? [4] : [1, 4, 16, 64];
    const Ts = quick ? [100] : [100, 400];
    // Cases of under ~15 s a run get three interleaved rounds (rfho, peer, rfho, peer, ...; medians):
    // the thinnest margins of the bar (Forward-HG at m = 1) are theirs. The long ones get one.
    const rounds = (fast: boolean) => (quick || !fast ? 1 : 3);
    if (frReverse) for (const m of ms) for (const T of Ts) compare({ bench: 'fr', method: 'reverse', m, T }, ['rfho', 'jax', ...(T === 100 && m === 4 ? ['torch' as const] : [])], { case: 'fr-reverse', m, T, reps: 1 }, rounds(T === 100), 1e-2);
    if (frReverse) for (const T of quick ? [100] : [100, 400, 1600]) {
      compare({ bench: 'fr', method: 'reverse-checkpointed-sqrtT', m: 4, T }, ['rfho', 'jax'], { case: 'fr-reverse-ckpt', m: 4, T, reps: 1 }, 1, 1e-2);
      if (T >= 400) compare({ bench: 'fr', method: 'reverse-checkpointed-T/10', m: 4, T }, ['rfho'], { case: 'fr-reverse-ckpt10', m: 4, T, reps: 1 }, 1);
    }
    if (frForward) for (const m of ms) compare({ bench: 'fr', method: 'forward', m, T: 100 }, ['rfho', 'jax'], { case: 'fr-forward', m, T: 100, reps: 1 }, rounds(m <= 4), 1e-2);
    if (frForward && !quick) compare({ bench: 'fr', method: 'forward', m: 4, T: 400 }, ['rfho', 'jax'], { case: 'fr-forward', m: 4, T: 400, reps: 1 }, 1, 1e-2);
  }
  if (only.has('slope') && !quick) forwardSlope();
  // named by date and the sections run; `node dist/bench/results-md.js` makes RESULTS.md from the newest rows
  const file = path.join(outDir, `${new Date().toISOString().slice(0, 10)}-${[...only].join('-')}.json`);
  fs.writeFileSync(file, JSON.stringify({ machine: machine(), date: new Date().toISOString(), results }, null, 1));
  const fr = results.filter((r) => r.bench === 'fr');
  if (fr.length) {
    const timeRows = fr.filter((r) => r.T === 100).flatMap((r) => [
      { m: r.m, seconds: r.rfho_s, series: `rfho ${r.method}` },
      ...(r.jax_s !== undefined ? [{ m: r.m, seconds: r.jax_s, series: `JAX ${r.method}` }] : []),
    ]);
    await writePlot(lineChart({ title: 'FR hypergradient time against the number of hyperparameters (T = 100)', data: timeRows, x: 'm', y: 'seconds', series: 'series', xTitle: 'm (+2: learning rate, momentum)' }), path.join(outDir, 'fr_time_vs_m'));
    const memRows = fr.filter((r) => r.m === 4).flatMap((r) => [
      { T: r.T, mb: r.rfho_peak_mb, series: `rfho ${r.method}` },
      ...(r.jax_peak_mb !== undefined ? [{ T: r.T, mb: r.jax_peak_mb, series: `JAX ${r.method}` }] : []),
    ]);
    await writePlot(lineChart({ title: 'FR peak resident memory against T (m = 4)', data: memRows, x: 'T', y: 'mb', series: 'series', yTitle: 'peak RSS (MB)', logY: true }), path.join(outDir, 'fr_memory_vs_T'));
  }
  console.log(`# results: ${file}`);
  fs.rmSync(dataDir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
