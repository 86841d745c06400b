/** Job specs and ids, and the messages between a job runner and the worker thread that runs one job. */
import { randomBytes } from 'node:crypto';
import { ArgumentError } from '../errors/errors';
import type { JobSummary } from './kinds';

/** A job id: also a folder name and a Redis key part, so letters, digits, '.', '_', '-' only. */
export const JOB_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A new id: `prefix-<time to the ms>-<random>`, unique across processes. */
export function newJobId(prefix: string): string {
  return `${prefix}-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 23)}-${randomBytes(3).toString('hex')}`;
}

/** Throws an ArgumentError unless `id` is a valid job id. */
export function checkJobId(id: unknown, where: string): asserts id is string {
  if (typeof id !== 'string' || !JOB_ID_PATTERN.test(id)) {
    throw new ArgumentError(`${where}: 'id' must be 1-128 letters, digits, '.', '_' or '-' (not first), got '${String(id).slice(0, 60)}'`);
  }
}

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
