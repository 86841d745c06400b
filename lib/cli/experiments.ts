/** `rfho hyper-cleaning` and `rfho tune`: the paper's experiments, run in this process as job kinds. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HC_DEFAULTS, HC_PAPER, HyperCleaningCheckpoint, HyperCleaningOptions, HyperCleaningRecord, checkHyperCleaningOptions } from '../experiments/hyperCleaning';
import { TUNE_DEFAULTS, TUNE_PAPER, TuneOptions, TuneRecord } from '../experiments/tune';
import { hyperCleaningKind, readHyperCleaningCheckpoint } from '../jobs/kinds/hyperCleaning';
import { tuneKind } from '../jobs/kinds/tune';
import { taskInteractionsKind } from '../jobs/kinds/taskInteractions';
import { TI_DEFAULTS, TI_PAPER, TaskInteractionOptions, TaskInteractionRecord } from '../experiments/taskInteractions';
import { createProgress } from '../report/progress';
import { RunFolder } from '../report/output';
import { EXIT, UsageError, checkDevice, interruptible, newRunFolder, stripUndefined } from './options';

/** Options both experiments take (commander's camelCase names). */
export interface CommonOptions {
  dataset?: string;
  seed?: number;
  dtype?: 'float32' | 'float64';
  device?: 'cpu' | 'cuda';
  out?: string;
  json?: boolean;
  quiet?: boolean;
  trainSize?: number;
  validSize?: number;
  testSize?: number;
  iterations?: number;
  outerLr?: number;
  method?: string;
  K?: number;
  evalEvery?: number;
}

export interface HyperCleaningCliOptions extends CommonOptions {
  paper?: boolean;
  corrupted?: number;
  R?: number;
  T?: number;
  innerLr?: number;
  resume?: string;
}

/** What may go with --resume: a resumed run keeps its settings, only its length may change. */
const RESUME_COMPATIBLE = new Set(['resume', 'iterations', 'quiet', 'json']);

/**
 * What a run folder to resume holds: its checkpoint (written after every hyper-iteration), checked
 * whole — a damaged one is a StateFileError naming the file and the reason — or, for a run killed
 * before its first checkpoint, only its settings, to begin again with.
 */
function readResumable(dir: string): { checkpoint?: HyperCleaningCheckpoint; settings: Partial<HyperCleaningOptions> } {
  const file = path.join(dir, 'checkpoint.json'), settingsFile = path.join(dir, 'settings.json');
  if (fs.existsSync(file)) {
    const checkpoint = readHyperCleaningCheckpoint(file);
    return { checkpoint, settings: checkpoint.settings };
  }
  if (!fs.existsSync(settingsFile)) throw new UsageError(`--resume: ${file} does not exist (is '${dir}' the output folder of a hyper-cleaning run?)`);
  let saved: Record<string, unknown>;
  try {
    saved = JSON.parse(fs.readFileSync(settingsFile, 'utf8'));
    const known = new Set([...Object.keys(HC_DEFAULTS), 'innerLr', 'K']);
    saved = Object.fromEntries(Object.entries(saved).filter(([k]) => known.has(k)));
    checkHyperCleaningOptions(saved as Partial<HyperCleaningOptions>);
  } catch (e) {
    throw new UsageError(`--resume: ${file} does not exist and ${settingsFile} is not usable (${(e as Error).message})`);
  }
  return { settings: saved as Partial<HyperCleaningOptions> };
}

/** Commander's names back to the flags a user typed, for messages. */
const flag = (key: string) => `--${key.replace(/[A-Z]/g, (c, i) => (i === 0 || key.length === 1 ? c : `-${c.toLowerCase()}`))}`;

