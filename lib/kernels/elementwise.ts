/**
 * Elementwise kernels: unary and binary ops with broadcasting, scalar ops, expand, axpby. Thin validated wrappers over the native kernels: each takes
 * tensors, checks them, allocates the output and calls the addon once. Not differentiable.
 */
import { native } from '../native/binding';
import { ArgumentError, ShapeError } from '../errors/errors';
import { show } from '../errors/show';
import { Tensor, shapeToString } from '../tensor/tensor';
import { assertFloat, assertSameDType, assertTensor, broadcastShapes, sameShape } from '../tensor/validate';
import { emptyLike } from './creation';

export const UNARY = {
  neg: 0, exp: 1, log: 2, tanh: 3, sigmoid: 4, relu: 5, square: 6, sqrt: 7, abs: 8, reciprocal: 9,
  step: 10, sign: 11, softplus: 12, copy: 13,
} as const;
export type UnaryName = keyof typeof UNARY;
export const BINARY = { add: 0, sub: 1, mul: 2, div: 3, maximum: 4, minimum: 5, pow: 6, greater: 7 } as const;
export type BinaryName = keyof typeof BINARY;

export function unary(op: UnaryName, x: Tensor): Tensor {
  if (typeof op !== 'string' || !Object.hasOwn(UNARY, op)) throw new ArgumentError(`argument 'op' must be one of ${Object.keys(UNARY).join(', ')}, got ${show(op)}`);
  assertTensor(x, 'x');
  assertFloat(x, 'x');
  const out = emptyLike(x);
  native.unary(UNARY[op], x.handle, out.handle);
  return out;
}

/** a op b with broadcasting; `into` (the result's shape, may be a itself): written there. */
export function binary(op: BinaryName, a: Tensor, b: Tensor, into?: Tensor): Tensor {
  if (typeof op !== 'string' || !Object.hasOwn(BINARY, op)) throw new ArgumentError(`argument 'op' must be one of ${Object.keys(BINARY).join(', ')}, got ${show(op)}`);
  assertTensor(a, 'a');
  assertTensor(b, 'b');
  assertFloat(a, 'a');
  assertSameDType(a, 'a', b, 'b');
  const shape = sameShape(a.shape, b.shape) ? a.shape : broadcastShapes(a.shape, b.shape);
  const out = into ? intoTensor(into, a, shape) : emptyLike(a, shape);
  native.binary(BINARY[op], a.handle, a.shape, b.handle, b.shape, out.handle);
  return out;
}

/** op(a, s) or, with scalarFirst, op(s, a). */
export function binaryScalar(op: BinaryName, a: Tensor, s: number, scalarFirst = false): Tensor {
  assertTensor(a, 'a');
  assertFloat(a, 'a');
  if (typeof s !== 'number') throw new ArgumentError(`argument 'scalar' must be a number, got ${show(s)}`);
  if (typeof op !== 'string' || !Object.hasOwn(BINARY, op)) throw new ArgumentError(`argument 'op' must be one of ${Object.keys(BINARY).join(', ')}, got ${show(op)}`);
  const out = emptyLike(a);
  native.binaryScalar(BINARY[op], a.handle, s, scalarFirst, out.handle);
  return out;
}

/** x broadcast to `shape` (a copy). */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  assertTensor(x, 'x');
  const b = broadcastShapes(x.shape, shape, 'x', 'shape');
  if (!sameShape(b, shape)) throw new ShapeError(`argument 'x' ${shapeToString(x.shape)} cannot be broadcast to ${shapeToString(shape)}`);
  const out = emptyLike(x, shape);
  native.expand(x.handle, x.shape, out.handle, shape);
  return out;
}

/** alpha x + beta y in one pass (y optional): the fused update of optimizer steps. */
export function axpby(alpha: number, x: Tensor, beta = 0, y: Tensor | null = null, out?: Tensor): Tensor {
  assertTensor(x, 'x');
  assertFloat(x, 'x');
  if (y) {
    assertTensor(y, 'y');
    assertSameDType(x, 'x', y, 'y');
    if (!sameShape(x.shape, y.shape)) throw new ShapeError(`axpby: 'x' ${shapeToString(x.shape)} and 'y' ${shapeToString(y.shape)} must have the same shape`);
  }
  const o = out ?? emptyLike(x);
  if (out) {
    assertTensor(out, 'out');
    assertSameDType(x, 'x', out, 'out');
    if (!sameShape(out.shape, x.shape)) throw new ShapeError(`axpby: 'out' ${shapeToString(out.shape)} must have the shape of 'x' ${shapeToString(x.shape)}`);
  }
  if (out) out.storage.invalidateDerived(); // written in place
  native.axpby(alpha, x.handle, beta, y ? y.handle : null, o.handle);
  return o;
}

/**
 * Checks an output buffer given to an elementwise kernel: `like`'s dtype and device, the result's
 * shape. It may be an input itself (elementwise, each element read before it is written).
 */
export function intoTensor(into: Tensor, like: Tensor, shape: readonly number[]): Tensor {
  assertTensor(into, 'into');
  assertSameDType(like, 'input', into, 'into');
  if (into.device !== like.device) throw new ArgumentError(`argument 'into' is on ${into.device}, the inputs on ${like.device}`);
  if (!sameShape(into.shape, shape)) throw new ShapeError(`argument 'into' must be ${shapeToString(shape)}, got ${shapeToString(into.shape)}`);
  into.storage.invalidateDerived(); // written in place
  return into;
}
