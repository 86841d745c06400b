/** In-process asynchronous forms: same bits as the synchronous ones, the event loop keeps turning, abort within one inner step. */
import * as assert from 'node:assert/strict';
import * as rf from '../lib';
import * as KI from '../lib/kernels';
import { Tensor } from '../lib';
import { rand } from './helpers';
import { scopeDepth } from '../lib/tensor/scope';
import { engine } from '../lib/autodiff/engine';

/** Bytes of tensors created and not disposed (the garbage collector does not move it). */
const undisposed = () => rf.memory().undisposedBytes;

const dtype = 'float64' as const;
const n = 30, dim = 6, classes = 3;
const X = rand([n, dim], 11, dtype), Xv = rand([n, dim], 12, dtype);
const y = rf.tensor(Array.from({ length: n }, (_, i) => i % classes), undefined, { dtype: 'int32' });
const yv = rf.tensor(Array.from({ length: n }, (_, i) => (i * 5 + 1) % classes), undefined, { dtype: 'int32' });
const model = rf.linear(dim, classes);
const w0 = rand([model.layout.size], 13, dtype, -0.3, 0.3);

function makeProblem(dynamics: 'gd' | 'momentum' = 'gd'): rf.Problem {
  const lam = rf.hyperparameter('lam', rand([n], 14, dtype, 0.2, 1));
  const l2 = rf.hyperparameter('l2', 0.05, { dtype });
  const lr = rf.hyperparameter('lr', 0.3, { dtype });
  return rf.bilevel({
    params: model, hyperparameters: [lam, l2], init: w0,
    train: (w, h) => rf.add(rf.crossEntropy(model.apply(w, X), y, { weights: h.lam }), rf.l2Penalty(w, h.l2)),
    valid: (w) => rf.crossEntropy(model.apply(w, Xv), yv),
    dynamics: dynamics === 'gd' ? rf.dynamics.gradientDescent({ lr }) : rf.dynamics.momentum({ lr, momentum: 0.8 }),
  });
}

function bits(r: rf.HypergradientResult): Record<string, number[]> {
  return Object.fromEntries(Object.entries(r.grads).map(([k, g]) => [k, Array.from(g.toArray())]));
}

function free(r: rf.HypergradientResult): void {
  Object.values(r.grads).forEach((g) => g.dispose());
  r.state.dispose();
}

