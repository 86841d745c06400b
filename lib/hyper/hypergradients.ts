/**
 * Hypergradient algorithms. All return ∂E/∂λ for the same problem; where the mathematics says they
 * agree (Reverse-HG, Forward-HG, RTHO with K = T on its first hyper-iteration, truncated reverse
 * with K = T) they agree to rounding.
 *
 *   Reverse-HG: forward pass storing s_0..s_{T−1}; α_T = ∂E/∂s_T; for t = T..1:
 *               g += B_tᵀ α_t, α_{t−1} = A_tᵀ α_t, each pair from one vjp of Φ_t; then Φ_0's term.
 *   Forward-HG: Z_t = A_t Z_{t−1} + B_t, all m hyperparameter directions as one batched tangent;
 *               hypergradient ∂E/∂λ + Z_Tᵀ ∂E/∂s_T.
 *   Implicit:   at the final iterate solve H q = ∂E/∂w by conjugate gradients on Hessian-vector
 *               products; hypergradient ∂E/∂λ − (∂²L/∂λ∂w) q.
 *
 * Each algorithm is written once as a generator that yields between inner steps (stepwise.ts):
 * `reverseHG` runs it to the end, `reverseHGAsync` in slices that leave the event loop free, and
 * both give the same bits. On an abort or an error, `finally` blocks free every tensor held.
 */
import * as K from '../kernels';
import { GradientWithTangent, JvpResult, gradientWithTangent, gradientWithTangentSteps, hvp, hvpPartial, hvpPartialSteps, jvp, vjp } from '../autodiff/transforms';
import { ArgumentError, DivergenceError, RfhoError } from '../errors/errors';
import { keep, tidy, tidySteps } from '../tensor/scope';
import { Tensor } from '../tensor/tensor';
import { show } from '../errors/show';
import { weightsOf } from '../dynamics/dynamics';
import { HyperRecord } from '../hyperparameters/hyperparameter';
import { Problem } from './problem';
import { FullTrajectory, TrajectoryStore } from './trajectory';
import { SliceOptions, Stepwise, checkSliceOptions, runInSlices, runToEnd, yieldPoint } from '../util/stepwise';

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

