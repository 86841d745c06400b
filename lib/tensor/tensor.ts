/**
 * Tensor: a shape and a dtype over native memory owned by the addon. Contiguous, row-major.
 * Reshapes are views sharing one Storage; the memory is freed when the last view is disposed
 * (explicitly, or by a scope), and by the native finalizer if everything was forgotten.
 */
import { native, Handle } from '../native/binding';
import { DType, Device, DTYPE_BYTES, DTYPE_CODE, DEVICE_CODE, TypedArray } from './dtype';
import { ArgumentError, DisposedError, OutOfMemoryError } from '../errors/errors';
import { show } from '../errors/show';
import { trackInScope } from './scope';
import { settings } from '../config/config';

/**
 * A cache of freed native buffers by (device, dtype, numel), at most `rf.config.cacheBytes`
 * (RFHO_CACHE_BYTES; default a quarter of the machine's memory, at most 4 GiB) in all, one buffer at most half of it. Training loops create and dispose tensors of the same shapes at every step;
 * reusing their buffers skips the native allocation, the free, the creation of a garbage-collected
 * handle and, for large buffers, the first-touch page faults — together more than a small kernel.
 */
const POOL_MAX_PER_SIZE = 4096;
const pool = new Map<number, Handle[]>();
let pooledBytes = 0;
let pooledBuffers = 0;

function poolKey(numel: number, dtype: DType, device: Device): number {
  return (numel * 3 + DTYPE_CODE[dtype]) * 2 + DEVICE_CODE[device];
}

let undisposedBytes = 0;

/**
 * Bytes of buffers handed to tensors and not yet disposed. Unlike the native count it ignores the
 * garbage collector: a tensor dropped without dispose() stays counted even after its finalizer
 * freed the memory, which makes it the measure for leak checks.
 */
export function undisposedMemory(): number {
  return undisposedBytes;
}

/** Bytes and buffers held by the reuse cache (counted by the native layer but owned by no tensor). */
export function pooledMemory(): { bytes: number; buffers: number } {
  return { bytes: pooledBytes, buffers: pooledBuffers };
}

/** Frees every cached buffer. */
export function emptyPool(): void {
  for (const list of pool.values()) for (const h of list) native.free(h);
  pool.clear();
  pooledBytes = 0;
  pooledBuffers = 0;
}

/**
 * @internal Layouts derived from a data matrix viewed as [rows, cols] (`key`): the native sparse
 * layout when it is sparse enough (CSR and CSC, made and read only by the addon), else the row
 * panels once a narrow product asks for them.
 */
export interface DerivedLayouts {
  key: string;
  sparse: Handle | null;
  /** The sparse layout keeps the dense columns apart (built so at the first wide product). */
  denseColumns: boolean;
  panels: Storage | null;
}

