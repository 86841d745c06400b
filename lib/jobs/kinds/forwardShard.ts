/**
 * One shard of Forward-HG as a job: the columns [i·m/n, (i+1)·m/n) of the hypergradient of a
 * problem module's problem. Every shard trains the same trajectory (same module, options and seed,
 * same kernels) and carries only its own directions; a parent puts the shards' values end to end
 * (lib/jobs/queue.ts). The module is named, never a path: it must be one of the worker's kinds.
 */
import * as path from 'node:path';
import { forwardHGColumnsAsync, shardColumns } from '../../hyper/hypergradients';
import { ArgumentError } from '../../errors/errors';
import { loadProblemModule } from './module';
import { JobContext, JobKind, JobSummary, refuseUnknown } from './types';

export interface ForwardShardOptions {
  /** the problem module's kind name */
  kind: string;
  /** its JSON options */
  options: Record<string, unknown>;
  /** training steps */
  T: number;
  /** this shard's index, of `shards` */
  shard: number;
  shards: number;
}

function checkOptions(o: Record<string, unknown>): void {
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw new ArgumentError(`forward-shard: 'options' must be an object`);
  refuseUnknown('forward-shard', o, ['kind', 'options', 'T', 'shard', 'shards']);
  if (typeof o.kind !== 'string') throw new ArgumentError(`forward-shard: 'kind' must name a problem module`);
  if (!o.options || typeof o.options !== 'object' || Array.isArray(o.options)) throw new ArgumentError(`forward-shard: 'options' of the module must be an object`);
  for (const k of ['T', 'shard', 'shards'] as const) {
    if (!Number.isInteger(o[k]) || (o[k] as number) < (k === 'shards' ? 1 : 0)) throw new ArgumentError(`forward-shard: '${k}' must be a ${k === 'shards' ? 'positive' : 'non-negative'} integer, got ${String(o[k])}`);
  }
  if ((o.shard as number) >= (o.shards as number)) throw new ArgumentError(`forward-shard: 'shard' (${String(o.shard)}) must be below 'shards' (${String(o.shards)})`);
}

export function forwardShardKind(modules: Readonly<Record<string, string>>): JobKind {
  return {
    name: 'forward-shard',
    description: 'one shard of the columns of Forward-HG for a problem module',
    checkOptions: (o) => checkOptions(o),
    async run(raw, ctx: JobContext): Promise<JobSummary> {
      checkOptions(raw);
      const o = raw as unknown as ForwardShardOptions;
      if (!Object.prototype.hasOwnProperty.call(modules, o.kind)) throw new ArgumentError(`forward-shard: '${o.kind}' is not a problem module of this worker (known: ${Object.keys(modules).join(', ') || 'none'})`);
      const mod = loadProblemModule(o.kind, modules[o.kind]);
      mod.checkOptions?.(o.options);
      const { problem } = await mod.createJob(o.options);
      const columns = shardColumns(problem.hyperSize, o.shard, o.shards);
      const t0 = Date.now();
      const r = columns.end > columns.start
        ? await forwardHGColumnsAsync(problem, { T: o.T, columns, signal: ctx.cancel })
        : { columns, values: [], value: NaN, errors: {}, steps: 0 };
      const summary: JobSummary = {
        experiment: 'forward-shard', kind: o.kind, shard: o.shard, shards: o.shards, m: problem.hyperSize, columns, values: r.values,
        value: r.value, steps: r.steps, interrupted: false, seconds: (Date.now() - t0) / 1000, out: path.resolve(ctx.folder.dir),
      };
      ctx.folder.writeJson('summary.json', summary);
      return summary;
    },
  };
}
