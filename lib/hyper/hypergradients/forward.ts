/**
 * Forward-HG: Z_t = A_t Z_{t−1} + B_t for all directions at once, whole or by columns (shards).
 */
import * as K from '../../kernels';
import { gradientWithTangent, GradientWithTangent, gradientWithTangentSteps, jvp, JvpResult } from '../../autodiff/transforms';
import { ArgumentError, DivergenceError } from '../../errors/errors';
import { tidy, tidySteps } from '../../tensor/scope';
import { Tensor } from '../../tensor/tensor';
import { weightsOf } from '../../dynamics/dynamics';
import { HyperRecord } from '../../hyperparameters/hyperparameter';
import { Problem } from '../problem';
import { checkSliceOptions, runInSlices, runToEnd, SliceOptions, Stepwise, yieldPoint } from '../../util/stepwise';
import { checkCall, checkFiniteTensor, disposeAll, finishGrads, horizon, HypergradientOptions, HypergradientResult, hyperValues, initialState, objectiveGradient, record } from './common';

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

/** The arguments of g_t and ġ_t: L_t at (w, λ) along (Z_w, the basis). */
export function gradientAlongZ(problem: Problem, fs: ForwardState, basis: readonly Tensor[], hyper: readonly Tensor[]): [(...a: Tensor[]) => Tensor, Tensor[], (Tensor | null)[]] {
  const t = fs.t + 1;
  const w = weightsOf(fs.state, problem.dynamics.slots);
  const zw = problem.dynamics.slots === 1 ? fs.Z : K.slice(fs.Z, 1, 0, w.size);
  return [(x: Tensor, ...hv: Tensor[]) => problem.trainLoss(x, record(problem, hv), t), [w, ...hyper], [zw, ...basis]];
}

/** (s_t, Z_t): the update at (s, g, λ) and its tangent along (Z, ġ, the basis). */
export function updateJvp(problem: Problem, fs: ForwardState, basis: readonly Tensor[], hyper: readonly Tensor[], g: GradientWithTangent): JvpResult {
  const t = fs.t + 1;
  return jvp((x: Tensor, gg: Tensor, ...hv: Tensor[]) => problem.dynamics.step(x, gg, record(problem, hv), t), [fs.state, g.grad, ...hyper], [fs.Z, g.tangent, ...basis], { batched: true });
}

/** The new pair, checked for NaN/Inf where asked; the old pair disposed. */
export function checkedForwardState(r: JvpResult, fs: ForwardState, check: boolean): ForwardState {
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
export function* propagateForward(
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
