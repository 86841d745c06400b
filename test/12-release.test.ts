/**
 * The backward sweep frees cotangents and forward intermediates as it goes (autodiff/transforms.ts,
 * CotangentRelease and IntermediateRelease). Graphs below RFHO_RELEASE_MIN_BYTES skip it, which
 * would leave it untested on the small problems of the other files: here it is forced on (0 bytes)
 * and every result is compared bit for bit with the sweep that frees nothing, and against finite
 * differences; a probe in the graph sees the memory it frees.
 */
import * as assert from 'node:assert/strict';
import * as rf from '../lib';
import * as KI from '../lib/kernels';
import { Tensor } from '../lib';
import { record } from '../lib/autodiff/engine';
import { config } from '../lib/config/config';
import { assertClose, finiteDiff, rand } from './helpers';

const dtype = 'float64' as const;

/** Runs fn with the sweep freeing everything it may (0) or nothing (Infinity). */
function withRelease<R>(on: boolean, fn: () => R): R {
  const prev = config.releaseMinBytes;
  config.releaseMinBytes = on ? 0 : Infinity;
  try {
    return fn();
  } finally {
    config.releaseMinBytes = prev;
  }
}

function bitwise(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) assert.ok(Object.is(a[i], b[i]), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

/** Identity whose VJP records the live native bytes when the sweep reaches it. */
function probe(x: Tensor, seen: number[]): Tensor {
  return record(KI.clone(x), [x], 'probe', (g) => {
    seen.push(rf.memory().bytes);
    return [g];
  }, ([t]) => t);
}

describe('freeing during the backward sweep', () => {
  const n = 40, widths = [12, 24, 24, 4];
  const model = rf.mlp(widths, { activation: 'tanh' });
  const X = rand([n, widths[0]], 1, dtype);
  const y = rf.tensor(Array.from({ length: n }, (_, i) => i % widths[3]), undefined, { dtype: 'int32' });
  const w0 = model.initialize({ seed: 2, dtype });
  const loss = (w: Tensor, seen?: number[]) => rf.crossEntropy(model.apply(seen ? probe(w, seen) : w, X), y);

  it('gradients and batched HVPs of an MLP: bit for bit the same, and equal to finite differences', () => {
    const k = 5, V = rand([k, w0.size], 3, dtype);
    const run = () => rf.tidy(() => ({
      g: Array.from((rf.grad((w: Tensor) => loss(w))(w0) as Tensor).toArray()),
      hv: Array.from((rf.hvp((w: Tensor) => loss(w), w0, V, { batched: true }) as Tensor).toArray()),
    }));
    const freed = withRelease(true, run), kept = withRelease(false, run);
    bitwise(freed.g, kept.g, 'gradient');
    bitwise(freed.hv, kept.hv, 'hvp');
    rf.tidy(() => {
      const v0 = rf.reshape(KI.slice(V, 0, 0, 1), [w0.size]);
      const fd = finiteDiff((w: Tensor) => rf.grad((x: Tensor) => loss(x))(w) as Tensor, [w0], [v0], 1e-5);
      assertClose(freed.hv.slice(0, w0.size), fd, 1e-6, 'hvp against finite differences');
    });
  });

  it('the third order (reverse over an HVP) frees nothing the outer sweep reads', () => {
    // (a smooth loss: softmax cross-entropy has no third derivative here)
    const C = rand([n, widths[3]], 8, dtype);
    const smooth = (w: Tensor) => rf.sum(rf.mul(rf.square(model.apply(w, X)), C));
    const u = rand([w0.size], 4, dtype), v = rand([w0.size], 5, dtype);
    const third = (w: Tensor) => rf.vdot(u, rf.hvp(smooth, w, v) as Tensor);
    const run = () => rf.tidy(() => Array.from((rf.grad(third)(w0) as Tensor).toArray()));
    bitwise(withRelease(true, run), withRelease(false, run), 'third-order gradient');
  });

  it('Forward-HG and Reverse-HG (momentum, learned rate and momentum): the same hypergradients bit for bit', () => {
    const make = () => {
      const lr = rf.hyperparameter('lr', 0.2, { dtype }), mu = rf.hyperparameter('mu', 0.7, { dtype });
      const lam = rf.hyperparameter('lam', rand([n], 6, dtype, 0.2, 1));
      return rf.bilevel({
        params: model, hyperparameters: [lam], init: w0,
        train: (w, h) => rf.crossEntropy(model.apply(w, X), y, { weights: h.lam }),
        valid: (w) => rf.crossEntropy(model.apply(w, rf.mul(X, 0.5)), y),
        dynamics: rf.dynamics.momentum({ lr, momentum: mu }),
      });
    };
    const run = () => {
      const p = make();
      const f = rf.forwardHG(p, { T: 6 }), r = rf.reverseHG(p, { T: 6 });
      const out = Object.fromEntries(p.names.map((k) => [k, [Array.from(f.grads[k].toArray()), Array.from(r.grads[k].toArray())]]));
      for (const x of [f, r]) {
        Object.values(x.grads).forEach((g) => g.dispose());
        x.state.dispose();
      }
      return out;
    };
    const freed = withRelease(true, run), kept = withRelease(false, run);
    for (const k of Object.keys(kept)) {
      bitwise(freed[k][0], kept[k][0], `forward ${k}`);
      bitwise(freed[k][1], kept[k][1], `reverse ${k}`);
    }
  });

  it('by the end of an HVP\'s sweep the intermediates and their k-fold tangents are gone', () => {
    // (a sigmoid MLP: matmul, add and sigmoid nodes — tanh layers are one op, denseTanh)
    const sig = rf.mlp(widths, { activation: 'sigmoid' });
    const k = 16, V = rand([k, w0.size], 7, dtype);
    const seen = (on: boolean) => withRelease(on, () => {
      const at: number[] = [];
      rf.tidy(() => void rf.hvp((w: Tensor) => rf.crossEntropy(sig.apply(probe(w, at), X), y), w0, V, { batched: true }));
      assert.equal(at.length, 1);
      return at[0];
    });
    const kept = seen(false), freed = seen(true);
    // the tangents of the two hidden layers' products, pre-activations and activations alone are
    // 6 × k × n × 24 float64 values (737 KB)
    const tangents = 6 * k * n * widths[1] * 8;
    assert.ok(kept - freed >= tangents, `live bytes at the end of the sweep: ${kept} kept, ${freed} freed (expected at least ${tangents} less)`);
  });
});

describe('denseTanh: an MLP hidden layer as one op', () => {
  const X = rand([30, 9], 11, dtype), W = rand([9, 7], 12, dtype), b = rand([7], 13, dtype), C = rand([30, 7], 14, dtype);
  const composite = (x: Tensor, w: Tensor, c: Tensor) => rf.tanh(rf.add(rf.matmul(x, w), c));
  const fused = (x: Tensor, w: Tensor, c: Tensor) => rf.denseTanh(x, w, c);
  const loss = (layer: typeof fused) => (x: Tensor, w: Tensor, c: Tensor) => rf.sum(rf.mul(rf.square(layer(x, w, c)), C));

  it('value, gradient, batched HVP (directions on x, W and b) and third order: bit for bit the composite\'s', () => {
    const V = [rand([4, 30, 9], 15, dtype), rand([4, 9, 7], 16, dtype), rand([4, 7], 17, dtype)];
    const u = [rand([30, 9], 18, dtype), rand([9, 7], 19, dtype), rand([7], 20, dtype)];
    const v1 = [rand([30, 9], 21, dtype), rand([9, 7], 22, dtype), rand([7], 23, dtype)];
    const run = (layer: typeof fused) => rf.tidy(() => {
      const f = loss(layer);
      const out: number[][] = [Array.from(layer(X, W, b).toArray())];
      for (const g of rf.grad(f)([X, W, b]) as Tensor[]) out.push(Array.from(g.toArray()));
      for (const h of rf.hvp(f, [X, W, b], V, { batched: true }) as Tensor[]) out.push(Array.from(h.toArray()));
      // reverse over an HVP: the layer's tangent composed with ops (the path for an enclosing grad)
      const third = (...p: Tensor[]) => rf.add(rf.add(rf.vdot(u[0], (rf.hvp(f, p, v1) as Tensor[])[0]), rf.vdot(u[1], (rf.hvp(f, p, v1) as Tensor[])[1])), rf.vdot(u[2], (rf.hvp(f, p, v1) as Tensor[])[2]));
      for (const g of rf.grad(third)([X, W, b]) as Tensor[]) out.push(Array.from(g.toArray()));
      return out;
    });
    const a = run(fused), c = run(composite);
    a.forEach((x, i) => bitwise(x, c[i], `result ${i}`));
  });

  it('the HVP against finite differences of the gradient', () => {
    rf.tidy(() => {
      const f = loss(fused), e = rand([9, 7], 24, dtype);
      const hv = rf.hvp((w: Tensor) => f(X, w, b), W, e) as Tensor;
      const fd = finiteDiff((w: Tensor) => rf.grad((x: Tensor) => f(X, x, b))(w) as Tensor, [W], [e], 1e-5);
      assertClose(hv.toArray(), fd, 1e-6, 'hvp');
    });
  });

  it('bad input: the argument is named', () => {
    assert.throws(() => rf.denseTanh(null as unknown as Tensor, W, b), /'x'/);
    assert.throws(() => rf.denseTanh(X, W, rand([3], 1, dtype)), /denseTanh: 'x' \[30, 9\], 'W' \[9, 7\] and 'b' \[3\]/);
    assert.throws(() => rf.denseTanh(X, rand([8, 7], 1, dtype), b), /do not fit/);
  });
});