/** Counts turns of the event loop (a setImmediate that re-arms itself) while `work` runs. */
async function countTurns<R>(work: () => Promise<R>): Promise<{ result: R; turns: number }> {
  let turns = 0, on = true;
  const tick = () => {
    if (!on) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  try {
    return { result: await work(), turns };
  } finally {
    on = false;
  }
}

const T = 25;
const METHODS: { name: string; sync: (p: rf.Problem, o: object) => rf.HypergradientResult; async: (p: rf.Problem, o: object) => Promise<rf.HypergradientResult>; opts: () => object; steps: number }[] = [
  { name: 'reverseHG', sync: (p, o) => rf.reverseHG(p, o as rf.ReverseOptions), async: (p, o) => rf.reverseHGAsync(p, o as rf.ReverseOptions), opts: () => ({ T }), steps: 2 * T },
  { name: 'reverseHG, checkpointed', sync: (p, o) => rf.reverseHG(p, o as rf.ReverseOptions), async: (p, o) => rf.reverseHGAsync(p, o as rf.ReverseOptions), opts: () => ({ T, trajectory: rf.checkpointed({ T, slots: 3 }) }), steps: 2 * T },
  { name: 'forwardHG', sync: (p, o) => rf.forwardHG(p, o as rf.HypergradientOptions), async: (p, o) => rf.forwardHGAsync(p, o as rf.HypergradientOptions), opts: () => ({ T }), steps: T },
  { name: 'truncatedReverseHG', sync: (p, o) => rf.truncatedReverseHG(p, o as rf.TruncatedOptions), async: (p, o) => rf.truncatedReverseHGAsync(p, o as rf.TruncatedOptions), opts: () => ({ T, K: 7 }), steps: T + 7 },
  { name: 'implicitHG', sync: (p, o) => rf.implicitHG(p, o as rf.ImplicitOptions), async: (p, o) => rf.implicitHGAsync(p, o as rf.ImplicitOptions), opts: () => ({ T, maxIter: 10, tol: 1e-30 }), steps: T + 10 },
];

describe('asynchronous hypergradients', function () {
  this.timeout(120000);

  for (const m of METHODS) {
    it(`${m.name}: the same bits as the synchronous form, with a turn of the event loop between inner steps`, async () => {
      const p = makeProblem();
      const sync = m.sync(p, m.opts());
      const { result, turns } = await countTurns(() => m.async(p, { ...m.opts(), sliceMs: 0 }));
      assert.deepEqual(bits(result), bits(sync));
      assert.equal(result.value, sync.value);
      assert.ok(turns >= m.steps - 1, `${turns} turns of the event loop for ${m.steps} inner steps`);
      free(sync);
      free(result);
    });

    it(`${m.name}: an abort acts within one inner step, rejects with AbortError and frees every tensor`, async () => {
      const p = makeProblem();
      for (const at of [3, m.steps - 2]) {
        const before = undisposed();
        const ac = new AbortController();
        let turns = 0, stepsAfterAbort = -1, on = true;
        // Abort from a timer between two slices after `at` turns; count the turns that follow.
        const tick = () => {
          if (!on) return;
          turns++;
          if (turns === at) ac.abort();
          if (ac.signal.aborted) stepsAfterAbort++;
          setImmediate(tick);
        };
        setImmediate(tick);
        try {
          await assert.rejects(m.async(p, { ...m.opts(), sliceMs: 0, signal: ac.signal }), (e: Error) => e.name === 'AbortError' && e instanceof rf.AbortError);
        } finally {
          on = false;
        }
        assert.ok(stepsAfterAbort <= 1, `${stepsAfterAbort} inner steps ran after the abort`);
        assert.equal(undisposed(), before, `native memory back to its level after an abort at turn ${at}`);
      }
    });
  }

  for (const method of ['reverseHG', 'forwardHG'] as const) {
    it(`${method}: yields inside each step's reverse sweep; code run between slices sees no transformation or scope of it`, async () => {
      const p = makeProblem('momentum');
      const run = method === 'reverseHG' ? (o: object) => rf.reverseHGAsync(p, { T, ...o }) : (o: object) => rf.forwardHGAsync(p, { T, ...o });
      const sync = method === 'reverseHG' ? rf.reverseHG(p, { T }) : rf.forwardHG(p, { T });
      const a = rf.tensor([1.5, -2, 0.25], undefined, { dtype });
      const made: Tensor[] = [];
      let turns = 0, on = true, wrong = 0;
      // Between two slices: the engine idle, no scope open, and a gradient taken as usual; a tensor
      // made here (outside any scope) must outlive the scopes the suspended computation has open.
      const tick = () => {
        if (!on) return;
        turns++;
        if (scopeDepth() !== 0 || engine.reverseDepth !== 0 || engine.forwardK !== 0 || engine.reversePaused) wrong++;
        const g = rf.tidy(() => rf.grad((x: Tensor) => rf.sum(rf.mul(x, x)))(a));
        if (Array.from(g.toArray()).some((v, i) => v !== 2 * Number(a.toArray()[i]))) wrong++;
        g.dispose();
        made.push(rf.tensor([turns], undefined, { dtype }));
        setImmediate(tick);
      };
      setImmediate(tick);
      let result: rf.HypergradientResult;
      try {
        result = await run({ sliceMs: 0 });
      } finally {
        on = false;
      }
      assert.equal(wrong, 0, 'code between slices saw a transformation or scope of the suspended computation');
      assert.deepEqual(bits(result), bits(sync));
      // a step's sweeps visit a dozen nodes or more (15–30 turns a step here); yielding only
      // between steps and around the forward passes gives 2–4
      assert.ok(turns > 8 * T, `${turns} turns of the event loop for ${T} steps: the sweeps did not yield`);
      assert.ok(made.every((t) => !t.isDisposed), 'a tensor made between slices was freed by the computation');
      made.forEach((t) => t.dispose());
      a.dispose();
      free(sync);
      free(result);
    });
  }

  it('an already aborted signal rejects before any work; bad options are ArgumentErrors', async () => {
    const p = makeProblem();
    const ac = new AbortController();
    ac.abort(new Error('shutting down'));
    await assert.rejects(rf.reverseHGAsync(p, { T, signal: ac.signal }), (e: Error) => e.name === 'AbortError' && /shutting down/.test(e.message));
    assert.throws(() => rf.reverseHGAsync(p, { T, sliceMs: -1 }), /'sliceMs' must be a finite number ≥ 0/);
    assert.throws(() => rf.forwardHGAsync(p, { T, signal: {} as AbortSignal }), /'signal' must be an AbortSignal/);
  });

  it('the returned promise exists before any work is done', () => {
    const p = makeProblem();
    let steps = 0;
    const pending = rf.reverseHGAsync(p, { T, onStep: () => steps++ });
    assert.equal(steps, 0, 'no training step ran synchronously');
    return pending.then(free);
  });
});

describe('HyperOptimizer.runAsync', function () {
  this.timeout(120000);

  for (const method of ['reverse', 'rtho', 'trho'] as const) {
    it(`${method}: equals run() bit for bit; an abort mid-iteration leaves the hyperparameters of the last whole iteration`, async () => {
      const opts = () => rf.HyperOptimizer.optionsFor(method, { T, K: 5, outer: rf.outer.adam({ lr: 0.02 }) });
      const pa = makeProblem('momentum'), pb = makeProblem('momentum');
      const a = new rf.HyperOptimizer(pa, opts()), b = new rf.HyperOptimizer(pb, opts());
      const ra = a.run(4), rb = await b.runAsync(4, { sliceMs: 0 });
      assert.deepEqual(rb.map((r) => r.validation), ra.map((r) => r.validation));
      for (const name of pa.names) assert.deepEqual(Array.from(pb.current()[name].toArray()), Array.from(pa.current()[name].toArray()));
      // Abort while the fifth iteration runs.
      const lamBefore = Array.from(pb.current().lam.toArray());
      const before = undisposed();
      const ac = new AbortController();
      let turns = 0;
      const tick = () => {
        if (++turns === 3) ac.abort();
        else if (!ac.signal.aborted && turns < 1000) setImmediate(tick);
      };
      setImmediate(tick);
      await assert.rejects(b.runAsync(3, { signal: ac.signal, sliceMs: 0 }), (e: Error) => e.name === 'AbortError');
      assert.equal(b.records.length, 4, 'no record of the aborted iteration');
      assert.deepEqual(Array.from(pb.current().lam.toArray()), lamBefore, 'λ unchanged by the aborted iteration');
      b.dispose();
      a.dispose();
      assert.ok((undisposed()) <= before, 'the carried state of an online method is freed with the aborted iteration');
    });
  }

  it('restore is all or nothing: a snapshot with NaN, a wrong shape or an unknown name changes nothing', () => {
    const p = makeProblem();
    const ho = new rf.HyperOptimizer(p, { method: 'reverse', T: 5, outer: rf.outer.adam({ lr: 0.02 }) });
    ho.run(2);
    const good = JSON.parse(JSON.stringify(ho.save()));
    ho.run(1);
    const lam = Array.from(p.current().lam.toArray()), l2 = p.current().l2.item();
    const damaged = [
      (s: any) => { s.hyper.l2.value[0] = null; },
      (s: any) => { s.hyper.lam.value[n - 1] = 'NaN'; },
      (s: any) => { s.hyper.lam.shape = [n + 1]; },
      (s: any) => { s.hyper.other = { shape: [1], value: [1] }; },
      (s: any) => { s.outer.lam.v[0] = -1; },
      (s: any) => { s.records.pop(); },
      (s: any) => { s.iteration = 2.5; },
    ];
    for (const damage of damaged) {
      const s = JSON.parse(JSON.stringify(good));
      damage(s);
      assert.throws(() => ho.restore(s), (e: Error) => e instanceof rf.StateFileError && /nothing was changed/.test(e.message));
      assert.deepEqual(Array.from(p.current().lam.toArray()), lam);
      assert.equal(p.current().l2.item(), l2);
      assert.equal(ho.records.length, 3);
    }
    ho.restore(good);
    assert.equal(ho.records.length, 2);
    assert.throws(() => p.hyperparameters[1].set(rf.tensor([NaN], [1], { dtype })), /NaN or Inf/);
  });
});

describe('Forward-HG by columns', () => {
  it('shards of the columns put end to end equal Forward-HG; bad column ranges are ArgumentErrors', async () => {
    const { forwardHGColumns, forwardHGColumnsAsync, shardColumns } = await import('../lib/hyper/hypergradients');
    const p = makeProblem('momentum');
    const full = rf.forwardHG(p, { T });
    const flat = p.names.flatMap((name) => Array.from(full.grads[name].toArray()));
    for (const n of [1, 2, 5]) {
      const parts: number[] = [];
      for (let i = 0; i < n; i++) parts.push(...(await forwardHGColumnsAsync(p, { T, columns: shardColumns(p.hyperSize, i, n) })).values);
      assert.deepEqual(parts, flat, `${n} shards`);
    }
    assert.equal(forwardHGColumns(p, { T, columns: { start: 3, end: 4 } }).value, full.value);
    free(full);
    for (const columns of [{ start: 0, end: 0 }, { start: -1, end: 2 }, { start: 0, end: p.hyperSize + 1 }, { start: 0.5, end: 2 }, undefined]) {
      assert.throws(() => forwardHGColumns(p, { T, columns: columns as never }), (e: Error) => e instanceof rf.ArgumentError && /'columns' must be/.test(e.message));
    }
  });
});

describe('setThreads', () => {
  it("sets the calling thread's kernel budget; bad values are ArgumentErrors", () => {
    const was = rf.getThreads();
    try {
      rf.setThreads(1);
      assert.equal(rf.getThreads(), 1);
      assert.ok(rf.cores() >= 1);
      const a = rf.tidy(() => KI.matmul(rand([300, 200], 1, 'float32'), rand([200, 100], 2, 'float32')).toArray());
      rf.setThreads(Math.max(1, rf.cores()));
      const b = rf.tidy(() => KI.matmul(rand([300, 200], 1, 'float32'), rand([200, 100], 2, 'float32')).toArray());
      assert.deepEqual(Array.from(a), Array.from(b), 'products do not depend on the budget');
    } finally {
      rf.setThreads(was);
    }
    for (const bad of [0, -1, 1.5, NaN, '2' as unknown as number]) assert.throws(() => rf.setThreads(bad), (e: Error) => e instanceof rf.ArgumentError);
  });
});

void Tensor;
