/**
 * What every hypergradient method shares: options and results, the horizon, the training step, the
 * objective's gradient at the final state, and the accumulation and checks of the hypergradients.
 */
import * as K from '../../kernels';
import { KeptLogitsStats } from '../../kernels/keptLogits';
import { vjp } from '../../autodiff/transforms';
import { ArgumentError, DivergenceError } from '../../errors/errors';
import { keep, tidy, tidySteps } from '../../tensor/scope';
import { Tensor } from '../../tensor/tensor';
import { show } from '../../errors/show';
import { HyperRecord } from '../../hyperparameters/hyperparameter';
import { Problem } from '../problem';
import { Stepwise, yieldPoint } from '../../util/stepwise';
import type { ReverseOptions } from './reverse';

/** A number of steps, or a rule: stop after step t when it returns true (bounded by maxSteps). */
export type Horizon = number | ((t: number, state: Tensor) => boolean);

export interface HypergradientOptions {
  T: Horizon;
  /** cap on the steps of a stopping rule (default 100 000) */
  maxSteps?: number;
  /** check states and hypergradients for NaN/Inf (default true) */
  checkFinite?: boolean;
  /** called after each forward training step */
  onStep?: (t: number) => void;
}

export interface HypergradientStats {
  forwardSteps: number;
  /** forward steps computed again by checkpointed reverse passes */
  recomputedSteps: number;
  /** largest number of bytes the trajectory held at once */
  peakTrajectoryBytes: number;
  /**
   * Reverse-HG and its truncated form on a fused linear loss over dense data: reverse steps that
   * took the logits X W + b kept from their forward step (rf.config.keptLogitsBytes), and the most
   * bytes of logits kept at once
   */
  keptLogits?: KeptLogitsStats;
}

export interface HypergradientResult {
  /** ∂E/∂λ, one tensor per hyperparameter with its shape (caller owns) */
  grads: HyperRecord;
  /** the validation objective E at the final weights */
  value: number;
  /** each validation error at the final weights */
  errors: { [name: string]: number };
  /** the final state s_T (caller owns) */
  state: Tensor;
  /** number of training steps */
  steps: number;
  stats: HypergradientStats;
}

export function record(problem: Problem, values: readonly Tensor[]): HyperRecord {
  return Object.fromEntries(problem.names.map((n, i) => [n, values[i]]));
}

export function checkFiniteTensor(t: Tensor, quantity: string, step?: number): void {
  const bad = K.countNonFinite(t);
  if (bad > 0) {
    const where = step === undefined ? '' : ` at step ${step}`;
    throw new DivergenceError(`divergence: ${bad} NaN/Inf values in ${quantity}${where}`, step, quantity);
  }
}

/**
 * The arguments every method shares, checked before any work: a Problem (rf.bilevel) and an options
 * object whose common fields have the right types. Method-specific fields are checked by each.
 */
export function checkCall(problem: unknown, opts: unknown, fn: string): void {
  if (!(problem instanceof Problem)) throw new ArgumentError(`${fn}: argument 'problem' must be a Problem (rf.bilevel), got ${show(problem)}`);
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) throw new ArgumentError(`${fn}: argument 'opts' must be an options object with a horizon 'T', got ${show(opts)}`);
  const o = opts as HypergradientOptions & ReverseOptions;
  if (o.onStep !== undefined && typeof o.onStep !== 'function') throw new ArgumentError(`${fn}: argument 'onStep' must be a function (t) => void, got ${show(o.onStep)}`);
  if (o.checkFinite !== undefined && typeof o.checkFinite !== 'boolean') throw new ArgumentError(`${fn}: argument 'checkFinite' must be a boolean, got ${show(o.checkFinite)}`);
  const store = o.trajectory as unknown as Record<string, unknown> | undefined;
  if (store !== undefined) {
    const missing = ['begin', 'push', 'pushGradient', 'gradient', 'get', 'release', 'end'].filter((m) => typeof store?.[m] !== 'function');
    if (missing.length > 0) throw new ArgumentError(`${fn}: argument 'trajectory' must be a trajectory store (rf.checkpointed, FullTrajectory, DiskTrajectory); it lacks ${missing.join(', ')}`);
  }
}

/** The horizon: at most `max` steps, and `done(t, s)` says whether to stop after step t. */
export function horizon(opts: HypergradientOptions): { max: number; done: (t: number, s: Tensor) => boolean } {
  const T = opts?.T;
  if (typeof T === 'number') {
    if (!Number.isSafeInteger(T) || T < 0) throw new ArgumentError(`argument 'T' must be a non-negative integer or a stopping rule, got ${show(T)}`);
    return { max: T, done: (t) => t >= T };
  }
  if (typeof T === 'function') {
    const max = opts.maxSteps ?? 100_000;
    if (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 1) throw new ArgumentError(`argument 'maxSteps' must be a positive integer, got ${show(max)}`);
    return { max, done: (t, s) => T(t, s) };
  }
  throw new ArgumentError(`argument 'T' must be a number of steps or a function (t, state) => boolean, got ${show(T)}`);
}

