/**
 * Data hyper-cleaning (Franceschi et al. 2017, §5.1): learn one weight λ_i ∈ [0, 1] per training
 * example, with Σλ ≤ R, so that a linear softmax model trained on the weighted loss
 * (1/N) Σ λ_i CE_i does well on a clean validation set. Corrupted examples end with λ_i ≈ 0.
 */
import * as K from '../kernels';
import { Dataset, corruptLabels, range, subset, toTensors } from '../data/dataset';
import { FloatDType, Device } from '../tensor/dtype';
import { ArgumentError } from '../errors/errors';
import { throwIfAborted, yieldToEventLoop } from '../util/stepwise';
import { tidy } from '../tensor/scope';
import { Tensor } from '../tensor/tensor';
import { linear } from '../models/models';
import { accuracy } from '../models/losses';
import { gradientDescent } from '../dynamics/dynamics';
import { optimizeAsync } from '../dynamics/optimize';
import { hyperparameter } from '../hyperparameters/hyperparameter';
import { constraints } from '../hyperparameters/constraints';
import { bilevel } from '../hyper/problem';
import { HyperOptimizer, Method } from '../hyper/hyperoptimizer';
import { adam as outerAdam } from '../hyper/outer';
import { resolveDatasetAsync } from './datasets';
import { evaluationSchedule, runHyperIterations } from './loop';

export interface HyperCleaningOptions {
  dataset: string;
  trainSize: number;
  validSize: number;
  testSize: number;
  /** number of corrupted training labels */
  corrupted: number;
  R: number;
  T: number;
  hyperIterations: number;
  /** inner learning rate (default 0.1 N / R, as in the authors' script) */
  innerLr?: number;
  outerLr: number;
  method: Method;
  /** steps per update (rtho) or reversed steps (truncated) */
  K?: number;
  seed: number;
  dtype: FloatDType;
  device: Device;
  /** λ_i below this marks example i as detected corrupted */
  threshold: number;
  /** compute test accuracy every this many hyper-iterations (and at the last) */
  evalEvery: number;
}

export const HC_DEFAULTS: HyperCleaningOptions = {
  dataset: 'embedded', trainSize: 1000, validSize: 1000, testSize: 2000, corrupted: 500, R: 500, T: 200,
  hyperIterations: 150, outerLr: 0.01, method: 'reverse', seed: 0, dtype: 'float32', device: 'cpu', threshold: 1e-3, evalEvery: 5,
};

/** The paper's protocol (BENCHMARKS.md, HC). */
export const HC_PAPER: Partial<HyperCleaningOptions> = {
  dataset: 'fashion-mnist', trainSize: 5000, validSize: 5000, testSize: 10000, corrupted: 2500, R: 1000, T: 2000,
  hyperIterations: 500, outerLr: 0.005, evalEvery: 10,
};

export interface DetectionScores {
  precision: number;
  recall: number;
  f1: number;
  flagged: number;
}

/** The log's columns, in order (the CSV's header whether or not the first record has them all). */
export const HC_LOG_COLUMNS = ['iteration', 'validation', 'testAccuracy', 'precision', 'recall', 'f1', 'lambdaSum', 'hypergradNorm', 'seconds'] as const;

export interface HyperCleaningRecord {
  iteration: number;
  validation: number;
  testAccuracy?: number;
  precision: number;
  recall: number;
  f1: number;
  lambdaSum: number;
  hypergradNorm: number;
  seconds: number;
}

export interface HyperCleaningResult {
  settings: HyperCleaningOptions & { innerLr: number; datasetDescription: string };
  records: HyperCleaningRecord[];
  lambda: Float64Array;
  corruptedMask: Uint8Array;
  final: { testAccuracy: number } & DetectionScores;
  baseline: { testAccuracy: number };
  oracle: { testAccuracy: number };
  interrupted: boolean;
  seconds: number;
}

/**
 * Everything needed to continue a run where it stopped: the outer optimizer's snapshot (λ, Adam's
 * moments and step count), the records so far and the time spent. Data, splits, corruption and
 * initial weights are regenerated from the seed; a resumed run gives the same λ, bit for bit, as
 * an uninterrupted one.
 */
export interface HyperCleaningCheckpoint {
  version: 2;
  settings: HyperCleaningOptions;
  optimizer: ReturnType<HyperOptimizer['save']>;
  records: HyperCleaningRecord[];
  seconds: number;
}

export function detectionScores(lambda: ArrayLike<number>, corrupted: Uint8Array, threshold: number): DetectionScores {
  let tp = 0, fp = 0, fn = 0;
  for (let i = 0; i < corrupted.length; i++) {
    const flagged = lambda[i] < threshold;
    if (flagged && corrupted[i]) tp++;
    else if (flagged) fp++;
    else if (corrupted[i]) fn++;
  }
  const precision = tp + fp ? tp / (tp + fp) : 0;
  const recall = tp + fn ? tp / (tp + fn) : 0;
  const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f1, flagged: tp + fp };
}

