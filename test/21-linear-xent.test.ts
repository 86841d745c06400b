/**
 * The cross-entropy of a linear softmax model, fused for a first-order gradient or an HVP, over each
 * kind of data matrix the fused pass reads: a sparse layout, a dense data matrix's row panels, and a
 * dense tensor that is no data matrix (row-major rows).
 */
import * as assert from 'node:assert/strict';
import * as rf from '../lib';
import { Tensor } from '../lib';
import { native } from '../lib/native/binding';
import { hvpPartial } from '../lib/autodiff/transforms';
import { overrideProvided, provides } from '../lib/kernels/dispatch';
import { arr, assertClose, assertScalarClose, finiteDiff, rand, rng } from './helpers';

const rows = 600, d = 97, c = 10;

type Kind = 'sparse data' | 'dense data' | 'dense tensor';

/**
 * Sparse: 75 % zeros at random places, one all-zero row (a sparse layout). Dense: every entry
 * non-zero, as a data matrix (row panels: 600 rows, not a multiple of 16, by 97 columns) or as a
 * plain tensor (no derived layouts). Labels 0..c−1.
 */
function makeData(kind: Kind, dtype: rf.FloatDType, seed = 3) {
  const r = rng(seed);
  const x = Float32Array.from({ length: rows * d }, () => (kind === 'sparse data' && r() < 0.75 ? 0 : Math.fround(r() - 0.3)));
  if (kind === 'sparse data') for (let j = 0; j < d; j++) x[4 * d + j] = 0;
  const y = Int32Array.from({ length: rows }, () => Math.floor(r() * c));
  const t = kind === 'dense tensor'
    ? { X: rf.tensor(x, [rows, d], { dtype }), y: rf.tensor(y, [rows], { dtype: 'int32' }) }
    : rf.data.toTensors(rf.data.makeDataset(kind, x, y, d, c), dtype);
  return { X: t.X, y: t.y, x: Array.from(x), labels: Array.from(y) };
}

/** Loss and gradients in float64 plain JavaScript, independent of the library. */
function reference(x: number[], labels: number[], W: number[], b: number[], w: number[] | null, scale: number) {
  const gW = new Array(d * c).fill(0), gb = new Array(c).fill(0), ce: number[] = [];
  let loss = 0;
  for (let i = 0; i < rows; i++) {
    const z = b.slice();
    for (let k = 0; k < d; k++) if (x[i * d + k] !== 0) for (let j = 0; j < c; j++) z[j] += x[i * d + k] * W[k * c + j];
    const m = Math.max(...z);
    const e = z.map((t) => Math.exp(t - m)), sum = e.reduce((a, t) => a + t, 0);
    ce.push(Math.log(sum) + m - z[labels[i]]);
    const s = (w ? w[i] : 1) * scale;
    loss += s * ce[i];
    for (let j = 0; j < c; j++) {
      const g = s * (e[j] / sum - (j === labels[i] ? 1 : 0));
      gb[j] += g;
      for (let k = 0; k < d; k++) gW[k * c + j] += x[i * d + k] * g;
    }
  }
  return { loss, gW, gb, gLam: ce.map((t) => t * scale) };
}

/** The directions (k) of each fused-kernel call while fn runs: [0] is a gradient, [k] k HVP directions. */
function countingFused<R>(fn: () => R): { result: R; calls: number; ks: number[] } {
  const names = ['sparseLinearXent', 'denseLinearXent'] as const;
  const real = names.map((n) => native[n]);
  const ks: number[] = [];
  names.forEach((n, i) => ((native as any)[n] = (...a: any[]) => { ks.push(a[3]); return (real[i] as any)(...a); }));
  try {
    const result = fn();
    return { result, calls: ks.length, ks };
  } finally {
    names.forEach((n, i) => ((native as any)[n] = real[i]));
  }
}

