/** `rfho serve`, `rfho worker`, `rfho submit`: the service, queue workers and submissions. */
import * as path from 'node:path';
import { ArgumentError } from '../errors/errors';
import { kindsInFolder } from '../jobs/kinds';
import { newJobId } from '../jobs/protocol';
import { EXIT, UsageError } from './options';
import { settings } from '../config/config';

function modulesOf(dir: string | undefined): Record<string, string> {
  try {
    return dir === undefined ? {} : kindsInFolder(dir);
  } catch (e) {
    throw new UsageError(`--kinds: ${(e as Error).message}`);
  }
}

/** Resolves when the process is asked to stop (Ctrl-C, SIGTERM). */
function untilStopped(): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

export interface ServeOptions {
  host: string;
  port: number;
  data: string;
  jobs?: number;
  threads?: number;
  token?: string;
  kinds?: string;
  redis?: string;
  prefix?: string;
}

export async function serve(v: ServeOptions): Promise<number> {
  if (v.port > 65535) throw new UsageError(`--port must be in [0, 65535], got ${v.port}`);
  const token = v.token ?? settings.serveToken;
  const { startService } = await import('../serve/server');
  let service;
  try {
    service = await startService({
      host: v.host, port: v.port, dataDir: v.data, jobs: v.jobs, threads: v.threads, token, kindsDir: v.kinds, redis: v.redis, prefix: v.prefix,
      log: (l) => console.log(`rfho serve: ${l}`),
    });
  } catch (e) {
    if (e instanceof ArgumentError) throw new UsageError(e.message);
    throw e;
  }
  const where = v.redis ? `run by the workers of ${v.redis}` : `${service.runner.concurrency} at once, ${service.runner.threads} threads each`;
  console.log(`rfho serve: listening on ${service.url} (jobs in ${path.resolve(v.data)}, ${where}${token ? ', token required' : ''})`);
  await untilStopped();
  console.log('rfho serve: stopping (running jobs resume after a restart)');
  await service.close();
  return EXIT.ok;
}

export interface WorkerOptions {
  redis: string;
  prefix?: string;
  data: string;
  concurrency?: number;
  threads?: number;
  kinds?: string;
  lockDuration?: number;
}

export async function worker(v: WorkerOptions): Promise<number> {
  const { QueueWorker } = await import('../jobs/queue');
  const w = new QueueWorker({
    redis: v.redis, prefix: v.prefix, dataDir: v.data, concurrency: v.concurrency, threads: v.threads,
    kinds: modulesOf(v.kinds), lockDuration: v.lockDuration, log: (l) => console.log(`rfho worker: ${l}`),
  });
  await w.waitUntilReady();
  console.log(`rfho worker: ready (pid ${process.pid}, ${w.runner.concurrency} job(s) at once, ${w.runner.threads} threads each, data ${path.resolve(v.data)})`);
  await untilStopped();
  await w.close();
  return EXIT.ok;
}

/** Every combination of a grid's values: {a: [1, 2], b: [3]} → [{a: 1, b: 3}, {a: 2, b: 3}]. */
function combinations(grid: Record<string, unknown[]>): Record<string, unknown>[] {
  if (grid === null || typeof grid !== 'object' || Array.isArray(grid)) throw new UsageError(`--sweep: a grid is an object of value lists, such as {"seed":[0,1]}`);
  return Object.entries(grid).reduce<Record<string, unknown>[]>((acc, [k, values]) => {
    if (!Array.isArray(values) || values.length === 0) throw new UsageError(`--sweep: '${k}' must list at least one value`);
    return acc.flatMap((o) => values.map((x) => ({ ...o, [k]: x })));
  }, [{}]);
}

export interface SubmitOptions {
  redis: string;
  kind: string;
  options?: unknown;
  id?: string;
  sweep?: unknown;
  forwardShards?: number;
  T?: number;
  follow?: boolean;
  prefix?: string;
  kinds?: string;
}

export async function submit(v: SubmitOptions): Promise<number> {
  const options = (v.options ?? {}) as Record<string, unknown>;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new UsageError('--options: a job\'s options are a JSON object');
  const grid = v.sweep as Record<string, unknown[]> | undefined;
  const shards = v.forwardShards;
  if (shards !== undefined && (grid || v.T === undefined)) throw new UsageError('--forward-shards needs --T and cannot be combined with --sweep');
  const id = v.id ?? newJobId(grid ? 'sweep' : shards ? 'forward' : v.kind);
  const { QueueClient } = await import('../jobs/queue');
  const client = new QueueClient({ redis: v.redis, prefix: v.prefix, kinds: Object.keys(modulesOf(v.kinds)) });
  try {
    let queued: string;
    try {
      queued = shards !== undefined ? await client.submitForwardSharded({ kind: v.kind, options, T: v.T! }, shards, id)
        : grid ? await client.submitSweep(combinations(grid).map((o) => ({ kind: v.kind, options: { ...options, ...o } })), id)
          : await client.submit({ kind: v.kind, options }, id);
    } catch (e) {
      if (e instanceof ArgumentError) throw new UsageError(e.message);
      throw e;
    }
    console.log(JSON.stringify({ id: queued }));
    if (!v.follow) return EXIT.ok;
    const result = await client.follow(queued, (r) => console.log(JSON.stringify({ record: r })));
    console.log(JSON.stringify({ result }));
    return EXIT.ok;
  } finally {
    await client.close();
  }
}
