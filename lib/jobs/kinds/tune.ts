/** RTHO tuning as a job kind: its run and its report (no checkpoints: the carried training state is not saved, a restart begins again). */
import * as path from 'node:path';
import { TUNE_DEFAULTS, TuneOptions, TuneRecord, runTune, tuneLogColumns } from '../../experiments/tune';
import { barChart, lineChart, panels } from '../../report/plots';
import { ArgumentError } from '../../errors/errors';
import { JobContext, JobKind, JobSummary, NamedChart, loggedRecords, readFolderJson, refuseUnknown } from './types';
import { writeReport } from './report';

function checkOptions(options: Record<string, unknown>): void {
  if (!options || typeof options !== 'object' || Array.isArray(options)) throw new ArgumentError(`tune: 'options' must be an object`);
  refuseUnknown('tune', options, Object.keys(TUNE_DEFAULTS));
  for (const [k, v] of Object.entries(options)) {
    const def = (TUNE_DEFAULTS as unknown as Record<string, unknown>)[k];
    if (Array.isArray(def)) {
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'number')) throw new ArgumentError(`tune: option '${k}' must be an array of numbers`);
    } else if (typeof v !== typeof def) throw new ArgumentError(`tune: option '${k}' must be a ${typeof def}, got ${JSON.stringify(v)?.slice(0, 40)}`);
  }
}

async function run(options: Record<string, unknown>, ctx: JobContext): Promise<JobSummary> {
  checkOptions(options);
  const { folder } = ctx;
  const opts = options as Partial<TuneOptions>;
  folder.writeJson('settings.json', { ...TUNE_DEFAULTS, ...opts });
  folder.setLogColumns(tuneLogColumns((opts.hidden ?? TUNE_DEFAULTS.hidden).length + 1));
  const result = await runTune(opts, {
    signal: ctx.stop,
    cancel: ctx.cancel,
    onRecord: (r) => {
      folder.appendLog({ ...r });
      ctx.onRecord?.({ ...r });
    },
  });
  folder.writeJson('hyperparameters.json', result.final);
  if (result.baselines) folder.writeJson('baselines.json', result.baselines);
  const b = result.baselines;
  const summary: JobSummary = {
    experiment: 'tune', ...result.final, iterations: result.records.length,
    // the same data, seed and training steps: untuned (the initial hyperparameters) and the best random-search trial
    untunedAccuracy: b?.untuned.testAccuracy ?? null, randomSearchAccuracy: b?.randomSearch.best.testAccuracy ?? null,
    randomSearchTrials: b?.randomSearch.trials.length ?? null,
    interrupted: result.interrupted, seconds: result.seconds, out: path.resolve(folder.dir),
  };
  return writeReport(folder, summary, charts, ['settings.json', 'log.jsonl', 'log.csv', 'hyperparameters.json', ...(b ? ['baselines.json'] : [])]);
}

/** The report's charts: validation error, test accuracy, and the hyperparameters along training. */
function charts(dir: string): NamedChart[] {
  const recs = loggedRecords(dir) as unknown as TuneRecord[];
  const headline: NamedChart[] = [];
  const s = readFolderJson(path.join(dir, 'summary.json'));
  if (s && typeof s.untunedAccuracy === 'number') {
    headline.push({ name: 'headline', spec: barChart({
      title: { text: 'RTHO against its baselines', subtitle: 'test accuracy; the same data, seed and number of training steps' },
      x: 'model', y: 'value', panel: 'panel', yTitle: '',
      data: [
        { panel: 'test accuracy', model: 'untuned', value: s.untunedAccuracy },
        { panel: 'test accuracy', model: `random search (${s.randomSearchTrials})`, value: s.randomSearchAccuracy },
        { panel: 'test accuracy', model: 'RTHO', value: s.testAccuracy },
      ],
    }) });
  }
  return [
    ...headline,
    { name: 'validation', spec: lineChart({ title: 'Validation error during RTHO', data: recs.map((r) => ({ step: r.step, 'validation CE': r.validation })), x: 'step', y: 'validation CE', xTitle: 'training step', yTitle: 'validation cross-entropy' }) },
    { name: 'accuracy', spec: lineChart({ title: 'Test accuracy', data: recs.filter((r) => r.testAccuracy !== undefined).map((r) => ({ step: r.step, accuracy: r.testAccuracy })), x: 'step', y: 'accuracy', xTitle: 'training step', yTitle: 'test accuracy' }) },
    // one panel each: the learning rate and the L2 coefficients span decades (log scales), momentum does not
    { name: 'hyperparameters', spec: panels({
      title: 'Hyperparameters', xTitle: 'training step', x: 'step', y: 'value', series: 'hyperparameter', logY: (name) => name !== 'momentum',
      data: recs.flatMap((r) => Object.entries(r).filter(([k]) => k === 'lr' || k === 'momentum' || k.startsWith('l2_')).map(([k, val]) => ({ step: r.step, value: val, hyperparameter: k }))),
    }) },
  ];
}

export const tuneKind: JobKind = {
  name: 'tune',
  description: "real-time tuning (RTHO) of an MLP's learning rate, momentum and L2 (paper §5.3)",
  checkOptions,
  run,
  charts,
};
