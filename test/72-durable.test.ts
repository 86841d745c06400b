/** Durable state: state files refuse damage with nothing touched; runs killed at any point resume to the same bits. */
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as rf from '../lib';
import { RunFolder } from '../lib/report/output';
import { readStateFile, writeStateFile } from '../lib/report/stateFile';

const cli = path.resolve(__dirname, '..', 'lib', 'cli', 'main.js');
const SMALL = ['--train-size', '150', '--valid-size', '150', '--test-size', '150', '--corrupted', '40', '--R', '100', '--T', '30', '--eval-every', '3'];
/** Long enough per hyper-iteration (T = 400) for a kill to land between two of them. */
const SLOW = [...SMALL.slice(0, -4), '--T', '400', '--eval-every', '3'];

function tmp(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Every file of a folder with the SHA-256 of its content. */
function snapshotFolder(dir: string): Record<string, string> {
  return Object.fromEntries(fs.readdirSync(dir).sort().map((f) => [f, createHash('sha256').update(fs.readFileSync(path.join(dir, f))).digest('hex')]));
}

function runCli(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
}

function lambdaIn(dir: string): number[] {
  return JSON.parse(fs.readFileSync(path.join(dir, 'hyperparameters.json'), 'utf8')).lambda;
}

describe('state files', () => {
  const dir = tmp('rfho-state-');
  const file = path.join(dir, 'state.json');
  const payload = { a: [1, 0.1, -2.5e-300], b: 'text', c: { d: true } };
  const read = () => readStateFile(file, 'thing', 3, (p) => p);

  it('round trip, and every kind of damage refused with the file and the reason named', () => {
    writeStateFile(file, 'thing', 3, payload);
    assert.deepEqual(read(), payload);
    const good = fs.readFileSync(file);
    const cases: [string, (b: Buffer) => Buffer, RegExp][] = [
      ['truncated', (b) => b.subarray(0, b.length - 7), /is truncated or extended/],
      ['one bit flipped in the content', (b) => { const c = Buffer.from(b); c[c.length - 5] ^= 0x04; return c; }, /is damaged: its content does not match its SHA-256 checksum/],
      ['a digit changed in the content', (b) => Buffer.from(b.toString().replace('0.1', '0.2')), /does not match its SHA-256 checksum/],
      ['another version', (b) => Buffer.from(b.toString().replace('"version":3', '"version":4')), /has format version 4; this rfho reads version 3/],
      ['another kind', (b) => Buffer.from(b.toString().replace('"kind":"thing"', '"kind":"other"')), /holds a "other", not a thing/],
      ['not a state file', () => Buffer.from('{"a":1}'), /not an rfho state file/],
      ['empty', () => Buffer.alloc(0), /not an rfho state file/],
      ['a header that is not JSON', (b) => Buffer.concat([Buffer.from('{oops\n'), b]), /header is not JSON/],
    ];
    for (const [what, damage, message] of cases) {
      fs.writeFileSync(file, damage(good));
      assert.throws(read, (e: Error) => e instanceof rf.StateFileError && e.message.startsWith(file) && message.test(e.message), what);
    }
    fs.rmSync(file);
    assert.throws(read, (e: Error) => e instanceof rf.StateFileError && /cannot be read \(ENOENT\)/.test(e.message));
    // a validator's refusal is reported against the file too
    writeStateFile(file, 'thing', 3, payload);
    assert.throws(() => readStateFile(file, 'thing', 3, () => { throw new rf.ArgumentError('no b'); }), /state\.json: has content that does not fit: no b/);
  });

  it('writes are atomic: a writer killed halfway leaves the old file whole', () => {
    writeStateFile(file, 'thing', 3, payload);
    const script = `require(${JSON.stringify(path.resolve(__dirname, '..', 'lib', 'report', 'stateFile.js'))}).writeStateFile(${JSON.stringify(file)}, 'thing', 3, { a: new Array(100000).fill(7) })`;
    const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, RFHO_FAULT_KILL_IN_WRITE: '1' } });
    assert.equal(r.signal, 'SIGKILL');
    assert.deepEqual(read(), payload, 'the old content, checksum and all');
    assert.ok(fs.readdirSync(dir).some((f) => f.endsWith('.tmp')), 'the half-written temporary is beside it');
  });

  it('new run folders never collide; an existing non-empty folder is refused', () => {
    const parent = tmp('rfho-runs-');
    const made = new Set(Array.from({ length: 50 }, () => RunFolder.create(undefined, parent, 'hyper-cleaning').dir));
    assert.equal(made.size, 50);
    const full = [...made][0];
    fs.writeFileSync(path.join(full, 'log.jsonl'), '{}\n');
    assert.throws(() => RunFolder.create(full, parent, 'x'), /exists and is not empty/);
    const r = runCli(['hyper-cleaning', ...SMALL, '--iterations', '1', '--out', full]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /exists and is not empty \(pick another, or continue its run with --resume/);
    assert.equal(fs.readFileSync(path.join(full, 'log.jsonl'), 'utf8'), '{}\n');
  });
});

