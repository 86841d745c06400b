/**
 * Tensor: a shape and a dtype over native memory owned by the addon. Contiguous, row-major.
 * Reshapes are views sharing one Storage; the memory is freed when the last view is disposed
 * (explicitly, or by a scope), and by the native finalizer if everything was forgotten.
 */
import { native, Handle } from '../native/binding';
import { DType, Device, DTYPE_CODE, DEVICE_CODE, TypedArray } from './dtype';
import { DisposedError } from './errors';
import { trackInScope } from './scope';

/** Shared native memory of one or more views. */
export class Storage {
  refs = 0;
  freed = false;
  constructor(readonly handle: Handle, readonly numel: number, readonly dtype: DType, readonly device: Device) {}
  static allocate(numel: number, dtype: DType, device: Device): Storage {
    return new Storage(native.alloc(numel, DTYPE_CODE[dtype], DEVICE_CODE[device]), numel, dtype, device);
  }
  release(): void {
    if (--this.refs <= 0 && !this.freed) {
      this.freed = true;
      native.free(this.handle);
    }
  }
}

/** Reverse-mode graph node: how to send a cotangent of the output back to the inputs. */
export interface GradNode {
  readonly name: string;
  readonly inputs: readonly Tensor[];
  readonly vjp: (g: Tensor) => (Tensor | null)[];
}

export function shapeToString(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

let nextId = 1;

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
    this.size = sizeOf(shape);
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
}
