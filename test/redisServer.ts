/** A Redis for the tests: RFHO_TEST_REDIS (started by .ci/run), else a redis-server of our own, else none. */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface TestRedis {
  url: string;
  stop(): void;
}

export async function testRedis(): Promise<TestRedis | null> {
  if (process.env.RFHO_TEST_REDIS) return { url: process.env.RFHO_TEST_REDIS, stop: () => undefined };
  if (spawnSync('redis-server', ['--version']).status !== 0) return null;
  const port = 20000 + ((process.pid * 7 + Date.now()) % 20000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rfho-redis-'));
  const server: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 100 && spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout?.trim() !== 'PONG'; i++) await new Promise((r) => setTimeout(r, 50));
  return { url: `redis://127.0.0.1:${port}`, stop: () => server.kill('SIGTERM') };
}

export const NO_REDIS = 'no Redis (set RFHO_TEST_REDIS, or install redis-server: sudo apt-get install redis-server)';