for (const kind of ['sparse data', 'dense data', 'dense tensor'] as const) describe(`linearCrossEntropy on ${kind}: softmax regression loss, fused for a gradient or an HVP`, () => {
  const sparseData = (dtype: rf.FloatDType, seed?: number) => makeData(kind, dtype, seed);
  before(function () {
    if (!provides('cpu', 'linearXent')) this.skip(); // needs AVX-512; the composite is tested below regardless
  });

  it('value and gradients (W, b, per-row weights) equal a float64 reference; both reductions; one native pass', () => {
    rf.tidy(() => {
      const { X, y, x, labels } = sparseData('float32');
      const W = rand([d, c], 11, 'float32', -0.3, 0.3), b = rand([c], 12, 'float32', -0.3, 0.3);
      const lam = rand([rows], 13, 'float32', 0, 1);
      for (const [reduction, scale] of [['mean', 1 / rows], ['sum', 1]] as const) {
        for (const weights of [lam, null]) {
          const f = (Wt: Tensor, bt: Tensor, lt: Tensor) => rf.linearCrossEntropy(X, Wt, bt, y, { weights: weights ? lt : null, reduction });
          const { result: r, calls } = countingFused(() => rf.vjp(f, [W, b, lam]));
          assert.equal(calls, 1, `${reduction}: the loss and its gradient came from the fused pass`);
          const derived = X.storage.derived;
          assert.equal(!!derived?.sparse, kind === 'sparse data', 'a sparse layout for sparse data only');
          assert.equal(!!derived?.panels, kind === 'dense data', 'row panels for a dense data matrix only');
          const ref = reference(x, labels, arr(W), arr(b), weights ? arr(lam) : null, scale);
          const g = r.grads as Tensor[];
          assertScalarClose(r.value.item(), ref.loss, 2e-6, `${reduction} loss`);
          assertClose(arr(g[0]), ref.gW, 1e-4, `${reduction} ∂W`);
          assertClose(arr(g[1]), ref.gb, 1e-4, `${reduction} ∂b`);
          if (weights) assertClose(arr(g[2]), ref.gLam, 1e-4, `${reduction} ∂weights`);
          else assert.ok(arr(g[2]).every((v) => v === 0), 'no weights: no gradient for them');
          assert.equal(arr(g[1]).length, c);
        }
      }
    });
  });

  it('the linear model\'s crossEntropy is its apply + crossEntropy: same training step, fused', () => {
    rf.tidy(() => {
      const { X, y } = sparseData('float32', 5);
      const model = rf.linear(d, c);
      const w = rand([model.layout.size], 21, 'float32', -0.2, 0.2), lam = rand([rows], 22, 'float32', 0, 1);
      const fused = countingFused(() => rf.vjp((wt: Tensor) => model.crossEntropy(wt, X, y, { weights: lam }), [w]));
      const composite = rf.vjp((wt: Tensor) => rf.crossEntropy(model.apply(wt, X), y, { weights: lam }), [w]);
      assert.equal(fused.calls, 1);
      assertScalarClose(fused.result.value.item(), composite.value.item(), 1e-6, 'loss');
      const gc = arr((composite.grads as Tensor[])[0]);
      assertClose(arr((fused.result.grads as Tensor[])[0]), gc, 1e-5, 'gradient');
    });
  });

  it('Hessian-vector products fused too: one pass per product (k ≤ 4 directions, batched), the weights\' mixed term included; equal to float64 composites checked against finite differences', () => {
    rf.tidy(() => {
      const d32 = sparseData('float32', 7), d64 = sparseData('float64', 7);
      const layout = rf.params({ W: [d, c], b: [c] });
      const f = (X: Tensor, y: Tensor) => (w: Tensor, lam: Tensor) => { const p = layout.views(w); return rf.linearCrossEntropy(X, p.W, p.b, y, { weights: lam }); };
      const g64 = (w: Tensor, lam: Tensor) => { const p = layout.views(w); return rf.crossEntropy(rf.add(rf.matmul(d64.X, p.W), p.b), d64.y, { weights: lam }); };
      const w64 = rand([layout.size], 32, 'float64', -0.3, 0.3), lam64 = rand([rows], 31, 'float64', 0, 1);
      const V64 = rand([5, layout.size], 33, 'float64');
      const w32 = rf.cast(w64, 'float32'), lam32 = rf.cast(lam64, 'float32'), V32 = rf.cast(V64, 'float32');
      const v64 = rf.reshape(rf.slice(V64, 0, 0, 1), [layout.size]), v32 = rf.cast(v64, 'float32');
      // the float64 composite against finite differences of its gradient, then the fused float32 against it
      const [hw64, hl64] = hvpPartial(g64, [w64, lam64], [v64, null]);
      const gradW = (w: Tensor) => (rf.grad((x: Tensor) => g64(x, lam64))(w) as Tensor);
      const gradL = (w: Tensor) => (rf.grad((l: Tensor) => g64(w, l))(lam64) as Tensor);
      assertClose(arr(hw64), finiteDiff(gradW, [w64], [v64], 1e-6), 1e-7, 'float64 composite H_ww v vs FD');
      assertClose(arr(hl64), finiteDiff(gradL, [w64], [v64], 1e-6), 1e-7, 'float64 composite H_λw v vs FD');
      const one = countingFused(() => hvpPartial(f(d32.X, d32.y), [w32, lam32], [v32, null]));
      assert.deepEqual(one.ks, [1], 'one fused pass, one direction (the weights\' cotangent needs no second pass)');
      assertClose(arr(one.result[0]), arr(hw64), 1e-4, 'fused H_ww v');
      assertClose(arr(one.result[1]), arr(hl64), 1e-4, 'fused H_λw v');
      // batched: four directions in one pass; five: the composite
      const four = countingFused(() => rf.hvp((w: Tensor) => f(d32.X, d32.y)(w, lam32), w32, rf.slice(V32, 0, 0, 4), { batched: true }) as Tensor);
      assert.deepEqual(four.ks, [4]);
      const ref4 = rf.hvp((w: Tensor) => g64(w, lam64), w64, rf.slice(V64, 0, 0, 4), { batched: true }) as Tensor;
      assertClose(arr(four.result), arr(ref4), 1e-4, 'batched fused hvp');
      const five = countingFused(() => rf.hvp((w: Tensor) => f(d32.X, d32.y)(w, lam32), w32, V32, { batched: true }) as Tensor);
      assert.equal(five.calls, 0, 'five directions: the composite');
      assertClose(arr(five.result), arr(rf.hvp((w: Tensor) => g64(w, lam64), w64, V64, { batched: true }) as Tensor), 1e-4, 'composite hvp');
      // a function of the loss (g carries a tangent): the primal gradient is read, one more pass
      const sq = countingFused(() => rf.hvp((w: Tensor) => rf.square(f(d32.X, d32.y)(w, lam32)), w32, v32) as Tensor);
      assert.deepEqual(sq.ks, [1, 0]);
      assertClose(arr(sq.result), arr(rf.hvp((w: Tensor) => rf.square(g64(w, lam64)), w64, v64) as Tensor), 1e-4, 'hvp of the squared loss');
    });
  });

  it('70000 rows, the gradient and four directions in one fused call each: equal to float64 composites', () => {
    rf.tidy(() => {
      const n = 70000, dd = 16;
      const r = rng(77);
      const x = Float32Array.from({ length: n * dd }, () => (r() < 0.7 ? 0 : Math.fround(r())));
      const y = Int32Array.from({ length: n }, () => Math.floor(r() * c));
      const t32 = rf.data.toTensors(rf.data.makeDataset('big', x, y, dd, c), 'float32'), t64 = rf.data.toTensors(rf.data.makeDataset('big', x, y, dd, c), 'float64');
      const layout = rf.params({ W: [dd, c], b: [c] });
      const f = (w: Tensor) => { const p = layout.views(w); return rf.linearCrossEntropy(t32.X, p.W, p.b, t32.y); };
      const g64 = (w: Tensor) => { const p = layout.views(w); return rf.crossEntropy(rf.add(rf.matmul(t64.X, p.W), p.b), t64.y); };
      const w64 = rand([layout.size], 78, 'float64', -0.5, 0.5), w32 = rf.cast(w64, 'float32');
      const V64 = rand([4, layout.size], 79, 'float64'), V32 = rf.cast(V64, 'float32');
      const grad = countingFused(() => rf.grad(f)(w32) as Tensor);
      assert.deepEqual(grad.ks, [0], 'the fused gradient');
      assertClose(arr(grad.result), arr(rf.grad(g64)(w64) as Tensor), 1e-4, 'gradient over 70000 rows');
      const four = countingFused(() => rf.hvp(f, w32, V32, { batched: true }) as Tensor);
      assert.deepEqual(four.ks, [4], 'four directions in one fused call');
      assertClose(arr(four.result), arr(rf.hvp(g64, w64, V64, { batched: true }) as Tensor), 1e-4, 'batched hvp over 70000 rows');
    });
  });

  it('under other transformations it is the composite: jvp, grad of grad, float64 — matching finite differences (third derivatives of softmax cross-entropy are not provided)', () => {
    rf.tidy(() => {
      for (const dtype of ['float64', 'float32'] as const) {
        const { X, y } = sparseData(dtype, 7);
        const lam = rand([rows], 31, dtype, 0, 1);
        const layout = rf.params({ W: [d, c], b: [c] });
        const f = (w: Tensor) => { const p = layout.views(w); return rf.linearCrossEntropy(X, p.W, p.b, y, { weights: lam }); };
        const g = (w: Tensor) => { const p = layout.views(w); return rf.crossEntropy(rf.add(rf.matmul(X, p.W), p.b), y, { weights: lam }); };
        const w = rand([layout.size], 32, dtype, -0.3, 0.3), v = rand([layout.size], 33, dtype);
        const gg = (x: Tensor) => rf.vdot(v, rf.grad(f)(x) as Tensor);
        const { result, calls } = countingFused(() => ({ t: rf.jvp(f, [w], [v]).tangent.item(), gg: arr(rf.grad(gg)(w) as Tensor) }));
        assert.equal(calls, 0, `${dtype}: no fused pass under jvp or grad of grad`);
        const tol = dtype === 'float64' ? 1e-7 : 1e-4;
        assertScalarClose(result.t, rf.jvp(g, [w], [v]).tangent.item(), dtype === 'float64' ? 1e-12 : 1e-5, 'jvp');
        if (dtype === 'float64') {
          assertClose(result.gg, finiteDiff((x: Tensor) => rf.grad(f)(x) as Tensor, [w], [v], 1e-6), tol, 'grad of grad = hvp vs FD');
        } else {
          assertClose(result.gg, arr(rf.hvp(g, w, v) as Tensor), tol, 'float32 grad of grad = composite hvp');
        }
      }
    });
  });

  it('Reverse-HG on hyper-cleaning through the fused loss: one gradient pass and one HVP pass per step, the hypergradient of the composite (and Forward-HG\'s)', () => {
    rf.tidy(() => {
      const { X, y } = sparseData('float32', 17);
      const valid = sparseData('float32', 18);
      const model = rf.linear(d, c);
      const make = (fused: boolean, Xt = X, Xv = valid.X) => rf.bilevel({
        params: model,
        hyperparameters: [rf.hyperparameter('lam', rf.full([rows], 0.5, { dtype: 'float32' }))],
        init: model.initialize({ seed: 0, dtype: 'float32' }),
        train: (w, h) => (fused ? model.crossEntropy(w, Xt, y, { weights: h.lam }) : rf.crossEntropy(model.apply(w, Xt), y, { weights: h.lam })),
        valid: (w) => rf.crossEntropy(model.apply(w, Xv), valid.y),
        dynamics: rf.dynamics.gradientDescent({ lr: 0.5 }),
      });
      const T = 15;
      const fused = countingFused(() => rf.reverseHG(make(true), { T }));
      assert.deepEqual([fused.ks.filter((k) => k === 0).length, fused.ks.filter((k) => k === 1).length], [T, T], 'T gradient passes and T HVP passes');
      const composite = rf.reverseHG(make(false), { T });
      const forward = rf.forwardHG(make(true), { T });
      const ref = arr(composite.grads.lam);
      assert.ok(Math.max(...ref.map(Math.abs)) > 1e-6, 'a hypergradient that is not zero');
      assertClose(arr(fused.result.grads.lam), ref, 1e-4, 'Reverse-HG fused vs composite');
      assertClose(arr(forward.grads.lam), ref, 1e-4, 'Forward-HG (composite under forward mode) vs Reverse-HG');
      assertScalarClose(fused.result.value, composite.value, 1e-6, 'validation error');
      // a backend without sparse layouts or the fused pass: the same call composes itself (dispatch, no throw)
      const packSparse = native.packSparse;
      let packed = 0;
      native.packSparse = (...a: Parameters<typeof packSparse>) => (packed++, packSparse(...a));
      overrideProvided('cpu', ['tanhGrad', 'tanhGradJvp', 'dynamicsTangent', 'rowPanels']);
      try {
        const X2 = rf.add(X, 0), Xv2 = rf.add(valid.X, 0); // fresh data matrices: no layouts made before
        rf.data.asDataMatrix(X2);
        rf.data.asDataMatrix(Xv2);
        const plain = countingFused(() => rf.reverseHG(make(true, X2, Xv2), { T }));
        assert.deepEqual([plain.calls, packed], [0, 0], 'no fused pass and no sparse layout where the backend provides neither');
        assertClose(arr(plain.result.grads.lam), ref, 1e-4, 'Reverse-HG composed vs composite');
      } finally {
        overrideProvided('cpu', null);
        native.packSparse = packSparse;
      }
    });
  });

  it('where the fused pass does not apply it is the composite: float64, more than 16 classes, no gradient, reduction none', () => {
    rf.tidy(() => {
      const { X, y } = sparseData('float32', 8);
      const X64 = sparseData('float64', 8).X;
      const wide = rand([d, 20], 41, 'float32'), bw = rand([20], 42, 'float32');
      const y20 = rf.tensor(Int32Array.from({ length: rows }, (_, i) => i % 20), [rows], { dtype: 'int32' });
      const W = rand([d, c], 43, 'float32'), b = rand([c], 44, 'float32');
      const cases: [string, () => unknown][] = [
        // float64 is fused over a dense data matrix's panels only (below)
        ...(kind === 'dense data' ? [] : [['float64', () => rf.vjp((Wt: Tensor) => rf.linearCrossEntropy(X64, Wt, rand([c], 44), y), [rand([d, c], 43)])] as [string, () => unknown]]),
        ['20 classes', () => rf.vjp((Wt: Tensor) => rf.linearCrossEntropy(X, Wt, bw, y20), [wide])],
        ['no gradient', () => rf.linearCrossEntropy(X, W, b, y)],
        ['reduction none', () => rf.vjp((Wt: Tensor) => rf.sum(rf.linearCrossEntropy(X, Wt, b, y, { reduction: 'none' })), [W])],
      ];
      for (const [what, fn] of cases) assert.equal(countingFused(fn).calls, 0, what);
      // and the values agree with the fused path where both apply
      const plain = rf.linearCrossEntropy(X, W, b, y).item();
      const fused = rf.vjp((Wt: Tensor) => rf.linearCrossEntropy(X, Wt, b, y), [W]).value.item();
      assertScalarClose(fused, plain, 1e-6, 'fused loss = composite loss');
    });
  });

  it('NaN in the weights of the model gives a NaN loss and gradient (divergence stays visible)', () => {
    rf.tidy(() => {
      const { X, y } = sparseData('float32', 12);
      const W = rand([d, c], 51, 'float32');
      const w = W.toArray() as Float32Array;
      w[3] = NaN;
      const Wn = rf.tensor(w, [d, c], { dtype: 'float32' });
      const r = countingFused(() => rf.vjp((Wt: Tensor) => rf.linearCrossEntropy(X, Wt, rf.zeros([c], { dtype: 'float32' }), y), [Wn]));
      assert.equal(r.calls, 1);
      assert.ok(Number.isNaN(r.result.value.item()), 'loss');
      assert.ok(arr((r.result.grads as Tensor[])[0]).some(Number.isNaN), 'gradient');
    });
  });

  it('bad input: shapes, dtypes and labels name the argument, in TypeScript and in native code', function () {
    if (kind !== 'sparse data') this.skip(); // the dense pass's native guards: below
    rf.tidy(() => {
      const { X, y } = sparseData('float32', 13);
      const W = rand([d, c], 61, 'float32'), b = rand([c], 62, 'float32');
      const grad = (fn: (Wt: Tensor) => Tensor) => rf.vjp(fn, [W]);
      assert.throws(() => grad((Wt) => rf.linearCrossEntropy(X, rf.reshape(Wt, [c, d]), b, y)), /expected x \[n, d\], W \[d, c\], b \[c\]/);
      assert.throws(() => grad((Wt) => rf.linearCrossEntropy(X, Wt, rand([c + 1], 1, 'float32'), y)), /b \[11\]/);
      assert.throws(() => grad((Wt) => rf.linearCrossEntropy(X, Wt, rand([c], 1, 'float64'), y)), /'b'/);
      assert.throws(() => grad((Wt) => rf.linearCrossEntropy(X, Wt, b, rf.tensor(new Int32Array(rows - 1), [rows - 1], { dtype: 'int32' }))), /'labels' must be an int32 tensor of shape \[600\]/);
      assert.throws(() => grad((Wt) => rf.linearCrossEntropy(X, Wt, b, y, { weights: rand([rows + 1], 2, 'float32') })), /'weights' must have shape \[600\]/);
      assert.throws(() => grad((Wt) => rf.linearCrossEntropy(X, Wt, b, y, { reduction: 'max' as any })), /argument 'reduction'/);
      const bad = Int32Array.from(y.toArray() as Int32Array);
      bad[17] = c;
      assert.throws(() => grad((Wt) => rf.linearCrossEntropy(X, Wt, b, rf.tensor(bad, [rows], { dtype: 'int32' }))), /'labels' has 10 at row 17, outside \[0, 10\)/);
      // the native guards, called directly
      rf.vjp((Wt: Tensor) => rf.linearCrossEntropy(X, Wt, b, y), [W]); // builds the layout
      const S = X.storage.derived!.sparse!;
      const ce = rf.zeros([rows], { dtype: 'float32' }), gW = rf.zeros([d, c], { dtype: 'float32' }), gb = rf.zeros([c], { dtype: 'float32' });
      const call = (o: Partial<Record<'S' | 'W' | 'b' | 'y' | 'ce' | 'gW' | 'gb', any>>, cc = c, k = 0) =>
        native.sparseLinearXent(o.S ?? S, (o.W ?? W).handle, (o.b ?? b).handle, k, null, null, (o.y ?? y).handle, null, 1, (o.ce ?? ce).handle, (o.gW ?? gW).handle, (o.gb ?? gb).handle, null, cc);
      assert.throws(() => call({ S: W.handle }), /'S' is a tensor, not a sparse layout/);
      assert.throws(() => call({ W: rand([d, c - 1], 3, 'float32') }), /'W' has 873 elements/);
      assert.throws(() => call({ gW: W }), /must not be inputs/);
      assert.throws(() => call({}, 17), /at most 16/);
      assert.throws(() => call({ y: rf.zeros([rows], { dtype: 'float32' }) }), /'labels'/);
      assert.throws(() => call({}, c, 1), /'dW', 'db' and 'r' are needed/);
      assert.throws(() => call({}, c, 5), /'k' must be at most 4/);
      assert.throws(() => call({}, c, -1), /'k' must be >= 0/);
      assert.throws(() => call({}, 0), /'c' must be >= 1/);
      assert.ok(Number.isFinite(call({})[0]), 'a valid direct call returns the loss');
    });
  });
});

