/**
 * Jobs: hyper-optimizations described by data, each run in a worker thread of its own, at most
 * `concurrency` at once (the rest wait in order), each held to `threads` kernel threads so that
 * running jobs share the cores instead of fighting over them.
 *
 * worker_threads directly rather than a pool such as piscina: a job is long (seconds to hours),
 * streams records, is cancelled on its own and needs its own thread budget; a fresh worker per job
 * costs a few tens of milliseconds and ends with its whole isolate, so no native memory outlives it.
 *
 * A job's result depends on its spec and its thread budget only (reductions sum one partial per
 * thread), never on what else runs: the same spec and budget give the same bits, alone or not.
 */
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { RunFolder } from '../report/output';
import { readStateFile, writeStateFile } from '../report/stateFile';
import { AbortError, ArgumentError, RfhoError } from '../errors/errors';
import { JobSummary, resolveKind } from './kinds';
import { FromWorker, JOB_ID_PATTERN, JobSpec, SerializedError, ToWorker, WorkerInput, checkJobId, newJobId } from './protocol';

export type JobStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

/** A job that failed in its worker: the worker's error, with its name and stack. */
export class JobError extends RfhoError {
  constructor(message: string, readonly jobId: string, readonly causeName: string, readonly workerStack?: string) {
    super(message);
  }
}

export interface JobRunnerOptions {
  /** jobs running at once (default: the cores divided by `threads`, at least 1) */
  concurrency?: number;
  /** kernel threads per job (default: 2, or the cores if fewer) */
  threads?: number;
  /** where new jobs' folders are made (default 'runs') */
  dataDir?: string;
  /** problem modules usable as job kinds: name → absolute path of the module */
  kinds?: Record<string, string>;
}

export interface SubmitOptions {
  /** the job's id (default: kind-time-random); also its folder's name under dataDir */
  id?: string;
  /** the job's folder (default: dataDir/id); must be new or empty unless resuming */
  folder?: string;
  /** continue the job whose folder this is from its last checkpoint */
  resume?: boolean;
  /** aborting it cancels the job */
  signal?: AbortSignal;
}


/**
 * What a job's folder says of it, beside the kind's own files: `job.json` (written at submission:
 * id, spec, thread budget, time) and, once it ended other than done, `ended.json` (cancelled or
 * failed, with the error). A done job has the kind's `summary.json`. `recover` reads them back.
 */
const JOB_FILE = 'job.json', ENDED_FILE = 'ended.json';
interface JobRecord {
  id: string;
  spec: Required<JobSpec>;
  threads: number;
  submittedAt: string;
}
interface EndedRecord {
  status: 'cancelled' | 'failed';
  error: SerializedError;
  endedAt: string;
}

function checkJobRecord(p: unknown): JobRecord {
  const r = p as JobRecord;
  if (!r || typeof r.id !== 'string' || !JOB_ID_PATTERN.test(r.id) || !r.spec || typeof r.spec.kind !== 'string' || typeof r.spec.options !== 'object'
    || !isPositiveInteger(r.threads) || typeof r.submittedAt !== 'string') throw new ArgumentError('not a job record (id, spec, threads, submittedAt)');
  return r;
}

function checkEndedRecord(p: unknown): EndedRecord {
  const r = p as EndedRecord;
  if (!r || (r.status !== 'cancelled' && r.status !== 'failed') || !r.error || typeof r.error.message !== 'string') throw new ArgumentError('not an ended-job record');
  return r;
}

function isPositiveInteger(n: unknown): n is number {
  return Number.isInteger(n) && (n as number) >= 1;
}

function toError(e: SerializedError, id: string): Error {
  if (e.name === 'AbortError') return new AbortError(`job ${id} was cancelled`);
  return new JobError(`job ${id} failed: ${e.message}`, id, e.name, e.stack);
}

export class Job extends EventEmitter {
  status: JobStatus = 'queued';
  /** the latest record (the full log is in the folder's log.jsonl) */
  lastRecord: Record<string, unknown> | null = null;
  recordCount = 0;
  phase = 'queued';
  summary: JobSummary | null = null;
  error: Error | null = null;
  submittedAt = new Date();
  startedAt: Date | null = null;
  endedAt: Date | null = null;
  /** resolves with the summary; rejects with an AbortError (cancelled) or a JobError */
  readonly result: Promise<JobSummary>;
  private settle!: { resolve: (s: JobSummary) => void; reject: (e: Error) => void };
  /** @internal */ worker: Worker | null = null;
  /** @internal */ cancelRequested = false;

