/** Hyperparameters: named tensors of any rank with an initial value and an optional constraint. */
import * as K from '../kernels';
import { ArgumentError } from '../errors/errors';
import { show } from '../errors/show';
import { assertOptions, assertTensor } from '../tensor/validate';
import { FloatDType } from '../tensor/dtype';
import { Tensor } from '../tensor/tensor';
import { Constraint, project } from './constraints';

export type HyperRecord = { [name: string]: Tensor };

export class Hyperparameter {
  private current: Tensor;

  constructor(readonly name: string, value: Tensor, readonly constraint: Constraint | null = null) {
    if (typeof name !== 'string' || name.trim() === '') throw new ArgumentError(`hyperparameter: argument 'name' must be a non-empty string, got ${show(name)}`);
    assertTensor(value, 'value');
    if (constraint !== null && (typeof constraint !== 'object' || typeof (constraint as { projectArray?: unknown }).projectArray !== 'function')) {
      throw new ArgumentError(`hyperparameter '${name}': argument 'constraint' must be one of rf.constraints, got ${show(constraint)}`);
    }
    if (value.dtype === 'int32') throw new ArgumentError(`hyperparameter '${name}': the value must be float32 or float64`);
    if (K.countNonFinite(value) > 0) throw new ArgumentError(`hyperparameter '${name}': the initial value has NaN or Inf`);
    this.current = constraint ? project(constraint, value) : K.clone(value);
  }

  /** The current value (owned by the hyperparameter: do not dispose). */
  get value(): Tensor {
    return this.current;
  }
  get shape(): readonly number[] {
    return this.current.shape;
  }
  get size(): number {
    return this.current.size;
  }

  /** Replaces the value (projected onto the constraint); the previous tensor is disposed. A number or array is taken as the new values. */
  set(newValue: Tensor | number | readonly number[]): void {
    if (typeof newValue === 'number' || Array.isArray(newValue)) {
      const t = K.tensor(newValue as number | number[], undefined, { dtype: this.current.dtype });
      try {
        return this.set(t);
      } finally {
        t.dispose();
      }
    }
    assertTensor(newValue, 'value');
    const value = newValue as Tensor;
    if (value.dtype === 'int32') throw new ArgumentError(`hyperparameter '${this.name}': the new value must be float32 or float64`);
    if (value.size !== this.current.size) {
      throw new ArgumentError(`hyperparameter '${this.name}': new value has ${value.size} elements, expected ${this.current.size}`);
    }
    if (K.countNonFinite(value) > 0) throw new ArgumentError(`hyperparameter '${this.name}': the new value has NaN or Inf`);
    const next = this.constraint ? project(this.constraint, value) : K.clone(value);
    const shaped = K.reshapeView(next, this.current.shape);
    next.dispose();
    this.current.dispose();
    this.current = K.cast(shaped, this.current.dtype);
    shaped.dispose();
  }

  toJSON(): { name: string; shape: readonly number[]; value: number[] } {
    return { name: this.name, shape: this.shape, value: Array.from(this.current.toArray()) };
  }
}

export interface HyperparameterOptions {
  constraint?: Constraint;
  dtype?: FloatDType;
}

/** rf.hyperparameter('lr', 0.1, { constraint: rf.constraints.nonNegative() }) */
export function hyperparameter(name: string, init: number | readonly number[] | Tensor, opts?: HyperparameterOptions): Hyperparameter {
  let t: Tensor;
  if (typeof name !== 'string' || name.trim() === '') throw new ArgumentError(`hyperparameter: argument 'name' must be a non-empty string, got ${show(name)}`);
  const o = assertOptions<HyperparameterOptions>(opts, 'opts');
  if (init instanceof Tensor) t = init;
  else if (typeof init === 'number' || Array.isArray(init)) t = K.tensor(init as number | number[], undefined, { dtype: o.dtype });
  else throw new ArgumentError(`hyperparameter '${name}': argument 'init' must be a number, an array or a Tensor, got ${show(init)}`);
  let h: Hyperparameter;
  try {
    h = new Hyperparameter(name, t, o.constraint ?? null);
  } finally {
    if (!(init instanceof Tensor)) t.dispose();
  }
  return h;
}

/** A value a dynamics or a loss can take: a constant or a hyperparameter. */
export type HyperInput = number | Hyperparameter;

/** The value of `v` under the hyperparameter record h (a tensor when v is a hyperparameter). */
export function resolve(v: HyperInput, h: HyperRecord | null): Tensor | number {
  if (typeof v === 'number') return v;
  const t = h?.[v.name];
  return t ?? v.value;
}
