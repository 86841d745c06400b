/**
 * Row gathers and scatter-adds by int32 indices. Thin validated wrappers over the native kernels: each takes
 * tensors, checks them, allocates the output and calls the addon once. Not differentiable.
 */
import { native } from '../native/binding';
import { ArgumentError, ShapeError } from '../errors/errors';
import { Tensor, shapeToString, sizeOf } from '../tensor/tensor';
import { assertInt, assertTensor } from '../tensor/validate';
import { emptyLike } from './creation';

function checkIndices(indices: Tensor): void {
  assertTensor(indices, 'indices');
  if (indices.dtype !== 'int32') throw new ArgumentError(`argument 'indices' must be an int32 tensor, got ${indices.dtype}`);
  if (indices.rank !== 1) throw new ShapeError(`argument 'indices' must be 1-D, got ${shapeToString(indices.shape)}`);
}

/** Rows x[indices[i]] along axis 0. */
export function gatherRows(x: Tensor, indices: Tensor): Tensor {
  assertTensor(x, 'x');
  checkIndices(indices);
  if (x.rank < 1) throw new ShapeError(`gatherRows: argument 'x' must have rank >= 1`);
  const rowLen = sizeOf(x.shape.slice(1));
  const out = emptyLike(x, [indices.size, ...x.shape.slice(1)]);
  if (rowLen > 0) native.gatherRows(x.handle, indices.handle, out.handle, rowLen);
  return out;
}

/** out = zeros([rows, ...]); out[indices[i]] += x[i]. */
export function scatterAddRows(x: Tensor, indices: Tensor, rows: number): Tensor {
  assertTensor(x, 'x');
  checkIndices(indices);
  assertInt(rows, 'rows');
  if (x.rank < 1 || x.shape[0] !== indices.size) {
    throw new ShapeError(`scatterAddRows: 'x' ${shapeToString(x.shape)} must have one row per index (${indices.size})`);
  }
  const rowLen = sizeOf(x.shape.slice(1));
  const out = emptyLike(x, [rows, ...x.shape.slice(1)]);
  native.fill(out.handle, 0);
  if (rowLen > 0) native.scatterAddRows(x.handle, indices.handle, out.handle, rowLen);
  return out;
}
