/**
 * The benchmark problems of BENCHMARKS.md, built on the embedded digits, and the files the peers
 * read (raw arrays + meta.json) so that every implementation sees the same data and initial weights.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as rf from '../lib';
import { Tensor } from '../lib';

export interface BenchProblem {
  problem: rf.Problem;
  folder: string;
  dispose(): void;
}

function writeArrays(folder: string, meta: Record<string, unknown>, arrays: Record<string, Float32Array | Float64Array | Int32Array>): void {
  fs.mkdirSync(folder, { recursive: true });
  const specs: Record<string, { dtype: string; shape: number[] }> = {};
  for (const [name, a] of Object.entries(arrays)) {
    fs.writeFileSync(path.join(folder, `${name}.bin`), Buffer.from(a.buffer, a.byteOffset, a.byteLength));
    const dtype = a instanceof Float64Array ? 'float64' : a instanceof Float32Array ? 'float32' : 'int32';
    specs[name] = { dtype, shape: (meta.shapes as Record<string, number[]>)[name] ?? [a.length] };
  }
  fs.writeFileSync(path.join(folder, 'meta.json'), JSON.stringify({ ...meta, arrays: specs }, null, 1));
}

/**
 * The data an HC case runs on: the embedded digits (80 % zero pixels: sparse), Fashion-MNIST from
 * Debian's dataset-fashion-mnist (about half non-zero: dense), or a standardized Gaussian matrix of
 * any width (`gaussian-<cols>`: dense features that are not images).
 */
export type HcData = 'digits' | 'fashion' | `gaussian-${number}`;

/** Whether an HC case's data is at hand (Fashion-MNIST needs its Debian package). */
export function hcDataAvailable(data: HcData): boolean {
  return data !== 'fashion' || fs.existsSync(rf.data.FASHION_MNIST_DEBIAN);
}

function hcDataset(data: HcData, count: number): rf.data.Dataset {
  if (data === 'digits') return rf.data.loadEmbeddedDigits();
  if (data === 'fashion') {
    // the first `count` training images only: the whole set in float32 (188 MB) would be this
    // process's peak memory, not the benchmark's
    const dir = rf.data.FASHION_MNIST_DEBIAN;
    const img = rf.data.readIdx(path.join(dir, 'train-images-idx3-ubyte.gz')), lab = rf.data.readIdx(path.join(dir, 'train-labels-idx1-ubyte.gz'));
    const images = Float32Array.from(img.data.subarray(0, count * 784), (v) => v / 255);
    return rf.data.makeDataset('fashion-mnist', images, Int32Array.from(lab.data.subarray(0, count)), 784, 10);
  }
  const cols = Number(data.slice('gaussian-'.length));
  if (!Number.isInteger(cols) || cols < 1) throw new Error(`hc data '${data}': the width must be a positive integer`);
  const r = rf.data.seededRandom(11);
  const normal = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  // labels from a random linear teacher, so that the problem has something to learn
  const teacher = Float64Array.from({ length: cols * 10 }, normal);
  const images = Float32Array.from({ length: count * cols }, normal);
  const labels = Int32Array.from({ length: count }, (_, i) => {
    let best = 0, bestZ = -Infinity;
    for (let c = 0; c < 10; c++) {
      let z = 0;
      for (let j = 0; j < cols; j++) z += images[i * cols + j] * teacher[j * 10 + c];
      if (z > bestZ) [best, bestZ] = [c, z];
    }
    return best;
  });
  return rf.data.makeDataset(data, images, labels, cols, 10);
}

/**
 * HC's training and validation sets, read back from the raw files of an earlier hcProblem in the
 * same folder (what the peers read) when there are some for the same data: building them again
 * (decompressing Fashion-MNIST, drawing a Gaussian matrix) would be this process's peak memory.
 */
function hcSets(folder: string, data: HcData, N: number): { train: rf.data.Dataset; valid: rf.data.Dataset } {
  const metaFile = path.join(folder, 'meta.json');
  const meta = fs.existsSync(metaFile) ? JSON.parse(fs.readFileSync(metaFile, 'utf8')) : null;
  if (meta?.data === data && meta?.shapes?.X?.[0] === N) {
    const d = meta.shapes.X[1];
    // the file's own bytes (a Buffer may be a view into a larger pool), aligned for the typed array
    const bytes = (name: string) => { const b = fs.readFileSync(path.join(folder, `${name}.bin`)); return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength); };
    const f32 = (name: string) => new Float32Array(bytes(name));
    const i32 = (name: string) => new Int32Array(bytes(name));
    return { train: rf.data.makeDataset(data, f32('X'), i32('y'), d, 10), valid: rf.data.makeDataset(data, f32('Xv'), i32('yv'), d, 10) };
  }
  const ds = hcDataset(data, 2 * N);
  return { train: rf.data.range(ds, 0, N), valid: rf.data.range(ds, N, 2 * N) };
}

