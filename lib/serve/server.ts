/**
 * `rfho serve`: an HTTP service over the jobs API, on fastify (schemas on every route, a body
 * limit, a 400 for anything malformed). Jobs run in worker threads (lib/jobs), so the server's
 * event loop only answers requests; their folders live under the data folder, and after a restart
 * the service lists every job again and resumes the unfinished ones from their checkpoints.
 *
 *   GET    /                       the page (lib/serve/page.ts)
 *   GET    /kinds                  job kinds with their options' schemas and defaults
 *   POST   /jobs                   { kind, options, id? } → 201 { id }
 *   GET    /jobs                   every job: id, kind, status, records, times
 *   GET    /jobs/:id               status, settings, latest record, summary
 *   GET    /jobs/:id/events        Server-Sent Events: one 'record' per hyper-iteration (those so far first), then 'end'
 *   GET    /jobs/:id/charts        the report's Vega-Lite specs with the data so far
 *   GET    /jobs/:id/files/:name   a file of the job's folder (report, logs)
 *   DELETE /jobs/:id               cancel
 */
import { timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Fastify, { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HC_DEFAULTS } from '../experiments/hyperCleaning';
import { TUNE_DEFAULTS } from '../experiments/tune';
import { BUILTIN_KINDS, kindsInFolder, resolveKind } from '../jobs/kinds';
import { loggedRecords } from '../jobs/kinds/types';
import { openRunner } from '../jobs';
import { Job, JobRunner } from '../jobs/runner';
import { ArgumentError, RfhoError } from '../errors/errors';
import { FILE_NAME, JOB_ID, optionsSchema, submitSchema } from './schemas';
import { PAGE_HTML } from './page';

export interface ServeOptions {
  host?: string;
  port?: number;
  /** the data folder: one subfolder per job */
  dataDir: string;
  /** jobs at once (default: the runner's, from the cores) */
  jobs?: number;
  /** kernel threads per job */
  threads?: number;
  /** every request but the page and its scripts needs `Authorization: Bearer <token>` */
  token?: string;
  /** a folder of problem modules: each `name.js` becomes the job kind `name` */
  kindsDir?: string;
  /**
   * Front end to a cluster: jobs go to this Redis's BullMQ queue and run on `rfho worker`s, which
   * must share `dataDir` with the service (a shared file system) and know the same kinds.
   */
  redis?: string;
  /** the queue's key prefix (default rfho) */
  prefix?: string;
  /** request bodies above this many bytes are refused (413); default 64 KiB */
  bodyLimit?: number;
  /** messages for the operator (recovered jobs, skipped folders) */
  log?: (line: string) => void;
}

/** What the service needs of a runner: a local JobRunner, or a queue's jobs mirrored (QueueRunner). */
export interface ServiceRunner {
  readonly concurrency: number;
  readonly threads: number;
  get(id: string): Job | undefined;
  list(): Job[];
  submit(spec: { kind: string; options?: Record<string, unknown> }, opts: { id?: string }): Job | Promise<Job>;
  close(opts?: { cancel?: boolean }): Promise<void>;
}

export interface Service {
  app: FastifyInstance;
  runner: ServiceRunner;
  /** where it listens, e.g. http://127.0.0.1:8080 */
  url: string;
  /** stops listening; running jobs stop where a crash would, and resume after a restart */
  close(): Promise<void>;
}

/** Files the page may need from the packages, by a fixed name (never a path from the client). */
const VENDOR: Record<string, string> = {
  'vega.js': 'vega/build/vega.min.js',
  'vega-lite.js': 'vega-lite/build/vega-lite.min.js',
  'vega-embed.js': 'vega-embed/build/vega-embed.min.js',
};

function vendorFile(name: string): string | null {
  const rel = VENDOR[name];
  if (!rel) return null;
  const [pkg, ...rest] = rel.split('/');
  // packages whose `exports` hide package.json: resolve their main entry and walk up to the package folder
  let dir = path.dirname(require.resolve(pkg));
  while (path.basename(dir) !== pkg && dir !== path.dirname(dir)) dir = path.dirname(dir);
  return path.join(dir, ...rest);
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const want = Buffer.from(`Bearer ${token}`);
  const got = Buffer.from(header ?? '');
  return got.length === want.length && timingSafeEqual(got, want);
}

function jobSummaryLine(j: Job): Record<string, unknown> {
  return {
    id: j.id, kind: j.spec.kind, status: j.status, phase: j.phase, records: j.recordCount,
    submittedAt: j.submittedAt.toISOString(), startedAt: j.startedAt?.toISOString() ?? null, endedAt: j.endedAt?.toISOString() ?? null,
  };
}

export async function startService(opts: ServeOptions): Promise<Service> {
  const log = opts.log ?? (() => undefined);
  const modules = opts.kindsDir ? kindsInFolder(opts.kindsDir) : {};
  const kinds = [...Object.keys(BUILTIN_KINDS), ...Object.keys(modules)];
  const runner: ServiceRunner = await openRunner({ dataDir: opts.dataDir, concurrency: opts.jobs, threads: opts.threads, kinds: modules, redis: opts.redis, prefix: opts.prefix });
  if (runner instanceof JobRunner) {
    const recovered = runner.recover((folder, why) => log(`skipped ${folder}: ${why}`));
    if (recovered.length) log(`recovered ${recovered.length} job(s): ${recovered.filter((j) => j.status === 'queued' || j.status === 'running').length} to resume`);
  } else {
    log(`front end to the queue at ${opts.redis}: ${runner.list().length} job(s) known`);
  }

  const app = Fastify({
    logger: false,
    bodyLimit: opts.bodyLimit ?? 64 * 1024,
    // Unknown fields are errors, never silently dropped; types are never coerced.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } },
  });

  // Every error becomes JSON with a status: validation → 400, too large → 413, ours → 400/404.
  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, _req, reply) => {
    const status = err.validation ? 400 : err instanceof RfhoError ? 400 : err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    void reply.code(status).send({ error: status === 500 ? 'internal error' : err.message });
  });
  app.setNotFoundHandler((_req, reply) => void reply.code(404).send({ error: 'not found' }));

  if (opts.token !== undefined) {
    if (typeof opts.token !== 'string' || opts.token.length < 8) throw new ArgumentError('serve: the token must be at least 8 characters');
    const token = opts.token;
    app.addHook('onRequest', async (req, reply) => {
      // The page and its scripts hold no data; the page asks for the token and sends it with every call.
      const open = req.method === 'GET' && (req.url === '/' || req.url.startsWith('/vendor/'));
      if (!open && !tokenMatches(req.headers.authorization, token)) await reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized' });
    });
  }

  const jobOf = (req: FastifyRequest<{ Params: { id: string } }>): Job => {
    const job = runner.get(req.params.id);
    if (!job) throw Object.assign(new Error(`no job '${req.params.id}'`), { statusCode: 404 });
    return job;
  };
  const idParams = { type: 'object', required: ['id'], additionalProperties: false, properties: { id: JOB_ID } };

  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(PAGE_HTML));
  app.get<{ Params: { name: string } }>('/vendor/:name', { schema: { params: { type: 'object', properties: { name: { type: 'string', enum: Object.keys(VENDOR) } } } } }, async (req, reply) => {
    const file = vendorFile(req.params.name);
    if (!file || !fs.existsSync(file)) return reply.code(404).send({ error: 'not found' });
    return reply.type('text/javascript; charset=utf-8').header('cache-control', 'max-age=3600').send(fs.createReadStream(file));
  });

  app.get('/kinds', async () => kinds.map((k) => ({
    name: k, description: resolveKind(k, modules).description, schema: optionsSchema(k),
    defaults: k === 'hyper-cleaning' ? HC_DEFAULTS : k === 'tune' ? TUNE_DEFAULTS : {},
  })));

  app.post<{ Body: { kind: string; options?: Record<string, unknown>; id?: string } }>('/jobs', { schema: { body: submitSchema(kinds) } }, async (req, reply) => {
    const { kind, options = {}, id } = req.body;
    const validate = req.compileValidationSchema(optionsSchema(kind));
    if (!validate(options)) {
      const e = validate.errors?.[0];
      const where = e?.instancePath ? `options${e.instancePath.replace(/\//g, '.')}` : 'options';
      const extra = e?.params && (e.params as { additionalProperty?: string }).additionalProperty;
      throw new ArgumentError(`${kind}: ${where} ${e?.message ?? 'is invalid'}${extra ? ` ('${extra}')` : ''}`);
    }
    if (id !== undefined && runner.get(id)) return reply.code(409).send({ error: `a job with id '${id}' exists` });
    const job = await runner.submit({ kind, options }, { id });
    return reply.code(201).send({ id: job.id });
  });

  app.get('/jobs', async () => runner.list().map(jobSummaryLine));

  app.get<{ Params: { id: string } }>('/jobs/:id', { schema: { params: idParams } }, async (req) => {
    const job = jobOf(req);
    let settings: unknown = null;
    try {
      settings = JSON.parse(fs.readFileSync(path.join(job.folder, 'settings.json'), 'utf8'));
    } catch {
      // not written yet
    }
    const { folder: _folder, ...view } = job.toJSON();
    return { ...view, settings, files: fs.existsSync(job.folder) ? fs.readdirSync(job.folder).filter((f) => FILE_PATTERN.test(f)) : [] };
  });

  app.delete<{ Params: { id: string } }>('/jobs/:id', { schema: { params: idParams } }, async (req, reply) => {
    const job = jobOf(req);
    job.cancel();
    return reply.code(202).send({ id: job.id, status: job.status });
  });

  app.get<{ Params: { id: string } }>('/jobs/:id/charts', { schema: { params: idParams } }, async (req) => {
    const job = jobOf(req);
    const kind = resolveKind(job.spec.kind, modules);
    return kind.charts ? kind.charts(job.folder) : [];
  });

  app.get<{ Params: { id: string; name: string } }>('/jobs/:id/files/:name', {
    schema: { params: { type: 'object', required: ['id', 'name'], additionalProperties: false, properties: { id: JOB_ID, name: FILE_NAME } } },
  }, async (req, reply) => {
    const job = jobOf(req);
    // A plain name (schema), inside the folder once symlinks are resolved, a regular file.
    const folder = fs.realpathSync(job.folder);
    const file = path.join(folder, req.params.name);
    let real: string;
    try {
      real = fs.realpathSync(file);
    } catch {
      return reply.code(404).send({ error: `no file '${req.params.name}'` });
    }
    if (path.dirname(real) !== folder || !fs.statSync(real).isFile() || req.params.name.startsWith('.')) return reply.code(404).send({ error: `no file '${req.params.name}'` });
    return reply.type(contentType(real)).send(fs.createReadStream(real));
  });

  app.get<{ Params: { id: string } }>('/jobs/:id/events', { schema: { params: idParams } }, (req, reply) => {
    const job = jobOf(req);
    streamEvents(job, req, reply);
  });

  await app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 8080 });
  const address = app.server.address();
  const url = typeof address === 'object' && address ? `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}` : String(address);
  return {
    app, runner, url,
    async close() {
      await runner.close({ cancel: false });
      await app.close();
    },
  };
}