describe('linearCrossEntropy on a float64 dense data matrix: fused over its row panels', () => {
  before(function () {
    if (!provides('cpu', 'linearXent')) this.skip();
  });

  it('loss, gradient and HVPs (one to four directions) equal the float64 composite to rounding, and finite differences', () => {
    rf.tidy(() => {
      const { X, y } = makeData('dense data', 'float64', 15);
      const layout = rf.params({ W: [d, c], b: [c] });
      const lam = rand([rows], 81, 'float64', 0, 1);
      const fused = (w: Tensor, l: Tensor) => { const p = layout.views(w); return rf.linearCrossEntropy(X, p.W, p.b, y, { weights: l }); };
      const composite = (w: Tensor, l: Tensor) => { const p = layout.views(w); return rf.crossEntropy(rf.add(rf.matmul(X, p.W), p.b), y, { weights: l }); };
      const w = rand([layout.size], 82, 'float64', -0.3, 0.3), V = rand([4, layout.size], 83, 'float64');
      const g = countingFused(() => rf.vjp(fused, [w, lam]));
      assert.deepEqual(g.ks, [0], 'one fused pass');
      assert.ok(X.storage.derived?.panels, 'read from the row panels');
      const ref = rf.vjp(composite, [w, lam]);
      assertScalarClose(g.result.value.item(), ref.value.item(), 1e-13, 'loss');
      const [gw, gl] = g.result.grads as Tensor[], [rw, rl] = ref.grads as Tensor[];
      assertClose(arr(gw), arr(rw), 1e-12, '∂w');
      assertClose(arr(gl), arr(rl), 1e-12, '∂weights');
      const v = rf.reshape(rf.slice(V, 0, 0, 1), [layout.size]);
      assertScalarClose(rf.vdot(gw, v).item(), finiteDiff((x: Tensor) => composite(x, lam), [w], [v], 1e-6)[0], 1e-7, '∂w·v vs finite differences');
      for (const k of [1, 4]) {
        const Vk = rf.slice(V, 0, 0, k);
        const h = countingFused(() => rf.hvp((x: Tensor) => fused(x, lam), w, Vk, { batched: true }) as Tensor);
        assert.deepEqual(h.ks, [k], `${k} directions in one pass`);
        assertClose(arr(h.result), arr(rf.hvp((x: Tensor) => composite(x, lam), w, Vk, { batched: true }) as Tensor), 1e-11, `hvp, ${k} directions`);
      }
      const [hw, hl] = hvpPartial(fused, [w, lam], [v, null]);
      const gradW = (x: Tensor) => (rf.grad((t: Tensor) => composite(t, lam))(x) as Tensor);
      const gradL = (x: Tensor) => (rf.grad((l: Tensor) => composite(x, l))(lam) as Tensor);
      assertClose(arr(hw), finiteDiff(gradW, [w], [v], 1e-6), 1e-7, 'H_ww v vs finite differences');
      assertClose(arr(hl), finiteDiff(gradL, [w], [v], 1e-6), 1e-7, 'H_λw v vs finite differences');
    });
  });
});