  constructor(readonly id: string, readonly spec: Required<JobSpec>, readonly folder: string, readonly resume: boolean, readonly threads: number) {
    super();
    this.result = new Promise<JobSummary>((resolve, reject) => (this.settle = { resolve, reject }));
    // An unobserved failure must not end the process: the caller sees it when it awaits `result`.
    this.result.catch(() => undefined);
  }

  /** Cancels the job: a queued one never starts; a running one stops within one inner step. */
  cancel(): void {
    if (this.status === 'queued') {
      this.finish('cancelled', null, new AbortError(`job ${this.id} was cancelled before it started`));
      return;
    }
    if (this.status === 'running' && !this.cancelRequested) {
      this.cancelRequested = true;
      this.worker?.postMessage({ type: 'cancel' } satisfies ToWorker);
    }
  }

  /** Ends the job's hyper-iterations within one inner step; its report is still written and it ends 'done' (interrupted). */
  stop(): void {
    if (this.status === 'queued') this.cancel();
    else if (this.status === 'running') this.worker?.postMessage({ type: 'stop' } satisfies ToWorker);
  }

  /** A JSON view: id, kind, status, times, the latest record and the summary. */
  toJSON(): Record<string, unknown> {
    return {
      id: this.id, kind: this.spec.kind, options: this.spec.options, status: this.status, phase: this.phase, folder: this.folder,
      threads: this.threads, records: this.recordCount, lastRecord: this.lastRecord, summary: this.summary,
      error: this.error ? { name: this.error.name, message: this.error.message } : null,
      submittedAt: this.submittedAt.toISOString(), startedAt: this.startedAt?.toISOString() ?? null, endedAt: this.endedAt?.toISOString() ?? null,
    };
  }

  /** @internal `persist`: record a cancelled or failed end in the folder (ended.json) for `recover`. */
  finish(status: 'done' | 'failed' | 'cancelled', summary: JobSummary | null, error: Error | null, persist = true): void {
    if (this.status === 'done' || this.status === 'failed' || this.status === 'cancelled') return;
    if (persist && status !== 'done' && fs.existsSync(this.folder)) {
      try {
        const e = error ?? new Error('ended');
        writeStateFile(path.join(this.folder, ENDED_FILE), 'job-ended', 1, { status, error: { name: e.name, message: e.message }, endedAt: new Date().toISOString() } satisfies EndedRecord);
      } catch {
        // The job's end is still reported; only a restart would not know it ended.
      }
    }
    this.status = status;
    this.summary = summary;
    this.error = error;
    this.endedAt = new Date();
    this.worker = null;
    if (summary) this.settle.resolve(summary);
    else this.settle.reject(error ?? new JobError(`job ${this.id} ended without a result`, this.id, 'Error'));
    this.emit('status', status);
    this.emit('end', status);
  }
}

export class JobRunner {
  readonly concurrency: number;
  readonly threads: number;
  readonly dataDir: string;
  private readonly kinds: Record<string, string>;
  private readonly jobs = new Map<string, Job>();
  private readonly queue: Job[] = [];
  private running = 0;
  private closed = false;

  constructor(opts: JobRunnerOptions = {}) {
    if (!opts || typeof opts !== 'object') throw new ArgumentError(`JobRunner: options must be an object`);
    const cores = os.availableParallelism();
    if (opts.threads !== undefined && !isPositiveInteger(opts.threads)) throw new ArgumentError(`JobRunner: 'threads' must be a positive integer, got ${String(opts.threads)}`);
    if (opts.concurrency !== undefined && !isPositiveInteger(opts.concurrency)) throw new ArgumentError(`JobRunner: 'concurrency' must be a positive integer, got ${String(opts.concurrency)}`);
    this.threads = opts.threads ?? Math.min(2, cores);
    this.concurrency = opts.concurrency ?? Math.max(1, Math.floor(cores / this.threads));
    if (opts.dataDir !== undefined && (typeof opts.dataDir !== 'string' || opts.dataDir === '')) throw new ArgumentError(`JobRunner: 'dataDir' must be a folder path`);
    this.dataDir = opts.dataDir ?? 'runs';
    const kinds = opts.kinds ?? {};
    if (typeof kinds !== 'object') throw new ArgumentError(`JobRunner: 'kinds' must map names to module paths`);
    for (const [name, file] of Object.entries(kinds)) {
      if (!JOB_ID_PATTERN.test(name)) throw new ArgumentError(`JobRunner: kind name '${name.slice(0, 60)}' must be letters, digits, '.', '_' or '-'`);
      if (typeof file !== 'string' || !path.isAbsolute(file) || !fs.existsSync(file)) throw new ArgumentError(`JobRunner: the module of kind '${name}' must be an absolute path to an existing file, got '${String(file).slice(0, 200)}'`);
    }
    this.kinds = { ...kinds };
  }

