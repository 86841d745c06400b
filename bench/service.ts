/**
 * rfho inside a server: how long the event loop waits while hyper-optimization runs in-process
 * (monitorEventLoopDelay), and what running jobs side by side costs against one after the other.
 *   node dist/bench/service.js [--quick] [--rounds N]
 * Prints `BENCH {json}` lines:
 *   bench 'loop-delay': p50/p99/max of the event loop's delay while npm start's hyper-cleaning
 *     problem (runHyperCleaning) and the FR problem (reverseHGAsync; forwardHGAsync, m = 1) run.
 *     Also the FR problem as a job in a worker thread, the main thread's delay meanwhile.
 *   bench 'jobs': npm start's problem (25 hyper-iterations) as one CLI process (today's path), in
 *     this thread (warm: the digits already parsed), as one job in a worker, two jobs one after the
 *     other (2 threads each) and two at once (1 thread each), and two CLI processes one after the
 *     other and at once; medians of interleaved rounds.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as rf from '../lib';
import { runHyperCleaning } from '../lib/experiments/hyperCleaning';
import { hyperCleaningKind } from '../lib/jobs/kinds/hyperCleaning';
import { RunFolder } from '../lib/report/output';
import { emit, machine, median, nowSeconds } from './common';
import { frProblem } from './problems';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const rounds = argv.includes('--rounds') ? Number(argv[argv.indexOf('--rounds') + 1]) : quick ? 1 : 3;
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'rfho-bench-service-'));
const HC_ITERATIONS = 25;
const cli = path.resolve(__dirname, '..', 'lib', 'cli', 'main.js');

/** Event-loop delay (ms) while `work` runs: p50, p99, max. */
async function loopDelay(work: () => Promise<unknown>): Promise<{ p50_ms: number; p99_ms: number; max_ms: number; seconds: number }> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  const t0 = nowSeconds();
  h.enable();
  await work();
  h.disable();
  const ms = (ns: number) => +(ns / 1e6).toFixed(2);
  return { p50_ms: ms(h.percentile(50)), p99_ms: ms(h.percentile(99)), max_ms: ms(h.max), seconds: +(nowSeconds() - t0).toFixed(2) };
}

/** The main thread's loop delay while the FR problem's Reverse-HG runs as a job in a worker thread. */
async function loopDelayWithWorker(): Promise<void> {
  const runner = new rf.JobRunner({ dataDir: fs.mkdtempSync(path.join(scratch, 'frjob-')), kinds: { fr: path.join(__dirname, 'kinds', 'fr.js') }, concurrency: 1, threads: 2 });
  const r = await loopDelay(() => runner.submit({ kind: 'fr', options: { m: 4, T: 100, iterations: 2 } }).result);
  emit({ bench: 'loop-delay', problem: 'FR reverse m = 4 (+2), T = 100, 2 hyper-iterations as a job (worker thread)', ...r });
}

async function loopDelays(): Promise<void> {
  const hc = await loopDelay(() => runHyperCleaning({ hyperIterations: quick ? 10 : 40 }));
  emit({ bench: 'loop-delay', problem: `hyper-cleaning (npm start's problem, ${quick ? 10 : 40} hyper-iterations)`, ...hc });
  for (const method of ['reverse', 'forward'] as const) {
    const m = method === 'reverse' ? 4 : 1;
    const fr = frProblem(path.join(scratch, `fr-m${m}`), m);
    try {
      const run = async () => {
        const r = method === 'reverse' ? await rf.reverseHGAsync(fr.problem, { T: 100 }) : await rf.forwardHGAsync(fr.problem, { T: 100 });
        Object.values(r.grads).forEach((g) => g.dispose());
        r.state.dispose();
      };
      // one run first: the delays of V8's first compilation of the step code are not the loop's
      await run();
      emit({ bench: 'loop-delay', problem: `FR ${method} m = ${m} (+2), T = 100`, ...(await loopDelay(run)) });
    } finally {
      fr.dispose();
    }
  }
  await loopDelayWithWorker();
}

async function jobsTime(concurrency: number, threads: number, count: number): Promise<number> {
  const runner = new rf.JobRunner({ dataDir: fs.mkdtempSync(path.join(scratch, 'jobs-')), concurrency, threads });
  const t0 = nowSeconds();
  const jobs = Array.from({ length: count }, () => runner.submit({ kind: 'hyper-cleaning', options: { hyperIterations: HC_ITERATIONS } }));
  await Promise.all(jobs.map((j) => j.result));
  return nowSeconds() - t0;
}

async function inProcess(): Promise<number> {
  const t0 = nowSeconds();
  await hyperCleaningKind.run({ hyperIterations: HC_ITERATIONS }, { folder: RunFolder.create(undefined, scratch, 'inproc'), resume: false });
  return nowSeconds() - t0;
}

function cliRun(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'hyper-cleaning', '--iterations', String(HC_ITERATIONS), '--quiet', '--out', fs.mkdtempSync(path.join(scratch, 'cli-'))], { stdio: 'ignore' });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`cli exited ${code}`))));
  });
}

async function cliTime(together: boolean): Promise<number> {
  const t0 = nowSeconds();
  if (together) await Promise.all([cliRun(), cliRun()]);
  else {
    await cliRun();
    await cliRun();
  }
  return nowSeconds() - t0;
}

async function jobs(): Promise<void> {
  const t: Record<string, number[]> = { inproc: [], cli: [], alone: [], backToBack: [], together: [], cliBackToBack: [], cliTogether: [] };
  for (let r = 0; r < rounds; r++) {
    t.inproc.push(await inProcess());
    const c0 = nowSeconds();
    await cliRun();
    t.cli.push(nowSeconds() - c0);
    t.alone.push(await jobsTime(1, 2, 1));
    t.backToBack.push(await jobsTime(1, 2, 2));
    t.together.push(await jobsTime(2, 1, 2));
    t.cliBackToBack.push(await cliTime(false));
    t.cliTogether.push(await cliTime(true));
  }
  const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)]));
  emit({
    bench: 'jobs', problem: `hyper-cleaning, npm start's problem, ${HC_ITERATIONS} hyper-iterations`, rounds, cores: rf.cores(),
    // today's path is one CLI process (npm start); in-process repeats have the digits parsed already
    one_cli_run_s: +m.cli.toFixed(2), one_job_s: +m.alone.toFixed(2), one_job_over_cli_run: +(m.alone / m.cli).toFixed(3),
    in_process_warm_s: +m.inproc.toFixed(2), one_job_over_in_process_warm: +(m.alone / m.inproc).toFixed(3),
    two_jobs_back_to_back_s: +m.backToBack.toFixed(2), two_jobs_together_s: +m.together.toFixed(2),
    together_over_back_to_back: +(m.together / m.backToBack).toFixed(3),
    two_cli_back_to_back_s: +m.cliBackToBack.toFixed(2), two_cli_together_s: +m.cliTogether.toFixed(2),
    cli_together_over_back_to_back: +(m.cliTogether / m.cliBackToBack).toFixed(3),
  });
}

async function main(): Promise<void> {
  console.log(`# rfho in a server, on ${machine()}`);
  await loopDelays();
  await jobs();
  fs.rmSync(scratch, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
