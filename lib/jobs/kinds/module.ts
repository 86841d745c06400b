/**
 * A job kind from a module of the user's: the module builds a bilevel problem from JSON options,
 * and the job runs its outer loop with checkpoints (resumable bit for bit), logs and a summary.
 * Closures cannot cross threads or machines; a module path plus JSON options can.
 *
 *   // my-problem.js
 *   exports.createJob = (options) => ({ problem, optimizer: { method: 'reverse', T: 100, outer }, iterations: 50 });
 *   exports.checkOptions = (options) => { ... }   // optional: throw on bad options
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HyperOptimizer, OptimizerSettings } from '../../hyper/hyperoptimizer';
import { Problem } from '../../hyper/problem';
import { runHyperIterations } from '../../experiments/loop';
import { readStateFile, writeStateFile } from '../../report/stateFile';
import { ArgumentError } from '../../errors/errors';
import { throwIfAborted } from '../../util/stepwise';
import { JobContext, JobKind, JobSummary } from './types';

export const MODULE_CHECKPOINT_KIND = 'job-checkpoint';
export const MODULE_CHECKPOINT_VERSION = 1;

/** What a problem module's createJob returns. */
export interface ModuleJob {
  problem: Problem;
  optimizer: OptimizerSettings;
  iterations: number;
}

export interface ProblemModule {
  createJob(options: Record<string, unknown>): ModuleJob | Promise<ModuleJob>;
  checkOptions?(options: Record<string, unknown>): void;
}

interface ModuleCheckpoint {
  options: Record<string, unknown>;
  snapshot: ReturnType<HyperOptimizer['save']>;
}

export function loadProblemModule(name: string, file: string): ProblemModule {
  if (!path.isAbsolute(file)) throw new ArgumentError(`job kind '${name}': the module path must be absolute, got '${file}'`);
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const m = require(file) as Partial<ProblemModule>;
  if (typeof m.createJob !== 'function') throw new ArgumentError(`job kind '${name}': ${file} does not export createJob(options)`);
  return m as ProblemModule;
}

function checkCheckpoint(p: unknown): ModuleCheckpoint {
  const c = p as ModuleCheckpoint;
  if (!c || typeof c !== 'object' || !c.options || typeof c.options !== 'object' || !c.snapshot || typeof c.snapshot !== 'object') {
    throw new ArgumentError('not a job checkpoint (options and snapshot)');
  }
  return c;
}

/** The job kind of a problem module at an absolute path. */
export function moduleKind(name: string, file: string): JobKind {
  return {
    name,
    description: `problem module ${file}`,
    checkOptions(options) {
      if (!options || typeof options !== 'object' || Array.isArray(options)) throw new ArgumentError(`${name}: 'options' must be an object`);
      loadProblemModule(name, file).checkOptions?.(options);
    },
    async run(options, ctx: JobContext): Promise<JobSummary> {
      const mod = loadProblemModule(name, file);
      mod.checkOptions?.(options);
      const { folder } = ctx;
      const cpFile = folder.file('checkpoint.json');
      const resume = ctx.resume && fs.existsSync(cpFile) ? readStateFile(cpFile, MODULE_CHECKPOINT_KIND, MODULE_CHECKPOINT_VERSION, checkCheckpoint) : undefined;
      if (resume && JSON.stringify(resume.options) !== JSON.stringify(options)) {
        throw new ArgumentError(`${name}: cannot resume: ${cpFile} was written with other options`);
      }
      const job = await mod.createJob(options);
      if (!job || !(job.problem instanceof Problem)) throw new ArgumentError(`${name}: createJob must return { problem, optimizer, iterations } with a problem from rf.bilevel`);
      if (!Number.isInteger(job.iterations) || job.iterations < 0) throw new ArgumentError(`${name}: createJob's 'iterations' must be a non-negative integer, got ${String(job.iterations)}`);
      const ho = new HyperOptimizer(job.problem, { ...job.optimizer, onWarning: (m) => ctx.onPhase?.(`warning: ${m}`) });
      folder.setLogColumns(['iteration', 'validation', 'steps', 'seconds']);
      if (resume) {
        ho.restore(resume.snapshot); // checked whole first: all or nothing
        folder.removeStaleTemporaries();
        folder.restartLog(resume.snapshot.records as unknown as Record<string, unknown>[]);
        ctx.onPhase?.(`resumed after hyper-iteration ${resume.snapshot.iteration}`);
      } else {
        folder.writeJson('settings.json', { kind: name, options });
      }
      const t0 = Date.now();
      const stop = ctx.cancel && ctx.stop ? AbortSignal.any([ctx.stop, ctx.cancel]) : ctx.cancel ?? ctx.stop;
      const first = ho.records.length + 1;
      let run: { interrupted: boolean; divergence?: Error };
      try {
        run = await runHyperIterations(ho, job.iterations, stop, (_it, rec) => {
          folder.appendLog({ ...rec });
          writeStateFile(cpFile, MODULE_CHECKPOINT_KIND, MODULE_CHECKPOINT_VERSION, { options, snapshot: ho.save() });
          ctx.onRecord?.({ ...rec });
        }, first);
      } finally {
        ho.dispose();
      }
      throwIfAborted(ctx.cancel);
      const values = Object.fromEntries(job.problem.hyperparameters.map((h) => [h.name, Array.from(h.value.toArray())]));
      folder.writeJson('hyperparameters.json', values);
      const last = ho.records.at(-1);
      const summary: JobSummary = {
        experiment: name, iterations: ho.records.length, interrupted: run.interrupted, ...(run.divergence ? { divergence: run.divergence.message } : {}),
        validation: last?.validation ?? null, hyper: last?.hyper ?? null, seconds: (Date.now() - t0) / 1000, out: path.resolve(folder.dir),
      };
      folder.writeJson('summary.json', summary);
      summary.files = ['settings.json', 'log.jsonl', 'log.csv', 'checkpoint.json', 'hyperparameters.json', 'summary.json'];
      return summary;
    },
  };
}
