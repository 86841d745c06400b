/**
 * The linear softmax model's fused passes beyond plain Reverse-HG, each against the same
 * hypergradient without them, alternated A B A B in this process (medians of three, after two
 * untimed runs of each), on a dense standardized Gaussian 5000×784 matrix (labels from a random
 * linear teacher), in float32 and float64:
 *   - Forward-HG of four group loss weights (row i in group i mod 4): the fused pass carrying the
 *     four directions with the weights' own tangents, against the composite ops (the CPU taken to
 *     provide no fused linear pass);
 *   - truncated Reverse-HG (the last 10 of 100 steps) of per-row weights, fused, against the composite;
 *   - Reverse-HG (T = 100) of per-row weights with the forward steps' logits kept for the reverse
 *     steps, against the same with none kept (rf.config.keptLogitsBytes = 0): the same bits.
 * Each pair's hypergradients must agree (to float32 rounding, or bit for bit for kept logits) before
 * a time counts. `node dist/bench/linearModes.js` prints one BENCH line per case.
 */
import * as rf from '../lib';
import { overrideProvided } from '../lib/kernels/dispatch';
import { emit, median, nowSeconds } from './common';

const n = 5000, d = 784, c = 10, groups = 4;

function data(dtype: rf.FloatDType) {
  const X = rf.data.asDataMatrix(rf.randomNormal([n, d], { seed: 11, dtype }));
  const Xv = rf.data.asDataMatrix(rf.randomNormal([n, d], { seed: 12, dtype }));
  const teacher = rf.randomNormal([d, c], { seed: 13, dtype });
  const labels = (x: rf.Tensor) => {
    const z = rf.matmul(x, teacher).toArray(), y = new Int32Array(n);
    for (let i = 0; i < n; i++) for (let j = 1; j < c; j++) if (z[i * c + j] > z[i * c + y[i]]) y[i] = j;
    return rf.tensor(y, [n], { dtype: 'int32' });
  };
  return { X, Xv, y: labels(X), yv: labels(Xv) };
}

function problems(dtype: rf.FloatDType) {
  const { X, Xv, y, yv } = data(dtype);
  const model = rf.linear(d, c);
  const common = { params: model, init: model.initialize({ seed: 0, dtype }), valid: (w: rf.Tensor) => model.crossEntropy(w, Xv, yv), dynamics: rf.dynamics.gradientDescent({ lr: 0.1 }) };
  const groupOf = rf.tensor(Int32Array.from({ length: n }, (_, i) => i % groups), [n], { dtype: 'int32' });
  const grouped = rf.bilevel({
    ...common, hyperparameters: [rf.hyperparameter('gw', rf.ones([groups], { dtype }))],
    train: (w, h) => model.crossEntropy(w, X, y, { weights: rf.reshape(rf.gatherRows(rf.reshape(h.gw, [groups, 1]), groupOf), [n]) }),
  });
  const perRow = rf.bilevel({
    ...common, hyperparameters: [rf.hyperparameter('lam', rf.full([n], 0.5, { dtype }))],
    train: (w, h) => model.crossEntropy(w, X, y, { weights: h.lam }),
  });
  return { grouped, perRow };
}

/** Runs fn with the CPU taken to provide no fused linear pass (nor sparse layouts): the composite ops. */
function composite<R>(fn: () => R): R {
  overrideProvided('cpu', ['tanhGrad', 'tanhGradJvp', 'dynamicsTangent', 'rowPanels']);
  try {
    return fn();
  } finally {
    overrideProvided('cpu', null);
  }
}

function withoutKeptLogits<R>(fn: () => R): R {
  const budget = rf.config.keptLogitsBytes;
  rf.config.keptLogitsBytes = 0;
  try {
    return fn();
  } finally {
    rf.config.keptLogitsBytes = budget;
  }
}

/** Alternated medians of a and b, and their hypergradients (first run of each) for the check. */
function pair(a: () => rf.HypergradientResult, b: () => rf.HypergradientResult) {
  const grads: Float64Array[] = [];
  const once = (f: () => rf.HypergradientResult, keep: boolean) => {
    const t0 = nowSeconds();
    const r = f();
    const s = nowSeconds() - t0;
    const g = Object.values(r.grads)[0];
    if (keep) grads.push(Float64Array.from(g.toArray()));
    Object.values(r.grads).forEach((t) => t.dispose());
    r.state.dispose();
    return s;
  };
  for (let i = 0; i < 2; i++) {
    once(a, i === 0);
    once(b, i === 0);
  }
  const ta: number[] = [], tb: number[] = [];
  for (let i = 0; i < 3; i++) {
    ta.push(once(a, false));
    tb.push(once(b, false));
  }
  let num = 0, den = 0;
  grads[0].forEach((v, i) => {
    num = Math.max(num, Math.abs(v - grads[1][i]));
    den = Math.max(den, Math.abs(grads[1][i]));
  });
  return { a: median(ta), b: median(tb), relDiff: num / Math.max(den, 1e-30) };
}

for (const dtype of ['float32', 'float64'] as const) {
  const { grouped, perRow } = problems(dtype);
  const tol = dtype === 'float64' ? 1e-10 : 1e-4;
  const cases: { what: string; fused: () => rf.HypergradientResult; other: () => rf.HypergradientResult; against: string; exact?: boolean }[] = [
    { what: 'Forward-HG, 4 group weights, T = 50', fused: () => rf.forwardHG(grouped, { T: 50 }), other: () => composite(() => rf.forwardHG(grouped, { T: 50 })), against: 'composite' },
    { what: 'truncated Reverse-HG, per-row weights, K = 10 of T = 100', fused: () => rf.truncatedReverseHG(perRow, { T: 100, K: 10 }), other: () => composite(() => rf.truncatedReverseHG(perRow, { T: 100, K: 10 })), against: 'composite' },
    { what: 'Reverse-HG, per-row weights, T = 100', fused: () => rf.reverseHG(perRow, { T: 100 }), other: () => withoutKeptLogits(() => rf.reverseHG(perRow, { T: 100 })), against: 'no kept logits', exact: true },
  ];
  for (const k of cases) {
    const r = pair(k.fused, k.other);
    const agrees = k.exact ? r.relDiff === 0 : r.relDiff <= tol;
    if (!agrees) throw new Error(`${k.what} (${dtype}): the hypergradients differ by ${r.relDiff.toExponential(1)} of their largest entry`);
    emit({ bench: 'linear-modes', what: k.what, dtype, fused_s: +r.a.toFixed(4), against: k.against, other_s: +r.b.toFixed(4), speedup: +(r.b / r.a).toFixed(2), rel_diff: +r.relDiff.toExponential(1) });
  }
}
