/** Jobs: hyper-optimizations described by data, run off the event loop in worker threads. */
import { JobRunner } from './runner';
export { Job, JobError, JobRunner } from './runner';
export type { JobRunnerOptions, JobStatus, SubmitOptions } from './runner';
export type { JobSpec } from './protocol';
export { BUILTIN_KINDS, resolveKind } from './kinds';
export type { JobContext, JobKind, JobSummary } from './kinds';
export type { ModuleJob } from './kinds/module';
export type { QueueClient, QueueWorker, QueueConnectionOptions, QueueWorkerOptions, SweepRow } from './queue';

export type { QueueRunner, QueueRunnerOptions } from './queueRunner';

/**
 * The BullMQ side of jobs (QueueClient, QueueWorker, and QueueRunner: a queue's jobs as Job objects,
 * like a JobRunner's), loaded on first use: BullMQ and ioredis take ~0.2 s to load.
 */
export function queue(): typeof import('./queue') & typeof import('./queueRunner') {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return { ...(require('./queue') as typeof import('./queue')), ...(require('./queueRunner') as typeof import('./queueRunner')) };
}

/**
 * One entry point that picks where jobs run: worker threads of this process (a JobRunner), or,
 * given a Redis URL, the BullMQ queue that `rfho worker`s take jobs from (a QueueRunner). Both give
 * `Job` objects with the same events; `submit` is asynchronous for the queue.
 */
export async function openRunner(opts: import('./runner').JobRunnerOptions & { redis?: string; prefix?: string }): Promise<JobRunner | import('./queueRunner').QueueRunner> {
  if (opts.redis) {
    const { QueueRunner } = queue();
    return QueueRunner.start({ redis: opts.redis, prefix: opts.prefix, dataDir: opts.dataDir ?? 'runs', kinds: Object.keys(opts.kinds ?? {}) });
  }
  return new JobRunner(opts);
}
