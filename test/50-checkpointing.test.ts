/** Reverse-HG under a memory budget: bitwise equality with the full trajectory, Revolve's optimum. */
import * as assert from 'node:assert/strict';
import * as rf from '../lib';
import { Tensor } from '../lib';
import { rand } from './helpers';
import { planAdvances, revolvePlan } from '../lib/hyper/revolve';

const dtype = 'float64' as const;
const n = 10, dim = 4;
const X = rand([n, dim], 1, dtype), Xv = rand([n, dim], 2, dtype);
const y = rf.tensor(Array.from({ length: n }, (_, i) => i % 3), undefined, { dtype: 'int32' });
const yv = rf.tensor(Array.from({ length: n }, (_, i) => (i * 5 + 1) % 3), undefined, { dtype: 'int32' });
const model = rf.linear(dim, 3);
const w0 = model.initialize({ seed: 3, dtype });
const batches = rf.data.minibatchSchedule(n, 4, 9);

function problemFor(dyn: string): rf.Problem {
  const lam = rf.hyperparameter('lam', rand([n], 4, dtype, 0.2, 1));
  const lr = rf.hyperparameter('lr', dyn === 'adam' ? 0.05 : 0.3, { dtype });
  const mu = rf.hyperparameter('mu', 0.5, { dtype });
  const dynamics = dyn === 'gd' ? rf.dynamics.gradientDescent({ lr }) : dyn === 'momentum' ? rf.dynamics.momentum({ lr, momentum: mu })
    : dyn === 'nesterov' ? rf.dynamics.nesterov({ lr, momentum: mu }) : rf.dynamics.adam({ lr });
  return rf.bilevel({
    params: model, hyperparameters: [lam], init: w0,
    // minibatches indexed by step: the replay must take the same rows
    train: (w, h, t) => {
      const idx = rf.tensor(batches(t), undefined, { dtype: 'int32' });
      return rf.crossEntropy(model.apply(w, rf.gatherRows(X, idx)), rf.gatherRows(y, idx) as Tensor, { weights: rf.gatherRows(h.lam, idx) });
    },
    valid: (w) => rf.crossEntropy(model.apply(w, Xv), yv),
    dynamics,
  });
}

function bitwiseEqual(a: rf.HyperRecord, b: rf.HyperRecord): boolean {
  return Object.keys(a).every((k) => {
    const x = a[k].toArray(), z = b[k].toArray();
    return x.length === z.length && x.every((v, i) => Object.is(v, z[i]));
  });
}