export async function hyperCleaning(v: HyperCleaningCliOptions): Promise<number> {
  let opts: Partial<HyperCleaningOptions>;
  let resume: HyperCleaningCheckpoint | undefined;
  if (v.resume !== undefined) {
    const extra = Object.keys(v).filter((k) => (v as Record<string, unknown>)[k] !== undefined && !RESUME_COMPATIBLE.has(k));
    if (extra.length) throw new UsageError(`--resume continues a run with its own settings; it cannot be combined with ${extra.map(flag).join(', ')} (only --iterations, --quiet, --json)`);
    const found = readResumable(v.resume);
    resume = found.checkpoint;
    opts = { ...found.settings, ...stripUndefined({ hyperIterations: v.iterations }) };
    const done = resume?.records.length ?? 0;
    if (resume && fs.existsSync(path.join(v.resume, 'summary.json')) && done >= (opts.hyperIterations ?? HC_DEFAULTS.hyperIterations)) {
      throw new Error(`hyper-cleaning: the run in ${v.resume} is finished: it has already done ${done} of ${opts.hyperIterations} hyper-iterations; ask for more (--iterations) to extend it`);
    }
  } else {
    checkDevice(v.device);
    opts = {
      ...(v.paper ? HC_PAPER : {}),
      ...stripUndefined({
        dataset: v.dataset, trainSize: v.trainSize, validSize: v.validSize, testSize: v.testSize, corrupted: v.corrupted,
        R: v.R, T: v.T, hyperIterations: v.iterations, innerLr: v.innerLr, outerLr: v.outerLr,
        method: v.method as HyperCleaningOptions['method'] | undefined, K: v.K, evalEvery: v.evalEvery, dtype: v.dtype, device: v.device, seed: v.seed,
      }),
    };
  }
  const settings = { ...HC_DEFAULTS, ...opts };
  try {
    checkHyperCleaningOptions(settings);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  // The CLI runs the job kind in this process: the same code as a job in a worker thread.
  // Nothing in a resumed folder changes until its checkpoint is accepted whole.
  const folder = v.resume !== undefined ? RunFolder.open(v.resume) : newRunFolder(v.out, 'hyper-cleaning');
  const quiet = !!v.quiet || !!v.json;
  const progress = createProgress(settings.hyperIterations, { label: 'hyper-cleaning', quiet });
  progress.log(`rfho hyper-cleaning: ${settings.dataset}, N=${settings.trainSize} (${settings.corrupted} corrupted), R=${settings.R}, T=${settings.T}, ${settings.hyperIterations} iterations, ${settings.method}, ${settings.dtype}`);
  const ac = interruptible();
  const jobOptions = resume ? stripUndefined({ hyperIterations: v.iterations }) : opts;
  const summary = await hyperCleaningKind.run(jobOptions as Record<string, unknown>, {
    folder,
    resume: v.resume !== undefined,
    stop: ac.signal,
    onPhase: (p) => progress.log(`- ${p}`),
    onRecord: (rec) => {
      const r = rec as unknown as HyperCleaningRecord;
      progress.update(r.iteration, `val ${r.validation.toFixed(4)}${r.testAccuracy !== undefined ? ` acc ${(100 * r.testAccuracy).toFixed(2)}%` : ''} F1 ${r.f1.toFixed(3)}`);
    },
  });
  progress.finish();
  const { files, ...line } = summary;
  if (v.json) process.stdout.write(JSON.stringify(line) + '\n');
  else {
    const pct = (x: unknown) => `${(100 * (x as number)).toFixed(2)}%`;
    console.log(`\ntest accuracy: learned weights ${pct(summary.testAccuracy)} | baseline ${pct(summary.baselineAccuracy)} | oracle ${pct(summary.oracleAccuracy)}`);
    console.log(`detector λ < ${summary.threshold}: precision ${(summary.precision as number).toFixed(3)}, recall ${(summary.recall as number).toFixed(3)}, F1 ${(summary.f1 as number).toFixed(3)} (${summary.flagged} flagged)`);
    console.log(`report: ${summary.out} (${(files as string[]).join(', ')})`);
  }
  return summary.interrupted ? EXIT.interrupted : EXIT.ok;
}

export interface TuneCliOptions extends CommonOptions {
  paper?: boolean;
  searchTrials?: number;
  hidden?: number[];
  batchSize?: number;
  lr?: number;
  momentum?: number;
  l2?: number;
}

export async function tune(v: TuneCliOptions): Promise<number> {
  checkDevice(v.device);
  const opts: Partial<TuneOptions> = {
    ...(v.paper ? TUNE_PAPER : {}),
    ...stripUndefined({
    dataset: v.dataset, trainSize: v.trainSize, validSize: v.validSize, testSize: v.testSize, hidden: v.hidden, batchSize: v.batchSize, K: v.K,
    hyperIterations: v.iterations, lr: v.lr, momentum: v.momentum, l2: v.l2, outerLr: v.outerLr, method: v.method as TuneOptions['method'] | undefined,
    evalEvery: v.evalEvery, dtype: v.dtype, device: v.device, seed: v.seed, searchTrials: v.searchTrials,
    }),
  };
  const settings = { ...TUNE_DEFAULTS, ...opts };
  try {
    tuneKind.checkOptions(opts as Record<string, unknown>);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const folder = newRunFolder(v.out, 'tune');
  const quiet = !!v.quiet || !!v.json;
  const progress = createProgress(settings.hyperIterations, { label: 'tune', quiet });
  progress.log(`rfho tune: ${settings.dataset}, MLP ${settings.hidden.join('-')}, batch ${settings.batchSize}, K=${settings.K}, ${settings.hyperIterations} updates, ${settings.method}`);
  const ac = interruptible();
  const summary = await tuneKind.run(opts as Record<string, unknown>, {
    folder,
    resume: false,
    stop: ac.signal,
    onRecord: (rec) => {
      const r = rec as unknown as TuneRecord;
      progress.update(r.iteration, `val ${r.validation.toFixed(4)} lr ${r.lr.toPrecision(3)} μ ${r.momentum.toFixed(3)}${r.testAccuracy !== undefined ? ` acc ${(100 * r.testAccuracy).toFixed(2)}%` : ''}`);
    },
  });
  progress.finish();
  const { files, ...line } = summary;
  if (v.json) process.stdout.write(JSON.stringify(line) + '\n');
  else {
    if (typeof summary.untunedAccuracy === 'number') {
      console.log(`\ntest accuracy: RTHO ${(100 * (summary.testAccuracy as number)).toFixed(2)}% | untuned ${(100 * summary.untunedAccuracy).toFixed(2)}% | random search, ${summary.randomSearchTrials} trials, same steps in total ${(100 * (summary.randomSearchAccuracy as number)).toFixed(2)}%`);
    }
    console.log(`final: test accuracy ${(100 * (summary.testAccuracy as number)).toFixed(2)}%, lr ${(summary.lr as number).toPrecision(4)}, momentum ${(summary.momentum as number).toFixed(4)}, L2 ${(summary.l2 as number[]).map((x) => x.toPrecision(3)).join(', ')}`);
    console.log(`report: ${summary.out} (${(files as string[]).join(', ')})`);
  }
  return summary.interrupted ? EXIT.interrupted : EXIT.ok;
}

export interface TaskInteractionsCliOptions extends Omit<CommonOptions, 'device' | 'method' | 'K' | 'evalEvery'> {
  paper?: boolean;
  features?: 'raw' | 'projection';
  projectionDim?: number;
  T?: number;
  lr?: number;
  momentum?: number;
  rho?: number;
  a?: number;
}

export async function taskInteractions(v: TaskInteractionsCliOptions): Promise<number> {
  const opts: Partial<TaskInteractionOptions> = {
    ...(v.paper ? TI_PAPER : {}),
    ...stripUndefined({
      dataset: v.dataset, trainSize: v.trainSize, validSize: v.validSize, testSize: v.testSize, features: v.features, projectionDim: v.projectionDim,
      T: v.T, hyperIterations: v.iterations, lr: v.lr, momentum: v.momentum, rho: v.rho, a: v.a, outerLr: v.outerLr, seed: v.seed, dtype: v.dtype,
    }),
  };
  try {
    taskInteractionsKind.checkOptions(opts as Record<string, unknown>);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const settings = { ...TI_DEFAULTS, ...opts };
  const folder = newRunFolder(v.out, 'task-interactions');
  const quiet = !!v.quiet || !!v.json;
  const progress = createProgress(settings.hyperIterations, { label: 'task-interactions', quiet });
  progress.log(`rfho task-interactions: ${settings.dataset}, ${settings.features} features, N=${settings.trainSize}, T=${settings.T}, ${settings.hyperIterations} iterations`);
  const ac = interruptible();
  const summary = await taskInteractionsKind.run(opts as Record<string, unknown>, {
    folder, resume: false, stop: ac.signal, onPhase: (p) => progress.log(`- ${p}`),
    onRecord: (rec) => {
      const r = rec as unknown as TaskInteractionRecord;
      progress.update(r.iteration, `val ${r.validation.toFixed(4)} ρ ${r.rho.toPrecision(3)} mean A ${r.meanA.toPrecision(3)}`);
    },
  });
  progress.finish();
  const { files, ...line } = summary;
  if (v.json) process.stdout.write(JSON.stringify(line) + '\n');
  else {
    const pct = (x: unknown) => (typeof x === 'number' ? `${(100 * x).toFixed(2)}%` : '—');
    console.log(`\ntest accuracy: learned A, ρ ${pct(summary.testAccuracy)} | single-task (ρ grid) ${pct(summary.singleTaskAccuracy)} | naive multi-task (ρ, a grid) ${pct(summary.naiveMultiTaskAccuracy)}`);
    console.log(`report: ${summary.out} (${(files as string[]).join(', ')})`);
  }
  return summary.interrupted ? EXIT.interrupted : EXIT.ok;
}