describe('linearCrossEntropy on a float32 dense data matrix of other class counts: its row panels\' softmax across the lanes', () => {
  before(function () {
    if (!provides('cpu', 'linearXent')) this.skip();
  });

  it('2, 3, 7 and 16 classes: loss, gradient and HVPs (one and three directions) equal float64 composites to rounding', () => {
    for (const classes of [2, 3, 7, 16]) {
      rf.tidy(() => {
        const r = rng(40 + classes);
        const x = Float32Array.from({ length: rows * d }, () => Math.fround(r() - 0.4));
        const labels = Int32Array.from({ length: rows }, (_, i) => (i * 7) % classes);
        const X = rf.data.asDataMatrix(rf.tensor(x, [rows, d])), y = rf.tensor(labels, [rows], { dtype: 'int32' });
        const X64 = rf.cast(X, 'float64');
        const layout = rf.params({ W: [d, classes], b: [classes] });
        const fused = (w: Tensor, l: Tensor) => { const p = layout.views(w); return rf.linearCrossEntropy(X, p.W, p.b, y, { weights: l }); };
        const composite = (w: Tensor, l: Tensor) => { const p = layout.views(w); return rf.crossEntropy(rf.add(rf.matmul(X64, p.W), p.b), y, { weights: l }); };
        const w64 = rand([layout.size], 90 + classes, 'float64', -0.3, 0.3), lam64 = rand([rows], 91, 'float64', 0, 1);
        const V64 = rand([3, layout.size], 92, 'float64');
        const w = rf.cast(w64, 'float32'), lam = rf.cast(lam64, 'float32'), V = rf.cast(V64, 'float32');
        const g = countingFused(() => rf.vjp(fused, [w, lam]));
        assert.deepEqual(g.ks, [0], `${classes} classes: one fused pass`);
        assert.ok(X.storage.derived?.panels, 'read from the row panels');
        const ref = rf.vjp(composite, [w64, lam64]);
        assertScalarClose(g.result.value.item(), ref.value.item(), 1e-6, `${classes} classes: loss`);
        assertClose(arr((g.result.grads as Tensor[])[0]), arr((ref.grads as Tensor[])[0]), 1e-5, `${classes} classes: ∂w`);
        assertClose(arr((g.result.grads as Tensor[])[1]), arr((ref.grads as Tensor[])[1]), 1e-5, `${classes} classes: ∂weights`);
        for (const k of [1, 3]) {
          const h = countingFused(() => rf.hvp((t: Tensor) => fused(t, lam), w, rf.slice(V, 0, 0, k), { batched: true }) as Tensor);
          assert.deepEqual(h.ks, [k], `${classes} classes: ${k} directions in one pass`);
          const want = rf.hvp((t: Tensor) => composite(t, lam64), w64, rf.slice(V64, 0, 0, k), { batched: true }) as Tensor;
          assertClose(arr(h.result), arr(want), 1e-4, `${classes} classes: hvp, ${k} directions`);
        }
      });
    }
  });
});

