/** Hypergradients (float64): agreement between methods, finite differences, closed forms. */
import * as assert from 'node:assert/strict';
import * as rf from '../lib';
import { Tensor } from '../lib';
import { arr, assertClose, assertScalarClose, jsDot, rand, randomArray, rng } from './helpers';

const dtype = 'float64' as const;

/** E(λ) by plain unrolling with the hyperparameters replaced by `values` (for finite differences). */
function unrolledE(problem: rf.Problem, T: number, values: rf.HyperRecord): number {
  return rf.tidy(() => {
    let s = problem.initialState(values);
    for (let t = 1; t <= T; t++) s = problem.step(s, values, t);
    return problem.objective(s, values).item();
  });
}

/** Central differences of E along each coordinate of each hyperparameter (float64). */
function fdHypergradient(problem: rf.Problem, T: number, h = 1e-6): { [name: string]: number[] } {
  const base = problem.current();
  const out: { [name: string]: number[] } = {};
  for (const name of problem.names) {
    const v = Float64Array.from(base[name].toArray());
    out[name] = Array.from(v, (_, i) => {
      const at = (d: number) => {
        const w = Float64Array.from(v);
        w[i] += d;
        const t = rf.tensor(w, base[name].shape as number[], { dtype });
        const e = unrolledE(problem, T, { ...base, [name]: t });
        t.dispose();
        return e;
      };
      return (at(h) - at(-h)) / (2 * h);
    });
  }
  return out;
}

function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / Math.max(den, 1e-300);
}

interface Setup {
  name: string;
  make: () => rf.Problem;
  T: number;
}

const n = 12, dim = 5, classes = 3;
const X = rand([n, dim], 1, dtype), Xv = rand([n, dim], 2, dtype);
const y = rf.tensor(Array.from({ length: n }, (_, i) => i % classes), undefined, { dtype: 'int32' });
const yv = rf.tensor(Array.from({ length: n }, (_, i) => (i * 5 + 1) % classes), undefined, { dtype: 'int32' });
const model = rf.linear(dim, classes);
const w0 = rand([model.layout.size], 3, dtype, -0.3, 0.3);

function logits(w: Tensor, x: Tensor) {
  return model.apply(w, x);
}

const SETUPS: Setup[] = [
  {
    name: 'GD: per-example weights, L2 coefficient, learning rate',
    T: 12,
    make: () => {
      const lam = rf.hyperparameter('lam', rand([n], 4, dtype, 0.2, 1));
      const l2 = rf.hyperparameter('l2', 0.05, { dtype });
      const lr = rf.hyperparameter('lr', 0.4, { dtype });
      return rf.bilevel({
        params: model, hyperparameters: [lam, l2], init: w0,
        train: (w, h) => rf.add(rf.crossEntropy(logits(w, X), y, { weights: h.lam }), rf.l2Penalty(w, h.l2)),
        valid: (w) => rf.crossEntropy(logits(w, Xv), yv),
        dynamics: rf.dynamics.gradientDescent({ lr }),
      });
    },
  },
  {
    name: 'momentum: a matrix hyperparameter (per-weight L2 of W), learning rate, momentum',
    T: 10,
    make: () => {
      const L = rf.hyperparameter('L', rand([dim, classes], 5, dtype, 0.01, 0.1));
      const lr = rf.hyperparameter('lr', 0.3, { dtype });
      const mu = rf.hyperparameter('mu', 0.6, { dtype });
      return rf.bilevel({
        params: model, hyperparameters: [L], init: w0,
        train: (w, h) => rf.add(rf.crossEntropy(logits(w, X), y), rf.l2Penalty(model.layout.views(w).W, h.L)),
        valid: (w) => rf.crossEntropy(logits(w, Xv), yv),
        dynamics: rf.dynamics.momentum({ lr, momentum: mu }),
      });
    },
  },
  {
    name: 'Nesterov: learning rate and momentum',
    T: 10,
    make: () => {
      const lr = rf.hyperparameter('lr', 0.3, { dtype });
      const mu = rf.hyperparameter('mu', 0.5, { dtype });
      return rf.bilevel({
        params: model, init: w0,
        train: (w) => rf.crossEntropy(logits(w, X), y),
        valid: (w) => rf.crossEntropy(logits(w, Xv), yv),
        dynamics: rf.dynamics.nesterov({ lr, momentum: mu }),
      });
    },
  },
  {
    name: 'Adam: learning rate, β1, β2, and per-example weights',
    T: 10,
    make: () => {
      const lam = rf.hyperparameter('lam', rand([n], 6, dtype, 0.2, 1));
      const lr = rf.hyperparameter('lr', 0.05, { dtype });
      const b1 = rf.hyperparameter('b1', 0.8, { dtype });
      const b2 = rf.hyperparameter('b2', 0.9, { dtype });
      return rf.bilevel({
        params: model, hyperparameters: [lam], init: w0,
        train: (w, h) => rf.crossEntropy(logits(w, X), y, { weights: h.lam }),
        valid: (w) => rf.crossEntropy(logits(w, Xv), yv),
        dynamics: rf.dynamics.adam({ lr, beta1: b1, beta2: b2, eps: 1e-6 }),
      });
    },
  },
  {
    name: 'learned initial weights (Φ_0 depends on λ) and a hyperparameter directly in the validation error',
    T: 8,
    make: () => {
      const winit = rf.hyperparameter('winit', w0);
      const vscale = rf.hyperparameter('vscale', 0.3, { dtype });
      return rf.bilevel({
        params: model, hyperparameters: [winit, vscale],
        init: (h) => h.winit,
        train: (w) => rf.crossEntropy(logits(w, X), y),
        valid: (w, h) => ({ ce: rf.crossEntropy(logits(w, Xv), yv), reg: rf.mul(rf.sum(rf.square(w)), h.vscale) }),
        dynamics: rf.dynamics.gradientDescent({ lr: 0.5 }),
      });
    },
  },
];

