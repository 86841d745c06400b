/** The hyper-cleaning experiment as a job kind: its run, checkpoints after every hyper-iteration, and its report. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  HC_CHECKPOINT_KIND, HC_CHECKPOINT_VERSION, HC_DEFAULTS, HyperCleaningCheckpoint, HyperCleaningOptions, HyperCleaningRecord,
  checkHyperCleaningCheckpoint, checkHyperCleaningOptions, runHyperCleaning, HC_LOG_COLUMNS,
} from '../../experiments/hyperCleaning';
import { barChart, histogram, lineChart, withRule } from '../../report/plots';
import { readStateFile, writeStateFile } from '../../report/stateFile';
import { ArgumentError } from '../../errors/errors';
import { JobContext, JobKind, JobSummary, NamedChart, loggedRecords, readFolderJson, refuseUnknown } from './types';
import { writeReport } from './report';

const OPTION_NAMES = [...Object.keys(HC_DEFAULTS), 'innerLr', 'K'];

function checkOptions(options: Record<string, unknown>): void {
  if (!options || typeof options !== 'object' || Array.isArray(options)) throw new ArgumentError(`hyper-cleaning: 'options' must be an object`);
  refuseUnknown('hyper-cleaning', options, OPTION_NAMES);
  for (const [k, v] of Object.entries(options)) {
    const def = (HC_DEFAULTS as unknown as Record<string, unknown>)[k];
    const type = def === undefined ? 'number' : typeof def;
    if (typeof v !== type) throw new ArgumentError(`hyper-cleaning: option '${k}' must be a ${type}, got ${JSON.stringify(v)?.slice(0, 40)}`);
  }
  checkHyperCleaningOptions(options as Partial<HyperCleaningOptions>);
}

/** The checkpoint in a run folder, checked whole (StateFileError naming the file otherwise). */
export function readHyperCleaningCheckpoint(file: string): HyperCleaningCheckpoint {
  return readStateFile(file, HC_CHECKPOINT_KIND, HC_CHECKPOINT_VERSION, checkHyperCleaningCheckpoint);
}

async function run(options: Record<string, unknown>, ctx: JobContext): Promise<JobSummary> {
  checkOptions(options);
  const { folder } = ctx;
  const cpFile = folder.file('checkpoint.json');
  const resume = ctx.resume && fs.existsSync(cpFile) ? readHyperCleaningCheckpoint(cpFile) : undefined;
  // A resumed run keeps its settings; only the number of hyper-iterations may grow.
  const opts: Partial<HyperCleaningOptions> = resume
    ? { ...resume.settings, ...(options.hyperIterations !== undefined ? { hyperIterations: options.hyperIterations as number } : {}) }
    : (options as Partial<HyperCleaningOptions>);
  const settings = { ...HC_DEFAULTS, ...opts };
  folder.setLogColumns(HC_LOG_COLUMNS);
  if (ctx.resume && !resume) {
    // Killed before its first checkpoint: nothing to keep; begin again in the same folder.
    folder.removeStaleTemporaries();
    folder.restartLog([]);
  }
  if (!resume) folder.writeJson('settings.json', settings);
  const result = await runHyperCleaning(opts, {
    signal: ctx.stop,
    cancel: ctx.cancel,
    resume,
    // Nothing in the folder changes until the checkpoint is accepted whole.
    onResume: (cp) => {
      folder.removeStaleTemporaries();
      folder.restartLog(cp.records as unknown as Record<string, unknown>[]);
    },
    onCheckpoint: (cp) => writeStateFile(cpFile, HC_CHECKPOINT_KIND, HC_CHECKPOINT_VERSION, cp),
    onPhase: ctx.onPhase,
    onData: (mask) => folder.writeJson('corrupted.json', { corrupted: Array.from(mask) }),
    onRecord: (r) => {
      folder.appendLog({ ...r });
      ctx.onRecord?.({ ...r });
    },
  });
  folder.writeJson('settings.json', result.settings);
  folder.writeJson('hyperparameters.json', { lambda: Array.from(result.lambda), corrupted: Array.from(result.corruptedMask) });
  const summary: JobSummary = {
    experiment: 'hyper-cleaning', dataset: result.settings.dataset, iterations: result.records.length, interrupted: result.interrupted,
    testAccuracy: result.final.testAccuracy, baselineAccuracy: result.baseline.testAccuracy, oracleAccuracy: result.oracle.testAccuracy,
    precision: result.final.precision, recall: result.final.recall, f1: result.final.f1, flagged: result.final.flagged, threshold: result.settings.threshold,
    validation: result.records.at(-1)?.validation ?? null, seconds: result.seconds, out: path.resolve(folder.dir),
  };
  return writeReport(folder, summary, charts, ['settings.json', 'log.jsonl', 'log.csv', 'hyperparameters.json']);
}

