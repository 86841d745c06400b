import * as assert from 'node:assert/strict';
import * as rf from '../lib';
import * as KI from '../lib/kernels';

/** Live tensor memory (the reuse cache of disposed buffers excluded). */
function live() {
  const m = rf.memory();
  return { bytes: m.bytes, buffers: m.buffers };
}
import { arr } from './helpers';

describe('tensors and memory', () => {
  it('round-trips nested arrays, typed arrays and scalars in every dtype', () => {
    for (const dtype of ['float32', 'float64', 'int32'] as const) {
      const t = rf.tensor([[1, 2, 3], [4, 5, 6]], undefined, { dtype });
      assert.deepEqual(t.shape, [2, 3]);
      assert.equal(t.dtype, dtype);
      assert.equal(t.device, 'cpu');
      assert.deepEqual(arr(t), [1, 2, 3, 4, 5, 6]);
      assert.deepEqual(t.toNested(), [[1, 2, 3], [4, 5, 6]]);
      t.dispose();
    }
    const f = rf.tensor(new Float64Array([0.1, 0.2]));
    assert.equal(f.dtype, 'float64');
    assert.equal(f.item(1), 0.2);
    const s = rf.tensor(2.5, undefined, { dtype: 'float64' });
    assert.deepEqual(s.shape, []);
    assert.equal(s.item(), 2.5);
    const f32 = rf.tensor([0.1], undefined, { dtype: 'float32' });
    assert.equal(f32.item(), Math.fround(0.1));
  });

  it('reshapes as a view that shares memory and survives disposal of the original', () => {
    const t = rf.tensor([1, 2, 3, 4, 5, 6], [6], { dtype: 'float64' });
    const v = KI.reshapeView(t, [2, -1]);
    assert.deepEqual(v.shape, [2, 3]);
    const before = live().buffers;
    t.dispose();
    assert.equal(live().buffers, before, 'memory stays while a view lives');
    assert.deepEqual(arr(v), [1, 2, 3, 4, 5, 6]);
    v.dispose();
    assert.equal(live().buffers, before - 1);
  });

  it('dispose is idempotent and use after dispose throws an error that says so', () => {
    const t = rf.zeros([3]);
    t.dispose();
    t.dispose();
    assert.ok(t.isDisposed);
    assert.throws(() => t.toArray(), (e: Error) => e instanceof rf.DisposedError && /disposed/.test(e.message));
    assert.throws(() => rf.add(t, 1), /disposed/);
  });

  it('counts live bytes and buffers', () => {
    const m0 = live();
    const a = rf.zeros([10, 10], { dtype: 'float64' });
    const b = rf.zeros([5], { dtype: 'float32' });
    const m1 = live();
    assert.equal(m1.bytes - m0.bytes, 800 + 20);
    assert.equal(m1.buffers - m0.buffers, 2);
    a.dispose();
    b.dispose();
    assert.deepEqual(live(), m0);
  });

  it('tidy disposes everything created inside except what it returns (nested)', () => {
    const m0 = live();
    const kept = rf.tidy(() => {
      const a = rf.ones([4]);
      const b = rf.add(a, 1);
      const inner = rf.tidy(() => {
        const c = rf.mul(b, 2);
        return { c, list: [rf.add(c, 1)] };
      });
      assert.ok(!inner.c.isDisposed);
      return inner.list[0];
    });
    assert.deepEqual(arr(kept), [5, 5, 5, 5]);
    const m1 = live();
    assert.equal(m1.buffers - m0.buffers, 1);
    kept.dispose();
    // keep() exempts a tensor from its scope
    let saved: rf.Tensor | null = null;
    rf.tidy(() => {
      saved = rf.keep(rf.ones([2]));
      rf.ones([3]);
    });
    assert.ok(saved && !(saved as rf.Tensor).isDisposed);
    (saved as unknown as rf.Tensor).dispose();
    assert.deepEqual(live(), m0);
  });

  it('tidy disposes its tensors when the function throws', () => {
    const m0 = live();
    assert.throws(() => rf.tidy(() => {
      rf.ones([100]);
      throw new Error('boom');
    }), /boom/);
    assert.deepEqual(live(), m0);
  });

  it('seeded random numbers: same seed same numbers, sensible moments', () => {
    const a = rf.randomNormal([20000], { seed: 7, dtype: 'float64' });
    const b = rf.randomNormal([20000], { seed: 7, dtype: 'float64' });
    const c = rf.randomNormal([20000], { seed: 8, dtype: 'float64' });
    assert.deepEqual(arr(a), arr(b));
    assert.notDeepEqual(arr(a), arr(c));
    const xs = arr(a);
    const mean = xs.reduce((s, v) => s + v, 0) / xs.length;
    const varc = xs.reduce((s, v) => s + (v - mean) ** 2, 0) / xs.length;
    assert.ok(Math.abs(mean) < 0.03, `mean ${mean}`);
    assert.ok(Math.abs(varc - 1) < 0.05, `variance ${varc}`);
    const u = arr(rf.randomUniform([20000], { seed: 3, lo: 2, hi: 5, dtype: 'float64' }));
    assert.ok(u.every((v) => v >= 2 && v < 5));
    const um = u.reduce((s, v) => s + v, 0) / u.length;
    assert.ok(Math.abs(um - 3.5) < 0.03, `uniform mean ${um}`);
    // float32 draws are the float64 draws rounded
    const f = arr(rf.randomNormal([100], { seed: 7, dtype: 'float32' }));
    assert.deepEqual(f, xs.slice(0, 100).map(Math.fround));
  });

  it('casts between dtypes and reports devices', () => {
    const t = rf.tensor([1.5, -2.25], undefined, { dtype: 'float64' });
    assert.deepEqual(arr(rf.cast(t, 'float32')), [1.5, -2.25]);
    assert.deepEqual(arr(rf.cast(t, 'int32')), [1, -2]);
    const d = rf.availableDevices();
    assert.ok(d.devices.includes('cpu'));
    assert.equal(typeof d.cudaStatus, 'string');
    if (!d.cuda) assert.throws(() => rf.toDevice(t, 'cuda'), /CUDA/);
  });
});