describe('hypergradients: Forward-HG = Reverse-HG = finite differences (float64)', () => {
  for (const setup of SETUPS) {
    it(setup.name, () => {
      const problem = setup.make();
      const rev = rf.reverseHG(problem, { T: setup.T });
      const fwd = rf.forwardHG(problem, { T: setup.T });
      const fd = fdHypergradient(problem, setup.T);
      for (const name of problem.names) {
        const r = arr(rev.grads[name]), f = arr(fwd.grads[name]);
        assert.ok(relDiff(f, r) <= 1e-10, `${name}: forward vs reverse relative difference ${relDiff(f, r)}`);
        assertClose(r, fd[name], 1e-6, `${name}: reverse vs finite differences`);
        assert.deepEqual(rev.grads[name].shape, problem.hyperparameters.find((h) => h.name === name)!.shape);
      }
      assertScalarClose(rev.value, unrolledE(problem, setup.T, problem.current()), 1e-14, 'E');
      assert.equal(rev.steps, setup.T);
      // the trajectory keeps the gradients only where the dynamics' VJP reads them and cannot
      // rebuild them from the states (momentum can: v_t = μ v_{t−1} + g_t)
      const d = problem.dynamics, stateBytes = problem.initialState(problem.current()).size * 8;
      const statesOnly = (!!d.linearInGradient && d.hyperparameters.length === 0) || !!d.gradientFromStates;
      const held = rev.stats.peakTrajectoryBytes;
      assert.ok(statesOnly ? held <= (setup.T + 1) * stateBytes : held > (setup.T + 1) * stateBytes, `${d.name}: ${held} bytes held for ${setup.T + 1} states of ${stateBytes}`);
    });
  }

  it('same problem, same hypergradient bit for bit (CPU)', () => {
    const a = rf.reverseHG(SETUPS[3].make(), { T: 6 });
    const b = rf.reverseHG(SETUPS[3].make(), { T: 6 });
    for (const k of Object.keys(a.grads)) assert.deepEqual(arr(a.grads[k]), arr(b.grads[k]));
  });

  it('truncated reverse with K = T equals Reverse-HG; smaller K drops the early steps', () => {
    const problem = SETUPS[0].make();
    const full = rf.reverseHG(problem, { T: 8 });
    const same = rf.truncatedReverseHG(problem, { T: 8, K: 8 });
    const part = rf.truncatedReverseHG(problem, { T: 8, K: 3 });
    for (const k of problem.names) {
      assert.deepEqual(arr(same.grads[k]), arr(full.grads[k]));
      assert.ok(relDiff(arr(part.grads[k]), arr(full.grads[k])) > 1e-6, 'truncation changes the result');
    }
    assertScalarClose(part.value, full.value, 1e-14, 'same final weights');
  });

  it('momentum and Nesterov: g_t rebuilt from s_{t−1} and s_t gives the hypergradient of the stored / recomputed g_t (full, truncated, checkpointed)', () => {
    for (const nesterov of [false, true]) {
      const make = (rebuild: boolean) => {
        const L = rf.hyperparameter('L', rand([dim, classes], 5, dtype, 0.01, 0.1));
        const lr = rf.hyperparameter('lr', 0.3, { dtype });
        const mu = rf.hyperparameter('mu', 0.6, { dtype });
        const dyn = rf.dynamics.momentum({ lr, momentum: mu, nesterov });
        assert.equal(typeof dyn.gradientFromStates, 'function');
        return rf.bilevel({
          params: model, hyperparameters: [L], init: w0,
          train: (w, h) => rf.add(rf.crossEntropy(logits(w, X), y), rf.l2Penalty(model.layout.views(w).W, h.L)),
          valid: (w) => rf.crossEntropy(logits(w, Xv), yv),
          // without the rebuild the trajectory stores g_t and the other passes recompute it
          dynamics: rebuild ? dyn : { ...dyn, gradientFromStates: undefined },
        });
      };
      const rebuilt = make(true), stored = make(false);
      const T = 10, stateBytes = w0.size * 2 * 8;
      const pairs: [rf.HypergradientResult, rf.HypergradientResult, string][] = [
        [rf.reverseHG(rebuilt, { T }), rf.reverseHG(stored, { T }), 'full trajectory'],
        [rf.truncatedReverseHG(rebuilt, { T, K: 4 }), rf.truncatedReverseHG(stored, { T, K: 4 }), 'truncated K = 4'],
        [rf.reverseHG(rebuilt, { T, trajectory: rf.checkpointed({ T, slots: 4 }) }), rf.reverseHG(stored, { T, trajectory: rf.checkpointed({ T, slots: 4 }) }), 'checkpointed'],
      ];
      for (const [a, b, what] of pairs) {
        for (const name of rebuilt.names) {
          assert.ok(relDiff(arr(a.grads[name]), arr(b.grads[name])) <= 1e-12, `${nesterov ? 'Nesterov' : 'momentum'} ${what} ${name}: ${relDiff(arr(a.grads[name]), arr(b.grads[name]))}`);
        }
      }
      // the full trajectory holds the T + 1 states only, against states and gradients before
      assert.ok(pairs[0][0].stats.peakTrajectoryBytes <= (T + 1) * stateBytes);
      assert.ok(pairs[0][1].stats.peakTrajectoryBytes > (T + 1) * stateBytes);
      for (const [a, b] of pairs) for (const r of [a, b]) {
        for (const g of Object.values(r.grads)) g.dispose();
        r.state.dispose();
      }
    }
  });

  it('a stopping rule for T', () => {
    const problem = SETUPS[2].make();
    const r = rf.reverseHG(problem, { T: (t) => t >= 5 });
    const f = rf.forwardHG(problem, { T: 5 });
    assert.equal(r.steps, 5);
    for (const k of problem.names) assert.ok(relDiff(arr(r.grads[k]), arr(f.grads[k])) < 1e-10);
  });
});

