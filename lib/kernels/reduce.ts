/**
 * Reductions: sums and maxima over axes, argmax, dot. Thin validated wrappers over the native kernels: each takes
 * tensors, checks them, allocates the output and calls the addon once. Not differentiable.
 */
import { native } from '../native/binding';
import { ArgumentError, ShapeError } from '../errors/errors';
import { show } from '../errors/show';
import { Tensor, shapeToString } from '../tensor/tensor';
import { assertFloat, assertSameDType, assertTensor, normAxis } from '../tensor/validate';
import { emptyLike } from './creation';

export function normAxes(axes: number | readonly number[] | undefined | null, rank: number): number[] {
  if (axes === undefined || axes === null) return Array.from({ length: rank }, (_, i) => i);
  if (typeof axes !== 'number' && !Array.isArray(axes)) throw new ArgumentError(`argument 'axes' must be an axis or an array of axes, got ${show(axes)}`);
  const list = typeof axes === 'number' ? [axes] : Array.from(axes);
  const out = list.map((a) => normAxis(a, rank, 'axes'));
  if (new Set(out).size !== out.length) throw new ArgumentError(`argument 'axes' repeats an axis: [${list.join(', ')}]`);
  return out.sort((p, q) => p - q);
}

export function reducedShape(shape: readonly number[], axes: readonly number[], keepDims: boolean): number[] {
  const out: number[] = [];
  shape.forEach((d, i) => {
    if (!axes.includes(i)) out.push(d);
    else if (keepDims) out.push(1);
  });
  return out;
}

/** Sum or max over `axes` (all when omitted). */
export function reduce(op: 'sum' | 'max', x: Tensor, axes?: number | readonly number[] | null, keepDims = false): Tensor {
  if (op !== 'sum' && op !== 'max') throw new ArgumentError(`reduce: argument 'op' must be 'sum' or 'max', got ${show(op)}`);
  if (typeof keepDims !== 'boolean') throw new ArgumentError(`reduce: argument 'keepDims' must be a boolean, got ${show(keepDims)}`);
  assertTensor(x, 'x');
  assertFloat(x, 'x');
  const ax = normAxes(axes, x.rank);
  if (op === 'max' && x.size === 0) throw new ShapeError(`max: argument 'x' ${shapeToString(x.shape)} is empty`);
  const out = emptyLike(x, reducedShape(x.shape, ax, keepDims));
  native.reduce(op === 'sum' ? 0 : 1, x.handle, x.shape, ax, out.handle);
  return out;
}

/** Index of the largest entry along `axis` (int32). */
export function argmax(x: Tensor, axis = -1): Tensor {
  assertTensor(x, 'x');
  assertFloat(x, 'x');
  const a = normAxis(axis, x.rank);
  if (x.shape[a] === 0) throw new ShapeError(`argmax: axis ${a} of ${shapeToString(x.shape)} is empty`);
  const out = emptyLike(x, reducedShape(x.shape, [a], false), 'int32');
  native.argmax(x.handle, x.shape, a, out.handle);
  return out;
}

/** Σ a_i b_i over all elements (same shapes), as a JS number. */
export function dot(a: Tensor, b: Tensor): number {
  assertTensor(a, 'a');
  assertTensor(b, 'b');
  assertFloat(a, 'a');
  assertSameDType(a, 'a', b, 'b');
  if (a.size !== b.size) throw new ShapeError(`dot: 'a' ${shapeToString(a.shape)} and 'b' ${shapeToString(b.shape)} differ in size`);
  return native.dot(a.handle, b.handle);
}
