/** What the commands share: value parsers for commander, usage errors, run folders, Ctrl-C. */
import { InvalidArgumentError } from 'commander';
import { availableDevices } from '../kernels/creation';
import { RunFolder } from '../report/output';

/** A mistake in how the command was called: exit code 2 and the command's usage. */
export class UsageError extends Error {}

/** Exit codes, one convention for every command (also in --help). */
export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130 } as const;

export function number(v: string): number {
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x)) throw new InvalidArgumentError('needs a number.');
  return x;
}
export function integer(v: string): number {
  const x = number(v);
  if (!Number.isSafeInteger(x)) throw new InvalidArgumentError('needs an integer.');
  return x;
}
export function positiveInteger(v: string): number {
  const x = integer(v);
  if (x < 1) throw new InvalidArgumentError('needs a positive integer.');
  return x;
}
export function oneOf(...values: string[]): (v: string) => string {
  return (v) => {
    if (!values.includes(v)) throw new InvalidArgumentError(`must be ${values.join(', ')}.`);
    return v;
  };
}
export function integerList(v: string): number[] {
  return v.split(',').map((h) => positiveInteger(h.trim()));
}
export function json(v: string): unknown {
  try {
    return JSON.parse(v);
  } catch (e) {
    throw new InvalidArgumentError(`not JSON (${(e as Error).message}).`);
  }
}

/** --device cuda where the build or the machine has none is a usage error, said before any work. */
export function checkDevice(device: string | undefined): void {
  if (device === 'cuda' && !availableDevices().cuda) throw new UsageError(`--device cuda: ${availableDevices().cudaStatus}`);
}

export function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Ctrl-C once: finish the current hyper-iteration and write the report; twice: exit now. */
export function interruptible(): AbortController {
  const ac = new AbortController();
  process.on('SIGINT', () => {
    if (ac.signal.aborted) process.exit(EXIT.interrupted);
    process.stderr.write('\ninterrupted: stopping after this hyper-iteration and writing what was computed (Ctrl-C again to quit now)\n');
    ac.abort();
  });
  return ac;
}

/** A new run's folder: --out (new or empty) or a fresh one under runs/ that no other run shares. */
export function newRunFolder(out: string | undefined, command: string): RunFolder {
  try {
    return RunFolder.create(out, 'runs', command);
  } catch (e) {
    throw new UsageError(`--out: ${(e as Error).message}`);
  }
}