/** λ now: the final values of a finished run, else the last checkpoint's. */
function currentLambda(dir: string): number[] | null {
  const finished = readFolderJson(path.join(dir, 'hyperparameters.json'));
  if (finished) return finished.lambda as number[];
  try {
    return readHyperCleaningCheckpoint(path.join(dir, 'checkpoint.json')).optimizer.hyper.lambda.value;
  } catch {
    return null;
  }
}

/**
 * The report's charts: the headline (Baseline, Oracle and learned test accuracy; the detector's
 * precision, recall and F1) once the run is finished, validation error, test accuracy and F1 by
 * hyper-iteration, and the histogram of λ (clean against corrupted) with the detector's threshold.
 */
function charts(dir: string): NamedChart[] {
  const recs = loggedRecords(dir) as unknown as HyperCleaningRecord[];
  const summary = readFolderJson(path.join(dir, 'summary.json'));
  const threshold = Number((summary?.threshold ?? readFolderJson(path.join(dir, 'settings.json'))?.threshold) ?? HC_DEFAULTS.threshold);
  const out: NamedChart[] = [];
  if (summary && typeof summary.testAccuracy === 'number') {
    const detector = `detector λ < ${threshold}`;
    out.push({ name: 'headline', spec: barChart({
      title: { text: 'Data hyper-cleaning: final models and the detector', subtitle: 'each model trains on training ∪ validation; learned λ weighs the training examples' },
      x: 'model', y: 'value', panel: 'panel', yTitle: '',
      data: [
        { panel: 'test accuracy', model: 'Baseline', value: summary.baselineAccuracy },
        { panel: 'test accuracy', model: 'Oracle', value: summary.oracleAccuracy },
        { panel: 'test accuracy', model: 'learned λ', value: summary.testAccuracy },
        { panel: detector, model: 'precision', value: summary.precision },
        { panel: detector, model: 'recall', value: summary.recall },
        { panel: detector, model: 'F1', value: summary.f1 },
      ],
    }) });
  }
  out.push(
    { name: 'validation', spec: lineChart({ title: 'Validation error', data: recs.map((r) => ({ iteration: r.iteration, 'validation CE': r.validation })), x: 'iteration', y: 'validation CE', xTitle: 'hyper-iteration', yTitle: 'validation cross-entropy' }) },
    { name: 'accuracy_f1', spec: lineChart({
      title: { text: `Test accuracy and F1 of the detector λ < ${threshold}`, subtitle: 'test accuracy: a model trained on the training part with the current λ' },
      data: recs.flatMap((r) => [...(r.testAccuracy !== undefined ? [{ iteration: r.iteration, value: r.testAccuracy, metric: 'test accuracy' }] : []), { iteration: r.iteration, value: r.f1, metric: 'F1' }]),
      x: 'iteration', y: 'value', series: 'metric', xTitle: 'hyper-iteration', yTitle: 'test accuracy, F1',
    }) },
  );
  const lambda = currentLambda(dir);
  const mask = (readFolderJson(path.join(dir, 'corrupted.json'))?.corrupted ?? []) as number[];
  if (lambda && mask.length === lambda.length) {
    out.push({ name: 'lambda_histogram', spec: withRule(histogram({
      title: 'Learned example weights λ', field: 'lambda', group: 'example', xTitle: 'λ', extent: [0, 1], // λ ∈ [0, 1] (the capped simplex)
      data: lambda.map((l, i) => ({ lambda: l, example: mask[i] ? 'corrupted' : 'clean' })),
    }), threshold, `threshold ${threshold}`) });
  }
  return out;
}

export const hyperCleaningKind: JobKind = {
  name: 'hyper-cleaning',
  description: 'learn per-example weights that find corrupted labels (paper §5.1)',
  checkOptions,
  run,
  charts,
};
