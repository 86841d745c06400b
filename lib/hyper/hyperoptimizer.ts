/**
 * The outer loop: hypergradient → outer optimizer step → projection, with records, callbacks,
 * stopping, and save/resume. Synchronous (`run`) and asynchronous (`runAsync`, which yields to the
 * event loop between hyper-iterations so that a server stays responsive).
 */
import * as K from '../kernels';
import { ArgumentError, DivergenceError } from '../tensor/errors';
import { Tensor } from '../tensor/tensor';
import { tidy } from '../tensor/scope';
import { weightsOf } from '../dynamics/dynamics';
import { HyperRecord, Hyperparameter } from './hyperparameter';
import {
  ForwardState, Horizon, HypergradientResult, checkFiniteTensor, forwardHypergradient, forwardInit, forwardStep,
  forwardHG, hyperBasis, implicitHG, reverseFromWindow, reverseHG, trainStep, truncatedReverseHG,
} from './hypergradients';
import { OuterOptimizer } from './outer';
import { Problem } from './problem';
import { TrajectoryStore } from './trajectory';

export type Method = 'reverse' | 'forward' | 'rtho' | 'trho' | 'truncated' | 'implicit';
const METHODS: Method[] = ['reverse', 'forward', 'rtho', 'trho', 'truncated', 'implicit'];

export interface HyperStepRecord {
  iteration: number;
  /** validation objective before this iteration's update */
  validation: number;
  errors: { [name: string]: number };
  /** L2 norm of each hypergradient */
  hypergradNorms: { [name: string]: number };
  /** hyperparameter values after the update: full for small ones, a summary for large ones */
  hyper: { [name: string]: number[] | { mean: number; min: number; max: number } };
  /** training steps run by this iteration */
  steps: number;
  seconds: number;
  /** whatever `evaluate` returned */
  metrics?: { [name: string]: number };
}

export interface HyperOptimizerOptions {
  method: Method;
  /** training horizon per hyper-iteration (reverse, forward, truncated, implicit) */
  T?: Horizon;
  /** steps between hyperparameter updates (rtho, trho) or reversed steps (truncated) */
  K?: number;
  /** rtho: reset Z (not the weights) at every hyper-iteration (FAR-HO's online='wr') */
  warmRestart?: boolean;
  outer: OuterOptimizer;
  maxSteps?: number;
  /** implicit: CG tolerance and iteration cap */
  tol?: number;
  maxIter?: number;
  /** reverse: a fresh trajectory store per hypergradient (e.g. a checkpointed one) */
  trajectory?: () => TrajectoryStore;
  /** extra metrics per hyper-iteration from the final weights (test accuracy, ...) */
  evaluate?: (w: Tensor) => { [name: string]: number };
  /** on which hyper-iterations (1-based) to call `evaluate` (default: every one) */
  evaluateWhen?: (iteration: number) => boolean;
  /** called after each hyper-iteration; return 'stop' to end the run */
  onStep?: (r: HyperStepRecord) => void | 'stop';
  /** called with warnings (default: process.emitWarning) */
  onWarning?: (message: string) => void;
}

function summarize(t: Tensor): number[] | { mean: number; min: number; max: number } {
  const a = t.toArray();
  if (a.length <= 16) return Array.from(a);
  let s = 0, mn = Infinity, mx = -Infinity;
  for (const v of a) {
    s += v;
    mn = Math.min(mn, v);
    mx = Math.max(mx, v);
  }
  return { mean: s / a.length, min: mn, max: mx };
}

export class HyperOptimizer {
  readonly records: HyperStepRecord[] = [];
  private iteration = 0;
  private stopped = false;
  private online: { fs?: ForwardState; basis?: Tensor[]; state?: Tensor; t: number } = { t: 0 };
  private warned = new Set<string>();
  readonly opts: HyperOptimizerOptions;