/** Φ_0(λ) as a tensor the caller owns. */
export function initialState(problem: Problem, h: HyperRecord): Tensor {
  // A copy: with plain gradient descent Φ_0 returns the user's own init tensor.
  return tidy(() => K.clone(problem.initialState(h)));
}

/** One training step s → Φ_t(s, λ) (caller owns the result; s is left alone). */
export function trainStep(problem: Problem, s: Tensor, h: HyperRecord, t: number, check: boolean): Tensor {
  const next = tidy(() => keep(problem.step(s, h, t)));
  if (check) {
    try {
      checkFiniteTensor(next, 'the training state', t);
    } catch (e) {
      next.dispose();
      throw e;
    }
  }
  return next;
}

/** One training step that also returns g_t = ∇_w L_t(w_{t−1}) (both owned by the caller). */
export function trainStepWithGradient(problem: Problem, s: Tensor, h: HyperRecord, t: number, check: boolean): { next: Tensor; grad: Tensor } {
  return checkedStep(tidy(() => stepWithGradient(problem, s, problem.gradient(s, h, t), h, t)), check, t);
}

/** trainStepWithGradient as a stepwise computation (it yields inside the gradient's sweep). */
export function* trainStepWithGradientSteps(problem: Problem, s: Tensor, h: HyperRecord, t: number, check: boolean): Stepwise<{ next: Tensor; grad: Tensor }> {
  if (!yieldPoint()) return trainStepWithGradient(problem, s, h, t, check);
  const r = yield* tidySteps((function* () {
    return stepWithGradient(problem, s, yield* problem.gradientSteps(s, h, t), h, t);
  })());
  return checkedStep(r, check, t);
}

export function stepWithGradient(problem: Problem, s: Tensor, g: Tensor, h: HyperRecord, t: number): { next: Tensor; grad: Tensor } {
  return { next: keep(problem.dynamics.step(s, g, h, t)), grad: keep(g === s ? K.clone(g) : g) };
}

/** The step's result, checked for NaN/Inf where asked (freed before the throw). */
export function checkedStep(r: { next: Tensor; grad: Tensor }, check: boolean, t: number): { next: Tensor; grad: Tensor } {
  if (check) {
    try {
      checkFiniteTensor(r.next, 'the training state', t);
    } catch (e) {
      r.next.dispose();
      r.grad.dispose();
      throw e;
    }
  }
  return r;
}

/** ∂E/∂s and ∂E/∂λ at the final state, plus the values. */
export function objectiveGradient(problem: Problem, sT: Tensor, hyper: readonly Tensor[]) {
  return tidy(() => {
    let errors: { [name: string]: number } = {};
    const r = vjp((s: Tensor, ...hv: Tensor[]) => {
      const h = record(problem, hv);
      const errs = problem.validationErrors(s, h);
      errors = Object.fromEntries(Object.entries(errs).map(([k, e]) => [k, e.item()]));
      return problem.objective(s, h);
    }, [sT, ...hyper]);
    const gs = r.grads as Tensor[];
    return { value: r.value.item(), errors, dS: gs[0], dH: gs.slice(1) };
  });
}

/** acc[i] += gs[i] for every hyperparameter; the addends and the old sums are disposed. */
export function accumulate(acc: Tensor[], gs: readonly Tensor[]): void {
  gs.forEach((g, i) => {
    const sum = K.axpby(1, acc[i], 1, g);
    acc[i].dispose();
    g.dispose();
    acc[i] = sum;
  });
}

/** The accumulated hypergradients shaped as their hyperparameters; all of acc is consumed, also on a throw. */
export function finishGrads(problem: Problem, acc: Tensor[], check: boolean): HyperRecord {
  problem.warnUnreadHyperparameters();
  const out: HyperRecord = {};
  try {
    problem.hyperparameters.forEach((hp, i) => {
      const g = acc[i].rank === hp.value.rank ? acc[i] : K.reshapeView(acc[i], hp.shape);
      out[hp.name] = g;
      if (check) checkFiniteTensor(g, `the hypergradient of '${hp.name}'`);
    });
    return out;
  } catch (e) {
    disposeAll(Object.values(out));
    disposeAll(acc);
    throw e;
  }
}

/** Disposes what is not disposed yet (cleanup after an abort or an error). */
export function disposeAll(ts: readonly (Tensor | null | undefined)[]): void {
  for (const t of ts) if (t && !t.isDisposed) t.dispose();
}

/** The hyperparameters' current values, in the problem's order. */
export function hyperValues(problem: Problem): Tensor[] {
  const h = problem.current();
  return problem.names.map((n) => h[n]);
}