describe('hypergradients against closed forms', () => {
  it('quadratic inner problem unrolled T steps: dE/dη from the eigendecomposition', () => {
    // A = Q diag(a) Qᵀ with a known orthonormal Q; L = ½ wᵀAw − bᵀw; w_t = w* + (I − ηA)^t (w_0 − w*)
    const d = 4, T = 15, eta = 0.2;
    const r = rng(77);
    const M = Array.from({ length: d }, () => Array.from({ length: d }, () => r() - 0.5));
    const Q: number[][] = [];
    for (const v of M) {
      const u = v.slice();
      for (const q of Q) { const p = jsDot(u, q); for (let i = 0; i < d; i++) u[i] -= p * q[i]; }
      const nrm = Math.sqrt(jsDot(u, u));
      Q.push(u.map((x) => x / nrm));
    }
    const a = [0.5, 1.2, 2.0, 3.1];
    const A = Array.from({ length: d * d }, (_, k) => { const i = Math.floor(k / d), j = k % d; return Q.reduce((s, q, m) => s + a[m] * q[i] * q[j], 0); });
    const b = Array.from(randomArray(d, 78)), wInit = Array.from(randomArray(d, 79)), target = Array.from(randomArray(d, 80));
    const At = rf.tensor(A, [d, d], { dtype }), bt = rf.tensor(b, [d], { dtype }), tt = rf.tensor(target, [d], { dtype });
    const lr = rf.hyperparameter('lr', eta, { dtype });
    const problem = rf.bilevel({
      params: rf.params({ w: [d] }), init: rf.tensor(wInit, [d], { dtype }),
      train: (w) => rf.sub(rf.mul(rf.vdot(w, rf.reshape(rf.matmul(At, rf.reshape(w, [d, 1])), [d])), 0.5), rf.vdot(bt, w)),
      valid: (w) => rf.mul(rf.sum(rf.square(rf.sub(w, tt))), 0.5),
      dynamics: rf.dynamics.gradientDescent({ lr }),
    });
    // closed form in the eigenbasis
    const toEig = (v: number[]) => Q.map((q) => jsDot(q, v));
    const fromEig = (c: number[]) => Array.from({ length: d }, (_, i) => Q.reduce((s, q, m) => s + c[m] * q[i], 0));
    const cb = toEig(b), cStar = cb.map((v, i) => v / a[i]), c0 = toEig(wInit).map((v, i) => v - cStar[i]);
    const cT = c0.map((v, i) => cStar[i] + (1 - eta * a[i]) ** T * v);
    const dcT = c0.map((v, i) => -T * a[i] * (1 - eta * a[i]) ** (T - 1) * v);
    const wT = fromEig(cT);
    const expected = jsDot(wT.map((v, i) => v - target[i]), fromEig(dcT));
    const rev = rf.reverseHG(problem, { T });
    const fwd = rf.forwardHG(problem, { T });
    assertScalarClose(rev.grads.lr.item(), expected, 1e-10, 'reverse vs closed form');
    assertScalarClose(fwd.grads.lr.item(), expected, 1e-10, 'forward vs closed form');
  });

  it('ridge regression: T → ∞ and implicit against dE/dλ = −(∇E)ᵀ (XᵀX + λI)⁻¹ w*', () => {
    const m = 30, d = 4, lambda = 0.7;
    const Xr = rand([m, d], 90, dtype), yr = rand([m, 1], 91, dtype), Xs = rand([m, d], 92, dtype), ys = rand([m, 1], 93, dtype);
    const lam = rf.hyperparameter('lam', lambda, { dtype });
    const problem = rf.bilevel({
      params: rf.params({ w: [d] }), hyperparameters: [lam], init: rf.zeros([d], { dtype }),
      train: (w, h) => rf.add(rf.mul(rf.sum(rf.square(rf.sub(rf.matmul(Xr, rf.reshape(w, [d, 1])), yr))), 0.5), rf.mul(rf.sum(rf.square(w)), rf.mul(h.lam, 0.5))),
      valid: (w) => rf.mul(rf.sum(rf.square(rf.sub(rf.matmul(Xs, rf.reshape(w, [d, 1])), ys))), 0.5),
      dynamics: rf.dynamics.gradientDescent({ lr: 0.02 }),
    });
    // closed form by Gaussian elimination in JS
    const x = arr(Xr), yy = arr(yr), xs = arr(Xs), yss = arr(ys);
    const H = Array.from({ length: d * d }, (_, k) => { const i = Math.floor(k / d), j = k % d; let s = i === j ? lambda : 0; for (let q = 0; q < m; q++) s += x[q * d + i] * x[q * d + j]; return s; });
    const solve = (Mx: number[], rhs: number[]) => {
      const A = Mx.slice(), bb = rhs.slice();
      for (let c = 0; c < d; c++) for (let r2 = c + 1; r2 < d; r2++) { const f = A[r2 * d + c] / A[c * d + c]; for (let k = c; k < d; k++) A[r2 * d + k] -= f * A[c * d + k]; bb[r2] -= f * bb[c]; }
      const out = new Array(d).fill(0);
      for (let r2 = d - 1; r2 >= 0; r2--) { let s = bb[r2]; for (let k = r2 + 1; k < d; k++) s -= A[r2 * d + k] * out[k]; out[r2] = s / A[r2 * d + r2]; }
      return out;
    };
    const Xty = Array.from({ length: d }, (_, i) => { let s = 0; for (let q = 0; q < m; q++) s += x[q * d + i] * yy[q]; return s; });
    const wStar = solve(H, Xty);
    const gradE = Array.from({ length: d }, (_, i) => { let s = 0; for (let q = 0; q < m; q++) { let p = -yss[q]; for (let k = 0; k < d; k++) p += xs[q * d + k] * wStar[k]; s += p * xs[q * d + i]; } return s; });
    const expected = -jsDot(gradE, solve(H, wStar));
    const longRun = rf.reverseHG(problem, { T: 1500 });
    assertScalarClose(longRun.grads.lam.item(), expected, 1e-8, 'Reverse-HG with T = 1500');
    const imp = rf.implicitHG(problem, { T: 1500, tol: 1e-13 });
    assert.ok(imp.cg.converged && imp.cg.iterations <= d + 2, `CG converged in ${imp.cg.iterations}`);
    assertScalarClose(imp.grads.lam.item(), expected, 1e-8, 'implicit');
  });
});

