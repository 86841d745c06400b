/**
 * The outer loop: hypergradient → outer optimizer step → projection, with records, callbacks,
 * stopping, and save/resume. Synchronous (`run`, `step`) and asynchronous (`runAsync`,
 * `stepAsync`: the same computation in slices between inner steps, so that a server stays
 * responsive and an AbortSignal acts within one inner step).
 */
import * as K from '../kernels';
import { ArgumentError, DivergenceError, StateFileError } from '../errors/errors';
import { show } from '../errors/show';
import { Tensor } from '../tensor/tensor';
import { tidy } from '../tensor/scope';
import { weightsOf } from '../dynamics/dynamics';
import { HyperRecord, Hyperparameter } from '../hyperparameters/hyperparameter';
import {
  ForwardState, Horizon, HypergradientResult, checkFiniteTensor, forwardHypergradient, forwardInit, forwardStepSteps,
  forwardHGSteps, hyperBasis, implicitHGSteps, reverseFromWindowSteps, reverseHGSteps, trainStep, truncatedReverseHGSteps,
} from './hypergradients';
import { SliceOptions, Stepwise, checkSliceOptions, runInSlices, runToEnd, throwIfAborted } from '../util/stepwise';
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

/** What every method takes. */
interface CommonOptions {
  outer: OuterOptimizer;
  /** extra metrics per hyper-iteration from the final weights (test accuracy, ...) */
  evaluate?: (w: Tensor) => { [name: string]: number };
  /** on which hyper-iterations (1-based) to call `evaluate` (default: every one) */
  evaluateWhen?: (iteration: number) => boolean;
  /** called after each hyper-iteration; return 'stop' to end the run */
  onStep?: (r: HyperStepRecord) => void | 'stop';
  /** called with warnings (default: process.emitWarning) */
  onWarning?: (message: string) => void;
}

/** A training horizon per hyper-iteration: T steps or a stopping rule (capped by maxSteps). */
interface HorizonOptions {
  T: Horizon;
  /** cap on the steps of a stopping rule (default 100 000) */
  maxSteps?: number;
}

export interface ReverseMethodOptions extends CommonOptions, HorizonOptions {
  method: 'reverse';
  /** a fresh trajectory store per hypergradient (e.g. a checkpointed one) */
  trajectory?: () => TrajectoryStore;
}

export interface ForwardMethodOptions extends CommonOptions, HorizonOptions {
  method: 'forward';
}

export interface TruncatedMethodOptions extends CommonOptions, HorizonOptions {
  method: 'truncated';
  /** steps reversed, at the end of the horizon */
  K: number;
}

export interface ImplicitMethodOptions extends CommonOptions, HorizonOptions {
  method: 'implicit';
  /** CG tolerance (default 1e-10) and iteration cap (default 100) */
  tol?: number;
  maxIter?: number;
}

export interface RthoMethodOptions extends CommonOptions {
  method: 'rtho';
  /** steps between hyperparameter updates */
  K: number;
  /** reset Z (not the weights) at every hyper-iteration (FAR-HO's online='wr') */
  warmRestart?: boolean;
}

export interface TrhoMethodOptions extends CommonOptions {
  method: 'trho';
  /** steps between hyperparameter updates, each window reversed */
  K: number;
}

/** The options of a HyperOptimizer, typed per method: each method takes its own settings only. */
export type HyperOptimizerOptions =
  | ReverseMethodOptions | ForwardMethodOptions | TruncatedMethodOptions | ImplicitMethodOptions | RthoMethodOptions | TrhoMethodOptions;

/** The settings each method takes besides the common ones (an option given for another method is refused). */
const METHOD_SETTINGS: { [m in Method]: readonly string[] } = {
  reverse: ['T', 'maxSteps', 'trajectory'],
  forward: ['T', 'maxSteps'],
  truncated: ['T', 'maxSteps', 'K'],
  implicit: ['T', 'maxSteps', 'tol', 'maxIter'],
  rtho: ['K', 'warmRestart'],
  trho: ['K'],
};
const COMMON_SETTINGS = ['method', 'outer', 'evaluate', 'evaluateWhen', 'onStep', 'onWarning'];

