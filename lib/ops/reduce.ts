/** Differentiable reductions. */
import * as K from '../kernels';
import { record } from '../autodiff/engine';
import { ArgumentError } from '../errors/errors';
import { show } from '../errors/show';
import { Tensor } from '../tensor/tensor';
import { assertTensor } from '../tensor/validate';
import { Axes, broadcastTo, sum } from './broadcast';
import { reshape } from './shape';
import { add, exp, log, mul, sub } from './elementwise';



export function mean(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  assertTensor(x, 'x');
  const ax = K.normAxes(axes, x.rank);
  let count = 1;
  for (const a of ax) count *= x.shape[a];
  return mul(sum(x, ax, keepDims), 1 / Math.max(count, 1));
}

/** Maximum over axes. The derivative flows to every entry equal to the maximum (a subgradient). */
export function max(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  assertTensor(x, 'x');
  const ax = K.normAxes(axes, x.rank);
  const out = K.reduce('max', x, ax, keepDims);
  const keptShape = K.reducedShape(x.shape, ax, true);
  let maskT: Tensor | null = null;
  const mask = () => {
    if (!maskT) {
      const m = K.expand(K.reshapeView(out, keptShape), x.shape);
      maskT = K.binaryScalar('sub', K.unary('step', K.binary('sub', m, x)), 1, true);
    }
    return maskT;
  };
  return record(out, [x], 'max',
    (g) => [mul(broadcastTo(reshape(g, keptShape), x.shape), mask())],
    ([t]) => (t ? sum(mul(t, mask()), ax.map((a) => a + 1), keepDims) : null));
}

/** Σ a ⊙ b over all elements, as a scalar tensor. */
export function vdot(a: Tensor, b: Tensor): Tensor {
  assertTensor(a, 'a');
  assertTensor(b, 'b');
  return sum(mul(a, b));
}

/** log Σ exp(x) along axes, stable. */
export function logSumExp(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  assertTensor(x, 'x');
  if (typeof keepDims !== 'boolean') throw new ArgumentError(`logSumExp: argument 'keepDims' must be a boolean, got ${show(keepDims)}`);
  const ax = K.normAxes(axes, x.rank);
  const m = K.reduce('max', x, ax, true); // a constant shift: no derivative needed through it
  const shifted = sub(x, m);
  const s = log(sum(exp(shifted), ax, true));
  const r = add(s, m);
  return keepDims ? r : reshape(r, K.reducedShape(x.shape, ax, false));
}

/** softmax along an axis, built from differentiable ops. */
export function softmax(x: Tensor, axis = -1): Tensor {
  assertTensor(x, 'x');
  return exp(sub(x, logSumExp(x, axis, true)));
}

export { sum };