/** HC: linear softmax d→10 from zeros, one weight per training example (λ = 0.5), GD lr 0.1. */
export function hcProblem(folder: string, dtype: rf.FloatDType = 'float32', N = 5000, data: HcData = 'digits'): BenchProblem {
  const { train, valid } = hcSets(folder, data, N);
  const d = train.dim;
  const tr = rf.data.toTensors(train, dtype), va = rf.data.toTensors(valid, dtype);
  const model = rf.linear(d, 10);
  const w0 = model.initialize({ seed: 0, dtype });
  const lam = rf.hyperparameter('lam', rf.full([N], 0.5, { dtype }));
  const problem = rf.bilevel({
    params: model, hyperparameters: [lam], init: w0,
    train: (w, h) => model.crossEntropy(w, tr.X, tr.y, { weights: h.lam }),
    valid: (w) => model.crossEntropy(w, va.X, va.y),
    dynamics: rf.dynamics.gradientDescent({ lr: 0.1 }),
  });
  writeArrays(folder, { dtype, data, lr: 0.1, lam: 0.5, shapes: { X: [N, d], Xv: [N, d] } }, {
    X: train.images, y: train.labels, Xv: valid.images, yv: valid.labels, w0: w0.toArray() as Float32Array,
  });
  return { problem, folder, dispose: () => [tr.X, tr.y, va.X, va.y, w0].forEach((t) => t.dispose()) };
}

/** Random images and labels of the digits' shapes: for timing where the npm data is not carried. */
function syntheticDigits(count: number): rf.data.Dataset {
  const r = rf.data.seededRandom(5);
  const images = Float32Array.from({ length: count * 784 }, () => r());
  const labels = Int32Array.from({ length: count }, () => Math.floor(r() * 10));
  return rf.data.makeDataset('synthetic', images, labels, 784, 10);
}

export const FR_WIDTHS = [784, 256, 256, 10];

/**
 * FR: MLP 784-256-256-10 (tanh, Glorot normal, seeded), full batch of 2000, validation the next
 * 2000; m loss weights by group (i mod m), plus the learning rate and the momentum (m + 2 in all).
 */
export function frProblem(folder: string, m: number, dtype: rf.FloatDType = 'float32', N = 2000): BenchProblem {
  const ds = rf.data.loadEmbeddedDigits();
  const train = rf.data.range(ds, 0, N), valid = rf.data.range(ds, N, 2 * N);
  const tr = rf.data.toTensors(train, dtype), va = rf.data.toTensors(valid, dtype);
  const model = rf.mlp(FR_WIDTHS, { activation: 'tanh', init: rf.init.glorotNormal() });
  const w0 = model.initialize({ seed: 1, dtype });
  const groups = Int32Array.from({ length: N }, (_, i) => i % m);
  const gIdx = rf.tensor(groups, undefined, { dtype: 'int32' });
  const gw = rf.hyperparameter('groupWeights', rf.ones([m], { dtype }));
  const lr = rf.hyperparameter('lr', 0.02, { dtype });
  const mu = rf.hyperparameter('momentum', 0.9, { dtype });
  const problem = rf.bilevel({
    params: model, hyperparameters: [gw], init: w0,
    train: (w, h) => rf.crossEntropy(model.apply(w, tr.X), tr.y, { weights: rf.reshape(rf.gatherRows(rf.reshape(h.groupWeights, [m, 1]), gIdx), [N]) }),
    valid: (w) => rf.crossEntropy(model.apply(w, va.X), va.y),
    dynamics: rf.dynamics.momentum({ lr, momentum: mu }),
  });
  writeArrays(folder, { dtype, m, lr: 0.02, mu: 0.9, widths: FR_WIDTHS, shapes: { X: [N, 784], Xv: [N, 784] } }, {
    X: train.images, y: train.labels, Xv: valid.images, yv: valid.labels, w0: w0.toArray() as Float32Array, groups,
  });
  return { problem, folder, dispose: () => [tr.X, tr.y, va.X, va.y, w0, gIdx].forEach((t: Tensor) => t.dispose()) };
}