/**
 * Options for `method` from settings that may be meant for several methods (a CLI's --T and --K):
 * the ones the method takes, the rest left out.
 */
export function methodOptions(method: Method, settings: { T?: Horizon; K?: number; maxSteps?: number } & CommonOptions): HyperOptimizerOptions {
  const takes = METHOD_SETTINGS[method];
  if (!takes) throw new ArgumentError(`methodOptions: 'method' must be one of ${METHODS.join(', ')}, got ${show(method)}`);
  const out: { [k: string]: unknown } = { method };
  for (const [k, v] of Object.entries(settings)) if (v !== undefined && (COMMON_SETTINGS.includes(k) || takes.includes(k))) out[k] = v;
  return out as unknown as HyperOptimizerOptions;
}

/** A method's options without the callbacks (what a job module hands over: the runner adds its own). */
export type OptimizerSettings = HyperOptimizerOptions extends infer O ? (O extends unknown ? Omit<O, 'onStep' | 'onWarning'> : never) : never;

/** Every setting of every method, all optional: how the optimizer reads its (checked) options. */
type AnyMethodOptions = CommonOptions & { method: Method; T?: Horizon; K?: number; maxSteps?: number; trajectory?: () => TrajectoryStore; tol?: number; maxIter?: number; warmRestart?: boolean };

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

  /** The checked options, read as one record of every method's settings (absent where the method takes none). */
  private get settings(): AnyMethodOptions {
    return this.opts as AnyMethodOptions;
  }

  /** Options for `method` from settings meant for several methods (see `methodOptions`). */
  static optionsFor = methodOptions;

  constructor(readonly problem: Problem, options: HyperOptimizerOptions) {
    if (!(problem instanceof Problem)) throw new ArgumentError(`HyperOptimizer: 'problem' must come from rf.bilevel`);
    if (options === null || typeof options !== 'object') throw new ArgumentError(`HyperOptimizer: argument 'opts' must be an options object, got ${show(options)}`);
    const opts = options as AnyMethodOptions;
    if (!METHODS.includes(opts.method)) throw new ArgumentError(`HyperOptimizer: 'method' must be one of ${METHODS.join(', ')}, got ${show(opts.method)}`);
    const takes = METHOD_SETTINGS[opts.method];
    for (const [k, v] of Object.entries(opts)) {
      if (v === undefined || COMMON_SETTINGS.includes(k) || takes.includes(k)) continue;
      const known = Object.values(METHOD_SETTINGS).some((l) => l.includes(k));
      throw new ArgumentError(known
        ? `HyperOptimizer: option '${k}' does not apply to method '${opts.method}', which takes ${takes.join(', ')} (besides ${COMMON_SETTINGS.slice(1).join(', ')})`
        : `HyperOptimizer: unknown option '${k}'; method '${opts.method}' takes ${takes.join(', ')} (besides ${COMMON_SETTINGS.slice(1).join(', ')})`);
    }
    if (!opts.outer || typeof opts.outer.update !== 'function') throw new ArgumentError(`HyperOptimizer: 'outer' must be an outer optimizer (rf.outer.adam or rf.outer.gd)`);
    const needsK = opts.method === 'rtho' || opts.method === 'trho' || opts.method === 'truncated';
    if (needsK && (!Number.isSafeInteger(opts.K) || (opts.K as number) < 1)) throw new ArgumentError(`HyperOptimizer: method '${opts.method}' needs 'K', a positive integer, got ${show(opts.K)}`);
    if (!needsK || opts.method === 'truncated') {
      if (opts.T === undefined) throw new ArgumentError(`HyperOptimizer: method '${opts.method}' needs 'T'`);
    }
    // The rest of the options, checked now rather than at the first hyper-iteration.
    const T = opts.T;
    if (T !== undefined && typeof T !== 'function' && !(typeof T === 'number' && Number.isSafeInteger(T) && T >= 0)) {
      throw new ArgumentError(`HyperOptimizer: argument 'T' must be a non-negative integer or a stopping rule, got ${show(T)}`);
    }
    for (const name of ['trajectory', 'evaluate', 'evaluateWhen', 'onStep', 'onWarning'] as const) {
      if (opts[name] !== undefined && typeof opts[name] !== 'function') throw new ArgumentError(`HyperOptimizer: argument '${name}' must be a function, got ${show(opts[name])}`);
    }
    if (opts.warmRestart !== undefined && typeof opts.warmRestart !== 'boolean') throw new ArgumentError(`HyperOptimizer: argument 'warmRestart' must be a boolean, got ${show(opts.warmRestart)}`);
    for (const name of ['maxSteps', 'maxIter'] as const) {
      const v = opts[name];
      if (v !== undefined && !(typeof v === 'number' && Number.isSafeInteger(v) && v >= 1)) throw new ArgumentError(`HyperOptimizer: argument '${name}' must be a positive integer, got ${show(v)}`);
    }
    if (opts.tol !== undefined && !(typeof opts.tol === 'number' && opts.tol > 0 && Number.isFinite(opts.tol))) throw new ArgumentError(`HyperOptimizer: argument 'tol' must be a positive number, got ${show(opts.tol)}`);
    this.opts = options;
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
    if (this.settings.onWarning) this.settings.onWarning(message);
    else process.emitWarning(message, { code: 'RFHO_ZERO_HYPERGRADIENT' });
  }

  private *hypergradientSteps(): Stepwise<HypergradientResult> {
    const { method, T, K: Kw, maxSteps } = this.settings;
    const p = this.problem;
    switch (method) {
      case 'reverse':
        return yield* reverseHGSteps(p, { T: T!, maxSteps, trajectory: this.settings.trajectory?.() });
      case 'forward':
        return yield* forwardHGSteps(p, { T: T!, maxSteps });
      case 'truncated':
        return yield* truncatedReverseHGSteps(p, { T: T!, K: Kw!, maxSteps });
      case 'implicit':
        return yield* implicitHGSteps(p, { T: T!, maxSteps, tol: this.settings.tol, maxIter: this.settings.maxIter });
      case 'rtho':
        return yield* this.rthoSteps();
      case 'trho':
        return yield* this.trhoSteps();
    }
  }

  /** RTHO: carry (s, Z) across hyper-iterations; K forward steps, then a hypergradient. */
  private *rthoSteps(): Stepwise<HypergradientResult> {
    const p = this.problem;
    if (!this.online.fs) {
      this.online.basis = hyperBasis(p);
      this.online.fs = forwardInit(p, this.online.basis);
    } else if (this.settings.warmRestart) {
      const fs = this.online.fs;
      const z = K.fullLike(fs.Z, 0);
      fs.Z.dispose();
      fs.Z = z;
    }
    for (let i = 0; i < this.settings.K!; i++) {
      if (i > 0) yield;
      this.online.fs = yield* forwardStepSteps(p, this.online.fs!, this.online.basis!, true);
    }
    const r = forwardHypergradient(p, this.online.fs!, true);
    return { ...r, state: K.clone(this.online.fs!.state), steps: this.settings.K!, stats: { forwardSteps: this.settings.K!, recomputedSteps: 0, peakTrajectoryBytes: 0 } };
  }

  /** Online truncated reverse: carry s; K steps stored, reversed, then an update. */
  private *trhoSteps(): Stepwise<HypergradientResult> {
    const p = this.problem;
    if (!this.online.state) this.online.state = K.clone(p.initialState(p.current()));
    const h = p.current();
    const window: Tensor[] = [];
    let s = this.online.state;
    const start = this.online.t;
    let finished = false;
    try {
      for (let i = 0; i < this.settings.K!; i++) {
        if (i > 0) yield;
        const next = trainStep(p, s, h, start + i + 1, true);
        window.push(s);
        s = next;
      }
      const r = yield* reverseFromWindowSteps(p, window, start, s, true);
      this.online.state = s;
      this.online.t = start + this.settings.K!;
      finished = true;
      return r;
    } finally {
      window.forEach((w) => w.dispose());
      if (!finished) {
        // The carried state is in the window (freed) or `s`: an unfinished window starts afresh.
        if (!s.isDisposed) s.dispose();
        this.online.state = undefined;
        this.online.t = 0;
      }
    }
  }

  /** One hyper-iteration: hypergradient, outer step, projection. */
  step(): HyperStepRecord {
    return runToEnd(this.iterationSteps());
  }

  /**
   * One hyper-iteration without holding the event loop (slices between inner steps). On abort it
   * rejects with an AbortError; the hyperparameters keep the values of the last whole iteration.
   */
  stepAsync(opts: SliceOptions = {}): Promise<HyperStepRecord> {
    checkSliceOptions(opts, 'HyperOptimizer.stepAsync');
    return runInSlices(this.iterationSteps(), opts);
  }

  /**
   * A hyper-iteration as a stepwise computation. The hyperparameters change only at its end, all
   * together; an iteration stopped before (abort, error) leaves them as they were. The carried
   * training state of the online methods (rtho, trho) is then dropped and starts afresh, as after
   * restore().
   */
  private *iterationSteps(): Stepwise<HyperStepRecord> {
    const t0 = Date.now();
    let finished = false;
    let r: HypergradientResult | null = null;
    try {
      r = yield* this.hypergradientSteps();
      const rec = this.applyUpdate(r, t0);
      finished = true;
      return rec;
    } finally {
      if (r) {
        for (const g of Object.values(r.grads)) g.dispose();
        r.state.dispose();
      }
      if (!finished && (this.settings.method === 'rtho' || this.settings.method === 'trho')) this.dropOnlineState();
    }
  }

  private applyUpdate(r: HypergradientResult, t0: number): HyperStepRecord {
    const norms: { [name: string]: number } = {};
    const updates: [Hyperparameter, Tensor][] = [];
    try {
      for (const hp of this.problem.hyperparameters) {
        const g = r.grads[hp.name];
        const n2 = K.dot(g, g);
        norms[hp.name] = Math.sqrt(n2);
        if (n2 === 0) this.warn(`hyperparameter '${hp.name}' has a zero hypergradient: it does not influence the validation objective through this method, and stays unchanged`);
        const next = this.settings.outer.update(hp.name, hp.value, g);
        updates.push([hp, next]);
        checkFiniteTensor(next, `the updated value of hyperparameter '${hp.name}'`, this.iteration + 1);
      }
      // All hypergradients and updates are finite: apply them together.
      for (const [hp, next] of updates) hp.set(next);
    } finally {
      for (const [, next] of updates) next.dispose();
    }
    this.iteration++;
    const due = this.settings.evaluate && (this.settings.evaluateWhen?.(this.iteration) ?? true);
    const metrics = due ? this.withWeights(r.state, this.settings.evaluate!) : undefined;
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
    if (this.settings.onStep?.(rec) === 'stop') this.stopped = true;
    return rec;
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

  /**
   * Like run, without holding the event loop: each hyper-iteration runs in slices between inner
   * steps. An AbortSignal stops the work within one inner step and the promise rejects with an
   * AbortError (the records of whole iterations stay in `records`); stop() or onStep's 'stop' end
   * it after the current iteration, and it resolves.
   */
  async runAsync(iterations: number, opts: SliceOptions = {}): Promise<HyperStepRecord[]> {
    this.checkIterations(iterations);
    checkSliceOptions(opts, 'HyperOptimizer.runAsync');
    this.stopped = false;
    const out: HyperStepRecord[] = [];
    for (let i = 0; i < iterations && !this.stopped; i++) {
      throwIfAborted(opts.signal);
      out.push(await runInSlices(this.iterationSteps(), opts));
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
      outer: this.settings.outer.state(),
      records: this.records.slice(),
    };
  }

  /**
   * Restores a snapshot from save(): all or nothing. The whole snapshot is checked first (every
   * hyperparameter present with its shape and finite values, no unknown ones, the outer
   * optimizer's state, the records); a bad one throws a StateFileError and changes nothing.
   * Online methods (rtho, trho) restart their inner training state, which is not part of the snapshot.
   */
  restore(snapshot: ReturnType<HyperOptimizer['save']>): void {
    const bad = (why: string) => new StateFileError(`restore: the snapshot ${why}; nothing was changed`);
    if (!snapshot || typeof snapshot !== 'object') throw bad('is not an object');
    const { iteration, hyper, records } = snapshot;
    if (!Number.isInteger(iteration) || iteration < 0) throw bad(`has 'iteration' ${String(iteration)}, not a non-negative integer`);
    if (!hyper || typeof hyper !== 'object') throw bad(`has no 'hyper' values`);
    const known = new Set(this.problem.names);
    for (const name of Object.keys(hyper)) if (!known.has(name)) throw bad(`has a hyperparameter '${name}' that this problem does not declare`);
    const values: [Hyperparameter, number[]][] = [];
    for (const hp of this.problem.hyperparameters) {
      const s = hyper[hp.name];
      if (!s || typeof s !== 'object') throw bad(`has no hyperparameter '${hp.name}'`);
      if (!Array.isArray(s.shape) || s.shape.length !== hp.shape.length || s.shape.some((d, i) => d !== hp.shape[i])) {
        throw bad(`gives '${hp.name}' the shape ${JSON.stringify(s.shape)}, the problem has [${hp.shape.join(', ')}]`);
      }
      if (!Array.isArray(s.value) || s.value.length !== hp.size) throw bad(`gives '${hp.name}' ${Array.isArray(s.value) ? s.value.length : 'no'} values, expected ${hp.size}`);
      const at = s.value.findIndex((v) => typeof v !== 'number' || !Number.isFinite(v));
      if (at >= 0) throw bad(`has a value of '${hp.name}' that is not a finite number (index ${at}: ${String(s.value[at])})`);
      values.push([hp, s.value]);
    }
    if (!Array.isArray(records) || records.length !== iteration || records.some((r, i) => !r || typeof r !== 'object' || r.iteration !== i + 1)) {
      throw bad(`has records that do not match its ${String(iteration)} iterations`);
    }
    try {
      this.settings.outer.check?.(snapshot.outer);
    } catch (e) {
      throw bad(`has an outer-optimizer state that does not fit: ${(e as Error).message}`);
    }
    // Checked: now apply, building every tensor before the first hyperparameter changes.
    const tensors = values.map(([hp, v]) => K.tensor(v, hp.shape as number[], { dtype: hp.value.dtype, device: hp.value.device }));
    try {
      values.forEach(([hp], i) => hp.set(tensors[i]));
    } finally {
      tensors.forEach((t) => t.dispose());
    }
    this.settings.outer.restore(snapshot.outer);
    this.iteration = iteration;
    this.records.length = 0;
    this.records.push(...records);
    this.dropOnlineState();
  }

  /** Frees the carried state of online methods. */
  dispose(): void {
    this.dropOnlineState();
  }

  private dropOnlineState(): void {
    const held = [this.online.fs?.state, this.online.fs?.Z, ...(this.online.basis ?? []), this.online.state];
    for (const t of held) if (t && !t.isDisposed) t.dispose();
    this.online = { t: 0 };
  }
}

export { DivergenceError };
export type { HyperRecord };
