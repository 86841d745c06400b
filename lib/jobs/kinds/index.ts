/** The job kinds: the built-in experiments, plus problem modules named when a runner is made. */
import { ArgumentError } from '../../tensor/errors';
import { hyperCleaningKind } from './hyperCleaning';
import { forwardShardKind } from './forwardShard';
import { moduleKind } from './module';
import { tuneKind } from './tune';
import { JobKind } from './types';

export const BUILTIN_KINDS: Readonly<Record<string, JobKind>> = { 'hyper-cleaning': hyperCleaningKind, tune: tuneKind };

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
