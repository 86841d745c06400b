/**
 * Jobs over BullMQ on a real Redis: worker processes take queued jobs, a worker killed mid-job
 * (SIGKILL) has its job taken up by another, which resumes from the shared folder's checkpoint to
 * the bits of an uninterrupted run; sweeps gather their children in one table; ids are idempotent.
 * Redis: RFHO_TEST_REDIS (started by .ci/run), else a redis-server started here; skipped, saying
 * so, where neither exists.
 */
import * as assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as rf from '../lib';
import { QueueClient, ShardedHypergradient } from '../lib/jobs/queue';
import { createJob } from './fixtures/weightedProblem';
import { NO_REDIS, TestRedis, testRedis } from './redisServer';

const cli = path.resolve(__dirname, '..', 'lib', 'cli', 'main.js');
const HC = { trainSize: 150, validSize: 150, testSize: 150, corrupted: 40, R: 100, T: 20, hyperIterations: 3, evalEvery: 2 };

function tmp(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

interface WorkerProcess {
  child: ChildProcess;
  log: string[];
}

describe('jobs over BullMQ on Redis', function () {
  this.timeout(600000);
  let redis: string;
  let server: TestRedis | null = null;
  const workers: WorkerProcess[] = [];
  let client: QueueClient;
  let data: string;
  const prefix = `rfho-test-${process.pid}-${Date.now()}`;

  before(async function () {
    server = await testRedis();
    if (!server) {
      console.log(`      queue tests skipped: ${NO_REDIS}`);
      this.skip();
    }
    redis = server.url;
    data = tmp('rfho-queue-');
    client = new QueueClient({ redis, prefix });
  });

  const startWorker = async (dir = data, keys = prefix): Promise<WorkerProcess> => {
    const child = spawn(process.execPath, [cli, 'worker', '--redis', redis, '--prefix', keys, '--data', dir, '--threads', '1', '--lock-duration', '2000', '--kinds', path.join(__dirname, 'fixtures')], { stdio: ['ignore', 'pipe', 'pipe'] });
    const w: WorkerProcess = { child, log: [] };
    child.stdout!.on('data', (d) => w.log.push(...String(d).split('\n').filter(Boolean)));
    child.stderr!.on('data', (d) => w.log.push(...String(d).split('\n').filter(Boolean)));
    for (let i = 0; i < 400 && !w.log.some((l) => l.includes('ready')); i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(w.log.some((l) => l.includes('ready')), `worker started: ${w.log.join(' | ')}`);
    workers.push(w);
    return w;
  };

  after(async () => {
    // A child that already ended has an exit code or (killed) a signal: wait only for the others.
    const alive = workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
    await Promise.all(alive.map((w) => new Promise((r) => {
      w.child.on('exit', r);
      w.child.kill('SIGTERM');
    })));
    await client?.close();
    server?.stop();
  });

  it('a worker killed mid-job: another takes the job up and resumes it to the λ of an uninterrupted run, bit for bit', async () => {
    await startWorker();
    await startWorker();
    await startWorker();
    const opts = { ...HC, T: 400, hyperIterations: 12 };
    const id = await client.submit({ kind: 'hyper-cleaning', options: opts }, 'killed-1');
    const records: number[] = [];
    const result = client.follow<rf.JobSummary>(id, (r) => records.push(r.iteration as number));
    // the worker that took it, once it has logged two hyper-iterations
    let holder: WorkerProcess | undefined;
    for (let i = 0; i < 2000 && !(holder && records.length >= 2); i++) {
      holder = workers.find((w) => w.log.some((l) => l.includes(`starting ${id}`)));
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(holder && records.length >= 2, 'the job started and reported');
    holder.child.kill('SIGKILL');
    const summary = await result;
    assert.equal(summary.iterations, 12);
    const taker = workers.find((w) => w !== holder && w.log.some((l) => l.includes(`resuming ${id}`)));
    assert.ok(taker, `another worker resumed it: ${workers.map((w) => w.log.join(' / ')).join(' || ')}`);
    const lambda = JSON.parse(fs.readFileSync(path.join(data, id, 'hyperparameters.json'), 'utf8')).lambda;
    const runner = new rf.JobRunner({ dataDir: tmp('rfho-queue-straight-'), threads: 1 });
    const straight = await runner.submit({ kind: 'hyper-cleaning', options: opts }).result;
    assert.deepEqual(lambda, JSON.parse(fs.readFileSync(path.join(straight.out, 'hyperparameters.json'), 'utf8')).lambda);
  });

  it('without a shared folder the checkpoint travels through Redis: a worker with a folder of its own resumes a killed one\'s job, bit for bit', async () => {
    const keys = `${prefix}-own`;
    const own = tmp('rfho-queue-own-client-');
    const ownClient = new QueueClient({ redis, prefix: keys });
    try {
      const a = await startWorker(tmp('rfho-queue-own-a-'), keys);
      const b = await startWorker(tmp('rfho-queue-own-b-'), keys);
      const opts = { ...HC, T: 400, hyperIterations: 10, seed: 5 };
      const id = await ownClient.submit({ kind: 'hyper-cleaning', options: opts }, 'own-1');
      const records: number[] = [];
      const result = ownClient.follow<rf.JobSummary>(id, (r) => records.push(r.iteration as number));
      let holder: WorkerProcess | undefined;
      for (let i = 0; i < 2000 && !(holder && records.length >= 3); i++) {
        holder = [a, b].find((w) => w.log.some((l) => l.includes(`starting ${id}`)));
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.ok(holder && records.length >= 3);
      holder.child.kill('SIGKILL');
      const summary = await result;
      assert.equal(summary.iterations, 10);
      const taker = holder === a ? b : a;
      assert.ok(taker.log.some((l) => l.includes(`restored the checkpoint of ${id} from Redis`)), taker.log.join(' / '));
      const runner = new rf.JobRunner({ dataDir: own, threads: 1 });
      const straight = await runner.submit({ kind: 'hyper-cleaning', options: opts }).result;
      assert.deepEqual(JSON.parse(fs.readFileSync(path.join(summary.out, 'hyperparameters.json'), 'utf8')).lambda, JSON.parse(fs.readFileSync(path.join(straight.out, 'hyperparameters.json'), 'utf8')).lambda);
    } finally {
      await ownClient.close();
    }
  });

  it('a sweep fans out over the workers and gathers one table; submitting an id again runs nothing twice', async () => {
    const sweep = [0, 1, 2, 3].map((seed) => ({ kind: 'hyper-cleaning', options: { ...HC, seed } }));
    const id = await client.submitSweep(sweep, 'sweep-1');
    const { rows } = await client.follow<{ rows: { id: string; options: Record<string, unknown>; summary: rf.JobSummary }[] }>(id);
    assert.deepEqual(rows.map((r) => r.id), ['sweep-1.0', 'sweep-1.1', 'sweep-1.2', 'sweep-1.3']);
    assert.deepEqual(rows.map((r) => r.options.seed), [0, 1, 2, 3]);
    assert.ok(rows.every((r) => r.summary.iterations === 3 && typeof r.summary.testAccuracy === 'number'));
    const csv = fs.readFileSync(path.join(data, id, 'sweep.csv'), 'utf8').trim().split('\n');
    assert.equal(csv.length, 5);
    assert.match(csv[0], /^id,.*seed.*testAccuracy/);
    // each child equals the same job run alone
    const runner = new rf.JobRunner({ dataDir: tmp('rfho-queue-one-'), threads: 1 });
    const alone = await runner.submit({ kind: 'hyper-cleaning', options: { ...HC, seed: 2 } }).result;
    assert.equal(rows[2].summary.testAccuracy, alone.testAccuracy);
    assert.equal(rows[2].summary.validation, alone.validation);
    // idempotent ids: the same id returns the finished job, which does not run again
    const starts = () => workers.reduce((n, w) => n + w.log.filter((l) => l.includes('starting sweep-1.0')).length, 0);
    const before = starts();
    assert.equal(await client.submit({ kind: 'hyper-cleaning', options: { ...HC, seed: 9 } }, 'sweep-1.0'), 'sweep-1.0');
    assert.equal((await client.follow<rf.JobSummary>('sweep-1.0')).validation, rows[0].summary.validation);
    assert.equal(starts(), before);
  });

  it('Forward-HG sharded by columns over the workers: the shards put end to end are the single-process hypergradient', async () => {
    const opts = { n: 40, T: 30 };
    const id = await client.submitForwardSharded({ kind: 'weightedProblem', options: opts, T: 30 }, 3, 'forward-1');
    const r = await client.follow<ShardedHypergradient>(id);
    assert.deepEqual(r.shards.map((s) => [s.columns.start, s.columns.end]), [[0, 13], [13, 27], [27, 41]]);
    // the single-process Forward-HG with the workers' thread budget
    const was = rf.getThreads();
    rf.setThreads(1);
    try {
      const { problem } = createJob(opts);
      const full = rf.forwardHG(problem, { T: 30 });
      const flat = [...full.grads.lam.toArray(), ...full.grads.l2.toArray()];
      assert.deepEqual(r.values, flat, 'bit for bit (float64; these shards take the same kernels as the whole)');
      assert.equal(r.value, full.value);
    } finally {
      rf.setThreads(was);
    }
    assert.ok(fs.existsSync(path.join(data, id, 'hypergradient.json')));
    await assert.rejects(client.submitForwardSharded({ kind: 'weightedProblem', T: -1 }, 2, 'forward-bad'), /'T' must be a non-negative integer/);
  });

  it('bad submissions are refused before anything is queued', async () => {
    await assert.rejects(client.submit({ kind: 'hyper-cleaning', options: { T: 'x' } }, 'bad-1'), /option 'T' must be a number/);
    await assert.rejects(client.submit({ kind: 'nope' }, 'bad-2'), /unknown kind 'nope'/);
    await assert.rejects(client.submit({ kind: 'tune' }, '../x'), /'id' must be/);
    await assert.rejects(client.submitSweep([], 'bad-3'), /1 to 10000 job specs/);
    assert.equal(await client.state('bad-1'), null);
  });
});
