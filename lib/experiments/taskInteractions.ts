/**
 * Learning task interactions (the paper's §5.2, after RFHO's experiments/MTL.py): each class is a
 * task with a linear model over fixed features — the columns w_j of one softmax regression — and
 * the training loss is cross-entropy + ρ‖W‖² + Σ_{j,k} A_jk ‖w_j − w_k‖², with A a symmetric,
 * non-negative, zero-diagonal interaction matrix. A, ρ, the learning rate and the momentum are
 * learned by Reverse-HG against the validation error (momentum dynamics, Adam on the
 * hyperparameters). Baselines with the same training (T steps from the same initial weights):
 * single-task learning (A = 0) with ρ by grid search, and naive multi-task learning
 * (A = a·(11ᵀ − I)) with ρ and a by grid search; each picked by validation error.
 *
 * Features: the raw pixels, or a fixed random projection of them (a seeded Gaussian matrix scaled
 * by 1/√d, then tanh), as `features` says.
 */
import * as K from '../kernels';
import { Dataset, range, toTensors } from '../data/dataset';
import { ArgumentError } from '../errors/errors';
import { FloatDType } from '../tensor/dtype';
import { Tensor } from '../tensor/tensor';
import { tidy } from '../tensor/scope';
import { throwIfAborted } from '../util/stepwise';
import { add, mul, sub, tanh } from '../ops/elementwise';
import { sum, vdot } from '../ops/reduce';
import { matmul } from '../ops/linalg';
import { transpose } from '../ops/shape';
import { linear } from '../models/models';
import { accuracy, crossEntropy } from '../models/losses';
import { momentum } from '../dynamics/dynamics';
import { optimizeAsync } from '../dynamics/optimize';
import { hyperparameter } from '../hyperparameters/hyperparameter';
import { constraints } from '../hyperparameters/constraints';
import { bilevel } from '../hyper/problem';
import { HyperOptimizer } from '../hyper/hyperoptimizer';
import { adam as outerAdam } from '../hyper/outer';
import { resolveDatasetAsync } from './datasets';
import { runHyperIterations } from './loop';

export interface TaskInteractionOptions {
  dataset: string;
  trainSize: number;
  validSize: number;
  testSize: number;
  /** 'raw' pixels, or 'projection': tanh of a fixed random projection to `projectionDim` features */
  features: 'raw' | 'projection';
  projectionDim: number;
  T: number;
  hyperIterations: number;
  lr: number;
  momentum: number;
  rho: number;
  /** initial value of every off-diagonal A_jk */
  a: number;
  outerLr: number;
  seed: number;
  dtype: FloatDType;
}

export const TI_DEFAULTS: TaskInteractionOptions = {
  dataset: 'embedded', trainSize: 500, validSize: 500, testSize: 2000, features: 'projection', projectionDim: 256,
  T: 100, hyperIterations: 40, lr: 0.1, momentum: 0.5, rho: 1e-3, a: 1e-3, outerLr: 1e-3, seed: 0, dtype: 'float32',
};

/** The paper's setting, on the data available here (Fashion-MNIST from Debian for CIFAR). */
export const TI_PAPER: Partial<TaskInteractionOptions> = {
  dataset: 'fashion-mnist', trainSize: 5000, validSize: 5000, testSize: 10000, T: 3000, hyperIterations: 250,
};

/** The grids of the baselines (ρ, and a for naive multi-task learning). */
export const RHO_GRID = [0, 1e-4, 1e-3, 1e-2, 1e-1];
export const A_GRID = [1e-4, 1e-3, 1e-2, 1e-1];

export interface TaskInteractionRecord {
  iteration: number;
  validation: number;
  rho: number;
  lr: number;
  momentum: number;
  /** mean of the off-diagonal entries of A */
  meanA: number;
  seconds: number;
}

export interface FixedModel {
  rho: number;
  a: number;
  validation: number;
  testAccuracy: number;
}

export interface TaskInteractionResult {
  settings: TaskInteractionOptions & { datasetDescription: string; classes: number; featureDim: number };
  records: TaskInteractionRecord[];
  learned: { testAccuracy: number; validation: number; rho: number; lr: number; momentum: number; A: number[][] };
  baselines: { singleTask: FixedModel & { grid: FixedModel[] }; naiveMultiTask: FixedModel & { grid: FixedModel[] } } | null;
  interrupted: boolean;
  seconds: number;
}

