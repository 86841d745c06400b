/** The FR problem of BENCHMARKS.md as a job kind (a problem module), for bench/service.ts. */
import * as os from 'node:os';
import * as path from 'node:path';
import * as rf from '../../lib';
import { frProblem } from '../problems';

export function createJob(o: { m?: number; T?: number; iterations?: number; method?: 'reverse' | 'forward' }): rf.ModuleJob {
  const m = o.m ?? 4;
  const fr = frProblem(path.join(os.tmpdir(), `rfho-frjob-m${m}-${process.pid}`), m);
  return { problem: fr.problem, optimizer: { method: o.method ?? 'reverse', T: o.T ?? 100, outer: rf.outer.adam({ lr: 0.01 }) }, iterations: o.iterations ?? 1 };
}
