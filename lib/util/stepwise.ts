/**
 * Long computations written once, as generators that `yield` between inner steps (a training step,
 * a reverse step, a CG iteration), and run two ways: to the end at once (`runToEnd`, the
 * synchronous API), or in slices that give the event loop back in between (`runInSlices`, the
 * asynchronous API), so that a server keeps answering while a hypergradient is computed.
 *
 * A computation may yield anywhere, also inside a scope (`tidySteps`) or in the middle of a
 * reverse sweep: the process-wide state such code leaves set — the open scopes, the autodiff
 * engine's flags — belongs to the computation, and `runInSlices` takes it away before it gives the
 * loop back and puts it back when the computation resumes (`SuspendableState`). Other code that
 * runs in between, including another computation's slices, finds that state idle. An abort calls
 * the generator's `return()`, which runs its `finally` blocks: every tensor it holds is disposed
 * before the promise rejects.
 */
import { performance } from 'node:perf_hooks';
import { AbortError, ArgumentError } from '../errors/errors';

/**
 * A computation that yields between inner steps and returns R. A yield may say that what follows
 * is one long synchronous unit (`LONG_NEXT`: a forward pass, a large node of a sweep): run in
 * slices, a slice past half its budget then ends first, so the unit starts a slice of its own
 * instead of adding to one already near its budget.
 */
export type Stepwise<R> = Generator<StepHint | void, R, void>;

export const LONG_NEXT = 'long-next';
export type StepHint = typeof LONG_NEXT;

export interface SliceOptions {
  /** stops the work within one inner step; the promise then rejects with an `AbortError` */
  signal?: AbortSignal;
  /**
   * Milliseconds of work between two returns to the event loop (default 2). A slice ends at the
   * first yield after this budget, so it lasts at most the budget plus one unit of work (a forward
   * pass, one node of a reverse sweep, a step's remaining arithmetic).
   */
  sliceMs?: number;
}

export const DEFAULT_SLICE_MS = 2;

/**
 * Process-wide state that a computation sets while it runs (the open scopes, the autodiff
 * engine's flags) and that must not be seen by code running while it is suspended. `suspend`
 * returns the state and leaves it idle; `resume` puts a suspended state back, where the state is
 * idle. The modules that own such state register it once, at load time.
 */
export interface SuspendableState<S = unknown> {
  name: string;
  suspend(): S;
  resume(saved: S): void;
}

const suspendables: SuspendableState[] = [];

export function registerSuspendableState<S>(state: SuspendableState<S>): void {
  suspendables.push(state as SuspendableState);
}

/** The running computation's state, taken away (all registered parts, in order). */
function suspendAll(): unknown[] {
  return suspendables.map((s) => s.suspend());
}

function resumeAll(saved: readonly unknown[]): void {
  suspendables.forEach((s, i) => s.resume(saved[i]));
}

/** Gives the loop back between two slices: the computation's state is away meanwhile. */
async function pause(): Promise<void> {
  const saved = suspendAll();
  try {
    await yieldToEventLoop();
  } finally {
    resumeAll(saved);
  }
}

/**
 * True while `runInSlices` advances a computation (and no `runToEnd` inside it): only then does a
 * yield inside an inner step (`yieldPoint`) give anything back. Run to the end, such yields would
 * only pass up through every generator between the sweep and the top, for nothing.
 */
let slicing = false;

/** Whether a fine-grained yield (inside an inner step: between a sweep's nodes) would be used now. */
export function yieldPoint(): boolean {
  return slicing;
}

/** Advances steps once with `slicing` set as given (restored after, also on a throw). */
function advance<R>(steps: Stepwise<R>, sliced: boolean): IteratorResult<StepHint | void, R> {
  const prev = slicing;
  slicing = sliced;
  try {
    return steps.next();
  } finally {
    slicing = prev;
  }
}

/** Runs a stepwise computation to its end, synchronously. */
export function runToEnd<R>(steps: Stepwise<R>): R {
  for (;;) {
    const r = advance(steps, false);
    if (r.done) return r.value;
  }
}

/** Lets timers, I/O and other slices run, then resumes (setImmediate: after pending I/O callbacks). */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The AbortError for a signal that has fired (its reason as the cause). */
export function abortErrorOf(signal: AbortSignal): AbortError {
  const reason = signal.reason as unknown;
  const why = reason instanceof Error && reason.name !== 'AbortError' ? `: ${reason.message}` : '';
  return new AbortError(`the operation was aborted${why}`, { cause: reason });
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortErrorOf(signal);
}

/** Checks the options of runInSlices (and of every async API that takes them). */
export function checkSliceOptions(opts: SliceOptions | undefined, where: string): void {
  if (opts === undefined || opts === null) return;
  if (typeof opts !== 'object') throw new ArgumentError(`${where}: options must be an object, got ${typeof opts}`);
  const { signal, sliceMs } = opts;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new ArgumentError(`${where}: 'signal' must be an AbortSignal, got ${typeof signal}`);
  if (sliceMs !== undefined && !(typeof sliceMs === 'number' && sliceMs >= 0 && Number.isFinite(sliceMs))) {
    throw new ArgumentError(`${where}: 'sliceMs' must be a finite number ≥ 0, got ${String(sliceMs)}`);
  }
}

/**
 * Runs a stepwise computation in slices of about `sliceMs`, returning to the event loop between
 * them. Nothing runs before the returned promise exists. On abort the computation is closed (its
 * tensors freed) and the promise rejects with an AbortError.
 */
export async function runInSlices<R>(steps: Stepwise<R>, options?: SliceOptions | null): Promise<R> {
  const opts = options ?? {};
  const signal = opts.signal;
  const budget = opts.sliceMs ?? DEFAULT_SLICE_MS;
  let done = false;
  try {
    await yieldToEventLoop();
    let sliceStart = performance.now();
    for (;;) {
      throwIfAborted(signal);
      const r = advance(steps, true);
      if (r.done) {
        done = true;
        return r.value;
      }
      const elapsed = performance.now() - sliceStart;
      if (elapsed >= budget || (r.value === LONG_NEXT && elapsed >= budget / 2)) {
        await pause();
        sliceStart = performance.now();
      }
    }
  } finally {
    // Stopped from outside (abort): close the generator, which frees what it holds. One that threw
    // is already closed, and return() does nothing to it.
    if (!done) steps.return(undefined as never);
  }
}