/** The kind and format version of hyper-cleaning checkpoint files (report/stateFile). */
export const HC_CHECKPOINT_KIND = 'hyper-cleaning-checkpoint';
export const HC_CHECKPOINT_VERSION = 2;

/**
 * Checks that a parsed checkpoint has the shape of one (every setting with its type, the
 * optimizer snapshot, the records); the values of the snapshot are checked by
 * HyperOptimizer.restore, the settings against the run's by runHyperCleaning.
 */
export function checkHyperCleaningCheckpoint(c: unknown): HyperCleaningCheckpoint {
  const cp = c as HyperCleaningCheckpoint;
  if (!cp || typeof cp !== 'object' || cp.version !== HC_CHECKPOINT_VERSION) throw new ArgumentError('not a hyper-cleaning checkpoint of this version');
  if (!cp.settings || typeof cp.settings !== 'object') throw new ArgumentError(`the checkpoint has no settings`);
  for (const [k, def] of Object.entries(HC_DEFAULTS)) {
    const v = (cp.settings as unknown as Record<string, unknown>)[k];
    if (typeof v !== typeof def) throw new ArgumentError(`the checkpoint's setting '${k}' is ${JSON.stringify(v)?.slice(0, 40)}, not a ${typeof def}`);
  }
  for (const k of ['innerLr', 'K'] as const) {
    const v = cp.settings[k];
    if (v !== undefined && typeof v !== 'number') throw new ArgumentError(`the checkpoint's setting '${k}' is not a number`);
  }
  validate(cp.settings);
  if (!cp.optimizer || typeof cp.optimizer !== 'object') throw new ArgumentError('the checkpoint has no optimizer snapshot');
  if (!Array.isArray(cp.records) || cp.records.some((r, i) => !r || typeof r !== 'object' || r.iteration !== i + 1)) throw new ArgumentError('the checkpoint has records out of order');
  if (typeof cp.seconds !== 'number' || !(cp.seconds >= 0)) throw new ArgumentError('the checkpoint has no elapsed time');
  return cp;
}

/** Throws an ArgumentError naming the first bad option (before any data is loaded or folder made). */
export function checkHyperCleaningOptions(options: Partial<HyperCleaningOptions>): void {
  validate({ ...HC_DEFAULTS, ...options });
}

function validate(o: HyperCleaningOptions): void {
  const ints: (keyof HyperCleaningOptions)[] = ['trainSize', 'validSize', 'testSize', 'corrupted', 'T', 'hyperIterations', 'seed', 'evalEvery'];
  for (const k of ints) {
    const v = o[k] as number;
    if (!Number.isInteger(v) || v < 0) throw new ArgumentError(`hyper-cleaning: '${k}' must be a non-negative integer, got ${String(v)}`);
  }
  if (o.trainSize < 1 || o.validSize < 1 || o.testSize < 1) throw new ArgumentError(`hyper-cleaning: the train, validation and test sizes must be positive`);
  if (o.corrupted > o.trainSize) throw new ArgumentError(`hyper-cleaning: 'corrupted' (${o.corrupted}) exceeds 'trainSize' (${o.trainSize})`);
  if (!(o.R > 0) || o.R > o.trainSize) throw new ArgumentError(`hyper-cleaning: 'R' must be in (0, trainSize], got ${o.R}`);
  if (!(o.outerLr > 0)) throw new ArgumentError(`hyper-cleaning: 'outerLr' must be positive, got ${o.outerLr}`);
  if (o.innerLr !== undefined && !(o.innerLr > 0)) throw new ArgumentError(`hyper-cleaning: 'innerLr' must be positive, got ${o.innerLr}`);
  if (o.evalEvery < 1) throw new ArgumentError(`hyper-cleaning: 'evalEvery' must be >= 1`);
}

function checkResumable(c: HyperCleaningCheckpoint, o: HyperCleaningOptions): void {
  try {
    checkHyperCleaningCheckpoint(c);
  } catch (e) {
    throw new ArgumentError(`hyper-cleaning: the checkpoint to resume from is not a hyper-cleaning checkpoint (${(e as Error).message})`);
  }
  // Everything that shapes the trajectory must match; the number of hyper-iterations may grow.
  for (const k of Object.keys(o) as (keyof HyperCleaningOptions)[]) {
    if (k !== 'hyperIterations' && c.settings[k] !== o[k]) throw new ArgumentError(`hyper-cleaning: cannot resume: the checkpoint has ${k} = ${String(c.settings[k])}, this run ${String(o[k])}`);
  }
  if (c.optimizer.iteration !== c.records.length) throw new ArgumentError('hyper-cleaning: the checkpoint is inconsistent (iterations and records differ)');
  // Equal: the hyper-iterations are done and only the final models are left (killed during them).
  if (c.records.length > o.hyperIterations) {
    throw new ArgumentError(`hyper-cleaning: the run has already done ${c.records.length} hyper-iterations, more than the ${o.hyperIterations} asked for`);
  }
}