  /**
   * Queues a job; it starts when fewer than `concurrency` run. The spec is checked now (kind,
   * option names and types): a bad one throws an ArgumentError and nothing is made.
   */
  submit(spec: JobSpec, opts: SubmitOptions = {}): Job {
    if (this.closed) throw new ArgumentError('JobRunner: closed');
    if (!spec || typeof spec !== 'object') throw new ArgumentError(`submit: 'spec' must be { kind, options }`);
    const extra = Object.keys(spec).filter((k) => k !== 'kind' && k !== 'options');
    if (extra.length) throw new ArgumentError(`submit: unknown field${extra.length > 1 ? 's' : ''} ${extra.map((k) => `'${k}'`).join(', ')} in the spec (it has 'kind' and 'options')`);
    const kind = resolveKind(spec.kind, this.kinds);
    const options = spec.options ?? {};
    kind.checkOptions(options);
    const full: Required<JobSpec> = { kind: spec.kind, options: structuredClone(options) };
    const id = opts.id ?? newJobId(spec.kind);
    checkJobId(id, 'submit');
    if (this.jobs.has(id)) throw new ArgumentError(`submit: a job with id '${id}' exists`);
    const folder = path.resolve(opts.folder ?? path.join(this.dataDir, id));
    if (opts.resume) RunFolder.open(folder);
    else RunFolder.create(folder, this.dataDir, id);
    const job = new Job(id, full, folder, !!opts.resume, this.threads);
    if (!opts.resume || !fs.existsSync(path.join(folder, JOB_FILE))) {
      writeStateFile(path.join(folder, JOB_FILE), 'job', 1, { id, spec: full, threads: this.threads, submittedAt: job.submittedAt.toISOString() } satisfies JobRecord);
    }
    this.adopt(job, opts.signal);
    return job;
  }

  /**
   * Takes up the jobs of a data folder after a restart (a crash, a kill, a reboot): every folder
   * with a job record is listed again; done, cancelled and failed ones as they ended, the others
   * queued again to resume from their last checkpoint. Returns the jobs in submission order.
   * A folder whose records are damaged is skipped and reported through `onSkipped`.
   */
  recover(onSkipped: (folder: string, why: string) => void = () => undefined): Job[] {
    if (!fs.existsSync(this.dataDir)) return [];
    const found: { record: JobRecord; folder: string }[] = [];
    for (const name of fs.readdirSync(this.dataDir)) {
      const folder = path.resolve(this.dataDir, name);
      const file = path.join(folder, JOB_FILE);
      if (!fs.existsSync(file)) continue;
      try {
        const record = readStateFile(file, 'job', 1, checkJobRecord);
        if (record.id !== name) throw new ArgumentError(`the record names job '${record.id}'`);
        if (this.jobs.has(record.id)) continue;
        resolveKind(record.spec.kind, this.kinds);
        found.push({ record, folder });
      } catch (e) {
        onSkipped(folder, (e as Error).message);
      }
    }
    found.sort((a, b) => a.record.submittedAt.localeCompare(b.record.submittedAt));
    return found.map(({ record, folder }) => {
      const job = new Job(record.id, record.spec, folder, true, record.threads);
      job.submittedAt = new Date(record.submittedAt);
      const summaryFile = path.join(folder, 'summary.json'), endedFile = path.join(folder, ENDED_FILE);
      try {
        if (fs.existsSync(endedFile)) {
          const ended = readStateFile(endedFile, 'job-ended', 1, checkEndedRecord);
          job.endedAt = new Date(ended.endedAt);
          this.jobs.set(job.id, job);
          job.finish(ended.status, null, toError(ended.error, job.id), false);
          return job;
        }
        if (fs.existsSync(summaryFile)) {
          const summary = JSON.parse(fs.readFileSync(summaryFile, 'utf8')) as JobSummary;
          job.recordCount = typeof summary.iterations === 'number' ? summary.iterations : 0;
          this.jobs.set(job.id, job);
          job.finish('done', summary, null, false);
          return job;
        }
      } catch (e) {
        onSkipped(folder, (e as Error).message);
      }
      this.adopt(job);
      return job;
    });
  }

