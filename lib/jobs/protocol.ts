/** The messages between a job runner and the worker thread that runs one job. */
import type { JobSummary } from './kinds';

export interface JobSpec {
  /** a built-in kind ('hyper-cleaning', 'tune') or a problem module the runner was given */
  kind: string;
  /** JSON options of that kind */
  options?: Record<string, unknown>;
}

/** What a worker is started with (workerData). */
export interface WorkerInput {
  spec: Required<JobSpec>;
  folder: string;
  resume: boolean;
  threads: number;
  modules: Record<string, string>;
}

export type ToWorker = { type: 'cancel' } | { type: 'stop' };

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
}

export type FromWorker =
  | { type: 'record'; record: Record<string, unknown> }
  | { type: 'phase'; phase: string }
  | { type: 'done'; summary: JobSummary }
  | { type: 'failed'; error: SerializedError };