/** Trains the linear model for T steps of GD on (weighted) cross-entropy and returns test accuracy. */
async function trainAndTest(X: Tensor, y: Tensor, weights: Tensor | null, lr: number, T: number, test: { X: Tensor; y: Tensor }, dtype: FloatDType, signal?: AbortSignal): Promise<number> {
  const model = linear(X.shape[1], 10);
  const w0 = model.initialize({ seed: 0, dtype });
  try {
    const res = await optimizeAsync({
      w0,
      loss: (w) => model.crossEntropy(w, X, y, { weights }),
      dynamics: gradientDescent({ lr }),
      steps: T,
      signal,
    });
    const acc = tidy(() => accuracy(model.apply(res.w, test.X), test.y));
    res.w.dispose();
    res.state.dispose();
    return acc;
  } finally {
    w0.dispose();
  }
}

export async function runHyperCleaning(
  options: Partial<HyperCleaningOptions>,
  hooks: {
    onRecord?: (r: HyperCleaningRecord) => void; onPhase?: (phase: string) => void;
    /** ends the hyper-iterations within one inner step; the final models are still trained and reported */
    signal?: AbortSignal;
    /** ends everything within one inner step: the promise rejects with an AbortError */
    cancel?: AbortSignal;
    /** called after every hyper-iteration with what `resume` needs to continue from there */
    onCheckpoint?: (c: HyperCleaningCheckpoint) => void;
    /** continue from this checkpoint (its settings must equal the options') */
    resume?: HyperCleaningCheckpoint;
    /** the mask of corrupted training examples, once the data is ready */
    onData?: (corrupted: Uint8Array) => void;
    /** called once the checkpoint is accepted whole, before the first new hyper-iteration */
    onResume?: (c: HyperCleaningCheckpoint) => void;
  } = {},
): Promise<HyperCleaningResult> {
  const o: HyperCleaningOptions = { ...HC_DEFAULTS, ...options };
  validate(o);
  if (hooks.resume) checkResumable(hooks.resume, o);
  // wall time counts the time spent before a resume
  const t0 = Date.now() - 1000 * (hooks.resume?.seconds ?? 0);
  hooks.onPhase?.('loading data');
  const ds = await resolveDatasetAsync(o.dataset, o.seed, o.testSize);
  if (o.trainSize + o.validSize > ds.train.count) {
    throw new ArgumentError(`hyper-cleaning: train + validation (${o.trainSize + o.validSize}) exceed the ${ds.train.count} training examples of '${o.dataset}'`);
  }
  if (o.testSize > ds.test.count) throw new ArgumentError(`hyper-cleaning: 'testSize' ${o.testSize} exceeds the ${ds.test.count} test examples`);
  const trainClean: Dataset = range(ds.train, 0, o.trainSize);
  const valid = range(ds.train, o.trainSize, o.trainSize + o.validSize);
  const test = range(ds.test, 0, o.testSize);
  const { labels: noisy, corrupted: mask } = corruptLabels(trainClean.labels, o.corrupted, trainClean.classes, o.seed + 1);
  const train: Dataset = { ...trainClean, labels: noisy };
  const N = o.trainSize;
  const innerLr = o.innerLr ?? (0.1 * N) / o.R;
  const dtype = o.dtype;
  const dev = o.device;
  const owned: { dispose(): void; readonly isDisposed: boolean }[] = [];
  const own = <T extends { dispose(): void; readonly isDisposed: boolean }>(x: T): T => (owned.push(x), x);
  try {
    await yieldToEventLoop();
    const tr = toTensors(train, dtype, dev), va = toTensors(valid, dtype, dev), te = toTensors(test, dtype, dev);
    [tr.X, tr.y, va.X, va.y, te.X, te.y].forEach(own);

    hooks.onData?.(mask);
    const model = linear(train.dim, train.classes);
    const lam0 = own(K.full([N], o.R / N, { dtype, device: dev }));
    const lam = hyperparameter('lambda', lam0, { constraint: constraints.cappedSimplex(o.R) });
    own({ dispose: () => lam.value.dispose(), get isDisposed() { return lam.value.isDisposed; } });
    const w0 = own(model.initialize({ seed: o.seed, dtype }));
    const problem = bilevel({
      params: model,
      hyperparameters: [lam],
      init: dev === 'cpu' ? w0 : own(K.toDevice(w0, dev)),
      train: (w, h) => model.crossEntropy(w, tr.X, tr.y, { weights: h.lambda }),
      valid: (w) => model.crossEntropy(w, va.X, va.y),
      dynamics: gradientDescent({ lr: innerLr }),
    });
    const records: HyperCleaningRecord[] = [];
    const ho = new HyperOptimizer(problem, HyperOptimizer.optionsFor(o.method, {
      T: o.T,
      K: o.K ?? Math.max(1, Math.floor(o.T / 10)),
      outer: outerAdam({ lr: o.outerLr }),
      onWarning: () => undefined,
      evaluate: (w) => ({ testAccuracy: accuracy(model.apply(w, te.X), te.y) }),
      evaluateWhen: evaluationSchedule(o.hyperIterations, o.evalEvery),
    }));
    if (hooks.resume) {
      ho.restore(hooks.resume.optimizer);
      records.push(...hooks.resume.records);
      hooks.onResume?.(hooks.resume);
      hooks.onPhase?.(`resumed after hyper-iteration ${hooks.resume.optimizer.iteration}`);
    }
    hooks.onPhase?.('hyper-cleaning');
    const first = (hooks.resume?.optimizer.iteration ?? 0) + 1;
    const stop = hooks.cancel && hooks.signal ? AbortSignal.any([hooks.signal, hooks.cancel]) : hooks.cancel ?? hooks.signal;
    const run = await runHyperIterations(ho, o.hyperIterations, stop, (it, rec) => {
      const lamArr = lam.value.toArray();
      let lambdaSum = 0;
      for (const v of lamArr) lambdaSum += v;
      const det = detectionScores(lamArr, mask, o.threshold);
      const r: HyperCleaningRecord = {
        iteration: it,
        validation: rec.validation,
        ...(rec.metrics ? { testAccuracy: rec.metrics.testAccuracy } : {}),
        precision: det.precision, recall: det.recall, f1: det.f1,
        lambdaSum,
        hypergradNorm: rec.hypergradNorms.lambda,
        seconds: (Date.now() - t0) / 1000,
      };
      records.push(r);
      // The checkpoint first: a log line never runs ahead of the state it describes.
      hooks.onCheckpoint?.({ version: HC_CHECKPOINT_VERSION, settings: o, optimizer: ho.save(), records: records.slice(), seconds: r.seconds });
      hooks.onRecord?.(r);
    }, first);
    throwIfAborted(hooks.cancel);
    const interrupted = run.interrupted;
    if (run.divergence) hooks.onPhase?.(`stopped: ${run.divergence.message}`); // the last good λ stays
    const lambda = Float64Array.from(lam.value.toArray());
    hooks.onPhase?.('final model, baseline and oracle');
    // All three final models train on train ∪ validation for T steps of GD: Baseline with every
    // weight 1, Oracle without the corrupted examples, and ours with the learned λ on the training
    // part (validation examples weigh 1). Ours scales the step so that its average weight matches.
    const both = { ...train, images: concatF32(train.images, valid.images), labels: concatI32(train.labels, valid.labels), count: train.count + valid.count };
    await yieldToEventLoop();
    const bt = toTensors(both, dtype, dev);
    [bt.X, bt.y].forEach(own);
    await yieldToEventLoop();
    const weights = own(K.tensor(Float64Array.from([...lambda, ...new Array(valid.count).fill(1)]), [both.count], { dtype, device: dev }));
    const totalWeight = lambda.reduce((a, b) => a + b, 0) + valid.count;
    const finalAcc = await trainAndTest(bt.X, bt.y, weights, (0.1 * both.count) / Math.max(totalWeight, 1e-12), o.T, te, dtype, hooks.cancel);
    const baselineAcc = await trainAndTest(bt.X, bt.y, null, 0.1, o.T, te, dtype, hooks.cancel);
    const cleanIdx: number[] = [];
    for (let i = 0; i < both.count; i++) if (i >= N || !mask[i]) cleanIdx.push(i);
    await yieldToEventLoop();
    const oracleSet = toTensors(subset(both, cleanIdx), dtype, dev);
    [oracleSet.X, oracleSet.y].forEach(own);
    await yieldToEventLoop();
    const oracleAcc = await trainAndTest(oracleSet.X, oracleSet.y, null, 0.1, o.T, te, dtype, hooks.cancel);
    return {
      settings: { ...o, innerLr, datasetDescription: ds.description },
      records,
      lambda,
      corruptedMask: mask,
      final: { testAccuracy: finalAcc, ...detectionScores(lambda, mask, o.threshold) },
      baseline: { testAccuracy: baselineAcc },
      oracle: { testAccuracy: oracleAcc },
      interrupted,
      seconds: (Date.now() - t0) / 1000,
    };
  } finally {
    for (const x of owned) if (!x.isDisposed) x.dispose();
  }
}

function concatF32(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
function concatI32(a: Int32Array, b: Int32Array): Int32Array {
  const out = new Int32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