describe('denseLinearXent: native guards', () => {
  before(function () {
    if (!provides('cpu', 'linearXent')) this.skip();
  });

  it('refuses a matrix, panels, shapes and outputs that do not fit, naming the argument', () => {
    rf.tidy(() => {
      const { X, y } = makeData('dense data', 'float32', 14);
      const W = rand([d, c], 71, 'float32'), b = rf.zeros([c], { dtype: 'float32' });
      const panels = rf.zeros([Math.ceil(rows / 16) * 16 * d], { dtype: 'float32' });
      const ce = rf.zeros([rows], { dtype: 'float32' }), gW = rf.zeros([d, c], { dtype: 'float32' }), gb = rf.zeros([c], { dtype: 'float32' });
      const call = (o: Partial<Record<'X' | 'W' | 'y' | 'gW' | 'P', any>>, cc = c) =>
        native.denseLinearXent((o.X ?? X).handle, (o.W ?? W).handle, b.handle, 0, null, null, (o.y ?? y).handle, null, 1, ce.handle, (o.gW ?? gW).handle, gb.handle, null, cc, o.P === undefined ? panels.handle : o.P && o.P.handle);
      assert.throws(() => call({ X: rand([rows, d + 1], 1, 'float32') }), /'X' must hold n·d values \(d = 97\)/);
      assert.throws(() => call({ X: rf.cast(X, 'float64') }), /dtype mismatch: 'X' is float64 but 'panels' is float32/);
      assert.throws(() => call({ X: rf.cast(X, 'float64'), P: null }), /'panels' is needed for a float64 'X'/);
      assert.throws(() => call({ X: rf.tensor(new Int32Array(rows * d), [rows, d], { dtype: 'int32' }), P: null }), /'X' must be float32 or float64/);
      assert.throws(() => call({ P: rf.zeros([rows * d], { dtype: 'float32' }) }), /'panels'/);
      assert.throws(() => call({ P: rf.zeros([Math.ceil(rows / 16) * 16 * d], { dtype: 'float64' }) }), /'panels'/);
      assert.throws(() => call({ W: rand([d * c + 1], 3, 'float32') }), /'W' must hold d·c values/);
      assert.throws(() => call({ gW: W }), /must not be inputs/);
      assert.throws(() => call({}, 17), /'W' must hold d·c values \(c = 17\)/);
      assert.throws(() => call({ W: rand([d, 20], 4, 'float32') }, 20), /'c' must be at most 16/);
      const bad = Int32Array.from(y.toArray() as Int32Array);
      bad[5] = -1;
      assert.throws(() => call({ y: rf.tensor(bad, [rows], { dtype: 'int32' }) }), /'labels' has -1 at row 5/);
      const lam = rf.ones([rows], { dtype: 'float32' }), dWeights = rf.zeros([rows], { dtype: 'float32' });
      assert.throws(() => native.denseLinearXent(X.handle, W.handle, b.handle, 0, null, null, y.handle, lam.handle, 1, ce.handle, gW.handle, gb.handle, null, c, panels.handle, null, null, dWeights.handle),
        /'dWeights' \(the weights' tangents\) needs k ≥ 1 directions and 'weights'/);
      const dW1 = rf.zeros([1, d, c], { dtype: 'float32' }), db1 = rf.zeros([1, c], { dtype: 'float32' }), r1 = rf.zeros([1, rows], { dtype: 'float32' });
      const tangentCall = (dw: Tensor, w: Tensor | null = lam) => native.denseLinearXent(X.handle, W.handle, b.handle, 1, dW1.handle, db1.handle, y.handle, w && w.handle, 1, ce.handle, gW.handle, gb.handle, r1.handle, c, panels.handle, null, null, dw.handle);
      assert.throws(() => tangentCall(dWeights, null), /needs k ≥ 1 directions and 'weights'/);
      assert.throws(() => tangentCall(rf.zeros([rows + 1], { dtype: 'float32' })), /'dWeights'/);
      assert.throws(() => tangentCall(rf.zeros([rows], { dtype: 'float64' })), /'dWeights'/);
      assert.ok(Number.isFinite(tangentCall(dWeights)[1]), 'a valid call with the weights\' tangents');
      // zero panels stand for a zero matrix: the loss of zero logits is log c per row
      assertScalarClose(call({})[0], rows * Math.log(c) + 0, 1e-3, 'a valid call reads the panels');
      assert.ok(Math.abs(call({ P: null })[0] - rows * Math.log(c)) > 1, 'without panels it reads X');
    });
  });
});

describe('kept logits: Reverse-HG hands its forward steps\' X W + b to its reverse steps\' HVP passes (dense data)', () => {
  before(function () {
    if (!provides('cpu', 'linearXent')) this.skip();
  });
  const budget = rf.config.keptLogitsBytes;
  afterEach(() => {
    rf.config.keptLogitsBytes = budget;
  });

  /** HC on makeData's dense data: per-row weights as hyperparameters, gradient descent. */
  function hc(dtype: rf.FloatDType, lr = 0.5) {
    const { X, y } = makeData('dense data', dtype, 41);
    const valid = makeData('dense data', dtype, 42);
    const model = rf.linear(d, c);
    return rf.bilevel({
      params: model,
      hyperparameters: [rf.hyperparameter('lam', rf.full([rows], 0.5, { dtype }))],
      init: model.initialize({ seed: 0, dtype }),
      train: (w, h) => model.crossEntropy(w, X, y, { weights: h.lam }),
      valid: (w) => rf.crossEntropy(model.apply(w, valid.X), valid.y),
      dynamics: rf.dynamics.gradientDescent({ lr }),
    });
  }

  /** The logits handed in (argument 15 of denseLinearXent) and kept (16) by each pass while fn runs. */
  function countingKept<R>(fn: () => R): { result: R; given: number; kept: number } {
    const real = native.denseLinearXent;
    let given = 0, kept = 0;
    (native as any).denseLinearXent = (...a: any[]) => {
      if (a[15]) given++;
      if (a[16]) kept++;
      return (real as any)(...a);
    };
    try {
      return { result: fn(), given, kept };
    } finally {
      (native as any).denseLinearXent = real;
    }
  }

  it('the same bits as recomputing them, for every step; a budget keeps the newest; none left after; float32 and float64', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      rf.tidy(() => {
        const T = 12, problem = hc(dtype);
        rf.config.keptLogitsBytes = 0;
        const plain = countingKept(() => rf.reverseHG(problem, { T }));
        assert.deepEqual([plain.given, plain.kept], [0, 0], `${dtype}: a budget of 0 keeps nothing`);
        const before = rf.memory().undisposedBytes; // the data's row panels exist from here on
        rf.config.keptLogitsBytes = 256 * 2 ** 20;
        const all = countingKept(() => rf.reverseHG(problem, { T }));
        assert.equal(all.given, T, `${dtype}: every HVP pass takes its step's logits`);
        assert.equal(all.result.stats.keptLogits?.reused, T);
        const bytes = rows * c * (dtype === 'float64' ? 8 : 4);
        assert.ok(all.result.stats.keptLogits!.peakBytes >= T * bytes, 'the forward steps\' logits were all held');
        assert.deepEqual(Array.from(all.result.grads.lam.toArray()), Array.from(plain.result.grads.lam.toArray()), `${dtype}: bit for bit`);
        assert.ok(Math.max(...arr(plain.result.grads.lam).map(Math.abs)) > 1e-6, 'a hypergradient that is not zero');
        rf.config.keptLogitsBytes = 3 * bytes;
        const some = countingKept(() => rf.reverseHG(problem, { T }));
        assert.equal(some.given, 3, `${dtype}: room for three steps: the last three reverse steps reuse`);
        assert.equal(some.kept, 3, `${dtype}: and only the last three forward steps keep theirs (the earlier ones would be pushed out)`);
        assert.deepEqual(Array.from(some.result.grads.lam.toArray()), Array.from(plain.result.grads.lam.toArray()));
        const truncated = countingKept(() => rf.truncatedReverseHG(problem, { T, K: 2 }));
        assert.deepEqual([truncated.given, truncated.kept], [2, 2], 'truncated Reverse-HG: its window of two steps, and no other step keeps');
        for (const r of [all, some, truncated]) {
          Object.values(r.result.grads).forEach((g) => g.dispose());
          r.result.state.dispose();
        }
        assert.equal(rf.memory().undisposedBytes - before, 0, `${dtype}: no kept logits outlive the runs`);
        Object.values(plain.result.grads).forEach((g) => g.dispose());
        plain.result.state.dispose();
      });
    }
  });

  it('two Reverse-HG runs sliced side by side: each its own store (suspended with the run), every step reused, the results of the runs alone', async () => {
    const [a, b] = [hc('float32'), hc('float32', 0.3)];
    const T = 8;
    const ref = rf.reverseHG(a, { T }).grads.lam.toArray();
    const refB = rf.reverseHG(b, { T }).grads.lam.toArray();
    assert.notDeepEqual(Array.from(ref), Array.from(refB));
    const [ra, rb] = await Promise.all([rf.reverseHGAsync(a, { T, sliceMs: 0 }), rf.reverseHGAsync(b, { T, sliceMs: 0 })]);
    assert.deepEqual(Array.from(ra.grads.lam.toArray()), Array.from(ref));
    assert.deepEqual(Array.from(rb.grads.lam.toArray()), Array.from(refB));
    assert.equal(ra.stats.keptLogits?.reused, T);
    assert.equal(rb.stats.keptLogits?.reused, T);
  });

  it('a pass takes the logits it is handed: an HVP pass at W1 handed the logits of W2 is the HVP at W2', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      rf.tidy(() => {
        const { X, y } = makeData('dense data', dtype, 43);
        const W1 = rand([d, c], 44, dtype, -0.3, 0.3), W2 = rand([d, c], 45, dtype, -0.3, 0.3), b = rand([c], 46, dtype);
        const lam = rand([rows], 47, dtype, 0, 1), dW = rand([1, d, c], 48, dtype), db = rand([1, c], 49, dtype);
        rf.linearCrossEntropy(X, W2, b, y); // makes the row panels
        const panels = X.storage.derived!.panels!;
        const out = () => ({ ce: rf.zeros([rows], { dtype }), gW: rf.zeros([1, d, c], { dtype }), gb: rf.zeros([1, c], { dtype }), r: rf.zeros([1, rows], { dtype }) });
        const pass = (W: Tensor, k: number, o: ReturnType<typeof out>, logitsIn: Tensor | null, logitsOut: Tensor | null) =>
          native.denseLinearXent(X.handle, W.handle, b.handle, k, k ? dW.handle : null, k ? db.handle : null, y.handle, lam.handle, 0.5, o.ce.handle,
            (k ? o.gW : rf.reshape(o.gW, [d, c])).handle, (k ? o.gb : rf.reshape(o.gb, [c])).handle, k ? o.r.handle : null, c, panels.handle, logitsIn?.handle ?? null, logitsOut?.handle ?? null);
        const z2 = rf.zeros([rows, c], { dtype });
        pass(W2, 0, out(), null, z2);
        // X W2 + b against a float64 product of the same numbers
        assertClose(arr(z2), arr(rf.add(rf.matmul(rf.cast(X, 'float64'), rf.cast(W2, 'float64')), rf.cast(b, 'float64'))), dtype === 'float64' ? 1e-13 : 1e-4, `${dtype}: kept logits are X W + b`);
        const at2 = out(), handed = out();
        const l2 = pass(W2, 1, at2, null, null);
        const lh = pass(W1, 1, handed, z2, null);
        assert.deepEqual(lh, l2, `${dtype}: the loss and its tangent`);
        for (const key of ['ce', 'gW', 'gb', 'r'] as const) assert.deepEqual(Array.from(handed[key].toArray()), Array.from(at2[key].toArray()), `${dtype}: ${key}`);
        // the native guards
        assert.throws(() => pass(W1, 1, out(), z2, rf.zeros([rows, c], { dtype })), /'logitsIn' and 'logitsOut' exclude each other/);
        assert.throws(() => pass(W1, 1, out(), rf.zeros([rows, c + 1], { dtype }), null), /'logitsIn'/);
        assert.throws(() => pass(W1, 0, out(), null, rf.zeros([rows, c], { dtype: dtype === 'float32' ? 'float64' : 'float32' })), /'logitsOut'/);
        assert.throws(() => pass(W1, 0, out(), null, X), /must not be inputs|'logitsOut'/);
        if (dtype === 'float32') {
          const o = out();
          assert.throws(() => native.denseLinearXent(X.handle, W1.handle, b.handle, 0, null, null, y.handle, null, 1, o.ce.handle, rf.reshape(o.gW, [d, c]).handle, rf.reshape(o.gb, [c]).handle, null, c, null, null, z2.handle),
            /need a dense data matrix with its row panels, not rows alone/);
        }
      });
    }
  });
});

