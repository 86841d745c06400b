/** `rfho serve --redis`: the same API as a front end to queue workers (real Redis, a real `rfho worker`). */
import * as assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Service, startService } from '../lib/serve/server';
import { NO_REDIS, TestRedis, testRedis } from './redisServer';

const cli = path.resolve(__dirname, '..', 'lib', 'cli', 'main.js');
const HC = { trainSize: 150, validSize: 150, testSize: 150, corrupted: 40, R: 100, T: 20, hyperIterations: 4, evalEvery: 2 };

async function call(base: string, method: string, url: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(base + url, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

async function events(base: string, id: string): Promise<{ event: string; data: any }[]> {
  const text = await (await fetch(`${base}/jobs/${id}/events`)).text();
  return text.split('\n\n').filter((b) => b.startsWith('event:')).map((b) => ({ event: /^event: (.*)$/m.exec(b)![1], data: JSON.parse(/^data: (.*)$/m.exec(b)![1]) }));
}

describe('rfho serve --redis: a front end to the queue', function () {
  this.timeout(300000);
  let redis: TestRedis | null = null;
  let worker: ChildProcess | null = null;
  let service: Service | null = null;
  const prefix = `rfho-serve-${process.pid}-${Date.now()}`;
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'rfho-serve-queue-'));

  before(async function () {
    redis = await testRedis();
    if (!redis) {
      console.log(`      serve --redis tests skipped: ${NO_REDIS}`);
      this.skip();
    }
    worker = spawn(process.execPath, [cli, 'worker', '--redis', redis.url, '--prefix', prefix, '--data', data, '--threads', '1', '--lock-duration', '2000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => worker!.stdout!.on('data', (d) => String(d).includes('ready') && resolve()));
    service = await startService({ port: 0, dataDir: data, redis: redis.url, prefix });
  });

  after(async () => {
    await service?.close();
    if (worker && worker.exitCode === null && worker.signalCode === null) await new Promise((r) => (worker!.on('exit', r), worker!.kill('SIGTERM')));
    redis?.stop();
  });

  it('POST runs the job on a worker; SSE gives its records then the end; charts and files come from the shared folder; DELETE cancels; a new front end sees them all', async () => {
    const base = service!.url;
    const bad = await call(base, 'POST', '/jobs', { kind: 'hyper-cleaning', options: { T: 'x' } });
    assert.equal(bad.status, 400);
    const r = await call(base, 'POST', '/jobs', { kind: 'hyper-cleaning', options: HC, id: 'front-1' });
    assert.equal(r.status, 201);
    const evs = await events(base, 'front-1');
    assert.deepEqual(evs.filter((e) => e.event === 'record').map((e) => e.data.iteration), [1, 2, 3, 4]);
    assert.equal(evs.at(-1)!.data.status, 'done');
    assert.equal(evs.at(-1)!.data.summary.iterations, 4);
    const charts = await call(base, 'GET', '/jobs/front-1/charts');
    assert.equal(charts.json[1].spec.data.values.length, 4);
    assert.equal((await fetch(`${base}/jobs/front-1/files/summary.json`)).status, 200);

    await call(base, 'POST', '/jobs', { kind: 'hyper-cleaning', options: { ...HC, T: 400, hyperIterations: 1000 }, id: 'front-2' });
    for (let i = 0; i < 3000 && (await call(base, 'GET', '/jobs/front-2')).json.records < 1; i++) await new Promise((res) => setTimeout(res, 20));
    assert.equal((await call(base, 'DELETE', '/jobs/front-2')).status, 202);
    assert.equal((await events(base, 'front-2')).at(-1)!.data.status, 'cancelled');

    await service!.close();
    service = await startService({ port: 0, dataDir: data, redis: redis!.url, prefix });
    const list = Object.fromEntries((await call(service.url, 'GET', '/jobs')).json.map((j: any) => [j.id, j.status]));
    assert.deepEqual(list, { 'front-1': 'done', 'front-2': 'cancelled' });
  });
});
