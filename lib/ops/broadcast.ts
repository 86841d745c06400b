/**
 * Summing and broadcasting, each the other's adjoint: sum's derivative broadcasts, broadcasting's
 * sums. Together in one file because each rule calls the other; they need no other op.
 */
import * as K from '../kernels';
import { record } from '../autodiff/engine';
import { ShapeError } from '../errors/errors';
import { Tensor, shapeToString } from '../tensor/tensor';
import { assertShapeArg, assertTensor, broadcastShapes, sameShape } from '../tensor/validate';
import { liftTangent } from './lift';
import { reshape } from './shape';

export type Axes = number | readonly number[] | null | undefined;

export function sum(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  assertTensor(x, 'x');
  const ax = K.normAxes(axes, x.rank);
  const out = K.reduce('sum', x, ax, keepDims);
  const keptShape = K.reducedShape(x.shape, ax, true);
  return record(out, [x], 'sum',
    (g) => [broadcastTo(reshape(g, keptShape), x.shape)],
    ([t]) => (t ? sum(t, ax.map((a) => a + 1), keepDims) : null));
}

/** x broadcast (copied) to `shape`. */
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  assertTensor(x, 'x');
  assertShapeArg(shape, 'shape');
  if (sameShape(x.shape, shape)) return x;
  const out = K.expand(x, shape);
  return record(out, [x], 'broadcastTo',
    (g) => [sumTo(g, x.shape)],
    ([t]) => (t ? broadcastTo(liftTangent(t, shape.length), [t.shape[0], ...shape]) : null));
}

/** Sums x down to `shape` (the adjoint of broadcasting to x.shape). */
export function sumTo(x: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(x.shape, shape)) return x;
  const full = broadcastShapes(shape, x.shape, 'shape', 'x');
  if (!sameShape(full, x.shape)) throw new ShapeError(`sumTo: ${shapeToString(x.shape)} cannot be summed to ${shapeToString(shape)}`);
  const lead = x.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < x.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && x.shape[i] !== 1)) axes.push(i);
  }
  const s = sum(x, axes, true);
  return reshape(s, shape);
}
