/**
 * Parameters in one flat vector (RFHO's vectorize_model, without slicing by hand): a layout of
 * named shapes laid out contiguously; models see named views; gradients, HVPs and optimizer
 * states are flat vectors of the same layout.
 */
import * as K from '../kernels';
import { ArgumentError, ShapeError } from '../errors/errors';
import { show } from '../errors/show';
import { FloatDType } from '../tensor/dtype';
import { Tensor, shapeToString, sizeOf } from '../tensor/tensor';
import { assertTensor } from '../tensor/validate';
import { concat, reshape, slice } from '../ops/shape';

export type ParamSpec = { [name: string]: readonly number[] };

/** An initializer: fills a tensor of the given shape from a seed. */
export type Initializer = (shape: readonly number[], seed: number, dtype: FloatDType) => Tensor;

function fans(shape: readonly number[]): [number, number] {
  if (shape.length === 0) return [1, 1];
  if (shape.length === 1) return [shape[0], shape[0]];
  const receptive = sizeOf(shape.slice(2));
  return [shape[0] * receptive, shape[1] * receptive];
}

export const init = {
  zeros: (): Initializer => (shape, _seed, dtype) => K.zeros(shape, { dtype }),
  constant: (value: number): Initializer => {
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new ArgumentError(`init.constant: argument 'value' must be a finite number, got ${show(value)}`);
    return (shape, _seed, dtype) => K.full(shape, value, { dtype });
  },
  /** Glorot/Xavier normal: std = sqrt(2 / (fanIn + fanOut)). */
  glorotNormal: (): Initializer => (shape, seed, dtype) => {
    const [fi, fo] = fans(shape);
    return K.randomNormal(shape, { seed, dtype, std: Math.sqrt(2 / (fi + fo)) });
  },
  /** Glorot/Xavier uniform: U(−a, a) with a = sqrt(6 / (fanIn + fanOut)). */
  glorotUniform: (): Initializer => (shape, seed, dtype) => {
    const [fi, fo] = fans(shape);
    const a = Math.sqrt(6 / (fi + fo));
    return K.randomUniform(shape, { seed, dtype, lo: -a, hi: a });
  },
  /** He normal: std = sqrt(2 / fanIn). */
  heNormal: (): Initializer => (shape, seed, dtype) => K.randomNormal(shape, { seed, dtype, std: Math.sqrt(2 / fans(shape)[0]) }),
  /** He uniform: U(−a, a) with a = sqrt(6 / fanIn). */
  heUniform: (): Initializer => (shape, seed, dtype) => {
    const a = Math.sqrt(6 / fans(shape)[0]);
    return K.randomUniform(shape, { seed, dtype, lo: -a, hi: a });
  },
};

export interface ParamEntry {
  readonly name: string;
  readonly shape: readonly number[];
  readonly offset: number;
  readonly size: number;
}

export class ParamLayout {
  readonly entries: readonly ParamEntry[];
  /** total number of scalars */
  readonly size: number;

