/**
 * A seeded fuzz of the public API (#21's bar): tens of thousands of calls over every export — the
 * kernels and data namespaces, checkpoint planning, save/restore snapshots included — valid ones
 * checked against references computed in the test, plausible-but-wrong ones that must be refused
 * naming the argument, and odd values anywhere (test/fixtures/fuzzCases.ts). The calls run in a
 * child process watched per call: a call that hangs is killed after a few seconds, a call that
 * kills the process is reported, and the child restarts after it, so one run lists them all.
 */
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';

interface Failure {
  seed: number;
  call: number;
  kind: string;
  name: string;
  problem: string;
}

interface FuzzReport {
  calls: { valid: number; invalid: number; junk: number };
  failures: Failure[];
  restarts: number;
}

const CHILD = path.join(__dirname, 'fixtures', 'fuzzChild.js');

/** Runs calls [0, total) of one seed, restarting the child after a call that hangs or crashes. */
async function fuzz(seed: number, total: number, watchdogMs: number, env: NodeJS.ProcessEnv = {}): Promise<FuzzReport> {
  const report: FuzzReport = { calls: { valid: 0, invalid: 0, junk: 0 }, failures: [], restarts: 0 };
  let from = 0;
  while (from < total) {
    const child = spawn(process.execPath, [CHILD, String(seed), String(from), String(total)], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let current = from - 1, currentKind = 'junk', done = false, hung = false, stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-2000)));
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        hung = true;
        child.kill('SIGKILL');
      }, watchdogMs);
    };
    arm();
    const lines = readline.createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const [what, index, rest] = line.split(/ (.*)/s)[0] === 'done' ? ['done', '', line.slice(5)] : [line.split(' ')[0], line.split(' ')[1], line.split(' ').slice(2).join(' ')];
      if (what === 'start') {
        current = Number(index);
        currentKind = rest;
        report.calls[rest as keyof FuzzReport['calls']]++;
        arm();
      } else if (what === 'fail') {
        const f = JSON.parse(rest) as Omit<Failure, 'seed' | 'call'>;
        report.failures.push({ seed, call: Number(index), ...f });
      } else if (what === 'done') {
        done = true;
      }
    });
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
    clearTimeout(timer);
    if (done && exit.code === 0) break;
    // The call that was running is the culprit; the next run starts after it.
    const problem = hung ? `hung: no answer within ${watchdogMs} ms` : `crashed the process (exit ${exit.code}, signal ${exit.signal}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`;
    report.failures.push({ seed, call: current, kind: currentKind, name: `call ${current}`, problem });
    report.restarts++;
    from = Math.max(current + 1, from + 1);
  }
  return report;
}

describe('API fuzz (seeded, in a watched child process)', function () {
  this.timeout(600_000);

  it('the harness itself catches a hang and a crash, names the call and goes on after it', async () => {
    const hang = await fuzz(11, 40, 2000, { RFHO_FUZZ_SELF_TEST: 'hang:7' });
    assert.deepEqual(hang.failures.map((f) => [f.call, f.problem.slice(0, 4)]), [[7, 'hung']]);
    assert.equal(hang.calls.valid + hang.calls.invalid + hang.calls.junk, 40, 'every call ran, the ones after the hang too');
    const crash = await fuzz(11, 40, 2000, { RFHO_FUZZ_SELF_TEST: 'crash:30' });
    assert.deepEqual(crash.failures.map((f) => [f.call, f.problem.slice(0, 7)]), [[30, 'crashed']]);
    assert.equal(crash.restarts, 1);
  });

  it('no call crashes, hangs, returns a wrong result, accepts invalid input or throws anything but an RfhoError', async () => {
    const seeds = process.env.RFHO_FUZZ_SEED ? [Number(process.env.RFHO_FUZZ_SEED)] : [1, 2, 3, 4, 5, 6];
    const perSeed = Number(process.env.RFHO_FUZZ_CALLS ?? 10_000);
    const all: Failure[] = [];
    const calls = { valid: 0, invalid: 0, junk: 0 };
    for (const seed of seeds) {
      const r = await fuzz(seed, perSeed, 10_000);
      all.push(...r.failures);
      for (const k of Object.keys(calls) as (keyof typeof calls)[]) calls[k] += r.calls[k];
    }
    console.log(`      ${JSON.stringify({ seeds, calls, failures: all.length })}`);
    assert.equal(calls.valid + calls.invalid + calls.junk, seeds.length * perSeed);
    assert.ok(calls.valid > 0.25 * seeds.length * perSeed && calls.invalid > 0.1 * seeds.length * perSeed, JSON.stringify(calls));
    assert.deepEqual(all.slice(0, 20), [], `${all.length} failing calls (reproduce with node dist/test/fixtures/fuzzChild.js SEED CALL CALL+1):\n${all.slice(0, 20).map((f) => `  seed ${f.seed} call ${f.call} [${f.kind}] ${f.name}: ${f.problem}`).join('\n')}`);
  });
});