/** Shared native memory of one or more views. */
export class Storage {
  refs = 0;
  freed = false;
  /**
   * @internal Other layouts of a data matrix (kernels/matmul.ts): its sparse form and its row
   * panels, kept while the buffer lives and dropped when it is written in place.
   */
  derived: DerivedLayouts | null = null;
  /**
   * @internal Set for data matrices (rf.data.asDataMatrix, which rf.data.toTensors calls): read by many products and never written,
   * so a derived layout pays for itself. Temporaries never get one.
   */
  constantData = false;
  /**
   * @internal The number of NaN/Inf values, where the kernel that wrote the buffer counted them
   * as it wrote (K.dynamicsTangent): a divergence check then needs no pass of its own. Dropped,
   * with the derived layouts, when the buffer is written in place.
   */
  nonFinite: number | null = null;
  constructor(readonly handle: Handle, readonly numel: number, readonly dtype: DType, readonly device: Device) {
    undisposedBytes += numel * DTYPE_BYTES[dtype];
  }
  static allocate(numel: number, dtype: DType, device: Device): Storage {
    const bytes = numel * DTYPE_BYTES[dtype];
    if (bytes <= settings.cacheBytes / 2) {
      const list = pool.get(poolKey(numel, dtype, device));
      const h = list && list.pop();
      if (h) {
        pooledBytes -= bytes;
        pooledBuffers--;
        return new Storage(h, numel, dtype, device);
      }
    }
    // The addon's own bound (2^40 elements) met first here, as the same error as a failed allocation.
    if (numel > 2 ** 40) throw new OutOfMemoryError(`out of memory: a ${dtype} tensor of ${numel} elements is larger than any allocation rfho makes (2^40 elements)`);
    let handle: Handle;
    try {
      handle = native.alloc(numel, DTYPE_CODE[dtype], DEVICE_CODE[device]);
    } catch (e) {
      if (!(e instanceof OutOfMemoryError)) throw e;
      // The reuse cache may hold what is missing: give it back and try once more.
      emptyPool();
      try {
        handle = native.alloc(numel, DTYPE_CODE[dtype], DEVICE_CODE[device]);
      } catch (again) {
        if (!(again instanceof OutOfMemoryError)) throw again;
        throw new OutOfMemoryError(`out of memory: a ${dtype} tensor of ${numel} elements (${(bytes / 2 ** 20).toFixed(1)} MiB) on ${device} could not be allocated`);
      }
    }
    return new Storage(handle, numel, dtype, device);
  }
  /** @internal Drops derived layouts: the buffer is about to be written in place. */
  invalidateDerived(): void {
    this.nonFinite = null;
    const d = this.derived;
    if (d) {
      this.derived = null;
      d.panels?.release();
      if (d.sparse) native.free(d.sparse);
    }
  }
  release(): void {
    if (--this.refs <= 0 && !this.freed) {
      this.invalidateDerived();
      this.freed = true;
      const bytes = this.numel * DTYPE_BYTES[this.dtype];
      undisposedBytes -= bytes;
      if (bytes <= settings.cacheBytes / 2 && pooledBytes + bytes <= settings.cacheBytes) {
        const key = poolKey(this.numel, this.dtype, this.device);
        let list = pool.get(key);
        if (!list) pool.set(key, (list = []));
        if (list.length < POOL_MAX_PER_SIZE) {
          list.push(this.handle);
          pooledBytes += bytes;
          pooledBuffers++;
          return;
        }
      }
      native.free(this.handle);
    }
  }
}

/** Reverse-mode graph node: how to send a cotangent of the output back to the inputs. */
export interface GradNode {
  readonly name: string;
  readonly inputs: readonly Tensor[];
  /**
   * The cotangents of the inputs given the output's. `primalUnused` (an HVP's sweep): per input,
   * true when only the tangent of that input's cotangent will be read, never its primal — a rule
   * may then compute the tangent alone (a product's Xᵀ·dG without Xᵀ·G); null: every primal is read.
   */
  readonly vjp: (g: Tensor, primalUnused: readonly boolean[] | null) => (Tensor | null)[];
  /**
   * For a slice along `axis` from `start` of an input `length` long: the reverse sweep places the
   * cotangents of several slices of one tensor into one buffer instead of padding each to full
   * size and adding (a flat parameter vector sliced into its blocks).
   */
  readonly slice?: { axis: number; start: number; length: number };
  /**
   * Under forward-over-reverse: whether the tangents of the input cotangents read the primal of the
   * output's cotangent g (a product's do when the other operand carries a tangent; a linear op's
   * never do). Absent: yes whenever an input carries a tangent. Lets an HVP skip the products
   * whose primal nobody reads (autodiff/transforms.ts, `backward`).
   */
  readonly tangentReadsPrimal?: () => boolean;
  /**
   * Which forward values the VJP rule reads: its inputs' (and their tangents), its output's.
   * Absent: both. A backward pass frees at its start every intermediate that no rule reads
   * (autodiff/transforms.ts, IntermediateRelease).
   */
  readonly vjpReads?: { inputs: boolean; output: boolean };
}

