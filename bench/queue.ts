/**
 * Jobs over BullMQ: the queue's overhead per job against the same jobs on an in-process JobRunner,
 * and a sweep of hyper-cleaning runs over W = 1 and W = 2 worker processes.
 *   node dist/bench/queue.js --redis redis://127.0.0.1:6379 [--quick]
 * Prints `BENCH {json}` lines. Needs a Redis (skips with a message without --redis or RFHO_TEST_REDIS).
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as rf from '../lib';
import { QueueClient } from '../lib/jobs/queue';
import { emit, machine, median, nowSeconds } from './common';

const argv = process.argv.slice(2);
const redis = argv.includes('--redis') ? argv[argv.indexOf('--redis') + 1] : process.env.RFHO_TEST_REDIS;
const quick = argv.includes('--quick');
const cli = path.resolve(__dirname, '..', 'lib', 'cli', 'main.js');
// A tiny job (the overhead dominates) and a sweep member of npm start's size.
const TINY = { trainSize: 100, validSize: 100, testSize: 100, corrupted: 20, R: 50, T: 5, hyperIterations: 1, evalEvery: 1 };
const SWEEP_MEMBER = { hyperIterations: quick ? 5 : 15 };

async function startWorkers(n: number, data: string, prefix: string): Promise<ChildProcess[]> {
  return Promise.all(Array.from({ length: n }, () => new Promise<ChildProcess>((resolve, reject) => {
    // one kernel thread per worker process: W workers share the W cores of this machine
    const child = spawn(process.execPath, [cli, 'worker', '--redis', redis!, '--prefix', prefix, '--data', data, '--threads', String(n === 1 ? 2 : 1), '--kinds', path.join(__dirname, 'kinds')], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout!.on('data', (d) => String(d).includes('ready') && resolve(child));
    child.on('exit', (code) => reject(new Error(`worker exited ${code}`)));
  })));
}

async function stop(workers: ChildProcess[]): Promise<void> {
  await Promise.all(workers.map((w) => new Promise((r) => {
    w.removeAllListeners('exit');
    w.on('exit', r);
    w.kill('SIGTERM');
  })));
}

async function main(): Promise<void> {
  if (!redis) {
    console.log('# queue benchmark skipped: no Redis (--redis URL or RFHO_TEST_REDIS)');
    return;
  }
  console.log(`# rfho jobs over BullMQ (${redis}), on ${machine()}`);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'rfho-bench-queue-'));
  const prefix = `rfho-bench-${process.pid}`;
  const client = new QueueClient({ redis, prefix });
  try {
    // Overhead: N tiny jobs one after the other, in-process runner against one queue worker.
    const n = quick ? 5 : 15;
    const runner = new rf.JobRunner({ dataDir: path.join(scratch, 'local'), concurrency: 1, threads: 2 });
    const local: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = nowSeconds();
      await runner.submit({ kind: 'hyper-cleaning', options: { ...TINY, seed: i } }).result;
      local.push(nowSeconds() - t0);
    }
    const workers = await startWorkers(1, path.join(scratch, 'queued'), prefix);
    const queued: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = nowSeconds();
      await client.follow(await client.submit({ kind: 'hyper-cleaning', options: { ...TINY, seed: i } }, `tiny-${i}`));
      queued.push(nowSeconds() - t0);
    }
    await stop(workers);
    emit({ bench: 'queue-overhead', jobs: n, in_process_job_s: +median(local).toFixed(3), queued_job_s: +median(queued).toFixed(3), overhead_per_job_ms: Math.round(1000 * (median(queued) - median(local))) });

    // A sweep over W worker processes.
    const seeds = quick ? [0, 1, 2, 3] : [0, 1, 2, 3, 4, 5];
    const times: Record<number, number> = {};
    for (const W of [1, 2]) {
      const ws = await startWorkers(W, path.join(scratch, `sweep-w${W}`), prefix);
      const t0 = nowSeconds();
      await client.follow(await client.submitSweep(seeds.map((seed) => ({ kind: 'hyper-cleaning', options: { ...SWEEP_MEMBER, seed } })), `sweep-w${W}`));
      times[W] = nowSeconds() - t0;
      await stop(ws);
    }
    // Forward-HG of the FR problem (m = 16 group weights + 2) in one shard on one worker, and in two
    // shards on two workers: each trains the whole trajectory and carries its share of the directions.
    const fwd: Record<number, number> = {};
    for (const W of [1, 2]) {
      const ws = await startWorkers(W, path.join(scratch, `forward-w${W}`), prefix);
      const t0 = nowSeconds();
      await client.follow(await client.submitForwardSharded({ kind: 'fr', options: { m: 16 }, T: quick ? 20 : 100 }, W, `forward-w${W}`));
      fwd[W] = nowSeconds() - t0;
      await stop(ws);
    }
    emit({ bench: 'queue-forward-sharded', problem: `FR, m = 16 (+2), T = ${quick ? 20 : 100}`, w1_s: +fwd[1].toFixed(2), w2_s: +fwd[2].toFixed(2), speedup_w2: +(fwd[1] / fwd[2]).toFixed(2) });
    emit({ bench: 'queue-sweep', jobs: seeds.length, job: `hyper-cleaning, npm start's problem, ${SWEEP_MEMBER.hyperIterations} hyper-iterations`, w1_s: +times[1].toFixed(2), w2_s: +times[2].toFixed(2), speedup_w2: +(times[1] / times[2]).toFixed(2) });
  } finally {
    await client.close();
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
