/**
 * The calling thread's budget of CPU threads for kernels (OpenMP's team size, kept per calling
 * thread: the main thread and each worker thread have their own). Reductions combine one partial
 * sum per thread, so results are bit for bit reproducible for a given budget, and may differ in
 * the last bits between budgets.
 */
import { native } from '../native/binding';
import { ArgumentError } from '../errors/errors';

/** The processors this process may run on. */
export function cores(): number {
  return native.cores();
}

/** The calling thread's budget (default: every core, or OMP_NUM_THREADS). */
export function getThreads(): number {
  return native.getThreads();
}

/** Sets the calling thread's budget: kernels it calls from now on use at most n threads. */
export function setThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > 4096) throw new ArgumentError(`setThreads: 'n' must be an integer in [1, 4096], got ${String(n)}`);
  native.setThreads(n);
}