describe('RTHO and the HyperOptimizer', () => {
  it('RTHO with K = T gives the Forward-HG hypergradient on its first hyper-iteration', () => {
    const p1 = SETUPS[1].make();
    const fwd = rf.forwardHG(p1, { T: 7 });
    const expected = Object.fromEntries(p1.names.map((k) => [k, Math.sqrt(jsDot(arr(fwd.grads[k]), arr(fwd.grads[k])))]));
    const ho = new rf.HyperOptimizer(p1, { method: 'rtho', K: 7, outer: rf.outer.gd({ lr: 1e-9 }) });
    const rec = ho.step();
    for (const k of p1.names) assertScalarClose(rec.hypergradNorms[k], expected[k], 1e-12, `norm of ${k}`);
    assertScalarClose(rec.validation, fwd.value, 1e-14, 'E');
    ho.dispose();
  });

  it('reduces the validation error; online reverse, truncated, forward and implicit methods all run', () => {
    for (const method of ['reverse', 'forward', 'rtho', 'trho', 'truncated', 'implicit'] as const) {
      const lam = rf.hyperparameter('lam', rf.full([n], 0.5, { dtype }), { constraint: rf.constraints.box(0, 1) });
      const l2 = rf.hyperparameter('l2', 0.1, { dtype, constraint: rf.constraints.nonNegative() });
      const problem = rf.bilevel({
        params: model, hyperparameters: [lam, l2], init: w0,
        train: (w, h) => rf.add(rf.crossEntropy(logits(w, X), y, { weights: h.lam }), rf.l2Penalty(w, h.l2)),
        valid: (w) => rf.crossEntropy(logits(w, Xv), yv),
        dynamics: rf.dynamics.gradientDescent({ lr: 0.5 }),
      });
      const ho = new rf.HyperOptimizer(problem, rf.HyperOptimizer.optionsFor(method, { T: 20, K: 5, outer: rf.outer.adam({ lr: 0.05 }), onWarning: () => undefined }));
      const recs = ho.run(8);
      assert.equal(recs.length, 8);
      const lamV = arr(lam.value);
      assert.ok(lamV.every((v) => v >= 0 && v <= 1), `${method}: projection kept λ in the box`);
      assert.ok(l2.value.item() >= 0);
      if (method !== 'rtho' && method !== 'trho') {
        assert.ok(recs[7].validation < recs[0].validation, `${method}: validation ${recs[0].validation} → ${recs[7].validation}`);
      }
      ho.dispose();
    }
  });

  it('NaN in a hypergradient stops with an error naming the step and quantity, keeping the last good hyperparameters', () => {
    const lr = rf.hyperparameter('lr', 0.1, { dtype });
    const scale = rf.hyperparameter('scale', 1, { dtype });
    let blowUp = false;
    const problem = rf.bilevel({
      params: rf.params({ w: [3] }), hyperparameters: [scale], init: rf.ones([3], { dtype }),
      train: (w, h, t) => rf.mul(rf.sum(rf.square(w)), blowUp && t === 3 ? rf.mul(h.scale, Infinity) : h.scale),
      valid: (w) => rf.sum(rf.square(rf.sub(w, 0.5))),
      dynamics: rf.dynamics.gradientDescent({ lr }),
    });
    const ho = new rf.HyperOptimizer(problem, { method: 'reverse', T: 5, outer: rf.outer.gd({ lr: 0.1 }) });
    ho.step();
    const good = { lr: lr.value.item(), scale: scale.value.item() };
    blowUp = true;
    assert.throws(() => ho.step(), (e: Error) => e instanceof rf.DivergenceError && /NaN\/Inf values in the training state at step 3/.test(e.message) && (e as rf.DivergenceError).step === 3);
    assert.equal(lr.value.item(), good.lr);
    assert.equal(scale.value.item(), good.scale);
  });

  it('a hyperparameter that does not influence the objective: a warning and a zero hypergradient', () => {
    const unused = rf.hyperparameter('unused', [1, 2], { dtype });
    const lr = rf.hyperparameter('lr', 0.1, { dtype });
    const problem = rf.bilevel({
      params: rf.params({ w: [2] }), hyperparameters: [unused], init: rf.ones([2], { dtype }),
      train: (w) => rf.sum(rf.square(w)), valid: (w) => rf.sum(w), dynamics: rf.dynamics.gradientDescent({ lr }),
    });
    const r = rf.reverseHG(problem, { T: 3 });
    assert.deepEqual(arr(r.grads.unused), [0, 0]);
    const warnings: string[] = [];
    const ho = new rf.HyperOptimizer(problem, { method: 'forward', T: 3, outer: rf.outer.gd({ lr: 0.1 }), onWarning: (m) => warnings.push(m) });
    ho.run(2);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /'unused' has a zero hypergradient/);
    assert.deepEqual(arr(unused.value), [1, 2]);
  });

  it('several validation errors are aggregated (weighted) and recorded; save/restore; async run yields and stops', async () => {
    const lr = rf.hyperparameter('lr', 0.2, { dtype });
    const problem = rf.bilevel({
      params: model, init: w0,
      train: (w) => rf.crossEntropy(logits(w, X), y),
      valid: (w) => ({ a: rf.crossEntropy(logits(w, Xv), yv), b: rf.mul(rf.sum(rf.square(w)), 0.1) }),
      validWeights: { b: 2 },
      dynamics: rf.dynamics.gradientDescent({ lr }),
    });
    const r = rf.reverseHG(problem, { T: 4 });
    assertScalarClose(r.value, r.errors.a + 2 * r.errors.b, 1e-14, 'weighted sum');
    const ho = new rf.HyperOptimizer(problem, { method: 'reverse', T: 4, outer: rf.outer.adam({ lr: 0.01 }) });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const ac = new AbortController();
    const recs = await ho.runAsync(50, { signal: ac.signal });
    clearInterval(timer);
    assert.equal(recs.length, 50);
    assert.ok(ticks > 0, 'the event loop ran between hyper-iterations');
    assert.ok('a' in recs[0].errors && 'b' in recs[0].errors);
    const snap = JSON.parse(JSON.stringify(ho.save()));
    const after = ho.run(3).map((x) => x.validation);
    ho.restore(snap);
    const again = ho.run(3).map((x) => x.validation);
    assert.deepEqual(again, after, 'resume reproduces the run');
    const ac2 = new AbortController();
    ac2.abort();
    const before = ho.records.length;
    await assert.rejects(ho.runAsync(5, { signal: ac2.signal }), (e: Error) => e.name === 'AbortError' && e instanceof rf.RfhoError);
    assert.equal(ho.records.length, before, 'an aborted run adds no record');
  });

  it('bad configuration gets clear errors', () => {
    const lr = rf.hyperparameter('lr', 0.2, { dtype });
    const problem = rf.bilevel({ params: model, init: w0, train: (w) => rf.crossEntropy(logits(w, X), y), valid: (w) => rf.crossEntropy(logits(w, Xv), yv), dynamics: rf.dynamics.gradientDescent({ lr }) });
    assert.throws(() => new rf.HyperOptimizer(problem, { method: 'magic', outer: rf.outer.gd({ lr: 1 }) } as never), /'method' must be one of/);
    assert.throws(() => new rf.HyperOptimizer(problem, { method: 'rtho', outer: rf.outer.gd({ lr: 1 }) } as never), /needs 'K'/);
    assert.throws(() => new rf.HyperOptimizer(problem, { method: 'reverse', outer: rf.outer.gd({ lr: 1 }) } as never), /needs 'T'/);
    // each method takes its own settings only: one meant for another method, or none, is refused
    const outer = rf.outer.gd({ lr: 1 });
    assert.throws(() => new rf.HyperOptimizer(problem, { method: 'forward', T: 3, trajectory: () => rf.checkpointed({ T: 3, slots: 2 }), outer } as never), /option 'trajectory' does not apply to method 'forward', which takes T, maxSteps/);
    assert.throws(() => new rf.HyperOptimizer(problem, { method: 'rtho', K: 3, T: 5, outer } as never), /option 'T' does not apply to method 'rtho', which takes K, warmRestart/);
    assert.throws(() => new rf.HyperOptimizer(problem, { method: 'reverse', T: 3, Tmax: 4, outer } as never), /unknown option 'Tmax'; method 'reverse' takes T, maxSteps, trajectory/);
    // optionsFor keeps what the method takes (a CLI's --T and --K for any method)
    assert.deepEqual(Object.keys(rf.HyperOptimizer.optionsFor('rtho', { T: 5, K: 3, outer })).sort(), ['K', 'method', 'outer']);
    assert.deepEqual(Object.keys(rf.HyperOptimizer.optionsFor('truncated', { T: 5, K: 3, outer })).sort(), ['K', 'T', 'method', 'outer']);
    assert.deepEqual(Object.keys(rf.HyperOptimizer.optionsFor('reverse', { T: 5, K: 3, outer })).sort(), ['T', 'method', 'outer']);
    assert.throws(() => rf.HyperOptimizer.optionsFor('magic' as never, { T: 5, outer }), /'method' must be one of/);
    assert.throws(() => rf.outer.adam({ lr: -1 }), /'lr' must be a positive number/);
    assert.throws(() => rf.reverseHG(problem, { T: -2 }), /'T' must be a non-negative integer/);
    assert.throws(() => rf.bilevel({ params: model, init: rf.zeros([3]), train: (w) => rf.sum(w), valid: (w) => rf.sum(w), dynamics: rf.dynamics.gradientDescent({ lr }) }), /'init' must be a flat vector of 18 parameters, got \[3\]/);
    assert.throws(() => rf.bilevel({ params: model, init: w0, train: (w) => rf.sum(w), valid: (w) => rf.sum(w), dynamics: rf.dynamics.gradientDescent({ lr: 0.1 }) }), /no hyperparameters/);
    const bad = rf.bilevel({ params: model, init: w0, train: (w) => w, valid: (w) => rf.sum(w), dynamics: rf.dynamics.gradientDescent({ lr }) });
    assert.throws(() => rf.reverseHG(bad, { T: 2 }), /'train' must return a scalar tensor, got \[18\]/);
    const dup = rf.hyperparameter('lr', 0.3, { dtype });
    assert.throws(() => rf.bilevel({ params: model, hyperparameters: [dup], init: w0, train: (w) => rf.sum(w), valid: (w) => rf.sum(w), dynamics: rf.dynamics.gradientDescent({ lr }) }), /two different hyperparameters are named 'lr'/);
  });
});

