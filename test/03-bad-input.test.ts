/** Bad input gets a clear JS error naming the argument; nothing crashes the process. */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import * as rf from '../lib';
import * as KI from '../lib/kernels';
import { native } from '../lib/native/binding';

const K = KI;

function throwsNaming(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof Error, 'a JS Error');
    assert.match((e as Error).message, pattern);
    return true;
  });
}

describe('bad input', () => {
  const a = rf.zeros([2, 3], { dtype: 'float64' });
  const b = rf.zeros([4, 5], { dtype: 'float64' });
  const f32 = rf.zeros([2, 3], { dtype: 'float32' });

  it('mismatched shapes name both shapes', () => {
    throwsNaming(() => K.binary('add', a, b), /\[2, 3\].*\[4, 5\].*broadcast/);
    throwsNaming(() => K.gemm(a, b), /inner dimensions.*\[2, 3\].*\[4, 5\]/);
    throwsNaming(() => K.matmul(a, b), /inner dimensions/);
    throwsNaming(() => rf.add(a, b), /do not broadcast/);
    throwsNaming(() => K.reshapeView(a, [4, 2]), /cannot view \[2, 3\].*as \[4, 2\]/);
    throwsNaming(() => K.concat([a, b], 0), /xs\[1\].*\[4, 5\]/);
    throwsNaming(() => K.slice(a, 1, 2, 5), /range \[2, 5\).*axis 1/);
    throwsNaming(() => K.permute(a, [0, 0]), /perm/);
    throwsNaming(() => K.reduce('sum', a, [2]), /axes.*out of range/);
  });

  it('wrong dtypes and devices', () => {
    throwsNaming(() => K.binary('add', a, f32), /dtype mismatch.*float64.*float32/);
    const ints = rf.tensor([1, 2], undefined, { dtype: 'int32' });
    throwsNaming(() => K.unary('exp', ints), /'x' must be float32 or float64/);
    throwsNaming(() => rf.tensor([1.5], undefined, { dtype: 'int32' }), /'data' has 1.5 at 0, not a 32-bit integer/);
    throwsNaming(() => rf.zeros([2], { dtype: 'float16' as never }), /dtype/);
  });

  it('labels: non-integer dtype, wrong length, out of range', () => {
    const z = rf.zeros([3, 4], { dtype: 'float64' });
    throwsNaming(() => K.softmaxXentLoss(z, rf.tensor([0, 1, 2], undefined, { dtype: 'float64' })), /'labels' must be an int32/);
    throwsNaming(() => K.softmaxXentLoss(z, rf.tensor([0, 1], undefined, { dtype: 'int32' })), /'labels' must have shape \[3\]/);
    throwsNaming(() => K.softmaxXentLoss(z, rf.tensor([0, 4, 1], undefined, { dtype: 'int32' })), /'labels' has 4 at row 1, outside \[0, 4\)/);
    throwsNaming(() => K.softmaxXentLoss(z, rf.tensor([0, -1, 1], undefined, { dtype: 'int32' })), /'labels' has -1/);
    throwsNaming(() => K.gatherRows(z, rf.tensor([5], undefined, { dtype: 'int32' })), /'indices' has 5/);
  });

  it('negative sizes, NaN seeds, non-arrays', () => {
    throwsNaming(() => rf.zeros([-1, 2]), /'shape' must contain non-negative integers/);
    throwsNaming(() => rf.zeros([2.5]), /'shape'/);
    throwsNaming(() => rf.randomNormal([2], { seed: NaN }), /'seed' must be a non-negative integer/);
    throwsNaming(() => rf.randomNormal([2], { seed: -3 }), /'seed'/);
    throwsNaming(() => rf.tensor('abc' as never), /'data' must be/);
    throwsNaming(() => rf.tensor([[1, 2], [3]]), /ragged/);
    throwsNaming(() => rf.tensor([1, 2, 3], [2, 2]), /3 elements but shape \[2, 2\]/);
  });

  it('wrong argument types at the op level name the argument', () => {
    throwsNaming(() => rf.add(null as never, a), /'a' must be a Tensor or a number/);
    throwsNaming(() => rf.exp([1, 2] as never), /'x' must be a Tensor, got an array/);
    throwsNaming(() => rf.matmul(a, 3 as never), /'b' must be a Tensor/);
  });

  it('the native layer checks again: forged handles, wrong counts, out-of-bounds extents', () => {
    const h = a.handle;
    throwsNaming(() => native.unary(1, {} as never, h), /'x' must be a tensor handle/);
    throwsNaming(() => native.unary(99, h, h), /'op'/);
    throwsNaming(() => native.unary(1, h, rf.zeros([5], { dtype: 'float64' }).handle), /'out' has 5 elements, expected 6/);
    throwsNaming(() => native.gemm(false, false, 100, 100, 100, 1, h, 0, 100, 0, h, 0, 100, 0, 0, b.handle, 0, 100, 0, 1), /'C' must not alias|has 6 elements, the call reads/);
    const c = rf.zeros([10000], { dtype: 'float64' });
    throwsNaming(() => native.gemm(false, false, 50, 50, 50, 1, h, 0, 50, 0, c.handle, 0, 50, 0, 0, rf.zeros([2500], { dtype: 'float64' }).handle, 0, 50, 0, 1), /'A' has 6 elements, the call reads/);
    throwsNaming(() => native.copy2d(h, 0, 3, c.handle, 0, 3, 3, 3), /'src' has 6 elements/);
    throwsNaming(() => native.alloc(-1, 0, 0), /'numel' must be >= 0/);
    throwsNaming(() => native.alloc(1.5, 0, 0), /'numel' must be an integer/);
    const dh = native.alloc(2, 0, 0);
    native.free(dh);
    throwsNaming(() => native.read(dh), /disposed/);
    throwsNaming(() => native.unary(0, dh, h), /'x' refers to a tensor that has been disposed/);
    native.free(dh); // idempotent at the native level too
  });

  it('a batch of bad calls in a child process: every one throws, the process exits normally', () => {
    const script = `
      const rf = require(${JSON.stringify(path.resolve(__dirname, '..', 'lib'))});
      const { native } = require(${JSON.stringify(path.resolve(__dirname, '..', 'lib', 'native', 'binding'))});
      const calls = [
        () => native.gemm(false, false, 1e6, 1e6, 1e6, 1, rf.zeros([1]).handle, 0, 1e6, 0, rf.zeros([1]).handle, 0, 1e6, 0, 0, rf.zeros([1]).handle, 0, 1e6, 0, 1),
        () => native.read(null), () => native.read(42), () => native.read({}),
        () => native.write(rf.zeros([2]).handle, new Float32Array(3)),
        () => native.write(rf.zeros([2]).handle, new Float64Array(2)),
        () => native.binary(0, rf.zeros([3]).handle, [4], rf.zeros([3]).handle, [3], rf.zeros([3]).handle),
        () => native.reduce(0, rf.zeros([3]).handle, [3], [0, 0], rf.zeros([1]).handle),
        () => native.permute(rf.zeros([6]).handle, [2, 3], [0, 5], rf.zeros([6]).handle),
        () => native.softmaxXent(rf.zeros([4]).handle, rf.tensor([9, 9], undefined, { dtype: 'int32' }).handle, null, null, null, 2, 2),
        () => native.softmaxXentJvp(rf.zeros([4]).handle, rf.tensor([0, 1], undefined, { dtype: 'int32' }).handle, null, rf.zeros([3]).handle, null, rf.zeros([8]).handle, 2, 2, 2),
        () => native.scatterAddRows(rf.zeros([2]).handle, rf.tensor([7, 0], undefined, { dtype: 'int32' }).handle, rf.zeros([2]).handle, 1),
        () => native.argmax(rf.zeros([0]).handle, [0], 0, rf.zeros([1], { dtype: 'int32' }).handle),
        () => native.alloc(1e300, 0, 0), () => native.alloc(2 ** 41, 0, 0),
        () => native.randomNormal(rf.zeros([2]).handle, NaN, 0, 1),
        () => native.fill(rf.zeros([2]).handle, 'x'),
        () => native.copy2d(rf.zeros([4]).handle, 0, 2, rf.zeros([4]).handle, 3, 1, 2, 2),
        () => KI.gemm(rf.zeros([2, 2]), rf.zeros([3, 3])),
        () => KI.softmaxXentGradJvp(rf.zeros([2, 2]), rf.tensor([0, 1], undefined, { dtype: 'int32' }), null, rf.zeros([5]), null, 2),
      ];
      let thrown = 0;
      for (const c of calls) { try { c(); } catch (e) { if (e instanceof Error && e.message.length > 10) thrown++; } }
      console.log(JSON.stringify({ thrown, total: calls.length }));
    `;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    assert.equal(r.signal, null, `child died by signal ${r.signal}: ${r.stderr}`);
    assert.equal(r.status, 0, r.stderr);
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.equal(res.thrown, res.total, `every bad call threw: ${r.stdout}`);
  });
});

