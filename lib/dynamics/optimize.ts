/** Plain training with a dynamics (no hypergradient): the fast path for baselines and final fits. */
import * as K from '../kernels';
import { valueAndGrad } from '../autodiff/transforms';
import { ArgumentError, DivergenceError } from '../errors/errors';
import { keep, tidy } from '../tensor/scope';
import { Tensor } from '../tensor/tensor';
import { Dynamics, assertDynamics, weightsOf } from './dynamics';
import { show } from '../errors/show';
import { assertTensor } from '../tensor/validate';
import { SliceOptions, Stepwise, checkSliceOptions, runInSlices, runToEnd } from '../util/stepwise';

export interface OptimizeOptions {
  /** initial flat parameters (not modified) */
  w0: Tensor;
  /** training loss at step t (1-based): a scalar tensor */
  loss: (w: Tensor, t: number) => Tensor;
  dynamics: Dynamics;
  steps: number;
  /** called after each step with the loss value of that step */
  onStep?: (t: number, loss: number) => void;
}

export interface OptimizeResult {
  /** final weights (caller owns) */
  w: Tensor;
  /** final augmented state (caller owns) */
  state: Tensor;
  /** loss value at each step */
  losses: number[];
}

export function optimize(opts: OptimizeOptions): OptimizeResult {
  return runToEnd(optimizeSteps(opts));
}

/** optimize without holding the event loop (slices between training steps; AbortSignal → AbortError). */
export function optimizeAsync(opts: OptimizeOptions & SliceOptions): Promise<OptimizeResult> {
  checkSliceOptions(opts, 'optimizeAsync');
  return runInSlices(optimizeSteps(opts), opts);
}

/** optimize as a stepwise computation (one yield per training step). */
export function* optimizeSteps(opts: OptimizeOptions): Stepwise<OptimizeResult> {
  if (opts === null || typeof opts !== 'object') throw new ArgumentError(`optimize: argument 'opts' must be { w0, loss, dynamics, steps }, got ${show(opts)}`);
  const { dynamics, steps } = opts;
  if (typeof steps !== 'number' || !Number.isSafeInteger(steps) || steps < 0) throw new ArgumentError(`optimize: argument 'steps' must be a non-negative integer, got ${show(steps)}`);
  assertTensor(opts.w0, 'w0');
  if (typeof opts.loss !== 'function') throw new ArgumentError(`optimize: argument 'loss' must be a function (w, t) => scalar tensor, got ${show(opts.loss)}`);
  if (opts.onStep !== undefined && typeof opts.onStep !== 'function') throw new ArgumentError(`optimize: argument 'onStep' must be a function, got ${show(opts.onStep)}`);
  assertDynamics(dynamics);
  let state = tidy(() => {
    const s = dynamics.initialState(opts.w0);
    return s === opts.w0 ? K.clone(s) : s;
  });
  const losses: number[] = [];
  let finished = false;
  try {
    for (let t = 1; t <= steps; t++) {
      if (t > 1) yield;
      const current = state;
      const next = tidy(() => {
        const w = weightsOf(current, dynamics.slots);
        const { value, grads } = valueAndGrad((x: Tensor) => opts.loss(x, t))(w);
        const lv = value.item();
        if (!Number.isFinite(lv)) throw new DivergenceError(`optimize: the training loss is ${lv} at step ${t}`, t, 'training loss');
        losses.push(lv);
        return keep(dynamics.step(current, grads as Tensor, null, t));
      });
      state.dispose();
      state = next;
      opts.onStep?.(t, losses[t - 1]);
    }
    const final = state;
    const w = tidy(() => K.clone(weightsOf(final, dynamics.slots)));
    finished = true;
    return { w, state, losses };
  } finally {
    if (!finished && !state.isDisposed) state.dispose();
  }
}