describe('hyper-cleaning runs: damaged checkpoints and kills', function () {
  this.timeout(600000);
  let straight: string;

  before(() => {
    straight = tmp('rfho-straight-');
    const r = runCli(['hyper-cleaning', ...SLOW, '--iterations', '8', '--out', straight, '--quiet']);
    assert.equal(r.status, 0, r.stderr);
  });

  it('a truncated, bit-flipped, wrong-version, wrong-settings or finished checkpoint is refused with the file and reason named, and no file changes', () => {
    const out = tmp('rfho-damaged-');
    const r = runCli(['hyper-cleaning', ...SMALL, '--iterations', '3', '--out', out, '--quiet']);
    assert.equal(r.status, 0, r.stderr);
    const cp = path.join(out, 'checkpoint.json');
    const good = fs.readFileSync(cp);
    const body = JSON.parse(good.subarray(good.indexOf(0x0a) + 1).toString());
    const rewrite = (change: (c: any) => void) => {
      const c = JSON.parse(JSON.stringify(body));
      change(c);
      writeStateFile(cp, 'hyper-cleaning-checkpoint', 2, c); // a valid file around bad content
      return fs.readFileSync(cp);
    };
    // every case asks for more iterations, so that only 'finished' meets the end of the run
    const cases: [string, () => Buffer, RegExp][] = [
      ['truncated', () => good.subarray(0, good.length >> 1), /checkpoint\.json: is truncated or extended/],
      ['one digit of λ flipped', () => { const s = good.toString(); const i = s.indexOf('"lambda":{"shape":[150],"value":[') + 33; return Buffer.from(s.slice(0, i) + (s[i] === '1' ? '2' : '1') + s.slice(i + 1)); }, /checkpoint\.json: is damaged: its content does not match its SHA-256 checksum/],
      ['wrong version', () => Buffer.from(good.toString().replace('"version":2,"bytes"', '"version":1,"bytes"')), /checkpoint\.json: has format version 1; this rfho reads version 2/],
      ['a damaged key', () => rewrite((c) => { c.optimizer.hyper.lamda = c.optimizer.hyper.lambda; delete c.optimizer.hyper.lambda; }), /does not declare|has no hyperparameter 'lambda'/],
      ['wrong settings', () => rewrite((c) => { c.settings.R = 1e6; }), /checkpoint\.json: has content that does not fit: .*'R' must be in \(0, trainSize\]/],
      ['a setting of the wrong type', () => rewrite((c) => { c.settings.T = '30'; }), /setting 'T' is "30", not a number/],
      ['NaN in λ', () => rewrite((c) => { c.optimizer.hyper.lambda.value[4] = null; }), /not a finite number \(index 4: null\)/],
      ['finished', () => good, /already done 3 of 3 hyper-iterations/],
    ];
    for (const [what, make, message] of cases) {
      fs.writeFileSync(cp, make());
      const before = snapshotFolder(out);
      const res = runCli(['hyper-cleaning', '--resume', out, '--quiet', ...(what === 'finished' ? [] : ['--iterations', '5'])]);
      assert.equal(res.status, 1, `${what}: exit ${res.status}, ${res.stderr}`);
      assert.match(res.stderr, message, what);
      assert.deepEqual(snapshotFolder(out), before, `${what}: every file as it was`);
    }
  });

  it('killed (SIGKILL) halfway through its first checkpoint, after 2, 4 and 6 hyper-iterations and halfway through a later checkpoint write, then resumed: the same λ as the run never interrupted, bit for bit', async () => {
    const out = tmp('rfho-killed-');
    const args = ['hyper-cleaning', ...SLOW, '--iterations', '8', '--quiet'];
    const lines = () => (fs.existsSync(path.join(out, 'log.jsonl')) ? fs.readFileSync(path.join(out, 'log.jsonl'), 'utf8').split('\n').filter(Boolean).length : 0);
    const killAfter = async (n: number, resume: boolean) => {
      const child = spawn(process.execPath, [cli, ...(resume ? ['hyper-cleaning', '--resume', out, '--quiet'] : [...args, '--out', out])], { stdio: 'ignore' });
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, sig) => resolve(sig)));
      while (lines() < n && child.exitCode === null) await new Promise((r) => setTimeout(r, 5));
      child.kill('SIGKILL');
      return exited;
    };
    // killed halfway through its first checkpoint: nothing to keep, the resume begins again
    const first = runCli([...args, '--out', out], { RFHO_FAULT_KILL_IN_WRITE: '1' });
    assert.equal(first.signal, 'SIGKILL');
    assert.ok(!fs.existsSync(path.join(out, 'checkpoint.json')));
    assert.equal(await killAfter(2, true), 'SIGKILL');
    assert.equal(await killAfter(4, true), 'SIGKILL');
    // the fault hook: the 2nd state file this process writes is cut in half and the process killed
    const cut = runCli(['hyper-cleaning', '--resume', out, '--quiet'], { RFHO_FAULT_KILL_IN_WRITE: '2' });
    assert.equal(cut.signal, 'SIGKILL');
    assert.ok(fs.readdirSync(out).some((f) => f.endsWith('.tmp')), 'a half-written checkpoint was left');
    assert.equal(await killAfter(6, true), 'SIGKILL');
    const last = runCli(['hyper-cleaning', '--resume', out, '--quiet']);
    assert.equal(last.status, 0, last.stderr);
    assert.deepEqual(lambdaIn(out), lambdaIn(straight));
    const iterations = fs.readFileSync(path.join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).iteration);
    assert.deepEqual(iterations, [1, 2, 3, 4, 5, 6, 7, 8], 'the log holds each iteration once');
    assert.ok(!fs.readdirSync(out).some((f) => f.endsWith('.tmp')), 'stale temporaries removed once the checkpoint was accepted');
  });
});
