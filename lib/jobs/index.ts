/** Jobs: hyper-optimizations described by data, run off the event loop in worker threads. */
export { Job, JobError, JobRunner } from './runner';
export type { JobRunnerOptions, JobStatus, SubmitOptions } from './runner';
export type { JobSpec } from './protocol';
export { BUILTIN_KINDS, resolveKind } from './kinds';
export type { JobContext, JobKind, JobSummary } from './kinds';
export type { ModuleJob } from './kinds/module';
export { QueueClient, QueueWorker, QUEUE_NAME } from './queue';
export type { QueueConnectionOptions, QueueWorkerOptions, SweepRow } from './queue';
