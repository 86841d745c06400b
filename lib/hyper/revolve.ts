/**
 * Checkpointing schedules for Reverse-HG under a memory budget: which states to keep, advance,
 * free and hand to the reverse pass, as a compact plan.
 *
 * - 'revolve': binomial checkpointing (Griewank's Revolve schedule) — the fewest recomputed steps
 *   for the number of states that may be held at once. The schedule comes from the recursion
 *   R(a, b, c) = min_m (m − a) + R(m, b, c − 1) + R(a, m, c): advance from s_a to s_m, keep s_m,
 *   reverse (m, b] with one slot fewer, free s_m, reverse (a, m]; its total equals Revolve's closed
 *   form t(n, s) = r·n − C(s + r, s − 1) with s = c + 1 snapshots.
 * - 'uniform': a checkpoint every k steps, each segment recomputed and stored whole (√T-style).
 */
import { ArgumentError } from '../errors/errors';
import { show } from '../errors/show';

const ADVANCE = 0, STORE = 1, FREE = 2, REQUEST = 3;
const KINDS = ['advance', 'store', 'free', 'request'] as const;

/**
 * @internal A schedule: action i is kind(i) with its states — 'advance' from(i) → to(i) (from a held
 * checkpoint, producing a transient), 'store' index(i) (the transient becomes a checkpoint), 'free'
 * index(i), 'request' index(i) (the reverse pass takes that state). Kept in typed arrays, not an
 * object per action: a plan has ~4 actions per step, and allocating them was most of its cost.
 */
export class Plan {
  private op = new Uint8Array(256);
  private a = new Int32Array(256);
  private b = new Int32Array(256);
  length = 0;

  push(op: number, a: number, b = 0): void {
    if (this.length === this.op.length) {
      const grow = <A extends Uint8Array | Int32Array>(x: A): A => {
        const y = new (x.constructor as new (n: number) => A)(x.length * 2);
        y.set(x);
        return y;
      };
      [this.op, this.a, this.b] = [grow(this.op), grow(this.a), grow(this.b)];
    }
    this.op[this.length] = op;
    this.a[this.length] = a;
    this.b[this.length++] = b;
  }
  kind(i: number): (typeof KINDS)[number] {
    return KINDS[this.op[i]];
  }
  /** the state of a store, free or request; the start of an advance */
  index(i: number): number {
    return this.a[i];
  }
  /** the end of an advance */
  to(i: number): number {
    return this.b[i];
  }
}

/**
 * β(s, r) = C(s + r, s): the most steps that s snapshots reverse with at most r advances of each
 * step (Griewank–Walther). β(s, −1) = 0. Capped: any value above `cap` comes back as cap + 1, so
 * that comparisons with a number of steps stay exact however large s and r are. Computed as
 * C(k + m, m) with m = min(s, r) — a sequence increasing in m, which is what lets it stop early.
 */
function beta(s: number, r: number, cap: number): number {
  if (r < 0) return 0;
  const m = Math.min(s, r), k = Math.max(s, r);
  let b = 1;
  for (let i = 1; i <= m; i++) {
    b = Math.round((b * (k + i)) / i); // exact: b·(k + i) stays below cap·(k + i), far below 2^53 for plans
    if (b > cap) return cap + 1;
  }
  return b;
}

/** β in exact integers (the closed form's values reach 2^53 and beyond). */
function betaBig(s: bigint, r: bigint, cap: bigint): bigint {
  if (r < 0n) return 0n;
  const m = s < r ? s : r, k = s < r ? r : s;
  let b = 1n;
  for (let i = 1n; i <= m; i++) {
    b = (b * (k + i)) / i;
    if (b > cap) return cap + 1n;
  }
  return b;
}

/**
 * The repetition number: the least r with β(s, r) ≥ n (n ≥ 2, s ≥ 1), by doubling then bisection,
 * so O(log r · min(s, r)): with one snapshot r is n − 1, which counting upwards would walk through.
 */