describe('projections are exact Euclidean projections (brute force on small cases)', () => {
  /** Brute force: enumerate each coordinate at 0, at 1, or free, with the sum constraint active or not. */
  function bruteCapped(yv: number[], R: number): number[] {
    const d = yv.length;
    let best: number[] | null = null, bestD = Infinity;
    const statuses = 3 ** d;
    for (let code = 0; code < statuses; code++) {
      const st = Array.from({ length: d }, (_, i) => Math.floor(code / 3 ** i) % 3); // 0: lower, 1: upper, 2: free
      for (const active of [false, true]) {
        const free = st.map((s, i) => (s === 2 ? i : -1)).filter((i) => i >= 0);
        let tau = 0;
        if (active) {
          if (free.length === 0) continue;
          const fixedSum = st.reduce((s, v) => s + (v === 1 ? 1 : 0), 0);
          tau = (free.reduce((s, i) => s + yv[i], 0) + fixedSum - R) / free.length;
          if (tau < -1e-12) continue;
        }
        const x = st.map((s, i) => (s === 0 ? 0 : s === 1 ? 1 : yv[i] - tau));
        const feasible = x.every((v) => v >= -1e-12 && v <= 1 + 1e-12) && x.reduce((a, b) => a + b, 0) <= R + 1e-9;
        if (!feasible) continue;
        const dist = x.reduce((s, v, i) => s + (v - yv[i]) ** 2, 0);
        if (dist < bestD - 1e-15) { bestD = dist; best = x; }
      }
    }
    return best!;
  }
  function bruteSimplex(yv: number[], r: number): number[] {
    const d = yv.length;
    let best: number[] | null = null, bestD = Infinity;
    for (let mask = 1; mask < 2 ** d; mask++) {
      const supp = Array.from({ length: d }, (_, i) => i).filter((i) => mask & (1 << i));
      const tau = (supp.reduce((s, i) => s + yv[i], 0) - r) / supp.length;
      const x = yv.map((v, i) => (mask & (1 << i) ? v - tau : 0));
      if (x.some((v) => v < -1e-12)) continue;
      const dist = x.reduce((s, v, i) => s + (v - yv[i]) ** 2, 0);
      if (dist < bestD) { bestD = dist; best = x; }
    }
    return best!;
  }
  it('capped simplex {0 ≤ x ≤ 1, Σx ≤ R} and simplex {x ≥ 0, Σx = r}, box, non-negativity', () => {
    const r = rng(123);
    for (let trial = 0; trial < 300; trial++) {
      const d = 1 + Math.floor(r() * 5);
      const yv = Array.from({ length: d }, () => -1 + 3 * r());
      const R = r() * d;
      assertClose(rf.projectCappedSimplex(Float64Array.from(yv), R), bruteCapped(yv, R), 1e-9, `capped ${yv} R=${R}`);
      const rad = 0.1 + 2 * r();
      assertClose(rf.projectSimplex(Float64Array.from(yv), rad), bruteSimplex(yv, rad), 1e-9, `simplex ${yv} r=${rad}`);
    }
    assert.deepEqual(Array.from(rf.constraints.box(-1, 2).projectArray(Float64Array.from([-3, 0.5, 7]))), [-1, 0.5, 2]);
    assert.deepEqual(Array.from(rf.constraints.nonNegative().projectArray(Float64Array.from([-3, 0.5]))), [0, 0.5]);
    // large case: feasibility and optimality (KKT) of the capped simplex projection
    const big = Float64Array.from(randomArray(5000, 5, -0.5, 1.5));
    const x = rf.projectCappedSimplex(big, 1000);
    const sum = x.reduce((a, b) => a + b, 0);
    assertScalarClose(sum, 1000, 1e-12, 'sum constraint active');
    const taus = Array.from(x).map((v, i) => (v > 1e-12 && v < 1 - 1e-12 ? big[i] - v : NaN)).filter((t) => !Number.isNaN(t));
    assert.ok(Math.max(...taus) - Math.min(...taus) < 1e-9, 'one threshold τ for all free coordinates');
    assert.throws(() => rf.constraints.cappedSimplex(-1), /'R' must be non-negative/);
    assert.throws(() => rf.constraints.box(2, 1), /must not exceed/);
  });
});

