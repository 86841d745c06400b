/**
 * Real-time tuning in the spirit of the paper's §5.3: RTHO adjusts the learning rate, the momentum
 * and one L2 coefficient per layer of an MLP while it trains on minibatches, every K steps, with
 * the weights and Z carried across updates (never restarted). Beside it, in the same run with the
 * same data, seed and minibatches, the two baselines that make its figure mean something: the
 * untuned model (the initial hyperparameters, trained as long as RTHO trains), and a random search
 * over the same hyperparameters given the same number of training steps in total (trials × steps
 * each = RTHO's steps), the best trial picked by validation error.
 */
import * as K from '../kernels';
import { Dataset, minibatchSchedule, range, toTensors } from '../data/dataset';
import { FloatDType, Device } from '../tensor/dtype';
import { ArgumentError } from '../errors/errors';
import { throwIfAborted } from '../util/stepwise';
import { Tensor } from '../tensor/tensor';
import { add, mul, square } from '../ops/elementwise';
import { sum } from '../ops/reduce';
import { gatherRows, slice } from '../ops/shape';
import { mlp } from '../models/models';
import { accuracy, crossEntropy } from '../models/losses';
import { momentum } from '../dynamics/dynamics';
import { optimizeAsync } from '../dynamics/optimize';
import { seededRandom } from '../data/random';
import { tidy } from '../tensor/scope';
import { hyperparameter } from '../hyperparameters/hyperparameter';
import { constraints } from '../hyperparameters/constraints';
import { bilevel } from '../hyper/problem';
import { HyperOptimizer } from '../hyper/hyperoptimizer';
import { adam as outerAdam } from '../hyper/outer';
import { resolveDatasetAsync } from './datasets';
import { evaluationSchedule, runHyperIterations } from './loop';

export interface TuneOptions {
  dataset: string;
  trainSize: number;
  validSize: number;
  testSize: number;
  hidden: number[];
  batchSize: number;
  /** training steps between hyperparameter updates */
  K: number;
  hyperIterations: number;
  lr: number;
  momentum: number;
  l2: number;
  outerLr: number;
  method: 'rtho' | 'trho';
  seed: number;
  dtype: FloatDType;
  device: Device;
  evalEvery: number;
  /** random-search trials sharing RTHO's training steps */
  searchTrials: number;
}

export const TUNE_DEFAULTS: TuneOptions = {
  dataset: 'embedded', trainSize: 6000, validSize: 2000, testSize: 2000, hidden: [64], batchSize: 100, K: 20,
  hyperIterations: 60, lr: 0.05, momentum: 0.5, l2: 1e-3, outerLr: 0.003, method: 'rtho', seed: 0, dtype: 'float32', device: 'cpu', evalEvery: 5,
  searchTrials: 6,
};

/**
 * The scale of the paper's §5.3 on the data here (its TIMIT phone classification is not available):
 * Fashion-MNIST from Debian, a two-hidden-layer MLP, 50 000 minibatch steps.
 */
export const TUNE_PAPER: Partial<TuneOptions> = {
  dataset: 'fashion-mnist', trainSize: 50000, validSize: 10000, testSize: 10000, hidden: [256, 256], batchSize: 100, K: 100,
  hyperIterations: 500, searchTrials: 10, evalEvery: 25,
};

/** One fixed setting trained from the initial weights: its validation error and test accuracy. */
export interface FixedRun {
  lr: number;
  momentum: number;
  l2: number[];
  steps: number;
  validation: number;
  testAccuracy: number;
}

/** The log's columns for `layers` weight matrices (one L2 coefficient each). */
export function tuneLogColumns(layers: number): string[] {
  return ['iteration', 'step', 'validation', 'testAccuracy', 'lr', 'momentum', ...Array.from({ length: layers }, (_, i) => `l2_${i + 1}`), 'seconds'];
}

export interface TuneRecord {
  iteration: number;
  step: number;
  validation: number;
  testAccuracy?: number;
  lr: number;
  momentum: number;
  [l2: string]: number | undefined;
  seconds: number;
}