  constructor(readonly problem: Problem, opts: HyperOptimizerOptions) {
    if (!(problem instanceof Problem)) throw new ArgumentError(`HyperOptimizer: 'problem' must come from rf.bilevel`);
    if (!opts || !METHODS.includes(opts.method)) throw new ArgumentError(`HyperOptimizer: 'method' must be one of ${METHODS.join(', ')}, got ${String(opts?.method)}`);
    if (!opts.outer || typeof opts.outer.update !== 'function') throw new ArgumentError(`HyperOptimizer: 'outer' must be an outer optimizer (rf.outer.adam or rf.outer.gd)`);
    const needsK = opts.method === 'rtho' || opts.method === 'trho' || opts.method === 'truncated';
    if (needsK && (!Number.isInteger(opts.K) || (opts.K as number) < 1)) throw new ArgumentError(`HyperOptimizer: method '${opts.method}' needs 'K', a positive integer, got ${String(opts.K)}`);
    if (!needsK || opts.method === 'truncated') {
      if (opts.T === undefined) throw new ArgumentError(`HyperOptimizer: method '${opts.method}' needs 'T'`);
    }
    this.opts = opts;
  }

  get hyperparameters(): readonly Hyperparameter[] {
    return this.problem.hyperparameters;
  }

  /** Ends a run in progress after the current hyper-iteration. */
  stop(): void {
    this.stopped = true;
  }

  private warn(message: string): void {
    if (this.warned.has(message)) return;
    this.warned.add(message);
    if (this.opts.onWarning) this.opts.onWarning(message);
    else process.emitWarning(message, { code: 'RFHO_ZERO_HYPERGRADIENT' });
  }

  private hypergradient(): HypergradientResult {
    const { method, T, K: Kw, maxSteps } = this.opts;
    const p = this.problem;
    switch (method) {
      case 'reverse':
        return reverseHG(p, { T: T!, maxSteps, trajectory: this.opts.trajectory?.() });
      case 'forward':
        return forwardHG(p, { T: T!, maxSteps });
      case 'truncated':
        return truncatedReverseHG(p, { T: T!, K: Kw!, maxSteps });
      case 'implicit':
        return implicitHG(p, { T: T!, maxSteps, tol: this.opts.tol, maxIter: this.opts.maxIter });
      case 'rtho':
        return this.rthoStep();
      case 'trho':
        return this.trhoStep();
    }
  }

  /** RTHO: carry (s, Z) across hyper-iterations; K forward steps, then a hypergradient. */
  private rthoStep(): HypergradientResult {
    const p = this.problem;
    if (!this.online.fs) {
      this.online.basis = hyperBasis(p);
      this.online.fs = forwardInit(p, this.online.basis);
    } else if (this.opts.warmRestart) {
      const fs = this.online.fs;
      const z = K.fullLike(fs.Z, 0);
      fs.Z.dispose();
      fs.Z = z;
    }
    for (let i = 0; i < this.opts.K!; i++) this.online.fs = forwardStep(p, this.online.fs!, this.online.basis!, true);
    const r = forwardHypergradient(p, this.online.fs!, true);
    return { ...r, state: K.clone(this.online.fs!.state), steps: this.opts.K!, stats: { forwardSteps: this.opts.K!, recomputedSteps: 0, peakTrajectoryBytes: 0 } };
  }

  /** Online truncated reverse: carry s; K steps stored, reversed, then an update. */
  private trhoStep(): HypergradientResult {
    const p = this.problem;
    if (!this.online.state) this.online.state = K.clone(p.initialState(p.current()));
    const h = p.current();
    const window: Tensor[] = [];
    let s = this.online.state;
    const start = this.online.t;
    try {
      for (let i = 0; i < this.opts.K!; i++) {
        const next = trainStep(p, s, h, start + i + 1, true);
        window.push(s);
        s = next;
      }
      const r = reverseFromWindow(p, window, start, s, true);
      this.online.state = s;
      this.online.t = start + this.opts.K!;
      return r;
    } finally {
      window.forEach((w) => w.dispose());
    }
  }