function record(problem: Problem, values: readonly Tensor[]): HyperRecord {
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
function checkCall(problem: unknown, opts: unknown, fn: string): void {
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
function horizon(opts: HypergradientOptions): { max: number; done: (t: number, s: Tensor) => boolean } {
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

/** A checkpointed store plans its schedule for one horizon: any other is refused before it is used. */
function checkPlannedHorizon(store: TrajectoryStore, T: number | undefined): void {
  if (T === undefined || store.plannedSteps === undefined || store.plannedSteps === T) return;
  throw new ArgumentError(
    `argument 'trajectory' is planned for T = ${store.plannedSteps} steps but the run has ${T}; make it with checkpointed({ T: ${T}, ... })` +
      ' (a stopping rule must run to the planned horizon)',
  );
}

/** Φ_0(λ) as a tensor the caller owns. */
function initialState(problem: Problem, h: HyperRecord): Tensor {
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

function stepWithGradient(problem: Problem, s: Tensor, g: Tensor, h: HyperRecord, t: number): { next: Tensor; grad: Tensor } {
  return { next: keep(problem.dynamics.step(s, g, h, t)), grad: keep(g === s ? K.clone(g) : g) };
}

/** The step's result, checked for NaN/Inf where asked (freed before the throw). */
function checkedStep(r: { next: Tensor; grad: Tensor }, check: boolean, t: number): { next: Tensor; grad: Tensor } {
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

/**
 * True when the dynamics' VJP never reads the gradient's value (affine in it, no hyperparameters
 * of their own: plain gradient descent or momentum): Reverse-HG then stores no gradients, which
 * would double the trajectory's memory and traffic, and the reverse step puts zeros in their
 * place instead of recomputing them.
 */
function gradientUnusedBy(problem: Problem): boolean {
  const dyn = problem.dynamics;
  return !!dyn.linearInGradient && dyn.hyperparameters.length === 0;
}

/**
 * True when the reverse pass rebuilds g_t from s_{t−1} and s_t (`Dynamics.gradientFromStates`)
 * instead of storing or recomputing it; the pass then hands each reverse step s_t too.
 */
function gradientFromStatesBy(problem: Problem): boolean {
  return !gradientUnusedBy(problem) && !!problem.dynamics.gradientFromStates;
}

/** What the trajectory keeps besides the states: the gradients, where the reverse pass needs them. */
function reverseStoresGradients(problem: Problem): boolean {
  return !gradientUnusedBy(problem) && !gradientFromStatesBy(problem);
}

/** One reverse step's results: α_{t−1} and the step's terms of the hypergradients. */
interface ReverseStep {
  alpha: Tensor;
  gh: Tensor[];
}

/**
 * One step of the reverse sweep: (α_{t−1}, B_tᵀ α_t) from α_t, without differentiating twice in
 * reverse. With Φ_t(s, λ) = U(s, g, λ), g = ∇_w L_t(w, λ):
 *   (s̄, ḡ, λ̄_U) = vjp of the update U (elementwise, cheap)
 *   [H_ww ḡ; H_λw ḡ] = one forward-over-reverse Hessian-vector product of L_t (H symmetric)
 *   α_{t−1} = s̄ + [H_ww ḡ; 0],   B_tᵀ α_t = λ̄_U + H_λw ḡ.
 * In that product the data pass of a linear layer carries the primal and the tangent together.
 * A stepwise computation: it yields inside the gradient's and the product's sweeps.
 */
export function reverseStep(problem: Problem, prev: Tensor, next: Tensor | null, storedGrad: Tensor | null, hyper: readonly Tensor[], alpha: Tensor, t: number): ReverseStep {
  return tidy(() => {
    const u = updateVjp(problem, prev, next, storedGrad, hyper, alpha, t, () => problem.gradient(prev, record(problem, hyper), t));
    return combineReverseStep(problem, u, hvpPartial(...hessianProduct(problem, u, hyper, t)));
  });
}

/** reverseStep as a stepwise computation: it yields inside the gradient's and the product's sweeps. */
export function* reverseStepSteps(problem: Problem, prev: Tensor, next: Tensor | null, storedGrad: Tensor | null, hyper: readonly Tensor[], alpha: Tensor, t: number): Stepwise<ReverseStep> {
  if (!yieldPoint()) return reverseStep(problem, prev, next, storedGrad, hyper, alpha, t);
  return yield* tidySteps((function* () {
    const g = recomputesGradient(problem, next, storedGrad) ? yield* problem.gradientSteps(prev, record(problem, hyper), t) : null;
    const u = updateVjp(problem, prev, next, storedGrad, hyper, alpha, t, g);
    return combineReverseStep(problem, u, yield* hvpPartialSteps(...hessianProduct(problem, u, hyper, t)));
  })());
}

/** Whether a reverse step recomputes g_t: not stored, read by the update's VJP, not rebuilt from the states. */
function recomputesGradient(problem: Problem, next: Tensor | null, storedGrad: Tensor | null): boolean {
  return !storedGrad && !gradientUnusedBy(problem) && !(next && problem.dynamics.gradientFromStates);
}

/**
 * The update's VJP at step t: (s̄, ḡ, λ̄_U), with g stored, zeros (unread), rebuilt from the states,
 * or recomputed (`recomputed`: the gradient, or how to get it; used only where recomputesGradient).
 */
function updateVjp(problem: Problem, prev: Tensor, next: Tensor | null, storedGrad: Tensor | null, hyper: readonly Tensor[], alpha: Tensor, t: number, recomputed: Tensor | (() => Tensor) | null): UpdateVjp {
  const dyn = problem.dynamics;
  const g = storedGrad
    ?? (gradientUnusedBy(problem) ? K.fullLike(weightsOf(prev, dyn.slots), 0)
      : next && dyn.gradientFromStates ? dyn.gradientFromStates(prev, next, record(problem, hyper))
        : typeof recomputed === 'function' ? recomputed() : recomputed!);
  const u = vjp((x: Tensor, gg: Tensor, ...hv: Tensor[]) => dyn.step(x, gg, record(problem, hv), t), [prev, g, ...hyper], alpha).grads as Tensor[];
  return { sBar: u[0], gBar: u[1], hBarU: u.slice(2), w: weightsOf(prev, dyn.slots) };
}

interface UpdateVjp {
  sBar: Tensor;
  gBar: Tensor;
  hBarU: Tensor[];
  w: Tensor;
}

/** The Hessian-vector product's arguments: L_t at (w, λ) along (ḡ, none). */
function hessianProduct(problem: Problem, u: UpdateVjp, hyper: readonly Tensor[], t: number): [(...a: Tensor[]) => Tensor, Tensor[], (Tensor | null)[]] {
  return [(x: Tensor, ...hv: Tensor[]) => problem.trainLoss(x, record(problem, hv), t), [u.w, ...hyper], [u.gBar, ...hyper.map(() => null)]];
}

/** α_{t−1} = s̄ + [H_ww ḡ; 0] and B_tᵀ α_t = λ̄_U + H_λw ḡ from the update's VJP and the product's blocks. */
function combineReverseStep(problem: Problem, u: UpdateVjp, blocks: Tensor[]): ReverseStep {
  const d = u.w.size;
  let alphaPrev: Tensor;
  if (problem.dynamics.slots === 1) {
    alphaPrev = K.axpby(1, u.sBar, 1, blocks[0]);
  } else {
    const head = K.axpby(1, K.slice(u.sBar, 0, 0, d), 1, blocks[0]);
    alphaPrev = K.concat([head, K.slice(u.sBar, 0, d, u.sBar.size)], 0);
  }
  const gh = u.hBarU.map((x, i) => K.axpby(1, x, 1, blocks[i + 1]));
  return { alpha: alphaPrev, gh };
}

/** ∂E/∂s and ∂E/∂λ at the final state, plus the values. */
function objectiveGradient(problem: Problem, sT: Tensor, hyper: readonly Tensor[]) {
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
function accumulate(acc: Tensor[], gs: readonly Tensor[]): void {
  gs.forEach((g, i) => {
    const sum = K.axpby(1, acc[i], 1, g);
    acc[i].dispose();
    g.dispose();
    acc[i] = sum;
  });
}

/** The term of a learned initial state: (∂Φ_0/∂λ)ᵀ α_0, added to the accumulated hypergradients. */
function addInitialStateTerm(problem: Problem, hyper: readonly Tensor[], alpha0: Tensor, acc: Tensor[]): void {
  if (!problem.initDependsOnHyper) return;
  const g0 = tidy(() => vjp((...hv: Tensor[]) => problem.initialState(record(problem, hv)), hyper as Tensor[], alpha0).grads as Tensor[]);
  accumulate(acc, g0);
}

/** The accumulated hypergradients shaped as their hyperparameters; all of acc is consumed, also on a throw. */
function finishGrads(problem: Problem, acc: Tensor[], check: boolean): HyperRecord {
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
function disposeAll(ts: readonly (Tensor | null | undefined)[]): void {
  for (const t of ts) if (t && !t.isDisposed) t.dispose();
}

export interface ReverseOptions extends HypergradientOptions {
  /** where the trajectory lives (default: every state in memory) */
  trajectory?: TrajectoryStore;
}

/** Reverse-HG. */
export function reverseHG(problem: Problem, opts: ReverseOptions): HypergradientResult {
  return runToEnd(reverseHGSteps(problem, opts));
}

/** Reverse-HG without holding the event loop: yields between training and reverse steps. */
export function reverseHGAsync(problem: Problem, opts: ReverseOptions & SliceOptions): Promise<HypergradientResult> {
  checkSliceOptions(opts, 'reverseHGAsync');
  return runInSlices(reverseHGSteps(problem, opts), opts);
}

/** Reverse-HG as a stepwise computation (one yield per training step and per reverse step). */
export function* reverseHGSteps(problem: Problem, opts: ReverseOptions): Stepwise<HypergradientResult> {
  checkCall(problem, opts, 'reverseHG');
  const { max, done } = horizon(opts);
  const check = opts.checkFinite !== false;
  const h = problem.current();
  const hyper = problem.names.map((n) => h[n]);
  const store: TrajectoryStore = opts.trajectory ?? new FullTrajectory();
  checkPlannedHorizon(store, typeof opts.T === 'number' ? opts.T : undefined);
  // Forward pass: the store keeps what the reverse pass will need (all states, or checkpoints).
  let s = initialState(problem, h);
  let T = 0;
  store.begin(s, (state, t) => trainStep(problem, state, h, t, false));
  const storeGradients = reverseStoresGradients(problem), fromStates = gradientFromStatesBy(problem);
  // s_t for reverse step t where g_t is rebuilt from the states: s_T itself, then copies, since a
  // checkpointed store may free or overwrite s_t while it recomputes s_{t−1}.
  let after: Tensor | null = null;
  let finalState: Tensor | null = null;
  let acc: Tensor[] = [];
  let alpha: Tensor | null = null;
  let finished = false;
  try {
    while (T < max) {
      const { next, grad: g } = yield* trainStepWithGradientSteps(problem, s, h, T + 1, check);
      T++;
      if (storeGradients) store.pushGradient(T, g);
      else g.dispose();
      store.push(T, next);
      s = next;
      opts.onStep?.(T);
      if (done(T, s)) break;
      yield;
    }
    checkPlannedHorizon(store, T);
    finalState = K.clone(s);
    const og = objectiveGradient(problem, finalState, hyper);
    acc = og.dH.map((g) => keep(g));
    alpha = og.dS;
    if (fromStates) after = finalState;
    for (let t = T; t >= 1; t--) {
      yield;
      const prev = store.getSteps ? yield* store.getSteps(t - 1) : store.get(t - 1);
      const step: ReverseStep = yield* reverseStepSteps(problem, prev, after, store.gradient(t), hyper, alpha, t);
      if (after) {
        if (after !== finalState) after.dispose();
        after = t > 1 ? K.clone(prev) : null;
      }
      store.release(t - 1);
      alpha.dispose();
      alpha = step.alpha;
      accumulate(acc, step.gh);
      if (check) checkFiniteTensor(alpha, 'the adjoint α', t);
    }
    addInitialStateTerm(problem, hyper, alpha, acc);
    alpha.dispose();
    const grads = finishGrads(problem, acc, check);
    finished = true;
    return {
      grads,
      value: og.value,
      errors: og.errors,
      state: finalState,
      steps: T,
      stats: { forwardSteps: T, recomputedSteps: store.recomputed, peakTrajectoryBytes: store.peakBytes },
    };
  } finally {
    if (after !== finalState) after?.dispose();
    store.end();
    if (!finished) disposeAll([...acc, alpha, finalState]);
  }
}

/** Identity directions for the hyperparameters: one batched tangent per hyperparameter, [m, ...shape]. */
export function hyperBasis(problem: Problem, columns?: ColumnRange): Tensor[] {
  const m = problem.hyperSize;
  const a = columns?.start ?? 0, b = columns?.end ?? m, k = b - a;
  let offset = 0;
  return problem.hyperparameters.map((hp) => {
    const data = hp.value.dtype === 'float64' ? new Float64Array(k * hp.size) : new Float32Array(k * hp.size);
    for (let i = 0; i < hp.size; i++) {
      const column = offset + i;
      if (column >= a && column < b) data[(column - a) * hp.size + i] = 1;
    }
    offset += hp.size;
    return K.tensor(data, [k, ...hp.shape], { dtype: hp.value.dtype, device: hp.value.device });
  });
}

/** Columns [start, end) of the flat hyperparameter vector (the hyperparameters in order, each flattened). */
export interface ColumnRange {
  start: number;
  end: number;
}

/** The i-th of n near-equal column ranges of m columns. */
export function shardColumns(m: number, i: number, n: number): ColumnRange {
  return { start: Math.floor((i * m) / n), end: Math.floor(((i + 1) * m) / n) };
}

/** State of a forward-mode propagation: s_t and Z_t = ds_t/dλ ([m, D]). */
export interface ForwardState {
  state: Tensor;
  Z: Tensor;
  t: number;
}

export function forwardInit(problem: Problem, basis: readonly Tensor[]): ForwardState {
  const h = problem.current();
  const hyper = problem.names.map((n) => h[n]);
  if (problem.initDependsOnHyper) {
    const r = jvp((...hv: Tensor[]) => problem.initialState(record(problem, hv)), hyper, basis as Tensor[], { batched: true });
    return { state: r.value, Z: r.tangent, t: 0 };
  }
  const s = initialState(problem, h);
  const k = basis.length ? basis[0].shape[0] : problem.hyperSize; // the directions carried: all, or a shard's
  return { state: s, Z: K.fullLike(s, 0, [k, s.size]), t: 0 };
}

/**
 * Advances (s, Z) by one step of Φ and its tangent map: Z ← A Z + B. Disposes the old pair.
 * Φ_t(s, λ) = step(s, g(w, λ), λ) is differentiated in two parts, as Reverse-HG's step is: the
 * gradient and its tangent ġ along (Z_w, the basis) (forward over reverse), then the update's
 * tangent map given ġ.
 */
export function forwardStep(problem: Problem, fs: ForwardState, basis: readonly Tensor[], check: boolean): ForwardState {
  const hyper = hyperValues(problem);
  const r = tidy(() => updateJvp(problem, fs, basis, hyper, gradientWithTangent(...gradientAlongZ(problem, fs, basis, hyper))));
  return checkedForwardState(r, fs, check);
}

/** forwardStep as a stepwise computation (the gradient's sweep yields between nodes). */
export function* forwardStepSteps(problem: Problem, fs: ForwardState, basis: readonly Tensor[], check: boolean): Stepwise<ForwardState> {
  if (!yieldPoint()) return forwardStep(problem, fs, basis, check);
  const hyper = hyperValues(problem);
  const r = yield* tidySteps((function* () {
    return updateJvp(problem, fs, basis, hyper, yield* gradientWithTangentSteps(...gradientAlongZ(problem, fs, basis, hyper)));
  })());
  return checkedForwardState(r, fs, check);
}

/** The hyperparameters' current values, in the problem's order. */
function hyperValues(problem: Problem): Tensor[] {
  const h = problem.current();
  return problem.names.map((n) => h[n]);
}

/** The arguments of g_t and ġ_t: L_t at (w, λ) along (Z_w, the basis). */
function gradientAlongZ(problem: Problem, fs: ForwardState, basis: readonly Tensor[], hyper: readonly Tensor[]): [(...a: Tensor[]) => Tensor, Tensor[], (Tensor | null)[]] {
  const t = fs.t + 1;
  const w = weightsOf(fs.state, problem.dynamics.slots);
  const zw = problem.dynamics.slots === 1 ? fs.Z : K.slice(fs.Z, 1, 0, w.size);
  return [(x: Tensor, ...hv: Tensor[]) => problem.trainLoss(x, record(problem, hv), t), [w, ...hyper], [zw, ...basis]];
}

/** (s_t, Z_t): the update at (s, g, λ) and its tangent along (Z, ġ, the basis). */
function updateJvp(problem: Problem, fs: ForwardState, basis: readonly Tensor[], hyper: readonly Tensor[], g: GradientWithTangent): JvpResult {
  const t = fs.t + 1;
  return jvp((x: Tensor, gg: Tensor, ...hv: Tensor[]) => problem.dynamics.step(x, gg, record(problem, hv), t), [fs.state, g.grad, ...hyper], [fs.Z, g.tangent, ...basis], { batched: true });
}

/** The new pair, checked for NaN/Inf where asked; the old pair disposed. */
function checkedForwardState(r: JvpResult, fs: ForwardState, check: boolean): ForwardState {
  const t = fs.t + 1;
  fs.state.dispose();
  fs.Z.dispose();
  if (check) {
    try {
      checkFiniteTensor(r.value, 'the training state', t);
      checkFiniteTensor(r.tangent, 'the tangent Z', t);
    } catch (e) {
      disposeAll([r.value, r.tangent]);
      throw e;
    }
  }
  return { state: r.value, Z: r.tangent, t };
}

/** ∂E/∂λ + Zᵀ ∂E/∂s at the current forward state. */
export function forwardHypergradient(problem: Problem, fs: ForwardState, check: boolean): { grads: HyperRecord; value: number; errors: { [name: string]: number } } {
  const h = problem.current();
  const hyper = problem.names.map((n) => h[n]);
  const og = objectiveGradient(problem, fs.state, hyper);
  const acc = tidy(() => {
    const zt = K.matmul(fs.Z, K.reshapeView(og.dS, [og.dS.size, 1])); // [m, 1]
    let offset = 0;
    return og.dH.map((g, i) => {
      const size = problem.hyperparameters[i].size;
      const part = K.reshapeView(K.slice(K.reshapeView(zt, [zt.size]), 0, offset, offset + size), g.shape);
      offset += size;
      return K.axpby(1, g, 1, part);
    });
  });
  og.dS.dispose();
  og.dH.forEach((g) => g.dispose());
  return { grads: finishGrads(problem, acc, check), value: og.value, errors: og.errors };
}

/** Forward-HG. */
export function forwardHG(problem: Problem, opts: HypergradientOptions): HypergradientResult {
  return runToEnd(forwardHGSteps(problem, opts));
}

/** Forward-HG without holding the event loop: yields between training steps. */
export function forwardHGAsync(problem: Problem, opts: HypergradientOptions & SliceOptions): Promise<HypergradientResult> {
  checkSliceOptions(opts, 'forwardHGAsync');
  return runInSlices(forwardHGSteps(problem, opts), opts);
}

/** Forward-HG as a stepwise computation (one yield per step of (s, Z)). */
export function* forwardHGSteps(problem: Problem, opts: HypergradientOptions): Stepwise<HypergradientResult> {
  checkCall(problem, opts, 'forwardHG');
  const steps = horizon(opts);
  const check = opts.checkFinite !== false;
  const basis = hyperBasis(problem);
  const held: { fs: ForwardState | null } = { fs: null };
  let finished = false;
  try {
    const fs = yield* propagateForward(problem, basis, steps, opts, check, held);
    const r = forwardHypergradient(problem, fs, check);
    const zBytes = fs.Z.size * (fs.Z.dtype === 'float64' ? 8 : 4);
    fs.Z.dispose();
    finished = true;
    return { ...r, state: fs.state, steps: fs.t, stats: { forwardSteps: fs.t, recomputedSteps: 0, peakTrajectoryBytes: zBytes } };
  } finally {
    disposeAll(basis);
    if (held.fs) disposeAll(finished ? [held.fs.Z] : [held.fs.Z, held.fs.state]);
  }
}

/**
 * (s, Z) from Φ_0 through the horizon, one yield per step, for Forward-HG whole or by columns.
 * `held.fs` is the live pair at every yield, so that the caller's cleanup frees it after an abort.
 */
function* propagateForward(
  problem: Problem, basis: readonly Tensor[], steps: { max: number; done: (t: number, s: Tensor) => boolean },
  opts: HypergradientOptions, check: boolean, held: { fs: ForwardState | null },
): Stepwise<ForwardState> {
  let fs = (held.fs = forwardInit(problem, basis));
  while (fs.t < steps.max) {
    fs = held.fs = yield* forwardStepSteps(problem, fs, basis, check);
    opts.onStep?.(fs.t);
    if (steps.done(fs.t, fs.state)) break;
    yield;
  }
  return fs;
}

export interface ColumnsOptions extends HypergradientOptions {
  /** the columns of the flat hyperparameter vector to compute (a shard of Forward-HG) */
  columns: ColumnRange;
}

export interface ColumnsResult {
  columns: ColumnRange;
  /** ∂E/∂λ_j for j in the columns, in the flat order of the hyperparameters */
  values: number[];
  value: number;
  errors: { [name: string]: number };
  steps: number;
}

/**
 * Forward-HG for some columns of the hypergradient only: Z carries those directions, so shards of
 * the columns run on different workers each pay one training run plus their share of directions,
 * and their values put end to end are Forward-HG's. The same to rounding: a shard's batched products
 * are narrower than the whole's, and kernels may sum in another order for another width.
 */
export function forwardHGColumns(problem: Problem, opts: ColumnsOptions): ColumnsResult {
  return runToEnd(forwardHGColumnsSteps(problem, opts));
}

export function forwardHGColumnsAsync(problem: Problem, opts: ColumnsOptions & SliceOptions): Promise<ColumnsResult> {
  checkSliceOptions(opts, 'forwardHGColumnsAsync');
  return runInSlices(forwardHGColumnsSteps(problem, opts), opts);
}

export function* forwardHGColumnsSteps(problem: Problem, opts: ColumnsOptions): Stepwise<ColumnsResult> {
  checkCall(problem, opts, 'forwardHGColumns');
  const m = problem.hyperSize;
  const c = opts?.columns;
  if (!c || !Number.isInteger(c.start) || !Number.isInteger(c.end) || c.start < 0 || c.end > m || c.start >= c.end) {
    throw new ArgumentError(`argument 'columns' must be { start, end } with 0 ≤ start < end ≤ ${m} (the number of hyperparameter entries), got ${JSON.stringify(c)}`);
  }
  const steps = horizon(opts);
  const check = opts.checkFinite !== false;
  const basis = hyperBasis(problem, c);
  const held: { fs: ForwardState | null } = { fs: null };
  try {
    const fs = yield* propagateForward(problem, basis, steps, opts, check, held);
    const h = problem.current();
    const og = objectiveGradient(problem, fs.state, problem.names.map((n) => h[n]));
    try {
      const zt = tidy(() => K.matmul(fs.Z, K.reshapeView(og.dS, [og.dS.size, 1])).toArray()); // [k]
      const direct: number[] = [];
      for (const g of og.dH) for (const v of g.toArray()) direct.push(v);
      const values = Array.from(zt, (z, j) => direct[c.start + j] + z);
      if (check && values.some((v) => !Number.isFinite(v))) throw new DivergenceError('divergence: NaN/Inf in the hypergradient columns', fs.t, 'the hypergradient');
      return { columns: { start: c.start, end: c.end }, values, value: og.value, errors: og.errors, steps: fs.t };
    } finally {
      disposeAll([og.dS, ...og.dH]);
    }
  } finally {
    disposeAll(basis);
    if (held.fs) disposeAll([held.fs.Z, held.fs.state]);
  }
}

export interface TruncatedOptions extends HypergradientOptions {
  /** reverse through the last K steps only */
  K: number;
}

/**
 * Truncated Reverse-HG: trains T steps but differentiates through the last K only (α_{T−K} and
 * Φ_0's term are dropped). K ≥ T gives Reverse-HG exactly.
 */
export function truncatedReverseHG(problem: Problem, opts: TruncatedOptions): HypergradientResult {
  return runToEnd(truncatedReverseHGSteps(problem, opts));
}

/** Truncated Reverse-HG without holding the event loop. */
export function truncatedReverseHGAsync(problem: Problem, opts: TruncatedOptions & SliceOptions): Promise<HypergradientResult> {
  checkSliceOptions(opts, 'truncatedReverseHGAsync');
  return runInSlices(truncatedReverseHGSteps(problem, opts), opts);
}

/** Truncated Reverse-HG as a stepwise computation. */
export function* truncatedReverseHGSteps(problem: Problem, opts: TruncatedOptions): Stepwise<HypergradientResult> {
  checkCall(problem, opts, 'truncatedReverseHG');
  const Kt = opts?.K;
  if (typeof Kt !== 'number' || !Number.isInteger(Kt) || Kt < 1) throw new ArgumentError(`argument 'K' must be a positive integer, got ${show(Kt)}`);
  if (typeof opts.T === 'number' && Kt >= opts.T) return yield* reverseHGSteps(problem, opts);
  const h = problem.current();
  const { max, done } = horizon(opts);
  const check = opts.checkFinite !== false;
  // Train up to the start of the truncated window without keeping anything.
  let s = initialState(problem, h);
  let t = 0;
  const window: Tensor[] = [];
  try {
    while (t < max) {
      const next = trainStep(problem, s, h, t + 1, check);
      window.push(s);
      if (window.length > Kt) window.shift()!.dispose();
      s = next;
      t++;
      opts.onStep?.(t);
      if (done(t, s)) break;
      yield;
    }
    const start = t - window.length;
    return yield* reverseFromWindowSteps(problem, window, start, s, check);
  } finally {
    disposeAll(window);
    disposeAll([s]);
  }
}

/**
 * Reverse pass over a window of stored states window[i] = s_{start+i} ending at sEnd = s_{start+len};
 * used by truncated and online reverse. Does not dispose the window or sEnd.
 */
export function reverseFromWindow(problem: Problem, window: readonly Tensor[], start: number, sEnd: Tensor, check: boolean): HypergradientResult {
  return runToEnd(reverseFromWindowSteps(problem, window, start, sEnd, check));
}

/** reverseFromWindow as a stepwise computation (one yield per reverse step). */
export function* reverseFromWindowSteps(problem: Problem, window: readonly Tensor[], start: number, sEnd: Tensor, check: boolean): Stepwise<HypergradientResult> {
  const h = problem.current();
  const hyper = problem.names.map((n) => h[n]);
  const og = objectiveGradient(problem, sEnd, hyper);
  const acc = og.dH.map((g) => keep(g));
  let alpha: Tensor = og.dS;
  let finished = false;
  try {
    for (let i = window.length - 1; i >= 0; i--) {
      yield;
      // The same reverse step as Reverse-HG (update VJP plus one HVP); the gradient rebuilt from the
      // states around the step, or recomputed, where the dynamics' VJP reads it.
      const step: ReverseStep = yield* reverseStepSteps(problem, window[i], i + 1 < window.length ? window[i + 1] : sEnd, null, hyper, alpha, start + i + 1);
      alpha.dispose();
      alpha = step.alpha;
      accumulate(acc, step.gh);
    }
    // A window that reaches s_0 = Φ_0(λ) (trho's first, or one as long as the run) ends with Φ_0's term too.
    if (start === 0) addInitialStateTerm(problem, hyper, alpha, acc);
    alpha.dispose();
    const grads = finishGrads(problem, acc, check);
    finished = true;
    return {
      grads,
      value: og.value,
      errors: og.errors,
      state: K.clone(sEnd),
      steps: start + window.length,
      stats: { forwardSteps: window.length, recomputedSteps: 0, peakTrajectoryBytes: window.reduce((b, w) => b + w.size * (w.dtype === 'float64' ? 8 : 4), 0) },
    };
  } finally {
    if (!finished) disposeAll([...acc, alpha]);
  }
}

export interface ImplicitOptions extends HypergradientOptions {
  /** conjugate-gradient relative residual tolerance (default 1e-10) */
  tol?: number;
  /** conjugate-gradient iteration cap (default 200) */
  maxIter?: number;
  /** the inner loss whose stationarity defines w*(λ) (default: the training loss of the last step) */
  loss?: (w: Tensor, h: HyperRecord) => Tensor;
}

export interface ImplicitResult extends HypergradientResult {
  cg: { iterations: number; residual: number; converged: boolean };
}

/**
 * Implicit hypergradient at the final iterate (HOAG / hypertorch's CG): assumes ∇_w L(w_T, λ) ≈ 0.
 * Hyperparameters that only enter the dynamics (learning rate, momentum) do not move the
 * stationary point, and get a zero hypergradient here.
 */
export function implicitHG(problem: Problem, opts: ImplicitOptions): ImplicitResult {
  return runToEnd(implicitHGSteps(problem, opts));
}

/** The implicit hypergradient without holding the event loop: yields between training steps and CG iterations. */
export function implicitHGAsync(problem: Problem, opts: ImplicitOptions & SliceOptions): Promise<ImplicitResult> {
  checkSliceOptions(opts, 'implicitHGAsync');
  return runInSlices(implicitHGSteps(problem, opts), opts);
}

/** The implicit hypergradient as a stepwise computation. */
export function* implicitHGSteps(problem: Problem, opts: ImplicitOptions): Stepwise<ImplicitResult> {
  checkCall(problem, opts, 'implicitHG');
  const { max, done } = horizon(opts);
  const check = opts.checkFinite !== false;
  const tol = opts.tol ?? 1e-10;
  const maxIter = opts.maxIter ?? 200;
  if (typeof tol !== 'number' || !(tol > 0) || !Number.isFinite(tol)) throw new ArgumentError(`argument 'tol' must be a positive number, got ${show(tol)}`);
  if (typeof maxIter !== 'number' || !Number.isSafeInteger(maxIter) || maxIter < 1) throw new ArgumentError(`argument 'maxIter' must be a positive integer, got ${show(maxIter)}`);
  if (opts.loss !== undefined && typeof opts.loss !== 'function') throw new ArgumentError(`argument 'loss' must be a function (w, h) => scalar tensor, got ${show(opts.loss)}`);
  const h = problem.current();
  const hyper = problem.names.map((n) => h[n]);
  let s = initialState(problem, h);
  let T = 0;
  // Everything held across yields, freed by `finally` unless handed to the caller.
  let w: Tensor | null = null, q: Tensor | null = null, r: Tensor | null = null, p: Tensor | null = null;
  let ogw: { value: number; errors: { [name: string]: number }; dW: Tensor; dH: Tensor[] } | null = null;
  let finished = false;
  try {
    while (T < max) {
      const next = trainStep(problem, s, h, T + 1, check);
      s.dispose();
      s = next;
      T++;
      opts.onStep?.(T);
      if (done(T, s)) break;
      yield;
    }
    const lastT = Math.max(T, 1);
    const innerLoss = (x: Tensor, hr: HyperRecord) => (opts.loss ? opts.loss(x, problem.guard(hr)) : problem.trainLoss(x, hr, lastT));
    const state = s;
    w = tidy(() => K.clone(weightsOf(state, problem.dynamics.slots)));
    const wT = w;
    ogw = tidy(() => {
      let errors: { [name: string]: number } = {};
      const res = vjp((x: Tensor, ...hv: Tensor[]) => {
        const hr = record(problem, hv);
        errors = Object.fromEntries(Object.entries(problem.validationErrorsAtWeights(x, hr)).map(([k, e]) => [k, e.item()]));
        return problem.objectiveAtWeights(x, hr);
      }, [wT, ...hyper]);
      const gs = res.grads as Tensor[];
      return { value: res.value.item(), errors, dW: gs[0], dH: gs.slice(1) };
    });
    // Conjugate gradients on H q = ∂E/∂w with H the Hessian of the inner loss in w.
    const Hv = (v: Tensor) => tidy(() => hvp((x: Tensor) => innerLoss(x, h), wT, v) as Tensor);
    const b = ogw.dW;
    q = K.fullLike(b, 0);
    r = K.clone(b);
    p = K.clone(r);
    let rr = K.dot(r, r);
    const bnorm = Math.sqrt(K.dot(b, b)) || 1;
    let it = 0;
    let converged = Math.sqrt(rr) <= tol * bnorm;
    while (!converged && it < maxIter) {
      yield;
      const Ap = Hv(p);
      const pAp = K.dot(p, Ap);
      if (!(pAp > 0)) {
        Ap.dispose();
        throw new RfhoError(`implicit hypergradient: the Hessian is not positive definite along the CG direction (pᵀHp = ${pAp}) at iteration ${it}; train longer or add an L2 term`);
      }
      const a = rr / pAp;
      const q2 = K.axpby(1, q, a, p);
      const r2 = K.axpby(1, r, -a, Ap);
      Ap.dispose();
      q.dispose();
      r.dispose();
      q = q2;
      r = r2;
      const rr2 = K.dot(r, r);
      const p2 = K.axpby(1, r, rr2 / rr, p);
      p.dispose();
      p = p2;
      rr = rr2;
      it++;
      converged = Math.sqrt(rr) <= tol * bnorm;
    }
    // Mixed term: the λ-blocks of the joint Hessian times (q, 0).
    const qT = q;
    const mixed = tidy(() => {
      const zeros = hyper.map((x) => K.fullLike(x, 0));
      const blocks = hvp((x: Tensor, ...hv: Tensor[]) => innerLoss(x, record(problem, hv)), [wT, ...hyper], [qT, ...zeros]) as Tensor[];
      return blocks.slice(1);
    });
    const acc = ogw.dH.map((g, i) => K.axpby(1, g, -1, mixed[i]));
    disposeAll(mixed);
    const residual = Math.sqrt(rr) / bnorm;
    if (check && !Number.isFinite(residual)) {
      disposeAll(acc);
      throw new DivergenceError(`implicit hypergradient: the CG residual is ${residual}`, T, 'CG residual');
    }
    const grads = finishGrads(problem, acc, check);
    finished = true;
    return {
      grads,
      value: ogw.value,
      errors: ogw.errors,
      state: s,
      steps: T,
      stats: { forwardSteps: T, recomputedSteps: 0, peakTrajectoryBytes: 0 },
      cg: { iterations: it, residual, converged },
    };
  } finally {
    disposeAll([q, r, p, w, ...(ogw ? [ogw.dW, ...ogw.dH] : [])]);
    if (!finished) disposeAll([s]);
  }
}
