/** In-memory labelled image datasets: subsets, seeded splits, label corruption, minibatch schedules. */
import { Stepwise, runToEnd } from '../util/stepwise';
import * as K from '../kernels';
import { ArgumentError } from '../errors/errors';
import { show } from '../errors/show';
import { assertInt } from '../tensor/validate';
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

/** Seeds: what seededRandom takes in full (it keeps the low 32 bits; any safe integer is accepted). */
function assertSeed(seed: unknown, fn: string): number {
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) throw new ArgumentError(`${fn}: argument 'seed' must be an integer, got ${show(seed)}`);
  return seed;
}

/** A Dataset as makeDataset builds it: the fields agree with each other. */
export function assertDataset(ds: unknown, name = 'ds'): asserts ds is Dataset {
  const d = ds as Dataset;
  if (ds === null || typeof ds !== 'object' || !(d.images instanceof Float32Array) || !(d.labels instanceof Int32Array)) {
    throw new ArgumentError(`argument '${String(name)}' must be a dataset ({ images: Float32Array, labels: Int32Array, count, dim, classes, name }), got ${show(ds)}`);
  }
  if (!Number.isInteger(d.count) || !Number.isInteger(d.dim) || d.dim < 1 || d.labels.length !== d.count || d.images.length !== d.count * d.dim) {
    throw new ArgumentError(`argument '${String(name)}' is inconsistent: count ${show(d.count)}, dim ${show(d.dim)}, ${d.labels.length} labels, ${d.images.length} pixel values`);
  }
}

export function makeDataset(name: string, images: Float32Array, labels: Int32Array, dim: number, classes: number): Dataset {
  if (typeof name !== 'string') throw new ArgumentError(`makeDataset: argument 'name' must be a string, got ${show(name)}`);
  if (!(images instanceof Float32Array)) throw new ArgumentError(`makeDataset: argument 'images' must be a Float32Array, got ${show(images)}`);
  if (!(labels instanceof Int32Array)) throw new ArgumentError(`makeDataset: argument 'labels' must be an Int32Array, got ${show(labels)}`);
  assertInt(dim, 'dim', 1);
  assertInt(classes, 'classes', 1);
  if (images.length !== labels.length * dim) {
    throw new ArgumentError(`dataset '${name}': ${images.length} pixel values for ${labels.length} labels of dimension ${dim}`);
  }
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] < 0 || labels[i] >= classes) throw new ArgumentError(`dataset '${name}': label ${labels[i]} at ${i} is outside [0, ${classes})`);
  }
  return { name, images, labels, count: labels.length, dim, classes };
}

/** The rows `indices` of a dataset (a copy). */
export function subset(ds: Dataset, indices: ArrayLike<number>, name?: string): Dataset {
  return runToEnd(subsetSteps(ds, indices, name));
}

/**
 * subset as a stepwise computation, yielding every 512 rows: copying tens of megabytes into fresh
 * memory is dominated by first-touch page faults, which no loop can hurry: the yields keep the event
 * loop answering meanwhile.
 */
export function* subsetSteps(ds: Dataset, indices: ArrayLike<number>, subsetName?: string): Stepwise<Dataset> {
  assertDataset(ds);
  if (subsetName !== undefined && typeof subsetName !== 'string') throw new ArgumentError(`subset: argument 'name' must be a string, got ${show(subsetName)}`);
  const name = subsetName ?? ds.name;
  if (!Array.isArray(indices) && !(ArrayBuffer.isView(indices) && !(indices instanceof DataView))) {
    throw new ArgumentError(`subset: argument 'indices' must be an array of row indices, got ${show(indices)}`);
  }
  const images = new Float32Array(indices.length * ds.dim);
  const labels = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i];
    if (!(Number.isInteger(j) && j >= 0 && j < ds.count)) throw new ArgumentError(`subset: argument 'indices' has ${show(j)} at ${i}, not a row index in [0, ${ds.count})`);
    images.set(ds.images.subarray(j * ds.dim, (j + 1) * ds.dim), i * ds.dim);
    labels[i] = ds.labels[j];
    if ((i & 511) === 511) yield;
  }
  return { ...ds, name, images, labels, count: indices.length };
}

/** Rows [start, end). */
export function range(ds: Dataset, start: number, end: number): Dataset {
  assertDataset(ds, 'ds');
  assertInt(start, 'start');
  assertInt(end, 'end');
  if (!(0 <= start && start <= end && end <= ds.count)) throw new ArgumentError(`range: [${start}, ${end}) is outside the ${ds.count} examples of '${ds.name}'`);
  return { ...ds, images: ds.images.slice(start * ds.dim, end * ds.dim), labels: ds.labels.slice(start, end), count: end - start };
}