  /** One hyper-iteration: hypergradient, outer step, projection. */
  step(): HyperStepRecord {
    const t0 = Date.now();
    const r = this.hypergradient();
    try {
      const norms: { [name: string]: number } = {};
      const updates: [Hyperparameter, Tensor][] = [];
      try {
        for (const hp of this.problem.hyperparameters) {
          const g = r.grads[hp.name];
          const n2 = K.dot(g, g);
          norms[hp.name] = Math.sqrt(n2);
          if (n2 === 0) this.warn(`hyperparameter '${hp.name}' has a zero hypergradient: it does not influence the validation objective through this method, and stays unchanged`);
          const next = this.opts.outer.update(hp.name, hp.value, g);
          updates.push([hp, next]);
          checkFiniteTensor(next, `the updated value of hyperparameter '${hp.name}'`, this.iteration + 1);
        }
        // All hypergradients and updates are finite: apply them together.
        for (const [hp, next] of updates) hp.set(next);
      } finally {
        for (const [, next] of updates) next.dispose();
      }
      this.iteration++;
      const due = this.opts.evaluate && (this.opts.evaluateWhen?.(this.iteration) ?? true);
      const metrics = due ? this.withWeights(r.state, this.opts.evaluate!) : undefined;
      const rec: HyperStepRecord = {
        iteration: this.iteration,
        validation: r.value,
        errors: r.errors,
        hypergradNorms: norms,
        hyper: Object.fromEntries(this.problem.hyperparameters.map((hp) => [hp.name, summarize(hp.value)])),
        steps: r.steps,
        seconds: (Date.now() - t0) / 1000,
        ...(metrics ? { metrics } : {}),
      };
      this.records.push(rec);
      if (this.opts.onStep?.(rec) === 'stop') this.stopped = true;
      return rec;
    } finally {
      for (const g of Object.values(r.grads)) g.dispose();
      r.state.dispose();
    }
  }

  private withWeights<R>(state: Tensor, fn: (w: Tensor) => R): R {
    return tidy(() => fn(weightsOf(state, this.problem.dynamics.slots)));
  }

  /** Runs up to `iterations` hyper-iterations (fewer if stopped). */
  run(iterations: number): HyperStepRecord[] {
    this.checkIterations(iterations);
    this.stopped = false;
    const out: HyperStepRecord[] = [];
    for (let i = 0; i < iterations && !this.stopped; i++) out.push(this.step());
    return out;
  }

  /** Like run, yielding to the event loop between hyper-iterations; an AbortSignal stops it. */
  async runAsync(iterations: number, opts: { signal?: AbortSignal } = {}): Promise<HyperStepRecord[]> {
    this.checkIterations(iterations);
    this.stopped = false;
    const out: HyperStepRecord[] = [];
    for (let i = 0; i < iterations && !this.stopped && !opts.signal?.aborted; i++) {
      out.push(this.step());
      await new Promise((resolve) => setImmediate(resolve));
    }
    return out;
  }

  private checkIterations(n: number): void {
    if (!Number.isInteger(n) || n < 0) throw new ArgumentError(`HyperOptimizer: 'iterations' must be a non-negative integer, got ${String(n)}`);
  }

  /** A JSON-serialisable snapshot: hyperparameter values, outer-optimizer state, records. */
  save(): { iteration: number; hyper: { [name: string]: { shape: readonly number[]; value: number[] } }; outer: unknown; records: HyperStepRecord[] } {
    return {
      iteration: this.iteration,
      hyper: Object.fromEntries(this.problem.hyperparameters.map((h) => [h.name, { shape: h.shape, value: Array.from(h.value.toArray()) }])),
      outer: this.opts.outer.state(),
      records: this.records.slice(),
    };
  }

  /**
   * Restores a snapshot from save(). Online methods (rtho, trho) restart their inner training
   * state, which is not part of the snapshot.
   */
  restore(snapshot: ReturnType<HyperOptimizer['save']>): void {
    for (const hp of this.problem.hyperparameters) {
      const s = snapshot?.hyper?.[hp.name];
      if (!s) throw new ArgumentError(`restore: the snapshot has no hyperparameter '${hp.name}'`);
      const t = K.tensor(s.value, hp.shape as number[], { dtype: hp.value.dtype });
      hp.set(t);
      t.dispose();
    }
    this.opts.outer.restore(snapshot.outer);
    this.iteration = snapshot.iteration;
    this.records.length = 0;
    this.records.push(...snapshot.records);
  }

  /** Frees the carried state of online methods. */
  dispose(): void {
    this.online.fs?.state.dispose();
    this.online.fs?.Z.dispose();
    this.online.basis?.forEach((b) => b.dispose());
    this.online.state?.dispose();
    this.online = { t: 0 };
  }
}

export { DivergenceError };
export type { HyperRecord };
