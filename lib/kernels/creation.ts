/** Creating tensors: from data, filled, random, and moving between dtypes and devices. */
import { addonInfo, native } from '../native/binding';
import { DType, Device, FloatDType, TypedArray, dtypeOfTypedArray, isDType } from '../tensor/dtype';
import { ArgumentError, DTypeError, ShapeError } from '../errors/errors';
import { show } from '../errors/show';
import { Storage, Tensor, emptyPool, pooledMemory, undisposedMemory, shapeToString, sizeOf } from '../tensor/tensor';
import { assertOptions, assertShapeArg, assertTensor } from '../tensor/validate';
import { registerValidator, settings } from '../config/config';

let defaultDType: FloatDType = 'float32';

/** The device new tensors go to when none is named (`rf.config.device`: 'cpu' unless RFHO_DEVICE=cuda). */
export function getDefaultDevice(): Device {
  return settings.device;
}
export function setDefaultDevice(device: Device): void {
  settings.device = resolveDevice(device);
}
// rf.config.device = 'cuda' is refused, like setDefaultDevice, where CUDA does not run
registerValidator('device', (d) => void resolveDevice(d));
export function getDefaultDType(): FloatDType {
  return defaultDType;
}
export function setDefaultDType(dtype: FloatDType): void {
  if (dtype !== 'float32' && dtype !== 'float64') throw new DTypeError(`argument 'dtype' must be 'float32' or 'float64', got ${show(dtype)}`);
  defaultDType = dtype;
}

/**
 * Which devices this build and machine can use, and how the CPU computes: the addon's instruction
 * set level (`cpu`, chosen for this CPU) and the BLAS found at run time (`blas`, or 'built-in').
 */
export function availableDevices(): { devices: Device[]; cuda: boolean; cudaStatus: string; cpu: string; blas: string } {
  const info = native.deviceInfo();
  return { devices: info.cuda ? ['cpu', 'cuda'] : ['cpu'], cuda: info.cuda, cudaStatus: info.cudaStatus, cpu: addonInfo.cpu, blas: info.blas };
}

export interface CreateOptions {
  dtype?: DType;
  device?: Device;
}

function resolveDType(dtype: unknown): DType {
  if (dtype === undefined) return defaultDType;
  if (!isDType(dtype)) throw new DTypeError(`argument 'dtype' must be 'float32', 'float64' or 'int32', got ${show(dtype)}`);
  return dtype;
}

/** Whether CUDA is usable, asked of the addon once: it does not change within a process, and tensors are made often. */
let cudaAvailability: { cuda: boolean; cudaStatus: string } | null = null;

function resolveDevice(device: unknown): Device {
  if (device === undefined) return settings.device;
  if (device !== 'cpu' && device !== 'cuda') throw new ArgumentError(`argument 'device' must be 'cpu' or 'cuda', got ${show(device)}`);
  if (device === 'cuda') {
    cudaAvailability ??= native.deviceInfo();
    if (!cudaAvailability.cuda) throw new ArgumentError(`argument 'device' is 'cuda' but CUDA is unavailable: ${cudaAvailability.cudaStatus}`);
  }
  return device;
}

/** A tensor with uninitialised memory. */
export function empty(shape: readonly number[], opts?: CreateOptions): Tensor {
  const s = assertShapeArg(shape as number[], 'shape');
  const o = assertOptions<CreateOptions>(opts);
  const dtype = resolveDType(o.dtype);
  return new Tensor(Storage.allocate(sizeOf(s), dtype, resolveDevice(o.device)), s.slice());
}

/** @internal a tensor like `x` (same dtype and device), uninitialised */
export function emptyLike(x: Tensor, shape: readonly number[] = x.shape, dtype: DType = x.dtype): Tensor {
  return new Tensor(Storage.allocate(sizeOf(shape), dtype, x.device), shape.slice());
}

function flattenNested(data: unknown, shape: number[], out: number[], depth: number, name: string, leafDepth: { rank: number }): void {
  if (Array.isArray(data)) {
    // Once a number has been seen the rank is fixed: an array where numbers were is ragged too.
    if (leafDepth.rank >= 0 && depth >= leafDepth.rank) throw new ShapeError(`argument '${name}' is ragged: an array at depth ${depth} where numbers were`);
    if (shape.length <= depth) shape.push(data.length);
    else if (shape[depth] !== data.length) throw new ShapeError(`argument '${name}' is ragged: expected ${shape[depth]} entries at depth ${depth}, got ${data.length}`);
    for (const d of data) flattenNested(d, shape, out, depth + 1, name, leafDepth);
  } else {
    if (typeof data !== 'number') throw new ArgumentError(`argument '${name}' must contain numbers, got ${show(data)}`);
    if (depth !== shape.length) throw new ShapeError(`argument '${name}' is ragged at depth ${depth}`);
    leafDepth.rank = depth;
    out.push(data);
  }
}