  constructor(spec: ParamSpec) {
    if (!spec || typeof spec !== 'object' || Array.isArray(spec)) {
      throw new ArgumentError(`params: argument 'spec' must be a record of shapes, e.g. { W: [784, 10], b: [10] }`);
    }
    const names = Object.keys(spec);
    if (names.length === 0) throw new ArgumentError(`params: the parameter record is empty`);
    let offset = 0;
    const entries: ParamEntry[] = [];
    for (const name of names) {
      if (name.trim() === '') throw new ArgumentError(`params: parameter names must be non-empty`);
      const shape = spec[name];
      if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 1)) {
        throw new ShapeError(`params: parameter '${name}' must have a shape of positive integers, got ${Array.isArray(shape) ? shapeToString(shape) : String(shape)}`);
      }
      const size = sizeOf(shape);
      entries.push({ name, shape: shape.slice(), offset, size });
      offset += size;
    }
    this.entries = entries;
    this.size = offset;
  }

  get names(): string[] {
    return this.entries.map((e) => e.name);
  }

  entry(name: string): ParamEntry {
    const e = this.entries.find((x) => x.name === name);
    if (!e) throw new ArgumentError(`unknown parameter '${name}'; the layout has ${this.names.join(', ')}`);
    return e;
  }

  private check(w: Tensor, what: string): void {
    assertTensor(w, what);
    if (w.rank !== 1 || w.size !== this.size) {
      throw new ShapeError(`argument '${what}' must be a flat vector of ${this.size} parameters, got ${shapeToString(w.shape)}`);
    }
  }

  /** Named, differentiable views of a flat parameter vector. */
  views(w: Tensor): { [name: string]: Tensor } {
    this.check(w, 'w');
    const out: { [name: string]: Tensor } = {};
    if (this.entries.length === 1) {
      const e = this.entries[0];
      out[e.name] = reshape(w, e.shape);
      return out;
    }
    for (const e of this.entries) out[e.name] = reshape(slice(w, 0, e.offset, e.offset + e.size), e.shape);
    return out;
  }

  /**
   * Packs a record of tensors (one per parameter, any shape of the right size) into a flat vector,
   * in the layout's order whatever the record's order. Differentiable: a learned initial value
   * built from hyperparameters (`init: (h) => layout.pack({ W: h.W0, b })`) gets its hypergradient.
   */
  pack(values: { [name: string]: Tensor }, dtype?: FloatDType): Tensor {
    if (values === null || typeof values !== 'object' || Array.isArray(values)) {
      throw new ArgumentError(`pack: argument 'values' must be a record of tensors named ${this.names.join(', ')}, got ${show(values)}`);
    }
    // A name the layout does not have is a typo or a mismatched layout, never something to drop.
    for (const name of Object.keys(values)) {
      if (!this.entries.some((e) => e.name === name)) throw new ArgumentError(`pack: the layout has no parameter '${name}'; it has ${this.names.join(', ')}`);
    }
    if (dtype !== undefined && dtype !== 'float32' && dtype !== 'float64') throw new ArgumentError(`pack: argument 'dtype' must be 'float32' or 'float64', got ${show(dtype)}`);
    const blocks: Tensor[] = [];
    for (const e of this.entries) {
      const v = values[e.name];
      if (v === undefined) throw new ArgumentError(`pack: missing parameter '${e.name}'`);
      assertTensor(v, `values.${e.name}`);
      if (v.size !== e.size) throw new ShapeError(`pack: parameter '${e.name}' must have shape ${shapeToString(e.shape)}, got ${shapeToString(v.shape)}`);
      if (v.dtype === 'int32') throw new ArgumentError(`pack: parameter '${e.name}' must be float32 or float64, got int32`);
      blocks.push(v);
    }
    const target = dtype ?? (blocks[0].dtype as FloatDType);
    const sameDType = blocks.every((v) => v.dtype === target);
    if (!sameDType) {
      // A conversion is not differentiable: copies in the target dtype, as before.
      const out = K.zeros([this.size], { dtype: target, device: blocks[0].device });
      this.entries.forEach((e, i) => {
        const c = K.cast(K.reshapeView(blocks[i], [e.size]), target);
        K.sliceAssign(out, c, 0, e.offset);
        c.dispose();
      });
      return out;
    }
    const flat = blocks.map((v, i) => reshape(v, [this.entries[i].size]));
    // concat copies even one block: the packed vector never aliases a caller's tensor
    return concat(flat, 0);
  }

  /**
   * A flat vector initialised per parameter. Each parameter gets its own seed derived from `seed`
   * and its position, so adding a parameter does not change the others' values.
   */
  initialize(inits: { [name: string]: Initializer } | Initializer, opts: { seed: number; dtype?: FloatDType }): Tensor {
    const dtype = opts.dtype ?? K.getDefaultDType();
    if (!Number.isInteger(opts?.seed) || opts.seed < 0) throw new ArgumentError(`initialize: 'seed' must be a non-negative integer, got ${String(opts?.seed)}`);
    const values: { [name: string]: Tensor } = {};
    this.entries.forEach((e, i) => {
      const f = typeof inits === 'function' ? inits : inits[e.name];
      if (!f) throw new ArgumentError(`initialize: no initializer for parameter '${e.name}'`);
      values[e.name] = f(e.shape, opts.seed * 1009 + i, dtype);
    });
    const flat = this.pack(values, dtype);
    for (const v of Object.values(values)) v.dispose();
    return flat;
  }
}

/** Declares a parameter layout: rf.params({ W: [784, 10], b: [10] }). */
export function params(spec: ParamSpec): ParamLayout {
  return new ParamLayout(spec);
}
