/** Jobs in worker threads: results equal in-process runs bit for bit, alone or concurrent; cancellation; bad specs. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as rf from '../lib';
import { createJob } from './fixtures/weightedProblem';

const HC = { trainSize: 150, validSize: 150, testSize: 150, corrupted: 40, R: 100, T: 20, hyperIterations: 4, evalEvery: 2 };
const fixture = path.join(__dirname, 'fixtures', 'weightedProblem.js');

function tmp(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

function lambdaOf(summary: rf.JobSummary): number[] {
  return JSON.parse(fs.readFileSync(path.join(summary.out, 'hyperparameters.json'), 'utf8')).lambda;
}

describe('jobs in worker threads', function () {
  this.timeout(300000);

  it('two concurrent hyper-cleaning jobs give the same bits as the same two one after the other, and as the CLI path in-process', async () => {
    const seq = new rf.JobRunner({ dataDir: tmp('rfho-jobs-seq-'), concurrency: 1, threads: 1 });
    const a1 = seq.submit({ kind: 'hyper-cleaning', options: { ...HC, seed: 3 } });
    const b1 = seq.submit({ kind: 'hyper-cleaning', options: { ...HC, seed: 4 } });
    assert.equal(b1.status, 'queued', 'the second waits for the first');
    const [sa1, sb1] = [await a1.result, await b1.result];
    assert.ok(b1.startedAt! >= a1.endedAt!, 'one after the other');

    const par = new rf.JobRunner({ dataDir: tmp('rfho-jobs-par-'), concurrency: 2, threads: 1 });
    const a2 = par.submit({ kind: 'hyper-cleaning', options: { ...HC, seed: 3 } });
    const b2 = par.submit({ kind: 'hyper-cleaning', options: { ...HC, seed: 4 } });
    assert.equal(b2.status, 'running', 'both run at once');
    const records: number[] = [];
    a2.on('record', (r) => records.push(r.iteration as number));
    const [sa2, sb2] = await Promise.all([a2.result, b2.result]);
    assert.deepEqual(records, [1, 2, 3, 4], 'one record event per hyper-iteration');
    assert.deepEqual(lambdaOf(sa2), lambdaOf(sa1));
    assert.deepEqual(lambdaOf(sb2), lambdaOf(sb1));
    assert.notDeepEqual(lambdaOf(sa2), lambdaOf(sb2), 'different seeds, different runs');
    assert.equal(sa2.testAccuracy, sa1.testAccuracy);

    // The same job in this thread (the CLI's path) with the same budget.
    const was = rf.getThreads();
    rf.setThreads(1);
    try {
      const folder = rf.jobs.BUILTIN_KINDS['hyper-cleaning'];
      const out = tmp('rfho-jobs-inline-');
      const { RunFolder } = await import('../lib/report/output');
      const s = await folder.run({ ...HC, seed: 3 }, { folder: RunFolder.open(out), resume: false });
      assert.deepEqual(lambdaOf(s), lambdaOf(sa1));
    } finally {
      rf.setThreads(was);
    }
    for (const f of ['settings.json', 'log.jsonl', 'log.csv', 'checkpoint.json', 'hyperparameters.json', 'summary.json', 'validation.svg']) {
      assert.ok(fs.existsSync(path.join(sa2.out, f)), `${f} in the job's folder`);
    }
    assert.equal(a2.status, 'done');
    assert.equal(a2.recordCount, 4);
    assert.equal(JSON.parse(JSON.stringify(a2)).status, 'done');
  });

  it('a problem module is a job kind: same hypergradient steps as in-process, resumable from its checkpoint bit for bit', async () => {
    const opts = { n: 60, T: 150, iterations: 20 };
    const inline = createJob(opts);
    const ho = new rf.HyperOptimizer(inline.problem, { ...inline.optimizer });
    const recs = ho.run(inline.iterations);
    const expected = Array.from(inline.problem.current().lam.toArray());
    const dir = tmp('rfho-jobs-mod-');
    const runner = new rf.JobRunner({ dataDir: dir, kinds: { weighted: fixture }, concurrency: 2, threads: 1 });
    const s = await runner.submit({ kind: 'weighted', options: opts }, { id: 'w1' }).result;
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(s.out, 'hyperparameters.json'), 'utf8')).lam, expected);
    assert.equal(s.validation, recs.at(-1)!.validation);

    // Cancelled after its first record, then resumed from the checkpoint: the same λ as the straight run.
    const part = runner.submit({ kind: 'weighted', options: opts }, { id: 'w2' });
    await new Promise((resolve) => part.once('record', resolve));
    part.cancel();
    await assert.rejects(part.result, (e: Error) => e.name === 'AbortError');
    assert.ok(part.recordCount < 20, 'cancelled before the end');
    const other = runner.submit({ kind: 'weighted', options: { ...opts, T: 16 } }, { id: 'w2b', folder: part.folder, resume: true });
    await assert.rejects(other.result, /written with other options/);
    const resumed = await runner.submit({ kind: 'weighted', options: opts }, { id: 'w2c', folder: part.folder, resume: true }).result;
    assert.equal(resumed.iterations, 20);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(resumed.out, 'hyperparameters.json'), 'utf8')).lam, expected);
    const lines = fs.readFileSync(path.join(resumed.out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).iteration);
    assert.deepEqual(lines, Array.from({ length: 20 }, (_, i) => i + 1));
    ho.dispose();
  });

  it('cancel: a running job stops within one inner step and rejects with AbortError; a queued one never starts; stop() still reports', async () => {
    const dir = tmp('rfho-jobs-cancel-');
    const runner = new rf.JobRunner({ dataDir: dir, concurrency: 1, threads: 1 });
    const ac = new AbortController();
    const long = runner.submit({ kind: 'hyper-cleaning', options: { ...HC, T: 300, hyperIterations: 1000 } }, { signal: ac.signal });
    const queued = runner.submit({ kind: 'tune', options: { trainSize: 300, validSize: 100, testSize: 100, hidden: [8], hyperIterations: 3 } });
    await new Promise((resolve) => long.once('record', resolve));
    queued.cancel();
    assert.equal(queued.status, 'cancelled');
    await assert.rejects(queued.result, (e: Error) => e.name === 'AbortError');
    const seen = long.recordCount;
    ac.abort();
    await assert.rejects(long.result, (e: Error) => e.name === 'AbortError' && e instanceof rf.AbortError);
    assert.equal(long.status, 'cancelled');
    assert.ok(long.recordCount <= seen + 1, `${long.recordCount - seen} hyper-iterations ended after the cancel`);
    assert.equal(queued.startedAt, null, 'the queued job never started');
    assert.ok(!fs.existsSync(path.join(long.folder, 'summary.json')), 'a cancelled job writes no summary');

    const stopped = runner.submit({ kind: 'hyper-cleaning', options: { ...HC, T: 300, hyperIterations: 1000 } });
    await new Promise((resolve) => stopped.once('record', resolve));
    stopped.stop();
    const s = await stopped.result;
    assert.equal(s.interrupted, true);
    assert.equal(stopped.status, 'done');
    assert.ok(fs.existsSync(path.join(stopped.folder, 'summary.json')), 'a stopped job writes its report');
    await runner.close();
  });

  it('bad specs and options are ArgumentErrors at submit, naming the problem, and leave no folder behind', () => {
    const dir = tmp('rfho-jobs-bad-');
    const runner = new rf.JobRunner({ dataDir: dir, kinds: { weighted: fixture } });
    const bad: [unknown, RegExp][] = [
      [{ kind: 'bitcoin-miner' }, /unknown kind 'bitcoin-miner' \(known: hyper-cleaning, tune, forward-shard, weighted\)/],
      [{ kind: 42 }, /'kind' must be a string/],
      [{ kind: 'hyper-cleaning', options: { R: '5' } }, /option 'R' must be a number/],
      [{ kind: 'hyper-cleaning', options: { Rr: 5 } }, /unknown option 'Rr'/],
      [{ kind: 'hyper-cleaning', options: { trainSize: -3 } }, /'trainSize' must be a non-negative integer/],
      [{ kind: 'tune', options: { hidden: 'wide' } }, /option 'hidden' must be an array/],
      [{ kind: 'weighted', options: { T: 2.5 } }, /'T' must be a non-negative integer/],
      [{ kind: 'hyper-cleaning', module: '/etc/passwd' }, /unknown field 'module'/],
      [null, /'spec' must be/],
    ];
    for (const [spec, message] of bad) assert.throws(() => runner.submit(spec as rf.JobSpec), (e: Error) => e instanceof rf.ArgumentError && message.test(e.message), String(JSON.stringify(spec)));
    assert.throws(() => runner.submit({ kind: 'tune' }, { id: '../escape' }), /'id' must be/);
    fs.mkdirSync(path.join(dir, 'taken'));
    fs.writeFileSync(path.join(dir, 'taken', 'x'), 'someone else\'s');
    assert.throws(() => runner.submit({ kind: 'tune' }, { id: 'taken' }), /exists and is not empty/);
    assert.deepEqual(fs.readdirSync(dir), ['taken'], 'no folder made for a refused job');
    assert.throws(() => new rf.JobRunner({ concurrency: 0 }), /'concurrency' must be a positive integer/);
    assert.throws(() => new rf.JobRunner({ threads: 1.5 }), /'threads' must be a positive integer/);
    assert.throws(() => new rf.JobRunner({ kinds: { x: 'relative/path.js' } }), /absolute path/);
  });
});