/**
 * A tensor from a number, nested arrays or a typed array. A typed array keeps its dtype unless
 * `dtype` says otherwise; `shape` defaults to the nested structure (or [n] for flat data).
 */
export function tensor(
  data: number | readonly unknown[] | TypedArray,
  shape?: readonly number[],
  options?: CreateOptions,
): Tensor {
  const opts = assertOptions<CreateOptions>(options);
  let flat: TypedArray;
  let inferred: number[];
  let dtype: DType;
  if (ArrayBuffer.isView(data)) {
    if (!(data instanceof Float32Array || data instanceof Float64Array || data instanceof Int32Array)) {
      throw new DTypeError(`argument 'data' must be a Float32Array, Float64Array or Int32Array`);
    }
    dtype = opts.dtype ? resolveDType(opts.dtype) : dtypeOfTypedArray(data);
    inferred = [data.length];
    flat = dtype === dtypeOfTypedArray(data) ? data : convertTyped(data, dtype);
  } else if (typeof data === 'number') {
    dtype = resolveDType(opts.dtype);
    inferred = [];
    flat = convertTyped(Float64Array.of(data), dtype);
  } else if (Array.isArray(data)) {
    dtype = resolveDType(opts.dtype);
    inferred = [];
    const values: number[] = [];
    flattenNested(data, inferred, values, 0, 'data', { rank: -1 });
    flat = convertTyped(Float64Array.from(values), dtype);
  } else {
    throw new ArgumentError(`argument 'data' must be a number, an array or a typed array, got ${show(data)}`);
  }
  const finalShape = shape !== undefined ? assertShapeArg(shape as number[], 'shape').slice() : inferred;
  if (sizeOf(finalShape) !== flat.length) {
    throw new ShapeError(`argument 'data' has ${flat.length} elements but shape ${shapeToString(finalShape)} needs ${sizeOf(finalShape)}`);
  }
  if (dtype === 'int32') {
    for (let i = 0; i < flat.length; i++) {
      if (!Number.isInteger(flat[i])) throw new DTypeError(`argument 'data' has a non-integer ${flat[i]} at ${i} for an int32 tensor`);
    }
  }
  const t = new Tensor(Storage.allocate(flat.length, dtype, resolveDevice(opts.device)), finalShape);
  native.write(t.handle, flat);
  return t;
}

function convertTyped(src: TypedArray, dtype: DType): TypedArray {
  if (dtype === 'float32') return Float32Array.from(src);
  if (dtype === 'float64') return Float64Array.from(src);
  const out = new Int32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    if (!Number.isInteger(src[i]) || src[i] > 2147483647 || src[i] < -2147483648) {
      throw new DTypeError(`argument 'data' has ${src[i]} at ${i}, not a 32-bit integer`);
    }
    out[i] = src[i];
  }
  return out;
}

export function full(shape: readonly number[], value: number, opts?: CreateOptions): Tensor {
  if (typeof value !== 'number') throw new ArgumentError(`argument 'value' must be a number, got ${show(value)}`);
  // The same rule as rf.tensor: an int32 tensor holds 32-bit integers, never a truncated or wrapped value.
  if (assertOptions<CreateOptions>(opts).dtype === 'int32' && !(Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31)) {
    throw new DTypeError(`argument 'value' is ${show(value)}, not a 32-bit integer for an int32 tensor`);
  }
  const t = empty(shape, opts);
  native.fill(t.handle, value);
  return t;
}
export const zeros = (shape: readonly number[], opts?: CreateOptions): Tensor => full(shape, 0, opts);
export const ones = (shape: readonly number[], opts?: CreateOptions): Tensor => full(shape, 1, opts);
/** @internal filled tensor like x */
export function fullLike(x: Tensor, value: number, shape: readonly number[] = x.shape): Tensor {
  const t = emptyLike(x, shape);
  native.fill(t.handle, value);
  return t;
}