  private adopt(job: Job, signal?: AbortSignal): void {
    this.jobs.set(job.id, job);
    const opts = { signal };
    if (opts.signal) {
      if (opts.signal.aborted) job.cancel();
      else opts.signal.addEventListener('abort', () => job.cancel(), { once: true });
    }
    if (job.status === 'queued') {
      this.queue.push(job);
      this.pump();
    }
  }

  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  /** Drops an ended job from the list (a long-lived runner whose jobs are tracked elsewhere stays at constant memory). */
  forget(id: string): void {
    const job = this.jobs.get(id);
    if (job && (job.status === 'done' || job.status === 'failed' || job.status === 'cancelled')) this.jobs.delete(id);
  }

  list(): Job[] {
    return [...this.jobs.values()];
  }

  /**
   * Cancels every job and waits until all have ended. With `{ cancel: false }` (a server shutting
   * down) the running jobs' workers are stopped instead, and their folders left as a crash would:
   * `recover` after a restart resumes them from their last checkpoint.
   */
  async close(opts: { cancel?: boolean } = {}): Promise<void> {
    this.closed = true;
    if (opts.cancel === false) {
      this.queue.length = 0;
      const running = [...this.jobs.values()].filter((j) => j.status === 'running' && j.worker);
      await Promise.all(running.map((j) => j.worker!.terminate()));
      for (const j of this.jobs.values()) if (j.status === 'queued' || j.status === 'running') j.finish('cancelled', null, new AbortError(`job ${j.id} was stopped with its runner; it resumes after a restart`), false);
      return;
    }
    for (const j of this.jobs.values()) j.cancel();
    await Promise.allSettled([...this.jobs.values()].map((j) => j.result));
  }

  private pump(): void {
    while (this.running < this.concurrency && this.queue.length) {
      const job = this.queue.shift()!;
      if (job.status !== 'queued') continue; // cancelled while it waited
      this.start(job);
    }
  }

  private start(job: Job): void {
    const input: WorkerInput = { spec: job.spec, folder: job.folder, resume: job.resume, threads: job.threads, modules: this.kinds };
    let worker: Worker;
    try {
      worker = new Worker(path.join(__dirname, 'worker.js'), { workerData: input });
    } catch (e) {
      job.finish('failed', null, new JobError(`job ${job.id} could not start: ${(e as Error).message}`, job.id, (e as Error).name));
      return;
    }
    this.running++;
    job.worker = worker;
    job.status = 'running';
    job.phase = 'starting';
    job.startedAt = new Date();
    job.emit('status', 'running');
    let outcome: FromWorker | null = null;
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'record') {
        job.lastRecord = m.record;
        job.recordCount++;
        job.emit('record', m.record);
      } else if (m.type === 'phase') {
        job.phase = m.phase;
        job.emit('phase', m.phase);
      } else {
        outcome = m;
      }
    });
    worker.on('error', (e) => {
      outcome ??= { type: 'failed', error: { name: e.name, message: e.message, stack: e.stack } };
    });
    worker.on('exit', (code) => {
      this.running--;
      const o = outcome as FromWorker | null;
      if (o?.type === 'done') job.finish('done', o.summary, null);
      else if (o?.type === 'failed') {
        const err = toError(o.error, job.id);
        job.finish(err instanceof AbortError ? 'cancelled' : 'failed', null, err);
      } else job.finish(job.cancelRequested ? 'cancelled' : 'failed', null, job.cancelRequested ? new AbortError(`job ${job.id} was cancelled`) : new JobError(`job ${job.id}: its worker exited (code ${code}) without a result`, job.id, 'Error'));
      this.pump();
    });
  }
}
