/** Argument checks shared by kernels and ops; every message names the argument and the shapes. */
import { Tensor, shapeToString } from './tensor';
import { ArgumentError, DTypeError, ShapeError } from '../errors/errors';
import { show } from '../errors/show';

export function assertTensor(x: unknown, name: string): asserts x is Tensor {
  if (!(x instanceof Tensor)) {
    const what = x === null ? 'null' : Array.isArray(x) ? 'an array' : typeof x === 'object' ? show(x) : typeof x;
    throw new ArgumentError(`argument '${name}' must be a Tensor, got ${what}`);
  }
  x.handle; // throws DisposedError naming the tensor when disposed
}

export function assertFloat(x: Tensor, name: string): void {
  if (x.dtype !== 'float32' && x.dtype !== 'float64') {
    throw new DTypeError(`argument '${name}' must be float32 or float64, got ${x.dtype} ${shapeToString(x.shape)}`);
  }
}

export function assertSameDType(a: Tensor, an: string, b: Tensor, bn: string): void {
  if (a.dtype !== b.dtype) {
    throw new DTypeError(`dtype mismatch: '${an}' is ${a.dtype} ${shapeToString(a.shape)} but '${bn}' is ${b.dtype} ${shapeToString(b.shape)}`);
  }
  if (a.device !== b.device) {
    throw new ArgumentError(`device mismatch: '${an}' is on ${a.device} but '${bn}' is on ${b.device}; move one with toDevice()`);
  }
}

export function assertShape(x: Tensor, shape: readonly number[], name: string): void {
  if (x.shape.length !== shape.length || x.shape.some((d, i) => d !== shape[i])) {
    throw new ShapeError(`argument '${name}' must have shape ${shapeToString(shape)}, got ${shapeToString(x.shape)}`);
  }
}

export function assertRank(x: Tensor, rank: number, name: string): void {
  if (x.rank !== rank) {
    throw new ShapeError(`argument '${name}' must have rank ${rank}, got shape ${shapeToString(x.shape)}`);
  }
}

export function assertInt(v: unknown, name: string, min = 0): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new ArgumentError(`argument '${name}' must be an integer >= ${min}, got ${show(v)}`);
  }
  return v;
}

export function assertFiniteNumber(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new ArgumentError(`argument '${name}' must be a finite number, got ${show(v)}`);
  }
  return v;
}

export function assertShapeArg(shape: unknown, name: string): number[] {
  if (!Array.isArray(shape)) throw new ArgumentError(`argument '${name}' must be an array of dimensions, got ${show(shape)}`);
  if (shape.length > 8) throw new ShapeError(`argument '${name}' has ${shape.length} dimensions; at most 8 are supported`);
  let numel = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) {
      throw new ShapeError(`argument '${name}' must contain non-negative integers, got ${show(shape)}`);
    }
    numel *= d;
  }
  // Beyond 2^53 elements sizes stop being exact; the allocator refuses far smaller ones anyway.
  if (numel > Number.MAX_SAFE_INTEGER) throw new ShapeError(`argument '${name}' ${show(shape)} has more than 2^53 elements`);
  return shape as number[];
}

/** Normalises an axis (negative counts from the end) and checks its range. */
export function normAxis(axis: number, rank: number, name = 'axis'): number {
  if (typeof axis !== 'number' || !Number.isInteger(axis) || axis < -rank || axis >= Math.max(rank, 1)) {
    throw new ArgumentError(`argument '${name}' = ${show(axis)} is out of range for rank ${rank}`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** NumPy broadcasting of two shapes; throws naming both. */
export function broadcastShapes(a: readonly number[], b: readonly number[], an = 'a', bn = 'b'): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[i - (n - a.length)] ?? 1;
    const db = b[i - (n - b.length)] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(`shapes of '${an}' ${shapeToString(a)} and '${bn}' ${shapeToString(b)} do not broadcast`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** An options argument: undefined (no options) or a plain object. */
export function assertOptions<T extends object>(opts: unknown, name = 'opts'): T {
  if (opts === undefined) return {} as T;
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) {
    throw new ArgumentError(`argument '${name}' must be an options object, got ${show(opts)}`);
  }
  return opts as T;
}

/** An optional tensor argument: null or undefined mean none (0, false or '' are not silently none). */
export function optionalTensor(v: unknown, name: string): Tensor | null {
  if (v === undefined || v === null) return null;
  assertTensor(v, name);
  return v;
}

/** One of a fixed set of strings. */
export function assertOneOf<T extends string>(v: unknown, allowed: readonly T[], name: string): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new ArgumentError(`argument '${name}' must be ${allowed.map((a) => `'${a}'`).join(', ')}, got ${show(v)}`);
  }
  return v as T;
}