export interface RandomOptions extends CreateOptions {
  seed: number;
}
function checkSeed(seed: unknown): number {
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > Number.MAX_SAFE_INTEGER) {
    throw new ArgumentError(`argument 'seed' must be a non-negative integer, got ${show(seed)}`);
  }
  return seed;
}
/** The options of the random creators: an object, with a seed. */
function randomOptions(opts: unknown, fn: string): RandomOptions {
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) throw new ArgumentError(`${fn}: argument 'opts' must be an options object with a 'seed', got ${show(opts)}`);
  return opts as RandomOptions;
}
function finiteOption(v: unknown, fallback: number, name: string): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ArgumentError(`argument '${name}' must be a finite number, got ${show(v)}`);
  return v;
}
/** Normal samples; the same seed gives the same numbers on every backend and thread count. */
export function randomNormal(shape: readonly number[], opts: RandomOptions & { mean?: number; std?: number }): Tensor {
  const seed = checkSeed(randomOptions(opts, 'randomNormal').seed);
  const mean = finiteOption(opts.mean, 0, 'mean'), std = finiteOption(opts.std, 1, 'std');
  if (std < 0) throw new ArgumentError(`argument 'std' must be >= 0, got ${show(std)}`);
  const t = empty(shape, opts);
  if (t.dtype === 'int32') {
    t.dispose();
    throw new DTypeError(`randomNormal: argument 'dtype' must be float32 or float64, got int32`);
  }
  native.randomNormal(t.handle, seed, mean, std);
  return t;
}
/** Uniform samples in [lo, hi). */
export function randomUniform(shape: readonly number[], opts: RandomOptions & { lo?: number; hi?: number }): Tensor {
  const seed = checkSeed(randomOptions(opts, 'randomUniform').seed);
  const lo = finiteOption(opts.lo, 0, 'lo'), hi = finiteOption(opts.hi, 1, 'hi');
  if (!(lo <= hi)) throw new ArgumentError(`arguments 'lo' = ${show(lo)} and 'hi' = ${show(hi)} must satisfy lo <= hi`);
  const t = empty(shape, opts);
  if (t.dtype === 'int32') {
    t.dispose();
    throw new DTypeError(`randomUniform: argument 'dtype' must be float32 or float64, got int32`);
  }
  native.randomUniform(t.handle, seed, lo, hi);
  return t;
}

/** A copy with another dtype. */
export function cast(x: Tensor, dtype: DType): Tensor {
  assertTensor(x, 'x');
  const out = emptyLike(x, x.shape, resolveDType(dtype));
  native.cast(x.handle, out.handle);
  return out;
}

/** A copy on another device. */
export function toDevice(x: Tensor, device: Device): Tensor {
  assertTensor(x, 'x');
  const out = empty(x.shape, { dtype: x.dtype, device: resolveDevice(device) });
  native.copy(x.handle, out.handle);
  return out;
}

/** A copy (same device). */
export function clone(x: Tensor): Tensor {
  assertTensor(x, 'x');
  const out = emptyLike(x);
  native.copy(x.handle, out.handle);
  return out;
}

/**
 * Live native memory held by tensors: bytes and buffers not yet disposed. `cachedBytes` is the
 * memory of disposed small buffers kept for reuse (see releaseCachedMemory). `undisposedBytes`
 * counts the tensors of this thread never disposed, whether or not the garbage collector has
 * since freed them: the figure for leak checks. (`bytes` and `buffers` are the whole process's.)
 */
export function memory(): { bytes: number; buffers: number; cachedBytes: number; undisposedBytes: number } {
  const s = native.stats();
  const p = pooledMemory();
  return { bytes: s.bytes - p.bytes, buffers: s.buffers - p.buffers, cachedBytes: p.bytes, undisposedBytes: undisposedMemory() };
}

/** Returns the cached buffers of disposed tensors to the system. */
export function releaseCachedMemory(): void {
  emptyPool();
}

/** Number of NaN/Inf entries. */
export function countNonFinite(x: Tensor): number {
  assertTensor(x, 'x');
  if (x.dtype === 'int32') throw new DTypeError(`countNonFinite: argument 'x' must be float32 or float64 (an int32 tensor has no NaN), got int32`);
  return x.storage.nonFinite ?? native.countNonFinite(x.handle);
}

/** Waits for queued device work (timing, interop). Reading a tensor back already waits. */
export function synchronize(): void {
  native.synchronize();
}
