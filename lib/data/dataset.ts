/** In-memory labelled image datasets: subsets, seeded splits, label corruption, minibatch schedules. */
import { Stepwise, runToEnd } from '../util/stepwise';
import * as K from '../kernels';
import { ArgumentError } from '../tensor/errors';
import { FloatDType } from '../tensor/dtype';
import { Tensor } from '../tensor/tensor';
import { permutation, seededRandom } from './random';

export interface Dataset {
  /** row-major [count, dim] pixel values in [0, 1] */
  readonly images: Float32Array;
  readonly labels: Int32Array;
  readonly count: number;
  readonly dim: number;
  readonly classes: number;
  readonly name: string;
}

export function makeDataset(name: string, images: Float32Array, labels: Int32Array, dim: number, classes: number): Dataset {
  if (images.length !== labels.length * dim) {
    throw new ArgumentError(`dataset '${name}': ${images.length} pixel values for ${labels.length} labels of dimension ${dim}`);
  }
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] < 0 || labels[i] >= classes) throw new ArgumentError(`dataset '${name}': label ${labels[i]} at ${i} is outside [0, ${classes})`);
  }
  return { name, images, labels, count: labels.length, dim, classes };
}

/** The rows `indices` of a dataset (a copy). */
export function subset(ds: Dataset, indices: ArrayLike<number>, name = ds.name): Dataset {
  return runToEnd(subsetSteps(ds, indices, name));
}

/**
 * subset as a stepwise computation, yielding every 512 rows: copying tens of megabytes into fresh
 * memory is dominated by first-touch page faults (~80 ms for 8000 digits on a 2-core VM).
 */
export function* subsetSteps(ds: Dataset, indices: ArrayLike<number>, name = ds.name): Stepwise<Dataset> {
  const images = new Float32Array(indices.length * ds.dim);
  const labels = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i];
    if (!(j >= 0 && j < ds.count)) throw new ArgumentError(`subset: index ${j} is outside [0, ${ds.count})`);
    images.set(ds.images.subarray(j * ds.dim, (j + 1) * ds.dim), i * ds.dim);
    labels[i] = ds.labels[j];
    if ((i & 511) === 511) yield;
  }
  return { ...ds, name, images, labels, count: indices.length };
}

/** Rows [start, end). */
export function range(ds: Dataset, start: number, end: number): Dataset {
  if (!(0 <= start && start <= end && end <= ds.count)) throw new ArgumentError(`range: [${start}, ${end}) is outside the ${ds.count} examples of '${ds.name}'`);
  return { ...ds, images: ds.images.slice(start * ds.dim, end * ds.dim), labels: ds.labels.slice(start, end), count: end - start };
}

/** A seeded shuffle of the whole dataset. */
export function shuffle(ds: Dataset, seed: number): Dataset {
  return subset(ds, permutation(ds.count, seed));
}

/** Consecutive splits of the given sizes after a seeded shuffle. */
export function split(ds: Dataset, sizes: readonly number[], seed: number): Dataset[] {
  return runToEnd(splitSteps(ds, sizes, seed));
}

/** split as a stepwise computation (see subsetSteps). */
export function* splitSteps(ds: Dataset, sizes: readonly number[], seed: number): Stepwise<Dataset[]> {
  const total = sizes.reduce((a, b) => a + b, 0);
  if (sizes.some((s) => !Number.isInteger(s) || s < 0) || total > ds.count) {
    throw new ArgumentError(`split: sizes [${sizes.join(', ')}] need ${total} examples, '${ds.name}' has ${ds.count}`);
  }
  const p = permutation(ds.count, seed);
  const out: Dataset[] = [];
  let at = 0;
  for (const s of sizes) {
    out.push(yield* subsetSteps(ds, p.subarray(at, at + s)));
    at += s;
  }
  return out;
}

/**
 * Relabels `count` examples (a seeded random subset) to a uniformly drawn *different* class.
 * Returns the new labels and a mask of the corrupted rows.
 */
export function corruptLabels(labels: Int32Array, count: number, classes: number, seed: number): { labels: Int32Array; corrupted: Uint8Array } {
  if (!(labels instanceof Int32Array)) throw new ArgumentError(`corruptLabels: 'labels' must be an Int32Array, got ${labels === null ? 'null' : typeof labels}`);
  if (!Number.isInteger(classes) || classes < 2 || classes > 2 ** 31 - 1) throw new ArgumentError(`corruptLabels: 'classes' must be an integer ≥ 2, got ${String(classes).slice(0, 40)}`);
  if (!Number.isInteger(seed)) throw new ArgumentError(`corruptLabels: 'seed' must be an integer, got ${String(seed).slice(0, 40)}`);
  if (!Number.isInteger(count) || count < 0 || count > labels.length) {
    throw new ArgumentError(`corruptLabels: 'count' must be an integer in [0, ${labels.length}], got ${String(count)}`);
  }
  if (classes < 2) throw new ArgumentError(`corruptLabels: need at least 2 classes`);
  const out = Int32Array.from(labels);
  const corrupted = new Uint8Array(labels.length);
  const p = permutation(labels.length, seed);
  const r = seededRandom(seed ^ 0x5bd1e995);
  for (let i = 0; i < count; i++) {
    const j = p[i];
    const shift = 1 + Math.floor(r() * (classes - 1)); // 1..classes−1: never the same class
    out[j] = (labels[j] + shift) % classes;
    corrupted[j] = 1;
  }
  return { labels: out, corrupted };
}

/** Tensors X [count, dim] and y [count] (int32). */
export function toTensors(ds: Dataset, dtype: FloatDType = 'float32', device?: 'cpu' | 'cuda'): { X: Tensor; y: Tensor } {
  const X = K.tensor(ds.images, [ds.count, ds.dim], { dtype, device });
  // constant data: products may keep a faster layout of it alongside (see kernels/matmul)
  X.storage.constantData = true;
  return { X, y: K.tensor(ds.labels, [ds.count], { dtype: 'int32', device }) };
}

/**
 * Minibatch schedule indexed by step: the batch of step t (1-based) is a pure function of
 * (seed, t), so Reverse-HG replays exactly the batch a forward step used. Epochs are seeded
 * permutations; the last partial batch of an epoch is dropped.
 */
export function minibatchSchedule(count: number, batchSize: number, seed: number): (t: number) => Int32Array {
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > count) {
    throw new ArgumentError(`minibatchSchedule: 'batchSize' must be an integer in [1, ${count}], got ${String(batchSize)}`);
  }
  const perEpoch = Math.floor(count / batchSize);
  let cachedEpoch = -1;
  let perm: Int32Array = new Int32Array(0);
  return (t: number) => {
    if (!Number.isInteger(t) || t < 1) throw new ArgumentError(`minibatch: step 't' must be an integer >= 1, got ${t}`);
    const epoch = Math.floor((t - 1) / perEpoch);
    if (epoch !== cachedEpoch) {
      perm = permutation(count, seed * 7919 + epoch);
      cachedEpoch = epoch;
    }
    const b = (t - 1) % perEpoch;
    return perm.slice(b * batchSize, (b + 1) * batchSize);
  };
}