function repetitions(n: number, s: number): number {
  let lo = 0, hi = 1; // invariant once doubling stops: β(s, lo) < n ≤ β(s, hi)
  while (beta(s, hi, n) < n) [lo, hi] = [hi, hi * 2];
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (beta(s, mid, n) >= n) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** repetitions() in exact integers, for the closed form at any safe n. */
function repetitionsBig(n: bigint, s: bigint): bigint {
  let lo = 0n, hi = 1n;
  while (betaBig(s, hi, n) < n) [lo, hi] = [hi, hi * 2n];
  while (hi - lo > 1n) {
    const mid = (lo + hi) / 2n;
    if (betaBig(s, mid, n) >= n) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** The closed form in exact integers: t(n, s) = r·n − β(s + 1, r − 1). */
function closedFormExact(n: number, snaps: number): number {
  if (n <= 1) return 0;
  const N = BigInt(n), S = BigInt(snaps);
  const r = repetitionsBig(N, S);
  const uncapped = N * r; // β(s + 1, r − 1) ≤ r·n: the cap never bites here
  return Number(r * N - betaBig(S + 1n, r - 1n, uncapped));
}

/**
 * Minimal number of advances R(n, c) to reverse n steps from a held start with c free slots
 * besides it: Revolve's closed form with c + 1 snapshots (test/50 checks it against the
 * dynamic programme over every split).
 */
export function revolveCost(n: number, c: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new ArgumentError(`revolveCost: 'n' must be a non-negative integer, got ${show(n)}`);
  if (!Number.isSafeInteger(c) || c < 0) throw new ArgumentError(`revolveCost: 'c' must be a non-negative integer, got ${show(c)}`);
  return closedFormExact(n, c + 1);
}

/** Griewank–Walther closed form: minimal forward steps to reverse n steps with s snapshots (the start's included). */
export function revolveClosedForm(n: number, snaps: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new ArgumentError(`revolveClosedForm: 'n' must be a non-negative integer, got ${show(n)}`);
  if (!Number.isSafeInteger(snaps) || snaps < 0) throw new ArgumentError(`revolveClosedForm: 'snaps' must be a non-negative integer, got ${show(snaps)}`);
  if (n <= 1) return 0;
  // snaps counts the start's checkpoint too: with none, no step past the first could be reversed
  if (snaps === 0) throw new ArgumentError(`revolveClosedForm: 'snaps' must be at least 1 to reverse ${n} steps, got 0`);
  return closedFormExact(n, snaps);
}

/**
 * The first checkpoint of an optimal schedule for n steps from a held start with s snapshots
 * (s ≥ 2): advance m steps, keep s_m, reverse the last n − m steps with s − 1 snapshots, then the
 * first m with s. The cost m + t(m, s) + t(n − m, s − 1) is a sum of convex piecewise-linear
 * functions, minimal where their slopes meet the slope r of t(n, s): m with repetition number
 * r − 1 under s snapshots and n − m with r under s − 1, i.e.
 *   m ∈ [max(β(s, r−2), n − β(s−1, r)), min(β(s, r−1), n − β(s−1, r−1))],
 * never empty since β(s, r−1) = β(s, r−2) + β(s−1, r−1). The smallest is taken — the choice a
 * search over every m makes — so each split costs O(r) instead of O(n), the plan O(T·r).
 */
function revolveSplit(n: number, s: number): number {
  const r = repetitions(n, s);
  const lo = Math.max(beta(s, r - 2, n), n - beta(s - 1, r, n));
  return Math.min(Math.max(1, lo), n - 1);
}

/**
 * Plans are pure functions of (T, free slots) and are reused by every hypergradient of a run:
 * a few are kept, the least recently used dropped first.
 */
const PLAN_CACHE_SIZE = 8;
const planCache = new Map<string, Plan>();

function cachedPlan(key: string, make: () => Plan): Plan {
  const hit = planCache.get(key);
  if (hit) {
    planCache.delete(key);
    planCache.set(key, hit);
    return hit;
  }
  const plan = make();
  planCache.set(key, plan);
  if (planCache.size > PLAN_CACHE_SIZE) planCache.delete(planCache.keys().next().value!);
  return plan;
}

/** @internal The Revolve schedule for T steps with c free slots besides s_0 and a step's input and output. */
export function revolvePlan(T: number, c: number): Plan {
  return cachedPlan(`revolve:${T}:${c}`, () => {
    const out = new Plan();
    // An explicit stack rather than recursion (with many slots the recursion is T deep), held in
    // three number arrays: tasks are (a, b, free) to reverse, or (index, −1, −1) to free a checkpoint.
    const as: number[] = [0], bs: number[] = [T], frees: number[] = [c];
    // Segments of one length and budget recur all over the tree: each split is worked out once.
    const splits = new Map<number, number>();
    while (as.length > 0) {
      const a = as.pop()!, b = bs.pop()!, free = frees.pop()!;
      if (b < 0) {
        out.push(FREE, a);
        continue;
      }
      const n = b - a;
      if (n <= 0) continue;
      if (n === 1) {
        out.push(REQUEST, a);
        continue;
      }
      if (free === 0) {
        for (let t = b; t > a; t--) {
          if (t - 1 > a) out.push(ADVANCE, a, t - 1);
          out.push(REQUEST, t - 1);
        }
        continue;
      }
      const key = n * (c + 2) + free;
      let m = splits.get(key);
      if (m === undefined) splits.set(key, (m = revolveSplit(n, free + 1)));
      const mid = a + m;
      out.push(ADVANCE, a, mid);
      out.push(STORE, mid);
      // reverse (mid, b] with one slot fewer, free s_mid, then reverse (a, mid]: pushed in reverse
      as.push(a, mid, mid);
      bs.push(mid, -1, b);
      frees.push(free, -1, free - 1);
    }
    return out;
  });
}

/** @internal The number of steps a plan recomputes (its advances' lengths). */
export function planAdvances(plan: Plan): number {
  let total = 0;
  for (let i = 0; i < plan.length; i++) if (plan.kind(i) === 'advance') total += plan.to(i) - plan.index(i);
  return total;
}

export function uniformPlan(T: number, k: number): Plan {
  return cachedPlan(`uniform:${T}:${k}`, () => uniformPlanUncached(T, k));
}

function uniformPlanUncached(T: number, k: number): Plan {
  const out = new Plan();
  const starts: number[] = [];
  for (let a = 0; a < T; a += k) starts.push(a);
  // forward sweep: keep every segment start
  for (const a of starts.slice(1)) {
    out.push(ADVANCE, a - k, a);
    out.push(STORE, a);
  }
  for (let si = starts.length - 1; si >= 0; si--) {
    const a = starts[si], b = Math.min(T, a + k);
    // recompute the whole segment, keeping every state
    for (let t = a + 1; t < b; t++) {
      out.push(ADVANCE, t - 1, t);
      out.push(STORE, t);
    }
    for (let t = b; t > a; t--) {
      out.push(REQUEST, t - 1);
      if (t - 1 > a) out.push(FREE, t - 1);
    }
    if (a > 0) out.push(FREE, a);
  }
  return out;
}
