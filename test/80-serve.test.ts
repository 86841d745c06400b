/** `rfho serve`: the JSON API over real HTTP on localhost, its security, its events, and a restart after SIGKILL. */
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as rf from '../lib';
import { Service, startService } from '../lib/serve/server';

const HC = { trainSize: 150, validSize: 150, testSize: 150, corrupted: 40, R: 100, T: 20, hyperIterations: 4, evalEvery: 2 };
const cli = path.resolve(__dirname, '..', 'lib', 'cli', 'main.js');

function tmp(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

async function call(base: string, method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any; text: string }> {
  const res = await fetch(base + url, { method, headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers }, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, json, text };
}

/** The events of an SSE stream until 'end' (or the limit). */
async function events(base: string, id: string, headers: Record<string, string> = {}): Promise<{ event: string; data: any }[]> {
  const res = await fetch(`${base}/jobs/${id}/events`, { headers });
  assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const text = await res.text();
  return text.split('\n\n').filter((b) => b.startsWith('event:')).map((b) => ({ event: /^event: (.*)$/m.exec(b)![1], data: JSON.parse(/^data: (.*)$/m.exec(b)![1]) }));
}

describe('rfho serve: the API', function () {
  this.timeout(300000);
  let service: Service;
  let base: string;

  before(async () => {
    service = await startService({ port: 0, dataDir: tmp('rfho-serve-'), jobs: 2, threads: 1 });
    base = service.url;
  });
  after(() => service.close());

  it('binds to 127.0.0.1 by default; POST /jobs → 201 and an id; GET /jobs, /jobs/:id; SSE gives one event per record, then the summary', async () => {
    assert.match(base, /^http:\/\/127\.0\.0\.1:\d+$/);
    const r = await call(base, 'POST', '/jobs', { kind: 'hyper-cleaning', options: HC });
    assert.equal(r.status, 201, r.text);
    const id = r.json.id as string;
    const evs = await events(base, id);
    assert.deepEqual(evs.filter((e) => e.event === 'record').map((e) => e.data.iteration), [1, 2, 3, 4]);
    const end = evs.at(-1)!;
    assert.equal(end.event, 'end');
    assert.equal(end.data.status, 'done');
    assert.equal(end.data.summary.iterations, 4);
    const list = await call(base, 'GET', '/jobs');
    assert.equal(list.status, 200);
    assert.ok(list.json.some((j: any) => j.id === id && j.status === 'done' && j.records === 4));
    const one = await call(base, 'GET', `/jobs/${id}`);
    assert.equal(one.json.status, 'done');
    assert.equal(one.json.settings.trainSize, 150);
    assert.equal(one.json.lastRecord.iteration, 4);
    assert.ok(one.json.files.includes('validation.svg') && !one.json.files.some((f: string) => f.startsWith('.')));
    assert.equal(one.json.folder, undefined, 'no server path in the API');
    // a second stream of a finished job replays everything
    assert.equal((await events(base, id)).length, 5);
    const svg = await fetch(`${base}/jobs/${id}/files/validation.svg`);
    assert.equal(svg.headers.get('content-type'), 'image/svg+xml');
    assert.match(await svg.text(), /<svg/);
    const charts = await call(base, 'GET', `/jobs/${id}/charts`);
    // a finished job's report opens with the headline (final models, detector)
    assert.deepEqual(charts.json.map((c: any) => c.name), ['headline', 'validation', 'accuracy_f1', 'lambda_histogram']);
    assert.equal(charts.json[1].spec.data.values.length, 4);
  });

  it('bad requests are 400 with a message; unknown jobs 404; large bodies 413; file names cannot leave the job folder; the server lives on', async () => {
    const bad: [unknown, RegExp][] = [
      [{ kind: 'bitcoin' }, /body\/kind must be equal to one of the allowed values/],
      [{ kind: 'hyper-cleaning', options: { T: 'x' } }, /options\.T must be integer/],
      [{ kind: 'hyper-cleaning', options: { T: 2.5 } }, /options\.T must be integer/],
      [{ kind: 'hyper-cleaning', options: { trainSize: 1e9 } }, /options\.trainSize must be <= 60000/],
      [{ kind: 'hyper-cleaning', options: { Tx: 3 } }, /must NOT have additional properties \('Tx'\)/],
      [{ kind: 'hyper-cleaning', options: { dataset: '/etc' } }, /options\.dataset must be equal to one of the allowed values/],
      [{ kind: 'hyper-cleaning', options: { corrupted: 500, trainSize: 100 } }, /'corrupted' \(500\) exceeds 'trainSize' \(100\)/],
      [{ kind: 'tune', options: { hidden: [0] } }, /options\.hidden\.0 must be >= 1/],
      [{ kind: 'hyper-cleaning', module: '/tmp/x.js' }, /must NOT have additional properties/],
      [{ kind: 'hyper-cleaning', id: '../../etc' }, /body\/id must match pattern/],
      ['{"kind": "hyper-cleaning"', /JSON/i],
      ['[]', /body must be object/],
    ];
    for (const [body, message] of bad) {
      const r = await call(base, 'POST', '/jobs', body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.status} ${r.text}`);
      assert.match(r.json.error, message, JSON.stringify(body));
    }
    const huge = await call(base, 'POST', '/jobs', { kind: 'tune', options: { dataset: 'x'.repeat(100_000) } });
    assert.equal(huge.status, 413);
    assert.equal((await call(base, 'GET', '/jobs/nope')).status, 404);
    assert.equal((await call(base, 'DELETE', '/jobs/nope')).status, 404);
    assert.equal((await call(base, 'GET', '/jobs/..%2F..%2Fetc')).status, 400);
    const id = (await call(base, 'GET', '/jobs')).json[0].id;
    for (const name of ['..%2Fjob.json', '.hidden', '%2Fetc%2Fpasswd', 'nope.json', '..']) {
      const r = await call(base, 'GET', `/jobs/${id}/files/${name}`);
      assert.ok(r.status === 400 || r.status === 404, `${name}: ${r.status}`);
    }
    // a symbolic link out of the folder is not followed
    const folder = service.runner.get(id)!.folder;
    fs.symlinkSync('/etc/hostname', path.join(folder, 'link.txt'));
    assert.equal((await call(base, 'GET', `/jobs/${id}/files/link.txt`)).status, 404);
    // raw garbage on the socket: the server answers 400 or closes, and keeps serving
    await new Promise<void>((resolve) => {
      const s = net.connect(Number(new URL(base).port), '127.0.0.1', () => s.end('GARBAGE / HTTP/9.9\r\n\r\n\x00\x01'));
      s.on('data', () => undefined);
      s.on('close', () => resolve());
      s.on('error', () => resolve());
    });
    assert.equal((await call(base, 'GET', '/jobs')).status, 200);
  });

  it('DELETE cancels a running job; at most --jobs run at once, the rest wait in order', async () => {
    const long = { ...HC, T: 300, hyperIterations: 1000 };
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await call(base, 'POST', '/jobs', { kind: 'hyper-cleaning', options: long })).json.id);
    const statuses = async () => Object.fromEntries((await call(base, 'GET', '/jobs')).json.map((j: any) => [j.id, j.status]));
    let s = await statuses();
    assert.deepEqual(ids.map((id) => s[id]), ['running', 'running', 'queued']);
    const del = await call(base, 'DELETE', `/jobs/${ids[0]}`);
    assert.equal(del.status, 202);
    const evs = await events(base, ids[0]);
    assert.equal(evs.at(-1)!.data.status, 'cancelled');
    s = await statuses();
    assert.equal(s[ids[2]], 'running', 'the queued job starts when one ends');
    for (const id of ids.slice(1)) await call(base, 'DELETE', `/jobs/${id}`);
  });
});

describe('rfho serve: token', function () {
  this.timeout(60000);
  it('with a token every API request needs Authorization: Bearer; the page itself loads', async () => {
    const service = await startService({ port: 0, dataDir: tmp('rfho-serve-token-'), token: 's3cret-token' });
    try {
      const base = service.url;
      assert.equal((await call(base, 'GET', '/jobs')).status, 401);
      assert.equal((await call(base, 'GET', '/jobs', undefined, { authorization: 'Bearer wrong-token!' })).status, 401);
      assert.equal((await call(base, 'POST', '/jobs', { kind: 'tune' })).status, 401);
      assert.equal((await call(base, 'GET', '/jobs', undefined, { authorization: 'Bearer s3cret-token' })).status, 200);
      const page = await call(base, 'GET', '/');
      assert.equal(page.status, 200);
      assert.match(page.text, /<title>rfho jobs<\/title>/);
    } finally {
      await service.close();
    }
    await assert.rejects(startService({ port: 0, dataDir: tmp('rfho-serve-token-'), token: 'short' }), /at least 8 characters/);
  });
});

describe('rfho serve: durable across a SIGKILL', function () {
  this.timeout(600000);

  it('a restarted server lists every job; the unfinished one resumes to the λ of an uninterrupted run, bit for bit', async () => {
    const data = tmp('rfho-serve-kill-');
    const opts = { ...HC, T: 300, hyperIterations: 8 };
    const start = async () => {
      const child = spawn(process.execPath, [cli, 'serve', '--port', '0', '--data', data, '--threads', '1', '--jobs', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
          const m = /listening on (http:\/\/\S+)/.exec(out);
          if (m) resolve(m[1]);
        });
        child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${out}`)));
      });
      return { child, url };
    };
    let { child, url } = await start();
    const done = (await call(url, 'POST', '/jobs', { kind: 'hyper-cleaning', options: HC, id: 'finished' })).json.id;
    await events(url, done);
    const cancelled = (await call(url, 'POST', '/jobs', { kind: 'hyper-cleaning', options: opts, id: 'cancelled' })).json.id;
    await call(url, 'DELETE', `/jobs/${cancelled}`);
    await events(url, cancelled);
    const id = (await call(url, 'POST', '/jobs', { kind: 'hyper-cleaning', options: opts, id: 'interrupted' })).json.id;
    for (;;) {
      const j = (await call(url, 'GET', `/jobs/${id}`)).json;
      if (j.records >= 3) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    ({ child, url } = await start());
    try {
      const list = Object.fromEntries((await call(url, 'GET', '/jobs')).json.map((j: any) => [j.id, j.status]));
      assert.equal(list.finished, 'done');
      assert.equal(list.cancelled, 'cancelled');
      assert.ok(list.interrupted === 'running' || list.interrupted === 'queued', list.interrupted);
      const evs = await events(url, id);
      assert.deepEqual(evs.filter((e) => e.event === 'record').map((e) => e.data.iteration), [1, 2, 3, 4, 5, 6, 7, 8]);
      assert.equal(evs.at(-1)!.data.status, 'done');
      const lambda = JSON.parse(fs.readFileSync(path.join(data, id, 'hyperparameters.json'), 'utf8')).lambda;
      // the same job, never interrupted, with the same thread budget
      const runner = new rf.JobRunner({ dataDir: tmp('rfho-serve-straight-'), threads: 1 });
      const straight = await runner.submit({ kind: 'hyper-cleaning', options: opts }).result;
      assert.deepEqual(lambda, JSON.parse(fs.readFileSync(path.join(straight.out, 'hyperparameters.json'), 'utf8')).lambda);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.on('exit', r));
    }
  });
});