describe('bad input that used to hang', () => {
  it('revolve planning helpers and label corruption refuse what would loop for ever, naming the argument', () => {
    const cases: [() => unknown, RegExp][] = [
      [() => rf.revolveClosedForm(10, 0), /'snaps' must be at least 1 to reverse 10 steps, got 0/],
      [() => rf.revolveClosedForm(10, -1), /'snaps' must be a non-negative integer/],
      [() => rf.revolveClosedForm(NaN, 3), /'n' must be a non-negative integer, got NaN/],
      [() => rf.revolveCost(NaN, 3), /'n' must be a non-negative integer, got NaN/],
      [() => rf.revolveCost(10, 1.5), /'c' must be a non-negative integer, got 1.5/],
      [() => rf.revolveCost(1e300, 2), /'n' must be a non-negative integer, got 1e\+300/],
      [() => rf.data.corruptLabels({} as Int32Array, 1e12, 2.5, 0), /'labels' must be an Int32Array/],
      [() => rf.data.corruptLabels(new Int32Array(5), 2, 2.5, 0), /'classes' must be an integer ≥ 2/],
    ];
    for (const [call, message] of cases) assert.throws(call, (e: Error) => e instanceof rf.ArgumentError && message.test(e.message), String(call));
    // what used to loop now answers at once, with the closed form worked out here in BigInt:
    // two snapshots reverse β(2, r) = (r + 1)(r + 2)/2 steps with r advances each; t = r·n − C(r + 2, 3)
    const n = 10n ** 12n;
    let r = 0n;
    while (((r + 1n) * (r + 2n)) / 2n < n) r++;
    const expected = r * n - ((r + 2n) * (r + 1n) * r) / 6n;
    assert.equal(rf.revolveCost(1e12, 1), Number(expected));
  });
});

