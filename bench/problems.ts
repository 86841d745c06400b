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

/** HC: linear softmax 784→10 from zeros, one weight per training example (λ = 0.5), GD lr 0.1. */
export function hcProblem(folder: string, dtype: rf.FloatDType = 'float32', N = 5000, synthetic = false): BenchProblem {
  const ds = synthetic ? syntheticDigits(2 * N) : rf.data.loadEmbeddedDigits();
  const train = rf.data.range(ds, 0, N), valid = rf.data.range(ds, N, 2 * N);
  const tr = rf.data.toTensors(train, dtype), va = rf.data.toTensors(valid, dtype);
  const model = rf.linear(784, 10);
  const w0 = model.initialize({ seed: 0, dtype });
  const lam = rf.hyperparameter('lam', rf.full([N], 0.5, { dtype }));
  const problem = rf.bilevel({
    params: model, hyperparameters: [lam], init: w0,
    train: (w, h) => model.crossEntropy(w, tr.X, tr.y, { weights: h.lam }),
    valid: (w) => model.crossEntropy(w, va.X, va.y),
    dynamics: rf.dynamics.gradientDescent({ lr: 0.1 }),
  });
  writeArrays(folder, { dtype, lr: 0.1, lam: 0.5, shapes: { X: [N, 784], Xv: [N, 784] } }, {
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
