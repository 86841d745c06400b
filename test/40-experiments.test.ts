/** Datasets (IDX reader), the hyper-cleaning experiment end to end at tiny scale, and the CLI. */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as rf from '../lib';
import { HyperCleaningCheckpoint, runHyperCleaning } from '../lib/experiments/hyperCleaning';

function idxBytes(dims: number[], values: number[], magicType = 0x08): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = magicType;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(values)]);
}

describe('IDX reader', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rfho-idx-'));
  const images = Array.from({ length: 3 * 2 * 2 }, (_, i) => (i * 20) % 256);
  const labels = [2, 0, 1];

  it('reads raw and gzip image/label pairs from a folder, scaling pixels to [0, 1]', () => {
    fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte'), idxBytes([3, 2, 2], images));
    fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte.gz'), zlib.gzipSync(idxBytes([3], labels, 0x08)));
    fs.writeFileSync(path.join(dir, 't10k-images-idx3-ubyte.gz'), zlib.gzipSync(idxBytes([3, 2, 2], images)));
    fs.writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte'), idxBytes([3], labels));
    const d = rf.data.loadIdxFolder(dir, 'tiny');
    assert.equal(d.train.count, 3);
    assert.equal(d.train.dim, 4);
    assert.deepEqual(Array.from(d.train.labels), labels);
    assert.ok(Math.abs(d.test.images[1] - 20 / 255) < 1e-7);
    assert.equal(d.train.classes, 3);
  });

  it('truncated files, wrong magic, corrupt gzip and mismatched counts are errors naming the file', () => {
    const bad = path.join(dir, 'bad');
    fs.writeFileSync(bad, idxBytes([3, 2, 2], images).subarray(0, 20));
    assert.throws(() => rf.data.readIdx(bad), (e: Error) => e instanceof rf.data.DatasetError && e.message.includes(bad) && /truncated/.test(e.message));
    fs.writeFileSync(bad, Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]));
    assert.throws(() => rf.data.readIdx(bad), /bad magic number/);
    fs.writeFileSync(bad, idxBytes([2], [1, 2], 0x0d));
    assert.throws(() => rf.data.readIdx(bad), /element type 0xd is not unsigned byte/);
    fs.writeFileSync(bad, zlib.gzipSync(idxBytes([3], labels)).subarray(0, 15));
    assert.throws(() => rf.data.readIdx(bad), /corrupt or truncated gzip/);
    fs.writeFileSync(bad, Buffer.concat([idxBytes([2], [1, 2]), Buffer.from([9])]));
    assert.throws(() => rf.data.readIdx(bad), /unexpected bytes/);
    assert.throws(() => rf.data.readIdx(path.join(dir, 'missing')), /cannot be read \(ENOENT\)/);
    fs.writeFileSync(path.join(dir, 'lab2'), idxBytes([2], [0, 1]));
    assert.throws(() => rf.data.loadIdxPair(path.join(dir, 'train-images-idx3-ubyte'), path.join(dir, 'lab2'), 'x'), /3 images but .* has 2 labels/);
    assert.throws(() => rf.data.loadIdxFolder(path.join(dir, 'nope')), /does not exist/);
  });

  it('finds Fashion-MNIST at the Debian location when the package is installed', function () {
    if (!fs.existsSync(rf.data.FASHION_MNIST_DEBIAN)) {
      console.log(`      (skipped: ${rf.data.FASHION_MNIST_DEBIAN} absent; apt-get install dataset-fashion-mnist)`);
      this.skip();
    }
    const d = rf.data.loadIdxFolder(rf.data.FASHION_MNIST_DEBIAN);
    assert.equal(d.train.count, 60000);
    assert.equal(d.test.count, 10000);
    assert.equal(d.train.dim, 784);
  });
});

describe('data utilities', () => {
  it('seeded splits, label corruption to a different class, minibatches indexed by step', () => {
    const labels = Int32Array.from({ length: 1000 }, (_, i) => i % 10);
    const a = rf.data.corruptLabels(labels, 300, 10, 4);
    const b = rf.data.corruptLabels(labels, 300, 10, 4);
    assert.deepEqual(a.labels, b.labels);
    let changed = 0, flagged = 0;
    for (let i = 0; i < 1000; i++) {
      if (a.labels[i] !== labels[i]) changed++;
      if (a.corrupted[i]) {
        flagged++;
        assert.notEqual(a.labels[i], labels[i]);
      }
    }
    assert.equal(changed, 300);
    assert.equal(flagged, 300);
    const mb = rf.data.minibatchSchedule(100, 30, 1);
    assert.deepEqual(Array.from(mb(7)), Array.from(rf.data.minibatchSchedule(100, 30, 1)(7)), 'same step, same batch');
    const epoch = [...mb(1), ...mb(2), ...mb(3)];
    assert.equal(new Set(epoch).size, 90, 'no repeats within an epoch');
    assert.throws(() => mb(0), /'t' must be an integer >= 1/);
    assert.throws(() => rf.data.corruptLabels(labels, 2000, 10, 1), /'count'/);
  });
});