export interface TuneResult {
  settings: TuneOptions & { datasetDescription: string };
  records: TuneRecord[];
  final: { testAccuracy: number; lr: number; momentum: number; l2: number[] };
  /** null when the run was interrupted before its baselines */
  baselines: { untuned: FixedRun; randomSearch: { trials: FixedRun[]; best: FixedRun } } | null;
  interrupted: boolean;
  seconds: number;
}

export async function runTune(
  options: Partial<TuneOptions>,
  hooks: {
    onRecord?: (r: TuneRecord) => void;
    /** ends the run within one inner step; the result reports what was done */
    signal?: AbortSignal;
    /** ends the run within one inner step: the promise rejects with an AbortError */
    cancel?: AbortSignal;
  } = {},
): Promise<TuneResult> {
  const o: TuneOptions = { ...TUNE_DEFAULTS, ...options };
  for (const k of ['trainSize', 'validSize', 'testSize', 'batchSize', 'K', 'hyperIterations', 'evalEvery', 'searchTrials'] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 1) throw new ArgumentError(`tune: '${k}' must be a positive integer, got ${String(o[k])}`);
  }
  if (!Array.isArray(o.hidden) || o.hidden.some((h) => !Number.isInteger(h) || h < 1)) throw new ArgumentError(`tune: 'hidden' must list positive layer widths`);
  if (o.batchSize > o.trainSize) throw new ArgumentError(`tune: 'batchSize' exceeds 'trainSize'`);
  const t0 = Date.now();
  const ds = await resolveDatasetAsync(o.dataset, o.seed, o.testSize);
  if (o.trainSize + o.validSize > ds.train.count) throw new ArgumentError(`tune: train + validation exceed the ${ds.train.count} training examples`);
  const train: Dataset = range(ds.train, 0, o.trainSize);
  const valid = range(ds.train, o.trainSize, o.trainSize + o.validSize);
  const test = range(ds.test, 0, Math.min(o.testSize, ds.test.count));
  const { dtype, device: dev } = o;
  const tr = toTensors(train, dtype, dev), va = toTensors(valid, dtype, dev), te = toTensors(test, dtype, dev);
  const widths = [train.dim, ...o.hidden, train.classes];
  const model = mlp(widths, { activation: 'relu' });
  const layers = widths.length - 1;
  const lr = hyperparameter('lr', o.lr, { dtype, constraint: constraints.nonNegative() });
  const mu = hyperparameter('momentum', o.momentum, { dtype, constraint: constraints.box(0, 0.99) });
  const l2 = hyperparameter('l2', new Array(layers).fill(o.l2), { dtype, constraint: constraints.nonNegative() });
  const batches = minibatchSchedule(train.count, o.batchSize, o.seed + 11);
  const batchCache = new Map<number, Tensor>();
  const batchIndices = (t: number) => {
    let b = batchCache.get(t);
    if (!b) {
      b = K.tensor(batches(t), undefined, { dtype: 'int32', device: dev });
      batchCache.set(t, b);
      if (batchCache.size > 4 * o.K) {
        const oldest = batchCache.keys().next().value as number;
        batchCache.get(oldest)!.dispose();
        batchCache.delete(oldest);
      }
    }
    return b;
  };
  const w0 = model.initialize({ seed: o.seed, dtype });
  const problem = bilevel({
    params: model,
    hyperparameters: [l2],
    init: w0,
    train: (w, h, t) => {
      const idx = batchIndices(t);
      const p = model.layout.views(w);
      let loss = crossEntropy(model.apply(w, gatherRows(tr.X, idx)), gatherRows(tr.y, idx));
      for (let l = 1; l <= layers; l++) loss = add(loss, mul(sum(square(p[`W${l}`])), mul(slice(h.l2, 0, l - 1, l), 0.5)));
      return loss;
    },
    valid: (w) => crossEntropy(model.apply(w, va.X), va.y),
    dynamics: momentum({ lr, momentum: mu }),
  });
  const records: TuneRecord[] = [];
  const ho = new HyperOptimizer(problem, HyperOptimizer.optionsFor(o.method, {
    K: o.K, outer: outerAdam({ lr: o.outerLr }), onWarning: () => undefined,
    evaluate: (w) => ({ testAccuracy: accuracy(model.apply(w, te.X), te.y) }),
    evaluateWhen: evaluationSchedule(o.hyperIterations, o.evalEvery),
  }));
  const stop = hooks.cancel && hooks.signal ? AbortSignal.any([hooks.signal, hooks.cancel]) : hooks.cancel ?? hooks.signal;
  const { interrupted } = await runHyperIterations(ho, o.hyperIterations, stop, (it, rec) => {
    const l2v = Array.from(l2.value.toArray());
    const r: TuneRecord = {
      iteration: it, step: it * o.K, validation: rec.validation,
      ...(rec.metrics ? { testAccuracy: rec.metrics.testAccuracy } : {}),
      lr: lr.value.item(), momentum: mu.value.item(),
      ...Object.fromEntries(l2v.map((v, i) => [`l2_${i + 1}`, v])),
      seconds: (Date.now() - t0) / 1000,
    };
    records.push(r);
    hooks.onRecord?.(r);
  });
  const lastAcc = [...records].reverse().find((r) => r.testAccuracy !== undefined)?.testAccuracy ?? NaN;

  // The baselines train with the same loss, minibatches and initial weights, without hypergradients.
  const trainFixed = async (lrV: number, muV: number, l2V: number[], steps: number): Promise<FixedRun> => {
    const run = await optimizeAsync({
      w0, steps, signal: hooks.cancel,
      dynamics: momentum({ lr: lrV, momentum: muV }),
      loss: (w, t) => {
        // a fresh index tensor (the step's scope frees it): the cache above belongs to RTHO's replays
        const idx = K.tensor(batches(t), undefined, { dtype: 'int32', device: dev });
        const p = model.layout.views(w);
        let loss = crossEntropy(model.apply(w, gatherRows(tr.X, idx)), gatherRows(tr.y, idx));
        for (let l = 1; l <= layers; l++) loss = add(loss, mul(sum(square(p[`W${l}`])), 0.5 * l2V[l - 1]));
        return loss;
      },
    });
    const validation = tidy(() => crossEntropy(model.apply(run.w, va.X), va.y).item());
    const testAccuracy = tidy(() => accuracy(model.apply(run.w, te.X), te.y));
    run.w.dispose();
    run.state.dispose();
    return { lr: lrV, momentum: muV, l2: l2V, steps, validation, testAccuracy };
  };
  let baselines: TuneResult['baselines'] = null;
  if (!interrupted) {
    const steps = o.hyperIterations * o.K;
    const untuned = await trainFixed(o.lr, o.momentum, new Array(layers).fill(o.l2), steps);
    // log-uniform around the initial values, momentum uniform: the same space RTHO moves in
    const r = seededRandom(o.seed + 101);
    const logUniform = (centre: number, decades: number) => centre * 10 ** (decades * (2 * r() - 1));
    const trials: FixedRun[] = [];
    for (let i = 0; i < o.searchTrials; i++) {
      const lrV = logUniform(o.lr, 1), muV = 0.95 * r(), l2V = Array.from({ length: layers }, () => logUniform(o.l2, 2));
      trials.push(await trainFixed(lrV, muV, l2V, Math.floor(steps / o.searchTrials)));
    }
    const best = trials.reduce((a, b) => (b.validation < a.validation ? b : a));
    baselines = { untuned, randomSearch: { trials, best } };
  }
  for (const b of batchCache.values()) b.dispose();
  for (const t of [tr.X, tr.y, va.X, va.y, te.X, te.y, w0]) t.dispose();
  throwIfAborted(hooks.cancel);
  return {
    settings: { ...o, datasetDescription: ds.description },
    records,
    final: { testAccuracy: lastAcc, lr: lr.value.item(), momentum: mu.value.item(), l2: Array.from(l2.value.toArray()) },
    baselines,
    interrupted,
    seconds: (Date.now() - t0) / 1000,
  };
}
