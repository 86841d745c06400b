import * as assert from 'node:assert/strict';
import * as rf from '../lib';

/** Live tensor memory (the reuse cache of disposed buffers excluded). */
function live() {
  const m = rf.memory();
  return { bytes: m.bytes, buffers: m.buffers };
}

describe('memory', () => {
  it('100 000 create/compute/dispose cycles end at the starting live-bytes count', () => {
    const start = live();
    const w = rf.tensor([[0.5, -0.25], [1, 2]], undefined, { dtype: 'float64' });
    for (let i = 0; i < 100_000; i++) {
      rf.tidy(() => {
        const x = rf.tensor([i % 7, 1], [1, 2], { dtype: 'float64' });
        const y = rf.tanh(rf.matmul(x, w));
        return rf.sum(y).item();
      });
    }
    w.dispose();
    assert.deepEqual(live(), start);
  });

  it('repeated gradient and hvp evaluations run at constant memory', () => {
    const x = rf.randomNormal([50], { seed: 1, dtype: 'float64' });
    const v = rf.randomNormal([4, 50], { seed: 2, dtype: 'float64' });
    const f = (t: rf.Tensor) => rf.sum(rf.mul(rf.tanh(t), rf.square(t)));
    const run = () => {
      const g = rf.grad(f)(x) as rf.Tensor;
      const h = rf.hvp(f, x, v, { batched: true }) as rf.Tensor;
      g.dispose();
      h.dispose();
    };
    run();
    const before = live();
    for (let i = 0; i < 2000; i++) run();
    assert.deepEqual(live(), before);
  });
});
