/**
 * Shapes and layout: views, permutations, slices, concatenation. Thin validated wrappers over the native kernels: each takes
 * tensors, checks them, allocates the output and calls the addon once. Not differentiable.
 */
import { native } from '../native/binding';
import { ArgumentError, ShapeError } from '../errors/errors';
import { show } from '../errors/show';
import { Tensor, shapeToString, sizeOf } from '../tensor/tensor';
import { assertSameDType, assertTensor, normAxis } from '../tensor/validate';
import { emptyLike } from './creation';

/** A view with another shape (same data, same number of elements). One dim may be -1. */
export function reshapeView(x: Tensor, shape: readonly number[]): Tensor {
  assertTensor(x, 'x');
  if (!Array.isArray(shape)) throw new ArgumentError(`reshape: argument 'shape' must be an array of dimensions, got ${show(shape)}`);
  const s = Array.from(shape);
  if (s.filter((d) => d === -1).length > 1) throw new ShapeError(`reshape: argument 'shape' ${show(shape)} has more than one -1`);
  const neg = s.indexOf(-1);
  if (neg >= 0) {
    const rest = sizeOf(s.filter((_, i) => i !== neg));
    if (rest === 0 || x.size % rest !== 0) throw new ShapeError(`reshape: cannot infer -1 in ${shapeToString(s)} for ${x.size} elements`);
    s[neg] = x.size / rest;
  }
  for (const d of s) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) throw new ShapeError(`reshape: argument 'shape' ${show(shape)} must contain non-negative integers`);
  }
  if (sizeOf(s) !== x.size) throw new ShapeError(`reshape: cannot view ${shapeToString(x.shape)} (${x.size} elements) as ${shapeToString(s)}`);
  return new Tensor(x.storage, s);
}

export function permute(x: Tensor, perm: readonly number[]): Tensor {
  assertTensor(x, 'x');
  if (!Array.isArray(perm)) throw new ArgumentError(`permute: argument 'perm' must be an array of axes, got ${show(perm)}`);
  if (perm.length !== x.rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new ArgumentError(`permute: argument 'perm' ${show(perm)} is not a permutation of the ${x.rank} axes of ${shapeToString(x.shape)}`);
  }
  const out = emptyLike(x, perm.map((p) => x.shape[p]));
  native.permute(x.handle, x.shape, perm, out.handle);
  return out;
}

/** x[..., start:end, ...] along `axis` (a copy). */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  assertTensor(x, 'x');
  const a = normAxis(axis, x.rank);
  const len = x.shape[a];
  if (typeof start !== 'number' || !Number.isInteger(start) || start < 0 || start > len) {
    throw new ArgumentError(`slice: argument 'start' = ${show(start)} must be an integer in [0, ${len}] for axis ${a} of ${shapeToString(x.shape)}`);
  }
  if (typeof end !== 'number' || !Number.isInteger(end) || end < start || end > len) {
    throw new ArgumentError(`slice: argument 'end' = ${show(end)} must be an integer in [${start}, ${len}]: range [${start}, ${show(end)}) is invalid for axis ${a} of length ${len} in ${shapeToString(x.shape)}`);
  }
  const outer = sizeOf(x.shape.slice(0, a));
  const inner = sizeOf(x.shape.slice(a + 1));
  const shape = x.shape.slice();
  shape[a] = end - start;
  const out = emptyLike(x, shape);
  native.copy2d(x.handle, start * inner, len * inner, out.handle, 0, (end - start) * inner, outer, (end - start) * inner);
  return out;
}

/** Writes `src` into `dst` at [start, start + src.shape[axis]) along axis (in place). */
export function sliceAssign(dst: Tensor, src: Tensor, axis: number, start: number): void {
  assertTensor(dst, 'dst');
  assertTensor(src, 'src');
  assertSameDType(dst, 'dst', src, 'src');
  const a = normAxis(axis, dst.rank);
  const len = dst.shape[a];
  const piece = src.shape[a];
  const okShape = src.rank === dst.rank && src.shape.every((d, i) => i === a || d === dst.shape[i]);
  if (!okShape || start < 0 || start + piece > len) {
    throw new ShapeError(`sliceAssign: 'src' ${shapeToString(src.shape)} does not fit 'dst' ${shapeToString(dst.shape)} at ${start} along axis ${a}`);
  }
  const outer = sizeOf(dst.shape.slice(0, a));
  const inner = sizeOf(dst.shape.slice(a + 1));
  dst.storage.invalidateDerived(); // written in place
  native.copy2d(src.handle, 0, piece * inner, dst.handle, start * inner, len * inner, outer, piece * inner);
}

export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (!Array.isArray(xs) || xs.length === 0) throw new ArgumentError(`concat: argument 'xs' must be a non-empty array of tensors`);
  xs.forEach((x, i) => assertTensor(x, `xs[${i}]`));
  const first = xs[0];
  const a = normAxis(axis, first.rank);
  let total = 0;
  xs.forEach((x: Tensor, i: number) => {
    assertSameDType(first, 'xs[0]', x, `xs[${i}]`);
    if (x.rank !== first.rank || x.shape.some((d: number, j: number) => j !== a && d !== first.shape[j])) {
      throw new ShapeError(`concat: 'xs[${i}]' ${shapeToString(x.shape)} does not match 'xs[0]' ${shapeToString(first.shape)} outside axis ${a}`);
    }
    total += x.shape[a];
  });
  const shape = first.shape.slice();
  shape[a] = total;
  const out = emptyLike(first, shape);
  let at = 0;
  for (const x of xs) {
    sliceAssign(out, x, a, at);
    at += x.shape[a];
  }
  return out;
}