/** A seeded shuffle of the whole dataset. */
export function shuffle(ds: Dataset, seed: number): Dataset {
  assertDataset(ds);
  assertSeed(seed, 'shuffle');
  return subset(ds, permutation(ds.count, seed));
}

/** Consecutive splits of the given sizes after a seeded shuffle. */
export function split(ds: Dataset, sizes: readonly number[], seed: number): Dataset[] {
  return runToEnd(splitSteps(ds, sizes, seed));
}

/** split as a stepwise computation (see subsetSteps). */
export function* splitSteps(ds: Dataset, sizes: readonly number[], seed: number): Stepwise<Dataset[]> {
  assertDataset(ds);
  assertSeed(seed, 'split');
  if (!Array.isArray(sizes)) throw new ArgumentError(`split: argument 'sizes' must be an array of counts, got ${show(sizes)}`);
  const total = sizes.reduce((a, b) => a + b, 0);
  if (sizes.some((s) => !Number.isInteger(s) || s < 0) || total > ds.count) {
    throw new ArgumentError(`split: argument 'sizes' ${show(sizes)} must be non-negative integers summing to at most the ${ds.count} examples of '${ds.name}'`);
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
  if (!(labels instanceof Int32Array)) throw new ArgumentError(`corruptLabels: argument 'labels' must be an Int32Array, got ${show(labels)}`);
  if (!Number.isInteger(classes) || classes < 2 || classes > 2 ** 31 - 1) throw new ArgumentError(`corruptLabels: argument 'classes' must be an integer ≥ 2, got ${show(classes)}`);
  assertSeed(seed, 'corruptLabels');
  if (!Number.isInteger(count) || count < 0 || count > labels.length) {
    throw new ArgumentError(`corruptLabels: argument 'count' must be an integer in [0, ${labels.length}], got ${show(count)}`);
  }
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] < 0 || labels[i] >= classes) throw new ArgumentError(`corruptLabels: argument 'labels' has ${labels[i]} at ${i}, outside [0, ${classes})`);
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

// A matrix built another way than toTensors is marked as data here too (see kernels/matmul).
export { asDataMatrix, isDataMatrix } from '../kernels/matmul';

/** Tensors X [count, dim] (a data matrix: asDataMatrix) and y [count] (int32). */
export function toTensors(ds: Dataset, dtype: FloatDType = 'float32', device?: 'cpu' | 'cuda'): { X: Tensor; y: Tensor } {
  assertDataset(ds);
  if (dtype !== 'float32' && dtype !== 'float64') throw new ArgumentError(`toTensors: argument 'dtype' must be 'float32' or 'float64', got ${show(dtype)}`);
  const X = K.tensor(ds.images, [ds.count, ds.dim], { dtype, device });
  return { X: K.asDataMatrix(X), y: K.tensor(ds.labels, [ds.count], { dtype: 'int32', device }) };
}

/**
 * Minibatch schedule indexed by step: the batch of step t (1-based) is a pure function of
 * (seed, t), so Reverse-HG replays exactly the batch a forward step used. Epochs are seeded
 * permutations; the last partial batch of an epoch is dropped.
 */
export function minibatchSchedule(count: number, batchSize: number, seed: number): (t: number) => Int32Array {
  assertInt(count, 'count', 1);
  assertSeed(seed, 'minibatchSchedule');
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > count) {
    throw new ArgumentError(`minibatchSchedule: 'batchSize' must be an integer in [1, ${count}], got ${show(batchSize)}`);
  }
  const perEpoch = Math.floor(count / batchSize);
  let cachedEpoch = -1;
  let perm: Int32Array = new Int32Array(0);
  return (t: number) => {
    if (!Number.isInteger(t) || t < 1) throw new ArgumentError(`minibatch: step 't' must be an integer >= 1, got ${show(t)}`);
    const epoch = Math.floor((t - 1) / perEpoch);
    if (epoch !== cachedEpoch) {
      // the low 32 bits of seed·7919 + epoch: all that seededRandom reads, for any safe-integer seed
      perm = permutation(count, (Math.imul(seed >>> 0, 7919) + epoch) >>> 0);
      cachedEpoch = epoch;
    }
    const b = (t - 1) % perEpoch;
    return perm.slice(b * batchSize, (b + 1) * batchSize);
  };
}
