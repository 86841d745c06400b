/**
 * `rfho serve` under load: latency of `GET /jobs` (autocannon, 10 connections, 10 s) with no job
 * running, and while two hyper-cleaning jobs run (each in its worker thread, one kernel thread each).
 *   node dist/bench/serve.js [--quick]
 * Prints `BENCH {json}` with p50/p99/max latency (ms) and requests per second for both.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startService } from '../lib/serve/server';
import { emit, machine } from './common';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const autocannon = require('autocannon') as (opts: Record<string, unknown>) => Promise<{ latency: { p50: number; p99: number; max: number }; requests: { average: number }; errors: number; non2xx: number }>;

const quick = process.argv.includes('--quick');
const duration = quick ? 4 : 10;

async function load(url: string) {
  const r = await autocannon({ url: `${url}/jobs`, connections: 10, duration });
  return { p50_ms: r.latency.p50, p99_ms: r.latency.p99, max_ms: r.latency.max, requests_per_s: Math.round(r.requests.average), errors: r.errors + r.non2xx };
}

async function main(): Promise<void> {
  console.log(`# rfho serve under load, on ${machine()}`);
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'rfho-bench-serve-'));
  const service = await startService({ port: 0, dataDir: data, jobs: 2, threads: 1 });
  try {
    const idle = await load(service.url);
    // two jobs of npm start's problem, long enough to outlast the measurement
    const jobs = await Promise.all([0, 1].map((seed) => service.runner.submit({ kind: 'hyper-cleaning', options: { hyperIterations: 100000, seed } }, {})));
    await Promise.all(jobs.map((j) => new Promise((resolve) => j.once('record', resolve))));
    const busy = await load(service.url);
    const records = jobs.map((j) => j.recordCount);
    emit({ bench: 'serve', route: 'GET /jobs', connections: 10, duration_s: duration, idle, two_jobs_running: busy, job_records_during_load: records });
    jobs.forEach((j) => j.cancel());
    await Promise.allSettled(jobs.map((j) => j.result));
  } finally {
    await service.close();
    fs.rmSync(data, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
