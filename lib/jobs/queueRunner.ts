/**
 * The jobs of a BullMQ queue seen as a JobRunner's are (`Job` objects with status, records, events),
 * so that `rfho serve --redis URL` is a front end to the cluster with the same API and page: jobs
 * are submitted to the queue, run by `rfho worker`s on any machines, and mirrored here from the
 * queue's events. Job folders are on the data folder the workers share; the front end reads logs,
 * charts and files from it.
 */
import * as path from 'node:path';
import { AbortError } from '../errors/errors';
import { JobSummary, resolveKind } from './kinds';
import { JobSpec, checkJobId, newJobId } from './protocol';
import { QueueClient } from './queue';
import { Job, JobError, SubmitOptions } from './runner';

/** A job of the queue: cancelling it asks the queue (removed if waiting, cancelled by its worker if running). */
class QueueJob extends Job {
  constructor(id: string, spec: Required<JobSpec>, folder: string, private readonly client: QueueClient) {
    super(id, spec, folder, true, 0);
  }

  override cancel(): void {
    if (this.status === 'queued' || this.status === 'running') void this.client.cancel(this.id).catch(() => undefined);
  }

  override stop(): void {
    this.cancel();
  }
}

function parse(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

export interface QueueRunnerOptions {
  redis: string;
  prefix?: string;
  /** the data folder the workers share */
  dataDir: string;
  /** problem module kinds the workers know (their options are checked by the worker) */
  kinds?: readonly string[];
}

export class QueueRunner {
  /** jobs run by the workers, as many as they take */
  readonly concurrency = NaN;
  readonly threads = NaN;
  private readonly jobs = new Map<string, QueueJob>();
  private readonly notJobs = new Set<string>();
  private constructor(private readonly client: QueueClient, readonly opts: QueueRunnerOptions) {}

  /** Connects, lists the queue's jobs and follows its events. */
  static async start(opts: QueueRunnerOptions): Promise<QueueRunner> {
    const client = new QueueClient({ redis: opts.redis, prefix: opts.prefix, kinds: opts.kinds });
    const runner = new QueueRunner(client, opts);
    const events = await client.queueEvents();
    events.on('active', ({ jobId }) => runner.mirror(jobId).then((j) => j && runner.started(j)));
    events.on('progress', ({ jobId, data }) => runner.mirror(jobId).then((j) => j && runner.progressed(j, data as Record<string, unknown>)));
    events.on('completed', ({ jobId, returnvalue }) => runner.mirror(jobId).then((j) => j?.finish('done', parse(returnvalue) as JobSummary, null, false)));
    events.on('failed', ({ jobId, failedReason }) => runner.mirror(jobId).then((j) => j && runner.failed(j, failedReason)));
    events.on('removed', ({ jobId }) => {
      const j = runner.jobs.get(jobId);
      j?.finish('cancelled', null, new AbortError(`job ${jobId} was cancelled before it started`), false);
    });
    for (const q of (await client.jobs()).reverse()) {
      if (!q.spec) {
        runner.notJobs.add(q.id); // a sweep's or a sharded hypergradient's parent: not a job of the page
        continue;
      }
      const j = runner.adopt(q.id, q.spec);
      j.submittedAt = new Date(q.timestamp);
      if (q.state === 'active') runner.started(j, q.processedOn);
      if (q.progress && typeof q.progress === 'object') runner.progressed(j, q.progress as Record<string, unknown>, false);
      if (q.state === 'completed') j.finish('done', parse(q.result) as JobSummary, null, false);
      else if (q.state === 'failed') runner.failed(j, q.failedReason ?? 'failed');
      if (q.finishedOn) j.endedAt = new Date(q.finishedOn);
    }
    return runner;
  }

  private adopt(id: string, spec: Required<JobSpec>): QueueJob {
    let j = this.jobs.get(id);
    if (!j) {
      j = new QueueJob(id, spec, path.resolve(this.opts.dataDir, id), this.client);
      this.jobs.set(id, j);
    }
    return j;
  }

  /**
   * The mirror of a queued job, made on its first event when another client submitted it. Queue
   * entries that are not jobs of the page (a sweep's parent) are remembered, so they are looked up once.
   */
  private async mirror(id: string): Promise<QueueJob | undefined> {
    const known = this.jobs.get(id);
    if (known || this.notJobs.has(id)) return known;
    const spec = await this.client.specOf(id);
    if (spec) return this.adopt(id, spec);
    this.notJobs.add(id);
    return undefined;
  }

  private started(j: QueueJob, at?: number): void {
    if (j.status !== 'queued') return;
    j.status = 'running';
    j.phase = 'running';
    j.startedAt = new Date(at ?? Date.now());
    j.emit('status', 'running');
  }

  private progressed(j: QueueJob, record: Record<string, unknown>, emit = true): void {
    j.lastRecord = record;
    j.recordCount = typeof record.iteration === 'number' ? record.iteration : j.recordCount + 1;
    if (emit) j.emit('record', record);
  }

  private failed(j: QueueJob, reason: string): void {
    const cancelled = /cancel|AbortError/i.test(reason);
    j.finish(cancelled ? 'cancelled' : 'failed', null, cancelled ? new AbortError(`job ${j.id} was cancelled`) : new JobError(`job ${j.id} failed: ${reason}`, j.id, 'Error'), false);
  }

  recover(): Job[] {
    return this.list();
  }

  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  list(): Job[] {
    return [...this.jobs.values()].sort((a, b) => a.submittedAt.getTime() - b.submittedAt.getTime());
  }

  /** Queues a job (checked first: built-in kinds here, module kinds by the worker). */
  async submit(spec: JobSpec, opts: SubmitOptions = {}): Promise<Job> {
    const id = opts.id ?? newJobId(String(spec?.kind));
    checkJobId(id, 'submit');
    if (!(this.opts.kinds ?? []).includes(spec.kind)) resolveKind(spec.kind, {});
    await this.client.submit(spec, id);
    return this.adopt(id, { kind: spec.kind, options: structuredClone(spec.options ?? {}) });
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
