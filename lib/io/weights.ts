/**
 * rf.save / rf.load: a model's parameters and a problem's hyperparameters in a safetensors file.
 * Parameters are stored one tensor per block of the layout, under the layout's names ("W", "b",
 * "W1", ...), so that other tools read them as they would any model's; hyperparameters under
 * "hyperparameters.<name>". The layout's order goes in the metadata, so a file written by rfho loads
 * back to the same flat vector without the layout at hand.
 */
import * as K from '../kernels';
import { FloatDType } from '../tensor/dtype';
import { ArgumentError, StateFileError } from '../errors/errors';
import { show } from '../errors/show';
import { Tensor, shapeToString } from '../tensor/tensor';
import { assertTensor } from '../tensor/validate';
import { ParamLayout, params as makeLayout } from '../models/params';
import { Model } from '../models/models';
import { Hyperparameter } from '../hyperparameters/hyperparameter';
import { Problem } from '../hyper/problem';
import { readSafetensors, writeSafetensors } from './safetensors';

const HYPER_PREFIX = 'hyperparameters.';
const LAYOUT_KEY = 'rfho.layout';

export interface SaveContents {
  /** a flat parameter vector, stored block by block under the names of `layout` */
  params?: Tensor;
  /** the parameter layout (or a model, whose layout is used); needed with `params` */
  layout?: ParamLayout | Model;
  /** hyperparameters to store (a problem's, or a list) */
  hyperparameters?: readonly Hyperparameter[] | Problem;
  /** free-form string metadata */
  metadata?: { [key: string]: string };
}

export interface LoadedWeights {
  /** the flat parameter vector in the layout's order (null when the file has no rfho layout and none was given) */
  params: Tensor | null;
  layout: ParamLayout | null;
  /** every stored parameter tensor by name, as stored (views of `params` are not made) */
  blocks: { [name: string]: Tensor };
  hyperparameters: { [name: string]: Tensor };
  metadata: { [key: string]: string };
}

function layoutOf(v: unknown): ParamLayout {
  if (v instanceof ParamLayout) return v;
  if (v !== null && typeof v === 'object' && (v as Model).layout instanceof ParamLayout) return (v as Model).layout;
  throw new ArgumentError(`argument 'layout' must be a ParamLayout (rf.params) or a model, got ${show(v)}`);
}

/** Writes parameters and hyperparameters to a safetensors file, atomically. */
export function save(file: string, contents: SaveContents): void {
  if (contents === null || typeof contents !== 'object') throw new ArgumentError(`save: argument 'contents' must be { params, layout, hyperparameters, metadata }, got ${show(contents)}`);
  const tensors: { [name: string]: Tensor } = {};
  const metadata: { [key: string]: string } = { ...(contents.metadata ?? {}) };
  const made: Tensor[] = [];
  try {
    if (contents.params !== undefined) {
      assertTensor(contents.params, 'params');
      const layout = layoutOf(contents.layout);
      const w = contents.params;
      if (w.rank !== 1 || w.size !== layout.size) throw new ArgumentError(`save: argument 'params' must be a flat vector of the layout's ${layout.size} parameters, got ${shapeToString(w.shape)}`);
      for (const e of layout.entries) {
        const block = K.slice(w, 0, e.offset, e.offset + e.size);
        made.push(block);
        tensors[e.name] = K.reshapeView(block, e.shape);
        made.push(tensors[e.name]);
      }
      metadata[LAYOUT_KEY] = JSON.stringify(layout.entries.map((e) => [e.name, e.shape]));
    } else if (contents.layout !== undefined) {
      throw new ArgumentError(`save: a 'layout' without 'params'`);
    }
    const hs = contents.hyperparameters === undefined ? [] : contents.hyperparameters instanceof Problem ? contents.hyperparameters.hyperparameters : contents.hyperparameters;
    if (!Array.isArray(hs)) throw new ArgumentError(`save: argument 'hyperparameters' must be a list of hyperparameters or a Problem, got ${show(hs)}`);
    for (const h of hs) {
      if (!(h instanceof Hyperparameter)) throw new ArgumentError(`save: argument 'hyperparameters' must contain Hyperparameter objects, got ${show(h)}`);
      tensors[HYPER_PREFIX + h.name] = h.value;
    }
    writeSafetensors(file, tensors, metadata);
  } finally {
    for (const t of made) t.dispose();
  }
}

/**
 * Reads a file written by save() (or any safetensors file of F32, F64 or I32 tensors). With
 * `layout`, the file's parameter blocks must be exactly the layout's, names and shapes; without it,
 * the layout stored by rfho is used. `dtype` converts the parameters (default: as stored).
 */
export function load(file: string, opts: { layout?: ParamLayout | Model; dtype?: FloatDType } = {}): LoadedWeights {
  if (opts === null || typeof opts !== 'object') throw new ArgumentError(`load: argument 'opts' must be an options object, got ${show(opts)}`);
  const given = opts.layout === undefined ? null : layoutOf(opts.layout);
  if (opts.dtype !== undefined && opts.dtype !== 'float32' && opts.dtype !== 'float64') throw new ArgumentError(`load: argument 'dtype' must be 'float32' or 'float64', got ${show(opts.dtype)}`);
  const { tensors, metadata } = readSafetensors(file);
  const blocks: { [name: string]: Tensor } = {};
  const hyperparameters: { [name: string]: Tensor } = {};
  for (const [name, t] of Object.entries(tensors)) {
    if (name.startsWith(HYPER_PREFIX)) hyperparameters[name.slice(HYPER_PREFIX.length)] = t;
    else blocks[name] = t;
  }
  const fail = (why: string) => {
    for (const t of Object.values(tensors)) t.dispose();
    return new StateFileError(`${file}: ${why}`, file);
  };
  let layout = given;
  if (!layout && metadata[LAYOUT_KEY] !== undefined) {
    try {
      layout = makeLayout(Object.fromEntries(JSON.parse(metadata[LAYOUT_KEY]) as [string, number[]][]));
    } catch (e) {
      throw fail(`the stored layout is damaged (${(e as Error).message})`);
    }
  }
  delete metadata[LAYOUT_KEY];
  let params: Tensor | null = null;
  if (layout) {
    const names = new Set(layout.names);
    const extra = Object.keys(blocks).filter((n) => !names.has(n));
    if (extra.length > 0) throw fail(`holds parameters the layout does not have: ${extra.join(', ')}`);
    for (const e of layout.entries) {
      const b = blocks[e.name];
      if (!b) throw fail(`has no parameter '${e.name}' of the layout`);
      if (b.size !== e.size || b.shape.length !== e.shape.length || b.shape.some((d, i) => d !== e.shape[i])) throw fail(`parameter '${e.name}' is ${shapeToString(b.shape)}, the layout says ${shapeToString(e.shape)}`);
      if (b.dtype === 'int32') throw fail(`parameter '${e.name}' is int32`);
    }
    const dtype = opts.dtype ?? (blocks[layout.entries[0].name].dtype as FloatDType);
    params = layout.pack(blocks, dtype);
  }
  if (opts.dtype) {
    for (const [k, t] of Object.entries(hyperparameters)) {
      if (t.dtype !== opts.dtype && t.dtype !== 'int32') {
        hyperparameters[k] = K.cast(t, opts.dtype);
        t.dispose();
      }
    }
  }
  return { params, layout, blocks, hyperparameters, metadata };
}