/**
 * Σ_{j,k} A_jk ‖w_j − w_k‖² for W [d, n] (columns w_j) and A [n, n]: tr(Wᵀ W L) with
 * L = diag(A 1 + Aᵀ 1) − A − Aᵀ (twice the graph Laplacian of a symmetric A) — one product instead
 * of n² differences, and ∂/∂A_jk = ‖w_j − w_k‖² exactly, for any A.
 */
export function interactionPenalty(W: Tensor, A: Tensor): Tensor {
  const n = A.shape[0];
  if (A.rank !== 2 || A.shape[1] !== n || W.rank !== 2 || W.shape[1] !== n) throw new ArgumentError(`interactionPenalty: W [d, n] and A [n, n] expected, got ${W.shape} and ${A.shape}`);
  const eye = K.tensor(Float64Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? 1 : 0)), [n, n], { dtype: A.dtype, device: A.device });
  const At = transpose(A);
  const degrees = add(sum(A, 1, true), sum(At, 1, true)); // [n, 1]: row sums plus column sums
  const L = sub(mul(eye, degrees), add(A, At));
  return vdot(matmul(W, L), W);
}

function checkOptions(o: TaskInteractionOptions): void {
  for (const k of ['trainSize', 'validSize', 'testSize', 'projectionDim', 'T', 'hyperIterations'] as const) {
    if (!Number.isSafeInteger(o[k]) || o[k] < 1) throw new ArgumentError(`task-interactions: '${k}' must be a positive integer, got ${String(o[k])}`);
  }
  for (const k of ['lr', 'rho', 'a', 'outerLr'] as const) {
    if (typeof o[k] !== 'number' || !(o[k] >= 0) || !Number.isFinite(o[k])) throw new ArgumentError(`task-interactions: '${k}' must be a non-negative number, got ${String(o[k])}`);
  }
  if (!(o.momentum >= 0 && o.momentum < 1)) throw new ArgumentError(`task-interactions: 'momentum' must be in [0, 1), got ${String(o.momentum)}`);
  if (o.features !== 'raw' && o.features !== 'projection') throw new ArgumentError(`task-interactions: 'features' must be 'raw' or 'projection', got ${String(o.features)}`);
}

