/** Learning task interactions (paper §5.2) as a job kind: its run and its report (no checkpoints: a restart begins again). */
import * as path from 'node:path';
import { TI_DEFAULTS, TaskInteractionOptions, TaskInteractionRecord, runTaskInteractions } from '../../experiments/taskInteractions';
import { barChart, heatMap, lineChart } from '../../report/plots';
import { ArgumentError } from '../../errors/errors';
import { JobContext, JobKind, JobSummary, NamedChart, loggedRecords, readFolderJson, refuseUnknown } from './types';
import { writeReport } from './report';

function checkOptions(options: Record<string, unknown>): void {
  if (!options || typeof options !== 'object' || Array.isArray(options)) throw new ArgumentError(`task-interactions: 'options' must be an object`);
  refuseUnknown('task-interactions', options, Object.keys(TI_DEFAULTS));
  for (const [k, v] of Object.entries(options)) {
    const def = (TI_DEFAULTS as unknown as Record<string, unknown>)[k];
    if (typeof v !== typeof def) throw new ArgumentError(`task-interactions: option '${k}' must be a ${typeof def}, got ${JSON.stringify(v)?.slice(0, 40)}`);
  }
}

async function run(options: Record<string, unknown>, ctx: JobContext): Promise<JobSummary> {
  checkOptions(options);
  const { folder } = ctx;
  const opts = options as Partial<TaskInteractionOptions>;
  folder.writeJson('settings.json', { ...TI_DEFAULTS, ...opts });
  folder.setLogColumns(['iteration', 'validation', 'rho', 'lr', 'momentum', 'meanA', 'seconds']);
  const result = await runTaskInteractions(opts, {
    signal: ctx.stop, cancel: ctx.cancel, onPhase: ctx.onPhase,
    onRecord: (r) => {
      folder.appendLog({ ...r });
      ctx.onRecord?.({ ...r });
    },
  });
  folder.writeJson('settings.json', result.settings);
  folder.writeJson('hyperparameters.json', result.learned);
  if (result.baselines) folder.writeJson('baselines.json', result.baselines);
  const b = result.baselines;
  const summary: JobSummary = {
    experiment: 'task-interactions', dataset: result.settings.dataset, iterations: result.records.length,
    testAccuracy: result.learned.testAccuracy, singleTaskAccuracy: b?.singleTask.testAccuracy ?? null, naiveMultiTaskAccuracy: b?.naiveMultiTask.testAccuracy ?? null,
    singleTaskRho: b?.singleTask.rho ?? null, naiveMultiTask: b ? { rho: b.naiveMultiTask.rho, a: b.naiveMultiTask.a } : null,
    rho: result.learned.rho, lr: result.learned.lr, momentum: result.learned.momentum,
    validation: result.records.at(-1)?.validation ?? null, interrupted: result.interrupted, seconds: result.seconds, out: path.resolve(folder.dir),
  };
  return writeReport(folder, summary, charts, ['settings.json', 'log.jsonl', 'log.csv', 'hyperparameters.json', ...(b ? ['baselines.json'] : [])]);
}

/** The report's charts: the headline (learned against the baselines), the learned A, the validation error. */
function charts(dir: string): NamedChart[] {
  const recs = loggedRecords(dir) as unknown as TaskInteractionRecord[];
  const s = readFolderJson(path.join(dir, 'summary.json'));
  const h = readFolderJson(path.join(dir, 'hyperparameters.json'));
  const out: NamedChart[] = [];
  if (s && typeof s.singleTaskAccuracy === 'number') {
    out.push({ name: 'headline', spec: barChart({
      title: { text: 'Task interactions: learned A against the baselines', subtitle: 'test accuracy; every model trains T steps from the same weights' },
      x: 'model', y: 'value', panel: 'panel', yTitle: '',
      data: [
        { panel: 'test accuracy', model: 'single-task (ρ grid)', value: s.singleTaskAccuracy },
        { panel: 'test accuracy', model: 'naive multi-task (ρ, a grid)', value: s.naiveMultiTaskAccuracy },
        { panel: 'test accuracy', model: 'learned A, ρ', value: s.testAccuracy },
      ],
    }) });
  }
  if (h && Array.isArray(h.A)) out.push({ name: 'interactions', spec: heatMap({ title: 'Learned task interactions A', matrix: h.A, rowTitle: 'task (class) j', columnTitle: 'task (class) k', valueTitle: 'A_jk' }) });
  out.push({ name: 'validation', spec: lineChart({ title: 'Validation error', data: recs.map((r) => ({ iteration: r.iteration, 'validation CE': r.validation })), x: 'iteration', y: 'validation CE', xTitle: 'hyper-iteration', yTitle: 'validation cross-entropy' }) });
  return out;
}

export const taskInteractionsKind: JobKind = {
  name: 'task-interactions',
  description: 'learn a task-interaction matrix and the L2 coefficient of a multi-task linear model (paper §5.2)',
  checkOptions,
  run,
  charts,
};