describe('allocation failure', () => {
  it('under ulimit -v an allocation the limit refuses is an OutOfMemoryError, and the process goes on computing', () => {
    const lib = path.join(__dirname, '..', 'lib');
    const script = `
      const rf = require(${JSON.stringify(lib)});
      const out = [];
      for (const shape of [[1e9], [3e8, 10], [1e6, 1e6], [1e15]]) {
        try { rf.zeros(shape, { dtype: 'float64' }).dispose(); out.push('allocated'); }
        catch (e) { out.push(e instanceof rf.OutOfMemoryError ? 'OutOfMemoryError: ' + e.message : 'other: ' + e.name + ' ' + e.message); }
      }
      const a = rf.ones([1000], { dtype: 'float64' });
      out.push(rf.sum(a).item());
      console.log(JSON.stringify(out));
    `;
    // 3 GB of address space: the addon, OpenBLAS and Node fit; 8 GB of zeros do not
    const r = spawnSync('bash', ['-c', `ulimit -v 3000000 && exec "${process.execPath}" -e "$0"`, script], { encoding: 'utf8' });
    assert.equal(r.signal, null, `child died by signal ${r.signal}: ${r.stderr}`);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.match(out[0], /^OutOfMemoryError: out of memory: a float64 tensor of 1000000000 elements \(7629\.4 MiB\) on cpu could not be allocated/);
    assert.match(out[1], /^OutOfMemoryError: .*3000000000 elements/);
    assert.match(out[2], /^OutOfMemoryError: .*1000000000000 elements/);
    assert.match(out[3], /^OutOfMemoryError: .*larger than any allocation rfho makes/);
    assert.equal(out[4], 1000, 'the library still computes after the refusals');
  });
});