export async function runTaskInteractions(
  options: Partial<TaskInteractionOptions>,
  hooks: { onRecord?: (r: TaskInteractionRecord) => void; onPhase?: (p: string) => void; signal?: AbortSignal; cancel?: AbortSignal } = {},
): Promise<TaskInteractionResult> {
  const o: TaskInteractionOptions = { ...TI_DEFAULTS, ...options };
  checkOptions(o);
  const t0 = Date.now();
  const ds = await resolveDatasetAsync(o.dataset, o.seed, o.testSize);
  if (o.trainSize + o.validSize > ds.train.count) throw new ArgumentError(`task-interactions: train + validation exceed the ${ds.train.count} training examples`);
  const parts: Dataset[] = [range(ds.train, 0, o.trainSize), range(ds.train, o.trainSize, o.trainSize + o.validSize), range(ds.test, 0, Math.min(o.testSize, ds.test.count))];
  const dtype = o.dtype;
  const owned: Tensor[] = [];
  const own = <T extends Tensor>(t: T) => (owned.push(t), t);
  const raw = parts.map((p) => toTensors(p, dtype));
  raw.forEach((r) => own(r.X) && own(r.y));
  // fixed features: the same random projection for every split
  const P = o.features === 'projection' ? own(K.randomNormal([ds.train.dim, o.projectionDim], { seed: o.seed + 7, dtype, std: 1 / Math.sqrt(ds.train.dim) })) : null;
  const [tr, va, te] = raw.map((r) => ({ X: P ? own(tidy(() => tanh(matmul(r.X, P)))) : r.X, y: r.y }));
  const n = ds.train.classes, d = tr.X.shape[1];
  const model = linear(d, n);
  const w0 = own(model.initialize({ seed: o.seed, dtype }));
  const offDiagonal = (v: number) => Float64Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? 0 : v));
  const A = hyperparameter('A', own(K.tensor(offDiagonal(o.a), [n, n], { dtype })), { constraint: constraints.interactionMatrix() });
  const rho = hyperparameter('rho', o.rho, { dtype, constraint: constraints.nonNegative() });
  const lr = hyperparameter('lr', o.lr, { dtype, constraint: constraints.nonNegative() });
  const mu = hyperparameter('momentum', o.momentum, { dtype, constraint: constraints.box(0, 0.99) });
  const trainLoss = (w: Tensor, rhoV: Tensor | number, AV: Tensor) => {
    const W = model.layout.views(w).W;
    return add(add(model.crossEntropy(w, tr.X, tr.y), mul(vdot(W, W), rhoV)), interactionPenalty(W, AV));
  };
  const problem = bilevel({
    params: model, hyperparameters: [A, rho], init: w0,
    train: (w, h) => trainLoss(w, h.rho, h.A),
    valid: (w) => model.crossEntropy(w, va.X, va.y),
    dynamics: momentum({ lr, momentum: mu }),
  });
  const ho = new HyperOptimizer(problem, { method: 'reverse', T: o.T, outer: outerAdam({ lr: o.outerLr }), onWarning: () => undefined });
  const records: TaskInteractionRecord[] = [];
  const stop = hooks.cancel && hooks.signal ? AbortSignal.any([hooks.signal, hooks.cancel]) : hooks.cancel ?? hooks.signal;
  hooks.onPhase?.(`Reverse-HG on A (${n}×${n}), ρ, learning rate and momentum: ${o.hyperIterations} hyper-iterations of T = ${o.T}`);
  const { interrupted } = await runHyperIterations(ho, o.hyperIterations, stop, (it, rec) => {
    const a = A.value.toArray();
    let s = 0;
    for (let i = 0; i < a.length; i++) if (i % (n + 1) !== 0) s += a[i];
    const r: TaskInteractionRecord = { iteration: it, validation: rec.validation, rho: rho.value.item(), lr: lr.value.item(), momentum: mu.value.item(), meanA: s / (n * n - n), seconds: (Date.now() - t0) / 1000 };
    records.push(r);
    hooks.onRecord?.(r);
  });
  throwIfAborted(hooks.cancel);

  // Every final model trains T steps from w0 with the same dynamics; only the penalties differ.
  const trainAndTest = async (rhoV: number, AV: Tensor, lrV: number, muV: number): Promise<{ validation: number; testAccuracy: number }> => {
    const run = await optimizeAsync({ w0, steps: o.T, dynamics: momentum({ lr: lrV, momentum: muV }), loss: (w) => trainLoss(w, rhoV, AV), signal: hooks.cancel });
    const validation = tidy(() => model.crossEntropy(run.w, va.X, va.y).item());
    const testAccuracy = tidy(() => accuracy(model.apply(run.w, te.X), te.y));
    run.w.dispose();
    run.state.dispose();
    return { validation, testAccuracy };
  };
  hooks.onPhase?.('final model and baselines (single-task, naive multi-task) by grid search');
  const learnedFit = await trainAndTest(rho.value.item(), A.value, lr.value.item(), mu.value.item());
  const Aarr = A.value.toArray();
  const learned = { ...learnedFit, rho: rho.value.item(), lr: lr.value.item(), momentum: mu.value.item(), A: Array.from({ length: n }, (_, j) => Array.from(Aarr.subarray(j * n, (j + 1) * n))) };
  let baselines: TaskInteractionResult['baselines'] = null;
  if (!interrupted) {
    const grid = async (as: number[]) => {
      const out: FixedModel[] = [];
      for (const a of as) {
        const AV = K.tensor(offDiagonal(a), [n, n], { dtype });
        for (const r of RHO_GRID) out.push({ rho: r, a, ...(await trainAndTest(r, AV, o.lr, o.momentum)) });
        AV.dispose();
      }
      return out;
    };
    const best = (xs: FixedModel[]) => xs.reduce((p, q) => (q.validation < p.validation ? q : p));
    const stl = await grid([0]), nmtl = await grid(A_GRID);
    baselines = { singleTask: { ...best(stl), grid: stl }, naiveMultiTask: { ...best(nmtl), grid: nmtl } };
  }
  for (const t of owned) if (!t.isDisposed) t.dispose();
  return {
    settings: { ...o, datasetDescription: ds.description, classes: n, featureDim: d },
    records, learned, baselines, interrupted, seconds: (Date.now() - t0) / 1000,
  };
}