describe('hyper-cleaning end to end (tiny)', function () {
  this.timeout(300000);
  it('runs, and the learned weights of corrupted examples fall below those of clean ones', async () => {
    const recs: number[] = [];
    const r = await runHyperCleaning({ trainSize: 300, validSize: 300, testSize: 300, corrupted: 100, R: 200, T: 60, hyperIterations: 30, outerLr: 0.02, evalEvery: 10 }, { onRecord: (x) => recs.push(x.validation) });
    assert.equal(r.records.length, 30);
    let clean = 0, bad = 0;
    r.lambda.forEach((l, i) => (r.corruptedMask[i] ? (bad += l) : (clean += l)));
    const meanBad = bad / 100, meanClean = clean / 200;
    assert.ok(meanBad < meanClean, `mean λ corrupted ${meanBad} < clean ${meanClean}`);
    assert.ok(recs[29] < recs[0], 'validation error fell');
    assert.ok(r.lambda.every((l) => l >= 0 && l <= 1) && r.lambda.reduce((a, b) => a + b, 0) <= 200 + 1e-6, 'λ feasible');
    for (const k of ['testAccuracy'] as const) assert.ok(r.final[k] > 0.5 && r.baseline[k] > 0.5 && r.oracle[k] > 0.5);
  });
});

describe('hyper-cleaning: resume from a checkpoint', function () {
  this.timeout(300000);
  const opts = { trainSize: 200, validSize: 200, testSize: 200, corrupted: 60, R: 140, T: 25, outerLr: 0.02, evalEvery: 2 };

  it('a run stopped after 2 hyper-iterations and resumed to 5 equals an uninterrupted run of 5, bit for bit', async () => {
    const straight = await runHyperCleaning({ ...opts, hyperIterations: 5 });
    let cp: HyperCleaningCheckpoint | undefined;
    const first = await runHyperCleaning({ ...opts, hyperIterations: 2 }, { onCheckpoint: (c) => (cp = JSON.parse(JSON.stringify(c))) });
    assert.equal(first.records.length, 2);
    assert.equal(cp!.optimizer.iteration, 2);
    const resumed = await runHyperCleaning({ ...opts, hyperIterations: 5 }, { resume: cp });
    assert.deepEqual(Array.from(resumed.lambda), Array.from(straight.lambda));
    const strip = (rs: { seconds: number }[]) => rs.map(({ seconds, ...rest }) => rest);
    assert.deepEqual(strip(resumed.records), strip(straight.records));
    assert.equal(resumed.final.testAccuracy, straight.final.testAccuracy);
    // the wall time continues from the checkpoint's
    assert.ok(resumed.records[2].seconds >= cp!.seconds);
  });

  it('a checkpoint whose settings differ (other than the length) is refused with the setting named', async () => {
    let cp: HyperCleaningCheckpoint | undefined;
    await runHyperCleaning({ ...opts, hyperIterations: 1 }, { onCheckpoint: (c) => (cp = c) });
    await assert.rejects(runHyperCleaning({ ...opts, R: 150, hyperIterations: 3 }, { resume: cp }), /cannot resume: the checkpoint has R = 140, this run 150/);
    await assert.rejects(runHyperCleaning({ ...opts, hyperIterations: 3 }, { resume: { ...cp!, version: 7 } as unknown as HyperCleaningCheckpoint }), /not a hyper-cleaning checkpoint/);
  });
});

