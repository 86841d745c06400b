/** The job kinds: the built-in experiments, plus problem modules named when a runner is made. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ArgumentError } from '../../errors/errors';
import { hyperCleaningKind } from './hyperCleaning';
import { forwardShardKind } from './forwardShard';
import { moduleKind } from './module';
import { tuneKind } from './tune';
import { JobKind } from './types';

export const BUILTIN_KINDS: Readonly<Record<string, JobKind>> = { 'hyper-cleaning': hyperCleaningKind, tune: tuneKind };

/** The problem modules of a folder as job kinds: each NAME.js (or .cjs) is the kind NAME; built-in names stay built-in. */
export function kindsInFolder(dir: string): Record<string, string> {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new ArgumentError(`kinds folder '${dir}' does not exist`);
  const out: Record<string, string> = {};
  for (const f of fs.readdirSync(dir)) {
    const m = /^([A-Za-z0-9][A-Za-z0-9_-]{0,63})\.c?js$/.exec(f);
    if (m && !Object.prototype.hasOwnProperty.call(BUILTIN_KINDS, m[1]) && m[1] !== 'forward-shard') out[m[1]] = path.resolve(dir, f);
  }
  return out;
}

/** The kind named `name`: a built-in one, or one of `modules` (name → absolute module path). */
export function resolveKind(name: unknown, modules: Readonly<Record<string, string>> = {}): JobKind {
  if (typeof name !== 'string') throw new ArgumentError(`job: 'kind' must be a string, got ${typeof name}`);
  const builtin = Object.prototype.hasOwnProperty.call(BUILTIN_KINDS, name) ? BUILTIN_KINDS[name] : undefined;
  if (builtin) return builtin;
  if (name === 'forward-shard') return forwardShardKind(modules);
  if (Object.prototype.hasOwnProperty.call(modules, name)) return moduleKind(name, modules[name]);
  const known = [...Object.keys(BUILTIN_KINDS), 'forward-shard', ...Object.keys(modules)];
  throw new ArgumentError(`job: unknown kind '${name.slice(0, 60)}' (known: ${known.join(', ')})`);
}

export type { JobContext, JobKind, JobSummary } from './types';