describe('learned initial values and hyperparameter names', () => {
  const W0 = rand([dim, classes], 11, dtype, -0.3, 0.3), b0 = rand([classes], 12, dtype, -0.1, 0.1);
  const makeProblem = (opts: { extra?: rf.Hyperparameter; onWarning?: (m: string) => void } = {}) => {
    const w0h = rf.hyperparameter('W0', W0);
    return rf.bilevel({
      params: model, hyperparameters: opts.extra ? [w0h, opts.extra] : [w0h],
      // the record in another order than the layout's, one block a constant: pack puts it right, differentiably
      init: (h) => model.layout.pack({ b: b0, W: h.W0 }),
      train: (w) => rf.crossEntropy(logits(w, X), y),
      valid: (w) => rf.crossEntropy(logits(w, Xv), yv),
      dynamics: rf.dynamics.gradientDescent({ lr: 0.5 }),
      onWarning: opts.onWarning,
    });
  };

  it('pack is differentiable: the hypergradient of an initial value built with it matches finite differences', () => {
    const problem = makeProblem();
    const rev = rf.reverseHG(problem, { T: 6 });
    const fd = fdHypergradient(problem, 6);
    assert.ok(Math.max(...arr(rev.grads.W0).map(Math.abs)) > 1e-4, 'a hypergradient that is not zero');
    assertClose(arr(rev.grads.W0), fd.W0, 1e-6, 'W0: reverse vs finite differences');
    assertClose(arr(rf.forwardHG(problem, { T: 6 }).grads.W0), fd.W0, 1e-6, 'W0: forward vs finite differences');
  });

  it('reading a name the problem does not have throws, naming it and the names it has', () => {
    const lam = rf.hyperparameter('lam', rf.ones([n], { dtype }));
    const problem = rf.bilevel({
      params: model, hyperparameters: [lam], init: w0,
      train: (w, h) => rf.crossEntropy(logits(w, X), y, { weights: h.lamda }),
      valid: (w) => rf.crossEntropy(logits(w, Xv), yv),
      dynamics: rf.dynamics.gradientDescent({ lr: 0.5 }),
    });
    assert.throws(() => rf.reverseHG(problem, { T: 2 }), (e: Error) => e instanceof rf.ArgumentError && /no hyperparameter 'lamda'; it has lam \(declare it/.test(e.message));
  });

  it('a declared hyperparameter that nothing reads warns once, in every method', () => {
    for (const method of ['reverse', 'forward', 'truncated', 'implicit'] as const) {
      const warnings: string[] = [];
      const problem = makeProblem({ extra: rf.hyperparameter('forgotten', 0.1, { dtype }), onWarning: (m) => warnings.push(m) });
      const run = () => method === 'reverse' ? rf.reverseHG(problem, { T: 3 }) : method === 'forward' ? rf.forwardHG(problem, { T: 3 })
        : method === 'truncated' ? rf.truncatedReverseHG(problem, { T: 3, K: 1 }) : rf.implicitHG(problem, { T: 3 });
      run();
      run();
      assert.equal(warnings.length, 1, `${method}: ${JSON.stringify(warnings)}`);
      assert.match(warnings[0], /'forgotten' is declared but init, train and valid never read it/);
    }
  });

  it('trho with K = T includes the learned initial state term: its first hypergradient is Reverse-HG\'s', () => {
    const T = 5;
    const expected = rf.reverseHG(makeProblem(), { T }).grads.W0;
    const problem = makeProblem();
    const before = arr(problem.current().W0);
    const ho = new rf.HyperOptimizer(problem, { method: 'trho', K: T, outer: rf.outer.gd({ lr: 1 }) });
    ho.step();
    // the outer step is λ ← λ − 1·g: the change is minus the hypergradient
    const g = arr(problem.current().W0).map((v, i) => before[i] - v);
    assertClose(g, arr(expected), 1e-10, 'trho K = T vs Reverse-HG');
  });
});