export function shapeToString(shape: readonly number[]): string {
  // String() of each entry: a shape from user input may hold a symbol or a bigint, which join() rejects
  return `[${Array.from(shape, (d) => String(d)).join(', ')}]`;
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

let nextId = 1;

/** @internal The id the next tensor will get: every tensor created after this call has one at least as large. */
export function nextTensorId(): number {
  return nextId;
}

export class Tensor {
  readonly id = nextId++;
  readonly size: number;
  private disposedFlag = false;

  /** @internal reverse-mode node (set when the tensor depends on something being differentiated) */
  node: GradNode | null = null;
  /** @internal true when reverse mode must track this tensor */
  requiresGrad = false;
  /** @internal batched forward-mode tangent, shape [k, ...shape] */
  tangent: Tensor | null = null;

  /** @internal use the factory functions (tensor, zeros, ...) instead */
  constructor(readonly storage: Storage, readonly shape: readonly number[]) {
    // Checked because the class is exported: a forged storage would fail later, inside a scope's cleanup.
    if (!(storage instanceof Storage) || storage.freed) throw new ArgumentError(`Tensor: argument 'storage' must be a live Storage (make tensors with rf.tensor, rf.zeros, ...), got ${show(storage)}`);
    if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) throw new ArgumentError(`Tensor: argument 'shape' must be an array of non-negative integers, got ${show(shape)}`);
    this.size = sizeOf(shape);
    if (this.size !== storage.numel) throw new ArgumentError(`Tensor: argument 'shape' ${shapeToString(shape)} has ${this.size} elements, the storage ${storage.numel}`);
    storage.refs++;
    trackInScope(this);
  }

  get dtype(): DType {
    return this.storage.dtype;
  }
  get device(): Device {
    return this.storage.device;
  }
  get rank(): number {
    return this.shape.length;
  }
  get isDisposed(): boolean {
    return this.disposedFlag;
  }

  /** Native handle; throws if the tensor was disposed. */
  get handle(): Handle {
    if (this.disposedFlag) {
      throw new DisposedError(`tensor #${this.id} ${shapeToString(this.shape)} ${this.dtype} has been disposed and cannot be used`);
    }
    return this.storage.handle;
  }

  /** Frees this view; the memory goes when the last view of it is disposed. Idempotent. */
  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    this.storage.release();
    this.node = null;
    this.tangent = null;
  }

  /** A copy of the data in a new typed array. */
  toArray(): TypedArray {
    return native.read(this.handle);
  }
  /** The data as nested JS arrays (small tensors, tests, printing). */
  toNested(): unknown {
    const flat = Array.from(this.toArray());
    const build = (dim: number, offset: number): unknown => {
      if (dim === this.shape.length) return flat[offset];
      const stride = sizeOf(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim] }, (_, i) => build(dim + 1, offset + i * stride));
    };
    return build(0, 0);
  }
  /** The single value of a one-element tensor, or element `index` of the flat data. */
  item(index = 0): number {
    return native.readScalar(this.handle, index);
  }
  toString(): string {
    return `Tensor(${shapeToString(this.shape)}, ${this.dtype}, ${this.device})`;
  }
  /** What console.log and util.inspect show: the shape, dtype and the values (abbreviated when large). */
  [Symbol.for('nodejs.util.inspect.custom')](depth: number, options: { stylize?: unknown }, inspect: (v: unknown, o?: object) => string): string {
    if (this.disposedFlag) return `Tensor(${shapeToString(this.shape)}, ${this.dtype}, disposed)`;
    const head = `Tensor(${shapeToString(this.shape)}, ${this.dtype}${this.device === 'cpu' ? '' : `, ${this.device}`})`;
    if (this.size > 1000) {
      const a = native.read(this.handle);
      const first = Array.from(a.subarray(0, 6), (v) => Number(v.toPrecision(6)));
      return `${head} [${first.join(', ')}, … ${this.size - 6} more]`;
    }
    return `${head} ${inspect(this.toNested(), { depth: 16, breakLength: 100, maxArrayLength: 100 })}`;
  }
}
