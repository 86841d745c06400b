/**
 * Jobs beyond one machine, over BullMQ on Redis: `QueueClient` submits jobs (and sweeps: many jobs
 * gathered by a parent) and follows them; `QueueWorker` runs them on any number of machines.
 *
 * A queue worker hands each job to a JobRunner, so the arithmetic runs in a worker thread and the
 * process's own event loop stays free to renew BullMQ's lock (a lock that expires while the loop is
 * blocked makes BullMQ run the job twice). After every hyper-iteration the job's state files
 * (job.json, checkpoint.json) are also copied to Redis: a job whose worker died is taken up by another
 * once its lock expires and resumes from its last checkpoint — from the data folder when the workers
 * share one, else from Redis — to the same bits as an uninterrupted run (with the same thread
 * budget). Job ids are idempotent: submitting an id again returns the job that has it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FlowProducer, Job as BullJob, Queue, QueueEvents, Worker } from 'bullmq';
import IORedis from 'ioredis';
import { ArgumentError } from '../errors/errors';
import { writeFileAtomic } from '../report/stateFile';
import { JobSummary, resolveKind } from './kinds';
import { JobSpec, checkJobId } from './protocol';
import { JobRunner } from './runner';

export const QUEUE_NAME = 'rfho-jobs';

/** The Redis hash holding a running job's state files (job.json, checkpoint.json) until it ends. */
export function checkpointKey(prefix: string, id: string): string {
  return `${prefix}:rfho-jobs:state:${id}`;
}
const STATE_FILES = ['job.json', 'checkpoint.json'];

/** The Redis channel on which a job's id asks the worker running it to cancel it. */
export function cancelChannel(prefix: string): string {
  return `${prefix}:rfho-jobs:cancel`;
}

export interface QueueConnectionOptions {
  /** redis://host:port[/db] */
  redis: string;
  /** key prefix, to keep several deployments apart in one Redis (default 'rfho') */
  prefix?: string;
}