describe('command line', function () {
  this.timeout(300000);
  const cli = path.resolve(__dirname, '..', 'lib', 'cli', 'main.js');
  const run = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

  it('bad flags and commands: a usage error and exit code 2', () => {
    for (const args of [['hyper-cleaning', '--bogus'], ['hyper-cleaning', '--T', 'abc'], ['frobnicate'], ['tune', '--method', 'reverse'], ['hyper-cleaning', '--dtype', 'int8'], ['hyper-cleaning', '--method', 'magic'], ['hyper-cleaning', '--T', '2.5'], ['worker'], ['hyper-cleaning', '--seed', '-1']]) {
      const r = run(args);
      assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}, stderr ${r.stderr}`);
      assert.match(r.stderr, /(error|rfho): .*\n\(add --help for usage\)/, args.join(' '));
    }
    const none = run([]);
    assert.equal(none.status, 2);
    assert.match(none.stderr, /Usage: rfho \[options\] \[command\]/);
  });

  it('--help on every command shows its options with their defaults and the exit codes; --version the package\'s', () => {
    const version = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', 'package.json'), 'utf8')).version;
    const v = run(['--version']);
    assert.equal(v.status, 0);
    assert.equal(v.stdout.trim(), version);
    for (const command of ['hyper-cleaning', 'tune', 'serve', 'worker', 'submit', 'download-mnist', 'devices']) {
      for (const help of ['--help', '-h']) {
        const r = run([command, help]);
        assert.equal(r.status, 0, `${command} ${help}: ${r.stderr}`);
        assert.match(r.stdout, new RegExp(`Usage: rfho ${command}`));
      }
    }
    const hc = run(['hyper-cleaning', '--help']).stdout;
    assert.match(hc, /--T <n> +training steps per hypergradient \(default: 200\)/);
    assert.match(hc, /exit codes: 0 done, 1 failed/);
    assert.match(run(['tune', '--help']).stdout, /--hidden <widths> .*\(default: 64\)/);
    assert.match(run(['serve', '--help']).stdout, /--port <n> .*\(default: 8080\)/);
    const bad = run(['hyper-cleaning', '--dataset', '/nonexistent/folder', '--quiet']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /\/nonexistent\/folder not found/);
  });

  it('hyper-cleaning --json writes the report folder and one summary line', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'rfho-cli-'));
    const r = run(['hyper-cleaning', '--train-size', '200', '--valid-size', '200', '--test-size', '200', '--corrupted', '60', '--R', '140', '--T', '30', '--iterations', '5', '--eval-every', '2', '--out', out, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const summary = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.equal(summary.iterations, 5);
    for (const f of ['settings.json', 'log.jsonl', 'log.csv', 'hyperparameters.json', 'summary.json', 'headline.svg', 'validation.svg', 'accuracy_f1.svg', 'lambda_histogram.svg']) {
      assert.ok(fs.existsSync(path.join(out, f)), `${f} written`);
    }
    const lines = fs.readFileSync(path.join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 5);
    assert.equal(fs.readFileSync(path.join(out, 'log.csv'), 'utf8').trim().split('\n').length, 6);
    assert.match(fs.readFileSync(path.join(out, 'validation.svg'), 'utf8'), /<svg/);
    assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'hyperparameters.json'), 'utf8')).lambda.length, 200);
  });

  it('--resume continues a run folder from its checkpoint; bad uses are usage errors', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'rfho-resume-'));
    const small = ['--train-size', '150', '--valid-size', '150', '--test-size', '150', '--corrupted', '40', '--R', '100', '--T', '20'];
    const a = run(['hyper-cleaning', ...small, '--iterations', '2', '--out', out, '--json']);
    assert.equal(a.status, 0, a.stderr);
    assert.ok(fs.existsSync(path.join(out, 'checkpoint.json')));
    const b = run(['hyper-cleaning', '--resume', out, '--iterations', '4', '--json']);
    assert.equal(b.status, 0, b.stderr);
    assert.equal(JSON.parse(b.stdout.trim().split('\n').pop()!).iterations, 4);
    const lines = fs.readFileSync(path.join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.iteration), [1, 2, 3, 4]);
    assert.equal(fs.readFileSync(path.join(out, 'log.csv'), 'utf8').trim().split('\n').length, 5);
    const withR = run(['hyper-cleaning', '--resume', out, '--R', '90']);
    assert.equal(withR.status, 2);
    assert.match(withR.stderr, /cannot be combined with --R/);
    const missing = run(['hyper-cleaning', '--resume', path.join(out, 'nope')]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /checkpoint\.json does not exist/);
  });

  it('tune runs RTHO and writes its report', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'rfho-tune-'));
    const r = run(['tune', '--train-size', '500', '--valid-size', '300', '--test-size', '300', '--hidden', '16', '--batch-size', '50', '--K', '5', '--iterations', '4', '--out', out, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const summary = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.equal(summary.iterations, 4);
    assert.ok(summary.lr > 0 && summary.momentum >= 0 && summary.momentum <= 0.99);
    assert.ok(fs.existsSync(path.join(out, 'hyperparameters.svg')));
  });

  it('Ctrl-C stops cleanly after the current hyper-iteration and still writes the report', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'rfho-int-'));
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [cli, 'hyper-cleaning', '--train-size', '300', '--valid-size', '300', '--test-size', '300', '--corrupted', '50', '--R', '250', '--T', '50', '--iterations', '100000', '--out', out, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    // wait until some iterations are logged
    for (let i = 0; i < 600 && !(fs.existsSync(path.join(out, 'log.jsonl')) && fs.readFileSync(path.join(out, 'log.jsonl'), 'utf8').split('\n').length > 3); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGINT');
    const code: number = await new Promise((resolve) => child.on('exit', (c) => resolve(c ?? -1)));
    assert.equal(code, 130);
    const summary = JSON.parse(stdout.trim().split('\n').pop()!);
    assert.equal(summary.interrupted, true);
    assert.ok(summary.iterations >= 3 && summary.iterations < 100000);
    assert.ok(fs.existsSync(path.join(out, 'lambda_histogram.svg')));
  });
});

describe('report files', () => {
  it('the CSV log has the run\'s columns from its first line, fields quoted where they must be (RFC 4180)', async () => {
    const { RunFolder } = await import('../lib/report/output');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rfho-csv-'));
    const folder = RunFolder.create(path.join(dir, 'run'), dir, 'x');
    folder.setLogColumns(['iteration', 'validation', 'testAccuracy', 'note']);
    folder.appendLog({ iteration: 1, validation: 0.5 }); // no test accuracy on this iteration
    folder.appendLog({ iteration: 2, validation: 0.25, testAccuracy: 0.9, note: 'a "quoted", comma' });
    folder.appendLog({ iteration: 3, validation: 0.125, nested: { ignored: true }, note: 'line\nbreak' });
    const text = fs.readFileSync(folder.file('log.csv'), 'utf8');
    assert.equal(text, 'iteration,validation,testAccuracy,note\n1,0.5,,\n2,0.25,0.9,"a ""quoted"", comma"\n3,0.125,,"line\nbreak"\n');
    // a resume rewrites the log from its records, header first
    folder.restartLog([{ iteration: 1, validation: 0.5, testAccuracy: 0.8 }]);
    assert.equal(fs.readFileSync(folder.file('log.csv'), 'utf8'), 'iteration,validation,testAccuracy,note\n1,0.5,0.8,\n');
  });

  it('the hyper-cleaning report has a headline plot (Baseline, Oracle, learned; the detector), axis titles and the threshold marked', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'rfho-report-'));
    const cli = path.resolve(__dirname, '..', 'lib', 'cli', 'main.js');
    const r = spawnSync(process.execPath, [cli, 'hyper-cleaning', '--train-size', '200', '--valid-size', '200', '--test-size', '200', '--corrupted', '60', '--R', '140', '--T', '20', '--iterations', '3', '--out', out, '--json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const summary = JSON.parse(r.stdout.trim().split('\n').pop()!);
    const headline = fs.readFileSync(path.join(out, 'headline.svg'), 'utf8');
    for (const label of ['Baseline', 'Oracle', 'learned λ', 'precision', 'recall', 'F1', 'test accuracy']) assert.ok(headline.includes(`>${label}<`), `headline shows ${label}`);
    // the bars' values are the summary's, written on them
    for (const v of [summary.testAccuracy, summary.baselineAccuracy, summary.oracleAccuracy]) assert.ok(headline.includes(`>${v.toFixed(3)}<`), `${v.toFixed(3)} on a bar`);
    assert.match(fs.readFileSync(path.join(out, 'accuracy_f1.svg'), 'utf8'), />test accuracy, F1</);
    assert.match(fs.readFileSync(path.join(out, 'lambda_histogram.svg'), 'utf8'), />threshold 0.001</);
    assert.match(headline, /font-family="DejaVu Sans, Liberation Sans/);
  });
});

describe('progress output', () => {
  it('on a terminal, every redraw fits its width, and the ETA comes from the pace since the first update', async () => {
    const { createProgress } = await import('../lib/report/progress');
    const writes: string[] = [];
    const stream = { isTTY: true, columns: 60, write: (s: string) => writes.push(s) } as unknown as NodeJS.WriteStream;
    const p = createProgress(100, { label: 'hyper-cleaning', stream });
    for (let i = 1; i <= 5; i++) p.update(i, `val 0.${i}234 acc 85.${i}0% F1 0.${i}21 and a long message that would wrap`);
    const lines = writes.filter((w) => !w.startsWith('\r'));
    assert.equal(lines.length, 5);
    for (const l of lines) assert.ok(l.length <= 59, `${l.length} characters: ${l}`);
    assert.ok(!lines[0].includes('ETA'), 'no ETA before a pace is known');
    assert.match(lines[4], /ETA \d+s/);
  });
});