describe('checkpointed Reverse-HG', function () {
  this.timeout(300000);
  for (const dyn of ['gd', 'momentum', 'nesterov', 'adam']) {
    it(`${dyn}: bitwise equal to the full trajectory for T ∈ {1, 2, 7, 100, 1000} and every schedule; recomputation = Revolve's optimum`, () => {
      const problem = problemFor(dyn);
      for (const T of [1, 2, 7, 100, 1000]) {
        if (T === 1000 && dyn !== 'gd') continue; // the long horizon once is enough for the test's time
        const full = rf.reverseHG(problem, { T });
        const slotList = T === 1 ? [2, 3] : [...(T <= 100 ? [3] : []), 4, 6, Math.ceil(Math.sqrt(T)) + 1, T + 5];
        for (const slots of slotList) {
          const store = rf.checkpointed({ T, slots });
          const r = rf.reverseHG(problem, { T, trajectory: store });
          assert.ok(bitwiseEqual(r.grads, full.grads), `${dyn} T=${T} slots=${slots}: bit for bit`);
          const optimum = Math.max(0, rf.revolveClosedForm(T, slots - 2) - (T - 1));
          assert.equal(r.stats.recomputedSteps, T <= 1 ? 0 : optimum, `${dyn} T=${T} slots=${slots}: recomputed ${r.stats.recomputedSteps}, Revolve ${optimum}`);
          const stateBytes = w0.size * (dyn === 'gd' ? 1 : dyn === 'adam' ? 3 : 2) * 8;
          assert.ok(r.stats.peakTrajectoryBytes <= slots * stateBytes, `peak ${r.stats.peakTrajectoryBytes} within ${slots} states`);
          for (const g of Object.values(r.grads)) g.dispose();
          r.state.dispose();
        }
        if (T >= 7 && dyn === 'momentum') {
          const uni = rf.reverseHG(problem, { T, trajectory: rf.checkpointed({ T, slots: 2 * Math.ceil(Math.sqrt(T)) + 2, schedule: 'uniform' }) });
          assert.ok(bitwiseEqual(uni.grads, full.grads), `uniform schedule T=${T}`);
          const disk = rf.reverseHG(problem, { T, trajectory: new rf.DiskTrajectory() });
          assert.ok(bitwiseEqual(disk.grads, full.grads), `disk T=${T}`);
        }
      }
    });
  }

  it('a byte budget: states held never exceed it; larger than needed falls back to storing everything', () => {
    const problem = problemFor('momentum');
    const T = 60;
    const stateBytes = w0.size * 2 * 8;
    const before = rf.memory().bytes;
    const store = rf.checkpointed({ T, bytes: 8 * stateBytes + 5 });
    const r = rf.reverseHG(problem, { T, trajectory: store });
    assert.ok(r.stats.peakTrajectoryBytes <= 8 * stateBytes);
    // The live-bytes counter agrees: beyond the trajectory, the reverse pass holds only the adjoint,
    // the final state, the hypergradient accumulators and one step's temporaries.
    const others = 3 * stateBytes + n * 8 * 2;
    assert.ok(store.peakLiveBytes - before <= 8 * stateBytes + others, `live peak ${store.peakLiveBytes - before} bytes within ${8 * stateBytes + others}`);
    assert.ok(r.stats.recomputedSteps > 0);
    for (const g of Object.values(r.grads)) g.dispose();
    r.state.dispose();
    assert.equal(rf.memory().bytes, before, 'nothing leaked');
    const big = rf.reverseHG(problem, { T, trajectory: rf.checkpointed({ T, bytes: 1e9 }) });
    assert.equal(big.stats.recomputedSteps, 0);
  });

  it('bad budgets are clear errors before any work starts', () => {
    assert.throws(() => rf.checkpointed({ T: 10, slots: 1 }), /'slots' must be an integer >= 2/);
    assert.throws(() => rf.checkpointed({ T: 10, slots: 2 }), /at least 3 states/);
    assert.throws(() => rf.checkpointed({ T: 10, bytes: -5 }), /'bytes' must be a positive number/);
    assert.throws(() => rf.checkpointed({ T: 10, bytes: NaN }), /'bytes' must be a positive number/);
    assert.throws(() => rf.checkpointed({ T: 10 }), /give a budget/);
    assert.throws(() => rf.checkpointed({ T: 10, slots: 4, schedule: 'magic' as never }), /'schedule'/);
    const problem = problemFor('gd');
    let steps = 0;
    assert.throws(() => rf.reverseHG(problem, { T: 10, onStep: () => steps++, trajectory: rf.checkpointed({ T: 10, bytes: 10 }) }), /holds 0 state/);
    assert.equal(steps, 0, 'no training step ran');
  });

  it('a horizon other than the planned one is refused before any step runs, naming both', () => {
    const problem = problemFor('gd');
    let steps = 0;
    assert.throws(() => rf.reverseHG(problem, { T: 5, onStep: () => steps++, trajectory: rf.checkpointed({ T: 4, slots: 3 }) }),
      (e: Error) => e instanceof rf.ArgumentError && /'trajectory' is planned for T = 4 steps but the run has 5/.test(e.message));
    assert.equal(steps, 0, 'no training step ran');
    // a stopping rule that ends early: named after the forward pass, not an internal error in the reverse one
    assert.throws(() => rf.reverseHG(problem, { T: (t) => t >= 3, maxSteps: 10, trajectory: rf.checkpointed({ T: 10, slots: 3 }) }),
      (e: Error) => e instanceof rf.ArgumentError && /planned for T = 10 steps but the run has 3/.test(e.message));
  });
});

/** Reference: the dynamic programme over every first checkpoint m, R(n, c) = min_m m + R(n − m, c − 1) + R(m, c). */
function revolveByDynamicProgramme(maxN: number, maxC: number): number[][] {
  const R = Array.from({ length: maxN + 1 }, () => new Array<number>(maxC + 1).fill(0));
  for (let n = 2; n <= maxN; n++) {
    R[n][0] = (n * (n - 1)) / 2;
    for (let c = 1; c <= maxC; c++) {
      let best = Infinity;
      for (let m = 1; m < n; m++) best = Math.min(best, m + R[n - m][c - 1] + R[m][c]);
      R[n][c] = best;
    }
  }
  return R;
}

describe('Revolve planning', () => {
  it('the linear-time schedule recomputes exactly the optimum of the dynamic programme (T ≤ 250, c ≤ 12), and revolveCost agrees', () => {
    const R = revolveByDynamicProgramme(250, 12);
    for (let T = 1; T <= 250; T++) {
      for (let c = 0; c <= 12; c++) {
        assert.equal(rf.revolveCost(T, c), R[T][c], `revolveCost(${T}, ${c})`);
        const plan = revolvePlan(T, c);
        assert.equal(planAdvances(plan), R[T][c], `plan for T=${T}, c=${c}`);
        // and it is a valid schedule: every state requested once, T−1 down to 0, never more than c checkpoints held
        const requested: number[] = [];
        let held = 0, peak = 0;
        for (let i = 0; i < plan.length; i++) {
          if (plan.kind(i) === 'request') requested.push(plan.index(i));
          if (plan.kind(i) === 'store') peak = Math.max(peak, ++held);
          if (plan.kind(i) === 'free') held--;
        }
        assert.deepEqual(requested, Array.from({ length: T }, (_, i) => T - 1 - i), `requests for T=${T}, c=${c}`);
        assert.ok(peak <= c, `T=${T}, c=${c}: ${peak} checkpoints held`);
      }
    }
  });

  it('is cached per (T, slots): the second plan of a run is the same object', () => {
    assert.equal(revolvePlan(777, 9), revolvePlan(777, 9));
    assert.notEqual(revolvePlan(777, 9), revolvePlan(777, 8));
  });
});