function connect(url: string): IORedis {
  if (typeof url !== 'string' || !/^rediss?:\/\//.test(url)) throw new ArgumentError(`queue: 'redis' must be a redis:// URL, got '${String(url).slice(0, 80)}'`);
  // BullMQ's blocking commands need unlimited retries per request on a worker's connection.
  return new IORedis(url, { maxRetriesPerRequest: null, lazyConnect: false });
}

/** Data of a queued job: one job spec, a sweep gathering its children, or Forward-HG's shards put together. */
type QueuedData = { spec: Required<JobSpec> } | { sweep: { count: number } } | { assemble: { shards: number } };

/** A hypergradient assembled from Forward-HG's shards. */
export interface ShardedHypergradient {
  /** ∂E/∂λ, the hyperparameters flattened in order */
  values: number[];
  /** the validation objective (every shard trains the same trajectory: they agree) */
  value: number;
  shards: { id: string; columns: { start: number; end: number }; seconds: number }[];
}

export interface SweepRow {
  id: string;
  options: Record<string, unknown>;
  summary: JobSummary;
}

export class QueueClient {
  private readonly connection: IORedis;
  private readonly queue: Queue;
  private readonly flows: FlowProducer;
  private events: QueueEvents | null = null;
  private eventsConnection: IORedis | null = null;
  private readonly prefix: string;

  constructor(readonly opts: QueueConnectionOptions & { kinds?: readonly string[] }) {
    this.prefix = opts.prefix ?? 'rfho';
    this.connection = connect(opts.redis);
    this.queue = new Queue(QUEUE_NAME, { connection: this.connection, prefix: this.prefix });
    this.flows = new FlowProducer({ connection: this.connection, prefix: this.prefix });
  }

  /**
   * A built-in kind's options are checked here, before anything is queued; a module kind (named in
   * `kinds`: the workers have its module, this client may not) is checked by the worker that runs it.
   */
  private check(spec: JobSpec): Required<JobSpec> {
    if (!spec || typeof spec !== 'object') throw new ArgumentError(`submit: 'spec' must be { kind, options }`);
    const options = spec.options ?? {};
    if (!(this.opts.kinds ?? []).includes(spec.kind)) resolveKind(spec.kind, {}).checkOptions(options);
    else if (!options || typeof options !== 'object' || Array.isArray(options)) throw new ArgumentError(`submit: 'options' must be an object`);
    return { kind: spec.kind, options: structuredClone(options) };
  }


  /** Queues a job under `id`; the same id again returns the job that has it (nothing is queued twice). */
  async submit(spec: JobSpec, id: string): Promise<string> {
    checkJobId(id, 'submit');
    const data: QueuedData = { spec: this.check(spec) };
    const job = await this.queue.add('job', data, { jobId: id, removeOnComplete: false, removeOnFail: false });
    return job.id!;
  }

  /**
   * Queues many jobs as one sweep: children `id.0`, `id.1`, ... run on any workers, and the parent
   * `id` gathers their summaries in one table (its result, and sweep.json / sweep.csv in its folder).
   */
  async submitSweep(specs: readonly JobSpec[], id: string): Promise<string> {
    checkJobId(id, 'submit');
    if (!Array.isArray(specs) || specs.length === 0 || specs.length > 10000) throw new ArgumentError(`sweep: 'specs' must be 1 to 10000 job specs`);
    const checked = specs.map((s) => this.check(s));
    const node = await this.flows.add({
      name: 'sweep', queueName: QUEUE_NAME, data: { sweep: { count: checked.length } } satisfies QueuedData, opts: { jobId: id, removeOnComplete: false, removeOnFail: false },
      children: checked.map((spec, i) => ({ name: 'job', queueName: QUEUE_NAME, data: { spec } satisfies QueuedData, opts: { jobId: `${id}.${i}`, removeOnComplete: false, removeOnFail: false } })),
    });
    return node.job.id!;
  }

  /**
   * Forward-HG of a problem module's problem, its columns split over `shards` jobs that any workers
   * run (each trains the same trajectory and carries its share of the directions); the parent `id`
   * puts their values end to end: Forward-HG's hypergradient (the same to rounding; bit for bit where
   * the kernels sum a shard's narrower products in the same order). The module `kind` must be one of
   * the workers' kinds.
   */
  async submitForwardSharded(job: { kind: string; options?: Record<string, unknown>; T: number }, shards: number, id: string): Promise<string> {
    checkJobId(id, 'submit');
    if (!Number.isInteger(shards) || shards < 1 || shards > 1024) throw new ArgumentError(`forward sharded: 'shards' must be an integer in [1, 1024], got ${String(shards)}`);
    const specs = Array.from({ length: shards }, (_, i) => this.check({ kind: 'forward-shard', options: { kind: job.kind, options: job.options ?? {}, T: job.T, shard: i, shards } }));
    const node = await this.flows.add({
      name: 'assemble', queueName: QUEUE_NAME, data: { assemble: { shards } } satisfies QueuedData, opts: { jobId: id, removeOnComplete: false, removeOnFail: false },
      children: specs.map((spec, i) => ({ name: 'job', queueName: QUEUE_NAME, data: { spec } satisfies QueuedData, opts: { jobId: `${id}.${i}`, removeOnComplete: false, removeOnFail: false } })),
    });
    return node.job.id!;
  }

  /** Waits for a job's result; `onProgress` gets its records as they come. Rejects with the job's error. */
  async follow<R = unknown>(id: string, onProgress?: (record: Record<string, unknown>) => void): Promise<R> {
    const events = await this.queueEvents(); // QueueEvents blocks on its connection: one of its own
    const listener = ({ jobId, data }: { jobId: string; data: unknown }) => {
      if (jobId === id && onProgress && data && typeof data === 'object') onProgress(data as Record<string, unknown>);
    };
    events.on('progress', listener);
    try {
      const job = await BullJob.fromId(this.queue, id);
      if (!job) throw new ArgumentError(`follow: no job '${id}'`);
      return (await job.waitUntilFinished(events)) as R;
    } finally {
      events.off('progress', listener);
    }
  }

  /**
   * Cancels a job: one still waiting is removed from the queue; a running one is cancelled by its
   * worker within one inner step (it then fails with an AbortError). Returns false when there is no such job.
   */
  async cancel(id: string): Promise<boolean> {
    const job = await BullJob.fromId(this.queue, id);
    if (!job) return false;
    const state = await job.getState();
    if (state === 'waiting' || state === 'delayed' || state === 'prioritized' || state === 'waiting-children') {
      await job.remove().catch(() => this.connection.publish(cancelChannel(this.prefix), id)); // taken meanwhile: cancel it where it runs
    } else if (state === 'active') {
      await this.connection.publish(cancelChannel(this.prefix), id);
    }
    return true;
  }

  /** Jobs the queue knows, newest first: id, BullMQ state, data, progress, result or failure. */
  async jobs(limit = 1000): Promise<{ id: string; state: string; spec?: Required<JobSpec>; progress: unknown; result: unknown; failedReason?: string; timestamp: number; processedOn?: number; finishedOn?: number }[]> {
    const jobs = await this.queue.getJobs(['waiting', 'delayed', 'prioritized', 'active', 'completed', 'failed', 'waiting-children'], 0, limit - 1, false);
    return Promise.all(jobs.filter(Boolean).map(async (j) => ({
      id: j.id!, state: await j.getState(), spec: (j.data as { spec?: Required<JobSpec> }).spec, progress: j.progress, result: j.returnvalue,
      failedReason: j.failedReason, timestamp: j.timestamp, processedOn: j.processedOn, finishedOn: j.finishedOn,
    })));
  }

  /** The queue's events, for a front end that mirrors its jobs (one shared listener). */
  async queueEvents(): Promise<QueueEvents> {
    if (!this.events) {
      this.eventsConnection = connect(this.opts.redis);
      this.events = new QueueEvents(QUEUE_NAME, { connection: this.eventsConnection, prefix: this.prefix });
    }
    await this.events.waitUntilReady();
    return this.events;
  }

  /** The spec of a queued job (null for a sweep's parent, or no such job). */
  async specOf(id: string): Promise<Required<JobSpec> | null> {
    const job = await BullJob.fromId(this.queue, id);
    return (job?.data as { spec?: Required<JobSpec> } | undefined)?.spec ?? null;
  }

  /** A job's state: waiting, active, completed, failed, ... (or null when there is none). */
  async state(id: string): Promise<string | null> {
    const job = await BullJob.fromId(this.queue, id);
    return job ? job.getState() : null;
  }

  /** Closes its connections (BullMQ leaves connections it was given open: they are closed here). */
  async close(): Promise<void> {
    await this.events?.close();
    this.eventsConnection?.disconnect();
    await this.flows.close();
    await this.queue.close();
    this.connection.disconnect();
  }
}

export interface QueueWorkerOptions extends QueueConnectionOptions {
  /** the data folder every worker sees: job folders, checkpoints (a shared file system across machines) */
  dataDir: string;
  /** jobs this process runs at once (default 1) */
  concurrency?: number;
  /** kernel threads per job (default: the runner's) */
  threads?: number;
  /** problem modules usable as kinds: name → absolute path (the same on every worker) */
  kinds?: Record<string, string>;
  /** ms a worker's lock on a job lasts without renewal: how soon a dead worker's job is taken up (default 30 000) */
  lockDuration?: number;
  /** ms between checks for jobs whose worker died (default: lockDuration) */
  stalledInterval?: number;
  /** what the worker does, for its operator */
  log?: (line: string) => void;
}

export class QueueWorker {
  readonly runner: JobRunner;
  private readonly worker: Worker;
  private readonly queue: Queue;
  private readonly connection: IORedis;
  private readonly subscriber: IORedis;

  constructor(readonly opts: QueueWorkerOptions) {
    const log = opts.log ?? (() => undefined);
    this.runner = new JobRunner({ dataDir: opts.dataDir, concurrency: opts.concurrency ?? 1, threads: opts.threads, kinds: opts.kinds });
    this.connection = connect(opts.redis);
    const lockDuration = opts.lockDuration ?? 30000;
    this.worker = new Worker(QUEUE_NAME, (job) => this.process(job, log), {
      connection: this.connection, prefix: opts.prefix ?? 'rfho', concurrency: opts.concurrency ?? 1,
      lockDuration, stalledInterval: opts.stalledInterval ?? lockDuration, maxStalledCount: 10,
    });
    this.worker.on('error', (e) => log(`error: ${e.message}`));
    this.queue = new Queue(QUEUE_NAME, { connection: this.connection, prefix: opts.prefix ?? 'rfho' });
    // Cancellation of a running job reaches the worker that runs it through a Redis channel.
    this.subscriber = connect(opts.redis);
    void this.subscriber.subscribe(cancelChannel(opts.prefix ?? 'rfho'));
    this.subscriber.on('message', (_channel, id: string) => {
      const job = this.runner.get(id);
      if (job) {
        log(`cancelling ${id}`);
        job.cancel();
      }
    });
  }

  private async process(bullJob: BullJob, log: (line: string) => void): Promise<unknown> {
    const data = bullJob.data as QueuedData;
    const id = bullJob.id!;
    if ('sweep' in data) return this.gather(bullJob);
    if ('assemble' in data) return this.assemble(bullJob);
    const folder = path.resolve(this.opts.dataDir, id);
    const key = checkpointKey(this.opts.prefix ?? 'rfho', id);
    let resume = fs.existsSync(path.join(folder, 'job.json'));
    if (!resume) resume = await this.restoreFromRedis(key, folder, id, log);
    log(`${resume ? 'resuming' : 'starting'} ${id}`);
    const job = this.runner.submit(data.spec, { id, folder, resume });
    // After each hyper-iteration (its checkpoint is on disk before its record is sent): progress, and
    // the job's state files copied to Redis, so that a worker without this folder can take it up.
    let saving = Promise.resolve();
    job.on('record', (r) => {
      void bullJob.updateProgress(r).catch(() => undefined);
      saving = saving.then(() => this.saveToRedis(key, folder)).catch((e) => log(`could not copy the checkpoint of ${id} to Redis: ${(e as Error).message}`));
    });
    try {
      const summary = await job.result;
      log(`done ${id}`);
      await saving;
      await this.connection.del(key);
      return summary;
    } finally {
      this.runner.forget(job.id);
    }
  }

  /** Copies a job's state files (its record and last checkpoint: checked when read back) to a Redis hash. */
  private async saveToRedis(key: string, folder: string): Promise<void> {
    const fields: (string | Buffer)[] = [];
    for (const name of STATE_FILES) {
      const file = path.join(folder, name);
      if (fs.existsSync(file)) fields.push(name, fs.readFileSync(file));
    }
    if (fields.length) await this.connection.hset(key, ...(fields as [string, Buffer]));
  }

  /** Writes a job's state files from Redis into its folder, when a worker without the folder takes it up. */
  private async restoreFromRedis(key: string, folder: string, id: string, log: (line: string) => void): Promise<boolean> {
    const saved = await this.connection.hgetallBuffer(key);
    if (!saved || !saved['job.json']) return false;
    fs.mkdirSync(folder, { recursive: true });
    for (const name of STATE_FILES) if (saved[name]) writeFileAtomic(path.join(folder, name), saved[name].toString('utf8'));
    log(`restored the checkpoint of ${id} from Redis`);
    return true;
  }

  /** A sweep's parent: its children's summaries as one table. */
  private async gather(bullJob: BullJob): Promise<{ rows: SweepRow[] }> {
    const values = (await bullJob.getChildrenValues()) as Record<string, JobSummary>;
    const rows: SweepRow[] = [];
    for (const [key, summary] of Object.entries(values)) {
      const childId = key.split(':').pop()!;
      const child = await BullJob.fromId(this.queue, childId);
      rows.push({ id: childId, options: (child?.data as { spec?: Required<JobSpec> })?.spec?.options ?? {}, summary });
    }
    rows.sort((a, b) => Number(a.id.split('.').pop()) - Number(b.id.split('.').pop()));
    const folder = path.resolve(this.opts.dataDir, bullJob.id!);
    fs.mkdirSync(folder, { recursive: true });
    writeFileAtomic(path.join(folder, 'sweep.json'), JSON.stringify(rows, null, 1) + '\n');
    const optionKeys = [...new Set(rows.flatMap((r) => Object.keys(r.options)))];
    const summaryKeys = [...new Set(rows.flatMap((r) => Object.keys(r.summary).filter((k) => typeof r.summary[k] === 'number')))];
    const quote = (v: unknown) => (v === undefined ? '' : typeof v === 'string' ? `"${v.replace(/"/g, '""')}"` : String(v));
    const csv = [['id', ...optionKeys, ...summaryKeys].join(','), ...rows.map((r) => [quote(r.id), ...optionKeys.map((k) => (typeof r.options[k] === 'number' ? String(r.options[k]) : quote(JSON.stringify(r.options[k])))), ...summaryKeys.map((k) => quote(r.summary[k]))].join(','))].join('\n') + '\n';
    writeFileAtomic(path.join(folder, 'sweep.csv'), csv);
    return { rows };
  }

  /** Forward-HG's shards put end to end (their columns must tile the whole). */
  private async assemble(bullJob: BullJob): Promise<ShardedHypergradient> {
    const values = Object.entries((await bullJob.getChildrenValues()) as Record<string, JobSummary>)
      .map(([key, s]) => ({ id: key.split(':').pop()!, s: s as JobSummary & { columns: { start: number; end: number }; values: number[]; value: number; m: number } }))
      .sort((a, b) => a.s.columns.start - b.s.columns.start);
    const out: number[] = [];
    for (const { id, s } of values) {
      if (s.columns.start !== out.length || s.values.length !== s.columns.end - s.columns.start) throw new Error(`forward sharded: shard ${id} covers [${s.columns.start}, ${s.columns.end}), expected to start at ${out.length}`);
      out.push(...s.values);
    }
    const m = values[0]?.s.m ?? 0;
    if (out.length !== m) throw new Error(`forward sharded: the shards cover ${out.length} of ${m} columns`);
    const result: ShardedHypergradient = {
      values: out, value: values.find((v) => v.s.values.length)?.s.value ?? NaN,
      shards: values.map(({ id, s }) => ({ id, columns: s.columns, seconds: s.seconds as number })),
    };
    const folder = path.resolve(this.opts.dataDir, bullJob.id!);
    fs.mkdirSync(folder, { recursive: true });
    writeFileAtomic(path.join(folder, 'hypergradient.json'), JSON.stringify(result) + '\n');
    return result;
  }

  async waitUntilReady(): Promise<void> {
    await this.worker.waitUntilReady();
  }

  /** Stops taking jobs; running ones stop as a crash would and are taken up again by a worker. */
  async close(): Promise<void> {
    // BullMQ first: a job ended by the runner's close must not be recorded as failed.
    this.subscriber.disconnect();
    await this.worker.close(true);
    await this.runner.close({ cancel: false });
    await this.queue.close();
    this.connection.disconnect();
  }
}
