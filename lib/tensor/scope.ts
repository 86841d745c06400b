/**
 * Scopes: every tensor created inside `tidy(fn)` is disposed when fn returns, except the tensors
 * reachable from its result and those passed to `keep()`. Scopes nest.
 */
import type { Tensor } from './tensor';
import { ArgumentError, RfhoError } from '../errors/errors';
import { show } from '../errors/show';
import { Stepwise, registerSuspendableState } from '../util/stepwise';

const scopes: Set<Tensor>[] = [];

// A computation suspended between slices takes its open scopes with it: tensors made meanwhile by
// other code must not be freed when its scopes close.
registerSuspendableState<Set<Tensor>[]>({
  name: 'scopes',
  suspend: () => scopes.splice(0),
  resume: (saved) => {
    if (scopes.length) throw new RfhoError(`internal: a computation resumed while ${scopes.length} scope(s) of other code were open`);
    scopes.push(...saved);
  },
});

/** @internal called by the Tensor constructor */
export function trackInScope(t: Tensor): void {
  const top = scopes[scopes.length - 1];
  if (top) top.add(t);
}

/** Exempts a tensor from the enclosing scope's disposal (it moves to the parent scope, if any). */
export function keep<T extends Tensor>(t: T): T {
  // (a structural check: the Tensor class imports this module)
  if (t === null || typeof t !== 'object' || (t as { storage?: unknown }).storage === undefined || typeof t.dispose !== 'function') {
    throw new ArgumentError(`keep: argument 't' must be a Tensor, got ${show(t)}`);
  }
  const top = scopes[scopes.length - 1];
  if (top && top.delete(t)) {
    const parent = scopes[scopes.length - 2];
    if (parent) parent.add(t);
  }
  return t;
}

function collectTensors(x: unknown, out: Set<Tensor>, seen: Set<unknown>): void {
  if (x === null || typeof x !== 'object' || seen.has(x)) return;
  seen.add(x);
  if ((x as { storage?: unknown }).storage !== undefined && typeof (x as Tensor).dispose === 'function') {
    out.add(x as Tensor);
    // A kept tensor keeps its forward-mode tangent.
    const tangent = (x as Tensor).tangent;
    if (tangent) collectTensors(tangent, out, seen);
    return;
  }
  if (Array.isArray(x)) for (const v of x) collectTensors(v, out, seen);
  else if (x instanceof Map) for (const v of x.values()) collectTensors(v, out, seen);
  else for (const v of Object.values(x as object)) collectTensors(v, out, seen);
}

/** Runs fn, then disposes every tensor it created that is not reachable from its result. */
export function tidy<R>(fn: () => R): R {
  if (typeof fn !== 'function') throw new ArgumentError(`tidy: argument 'fn' must be a function, got ${show(fn)}`);
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: R;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise) {
    // The scope cannot wait for the promise: its tensors are freed now, and the call refused.
    for (const t of scope) t.dispose();
    throw new ArgumentError(`tidy: argument 'fn' must be synchronous (it returned a promise); scope the synchronous parts inside it`);
  }
  return close(scope, result);
}

/**
 * `tidy` around a stepwise computation: the scope stays open across its yields (it travels with
 * the computation while it is suspended, see stepwise.ts) and closes when it returns, throws or
 * is stopped (its generator closed), freeing what it made.
 */
export function* tidySteps<R>(steps: Stepwise<R>): Stepwise<R> {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let closed = false;
  try {
    const result = yield* steps;
    scopes.pop();
    closed = true;
    return close(scope, result);
  } finally {
    if (!closed) {
      scopes.pop();
      for (const t of scope) t.dispose();
    }
  }
}

/** Ends a scope that fn's result came out of: what the result reaches moves to the parent scope, the rest is freed. */
function close<R>(scope: Set<Tensor>, result: R): R {
  const kept = new Set<Tensor>();
  collectTensors(result, kept, new Set());
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (kept.has(t)) {
      if (parent) parent.add(t);
    } else {
      t.dispose();
    }
  }
  return result;
}

/** Number of scopes currently open. */
export function scopeDepth(): number {
  return scopes.length;
}