const FILE_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

function contentType(file: string): string {
  const ext = path.extname(file).toLowerCase();
  return ({ '.json': 'application/json', '.jsonl': 'application/x-ndjson', '.csv': 'text/csv; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png' } as Record<string, string>)[ext] ?? 'application/octet-stream';
}

/**
 * Server-Sent Events of one job: the records logged so far, then each new one as it comes, then
 * 'end' with the status and summary. Written by hand (a few lines over the raw response) rather than
 * through a plugin: the stream must start from the job's log and follow its events without a gap.
 */
function streamEvents(job: Job, req: FastifyRequest, reply: FastifyReply): void {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  let last = 0;
  const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  const sendRecord = (r: Record<string, unknown>) => {
    const it = typeof r.iteration === 'number' ? r.iteration : last + 1;
    if (it <= last) return; // already sent from the log
    last = it;
    send('record', r);
  };
  const live: Record<string, unknown>[] = [];
  const onRecord = (r: Record<string, unknown>) => live.push(r);
  job.on('record', onRecord); // listen first, then read the log: nothing falls in between
  const done = () => {
    send('end', { status: job.status, summary: job.summary, error: job.error ? { name: job.error.name, message: job.error.message } : null });
    cleanup();
    res.end();
  };
  const onEnd = () => done();
  const cleanup = () => {
    job.off('record', onRecord);
    job.off('record', sendRecord);
    job.off('end', onEnd);
    clearInterval(keepAlive);
  };
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15000);
  req.raw.on('close', cleanup);
  for (const r of loggedRecords(job.folder)) sendRecord(r);
  for (const r of live) sendRecord(r);
  job.off('record', onRecord);
  job.on('record', sendRecord);
  if (job.status === 'done' || job.status === 'failed' || job.status === 'cancelled') done();
  else job.once('end', onEnd);
}
