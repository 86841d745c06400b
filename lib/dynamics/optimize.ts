/** Plain training with a dynamics (no hypergradient): the fast path for baselines and final fits. */
import * as K from '../kernels';
import { valueAndGrad } from '../autodiff/transforms';
import { ArgumentError, DivergenceError } from '../tensor/errors';
import { keep, tidy } from '../tensor/scope';
import { Tensor } from '../tensor/tensor';
import { Dynamics, weightsOf } from './dynamics';

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
  const { dynamics, steps } = opts;
  if (!Number.isInteger(steps) || steps < 0) throw new ArgumentError(`optimize: 'steps' must be a non-negative integer, got ${String(steps)}`);
  let state = tidy(() => {
    const s = dynamics.initialState(opts.w0);
    return s === opts.w0 ? K.clone(s) : s;
  });
  const losses: number[] = [];
  for (let t = 1; t <= steps; t++) {
    const next = tidy(() => {
      const w = weightsOf(state, dynamics.slots);
      const { value, grads } = valueAndGrad((x: Tensor) => opts.loss(x, t))(w);
      const lv = value.item();
      if (!Number.isFinite(lv)) throw new DivergenceError(`optimize: the training loss is ${lv} at step ${t}`, t, 'training loss');
      losses.push(lv);
      return keep(dynamics.step(state, grads as Tensor, null, t));
    });
    state.dispose();
    state = next;
    opts.onStep?.(t, losses[t - 1]);
  }
  const w = tidy(() => K.clone(weightsOf(state, dynamics.slots)));
  return { w, state, losses };
}