describe('linearCrossEntropy under forward mode with moving weights: Forward-HG of loss-weight hyperparameters fused', () => {
  before(function () {
    if (!provides('cpu', 'linearXent')) this.skip();
  });

  /** m = 3 group weights (row i in group i mod 3) as the hyperparameters of a linear model's training loss. */
  function grouped(kind: Kind, dtype: rf.FloatDType, fused: boolean, gw: number[] = [1, 0.6, 1.4]) {
    const { X, y } = makeData(kind, dtype, 51);
    const valid = makeData(kind, dtype, 52);
    const groups = rf.tensor(Int32Array.from({ length: rows }, (_, i) => i % 3), [rows], { dtype: 'int32' });
    const model = rf.linear(d, c);
    return rf.bilevel({
      params: model,
      hyperparameters: [rf.hyperparameter('gw', rf.tensor(gw, [3], { dtype }))],
      init: model.initialize({ seed: 0, dtype }),
      train: (w, h) => {
        const weights = rf.reshape(rf.gatherRows(rf.reshape(h.gw, [3, 1]), groups), [rows]);
        return fused ? model.crossEntropy(w, X, y, { weights }) : rf.crossEntropy(model.apply(w, X), y, { weights });
      },
      valid: (w) => rf.crossEntropy(model.apply(w, valid.X), valid.y),
      dynamics: rf.dynamics.momentum({ lr: 0.3, momentum: 0.5 }),
    });
  }

  it('one pass per step carries the three directions with the weights\' own tangents; the hypergradient of the composite and of finite differences', () => {
    for (const kind of ['sparse data', 'dense data'] as const) {
      for (const dtype of kind === 'sparse data' ? ['float32'] as const : ['float32', 'float64'] as const) {
        rf.tidy(() => {
          const T = 8;
          const real = { sparse: native.sparseLinearXent, dense: native.denseLinearXent };
          const calls: string[] = [];
          (native as any).sparseLinearXent = (...a: any[]) => (calls.push(`${a[3]}${a[16] ? '+dw' : ''}`), (real.sparse as any)(...a));
          (native as any).denseLinearXent = (...a: any[]) => (calls.push(`${a[3]}${a[17] ? '+dw' : ''}`), (real.dense as any)(...a));
          let fused: rf.HypergradientResult;
          try {
            fused = rf.forwardHG(grouped(kind, dtype, true), { T });
          } finally {
            native.sparseLinearXent = real.sparse;
            native.denseLinearXent = real.dense;
          }
          assert.equal(calls.filter((k) => k === '3+dw').length, T, `${kind} ${dtype}: each step's tangents in one fused pass with the weights' tangents`);
          const composite = rf.forwardHG(grouped(kind, dtype, false), { T });
          const ref = arr(composite.grads.gw);
          assert.ok(Math.min(...ref.map(Math.abs)) > 1e-5, 'no hypergradient is zero');
          assertClose(arr(fused.grads.gw), ref, dtype === 'float64' ? 1e-12 : 1e-4, `${kind} ${dtype}: fused Forward-HG vs composite`);
          if (dtype === 'float64') {
            // the validation error after T steps, trained with the given group weights
            const objective = (gw: Tensor) => rf.full([], rf.reverseHG(grouped(kind, dtype, false, arr(gw)), { T }).value, { dtype });
            const fd = [0, 1, 2].map((i) => finiteDiff(objective, [rf.tensor([1, 0.6, 1.4], [3], { dtype })], [rf.tensor([0, 1, 2].map((j) => (j === i ? 1 : 0)), [3], { dtype })], 1e-5)[0]);
            assertClose(arr(fused.grads.gw), fd, 1e-6, 'fused Forward-HG vs finite differences of the validation error');
          }
        });
      }
    }
  });
});
