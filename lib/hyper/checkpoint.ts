/**
 * Reverse-HG under a memory budget. A checkpointed trajectory keeps a few states and recomputes
 * the others from the nearest one when the reverse pass asks for them.
 *
 * - 'revolve': binomial checkpointing (Griewank's Revolve schedule) — the fewest recomputed steps
 *   for the number of states that may be held at once. The schedule comes from the recursion
 *   R(a, b, c) = min_m (m − a) + R(m, b, c − 1) + R(a, m, c): advance from s_a to s_m, keep s_m,
 *   reverse (m, b] with one slot fewer, free s_m, reverse (a, m]; its total equals Revolve's closed
 *   form t(n, s) = r·n − C(s + r, s − 1) with s = c + 1 snapshots.
 * - 'uniform': a checkpoint every k steps, each segment recomputed and stored whole (√T-style).
 * - DiskTrajectory: every state streamed to a file, read back on the reverse pass.
 * Recomputed states go through the same operations in the same order, so the hypergradient is bit
 * for bit the one of the full trajectory.
 *
 * The budget counts the states the trajectory holds at once: the checkpoints (s_0 included) and,
 * while a step runs, its input and output — so at least 3 for T ≥ 2 (2 for T = 1). A byte budget is
 * converted with the size of one state. The final state s_T, which the objective needs, is not part
 * of the trajectory.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as K from '../kernels';
import { ArgumentError } from '../errors/errors';
import { show } from '../errors/show';
import { Tensor } from '../tensor/tensor';
import { runToEnd } from '../util/stepwise';
import { TrajectoryStore, bytesOf } from './trajectory';

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

function uniformPlan(T: number, k: number): Plan {
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

export interface CheckpointOptions {
  /** states held at once (≥ 2), or use `bytes` */
  slots?: number;
  /** memory budget in bytes for the trajectory (converted to slots with the size of one state) */
  bytes?: number;
  /** the training horizon (a number of steps; stopping rules need the full trajectory) */
  T: number;
  schedule?: 'revolve' | 'uniform';
}

export class CheckpointedTrajectory implements TrajectoryStore {
  private plan: Plan = new Plan();
  private pc = 0;
  private held = new Map<number, Tensor>();
  private transient: { index: number; state: Tensor } | null = null;
  private advanceFn: ((s: Tensor, t: number) => Tensor) | null = null;
  private sweepKeep = new Set<number>();
  private stateBytes = 0;
  private slots = 0;
  private bytesHeld = 0;
  recomputed = 0;
  peakBytes = 0;
  /** the largest value of the library's live-bytes counter seen while the trajectory changed */
  peakLiveBytes = 0;

  constructor(private readonly opts: CheckpointOptions) {
    if (opts === null || typeof opts !== 'object') throw new ArgumentError(`checkpointing: argument 'opts' must be { T, slots } or { T, bytes }, got ${show(opts)}`);
    const { slots, bytes, T } = opts;
    if (!Number.isInteger(T) || T < 0) throw new ArgumentError(`checkpointing: 'T' must be a non-negative integer (stopping rules need the full trajectory), got ${String(T)}`);
    if (slots === undefined && bytes === undefined) throw new ArgumentError(`checkpointing: give a budget, 'slots' or 'bytes'`);
    if (slots !== undefined && (!Number.isInteger(slots) || slots < 2)) {
      throw new ArgumentError(`checkpointing: 'slots' must be an integer >= 2, got ${String(slots)}`);
    }
    if (slots !== undefined && slots < 3 && T >= 2) {
      throw new ArgumentError(`checkpointing: ${slots} slots cannot reverse ${T} steps: at least 3 states (the start, and a step's input and output) are needed`);
    }
    if (bytes !== undefined && (typeof bytes !== 'number' || !Number.isFinite(bytes) || bytes <= 0)) {
      throw new ArgumentError(`checkpointing: 'bytes' must be a positive number, got ${String(bytes)}`);
    }
    if (opts.schedule !== undefined && opts.schedule !== 'revolve' && opts.schedule !== 'uniform') {
      throw new ArgumentError(`checkpointing: 'schedule' must be 'revolve' or 'uniform', got ${String(opts.schedule)}`);
    }
  }

  /** The horizon the schedule is planned for. */
  get plannedSteps(): number {
    return this.opts.T;
  }

  /** The number of states the budget allows (after begin). */
  get slotCount(): number {
    return this.slots;
  }

  begin(s0: Tensor, advance: (s: Tensor, t: number) => Tensor): void {
    this.stateBytes = bytesOf(s0);
    const T = this.opts.T;
    let slots = this.opts.slots ?? Math.floor(this.opts.bytes! / this.stateBytes);
    const needed = T >= 2 ? 3 : 2;
    if (slots < needed) {
      s0.dispose();
      throw new ArgumentError(`checkpointing: a budget of ${this.opts.bytes ?? `${slots} slots`} holds ${slots} state(s) of ${this.stateBytes} bytes; at least ${needed} are needed for T = ${T}`);
    }
    slots = Math.min(slots, T + 1); // more than needed: store everything (no recomputation)
    this.slots = slots;
    this.advanceFn = advance;
    if ((this.opts.schedule ?? 'revolve') === 'uniform') {
      // checkpoints ceil(T/k) plus a recomputed segment of k states plus the step being computed
      let k = 1;
      while (k <= T && Math.ceil(T / k) + k + 1 > slots) k++;
      if (k > T) {
        s0.dispose();
        throw new ArgumentError(`checkpointing: the uniform schedule needs at least ${2 * Math.ceil(Math.sqrt(T))} slots for T = ${T}; got ${slots} (use 'revolve')`);
      }
      this.plan = uniformPlan(T, Math.max(1, k));
    } else {
      // s_0 and a step's input and output are always held: the rest are free checkpoint slots.
      this.plan = revolvePlan(T, Math.max(0, slots - 3));
    }
    // The forward sweep covers the plan up to the first request: keep the states it stores.
    this.pc = 0;
    this.sweepKeep.clear();
    while (this.pc < this.plan.length && this.plan.kind(this.pc) !== 'request') {
      if (this.plan.kind(this.pc) === 'store') this.sweepKeep.add(this.plan.index(this.pc));
      this.pc++;
    }
    this.held.set(0, s0);
    this.transient = null;
    this.bytesHeld = this.stateBytes;
    this.peakBytes = this.bytesHeld;
    this.recomputed = 0;
  }

  private note(delta: number): void {
    this.bytesHeld += delta;
    this.peakBytes = Math.max(this.peakBytes, this.bytesHeld);
    this.peakLiveBytes = Math.max(this.peakLiveBytes, K.memory().bytes + Math.max(delta, 0));
  }

  private final: Tensor | null = null;

  push(t: number, s: Tensor): void {
    if (t === this.opts.T) {
      // s_T belongs to the objective, not to the trajectory; s_{T-1} stays for the first request.
      this.final = s;
      return;
    }
    // The previous transient (the loop's last state) is no longer needed unless it is kept.
    if (this.transient) {
      this.transient.state.dispose();
      this.note(-this.stateBytes);
      this.transient = null;
    }
    if (this.sweepKeep.has(t)) {
      this.held.set(t, s);
      this.note(this.stateBytes);
    } else {
      this.transient = { index: t, state: s };
      this.note(this.stateBytes);
    }
  }

  pushGradient(_t: number, g: Tensor): void {
    g.dispose(); // rebuilt or recomputed in the reverse pass: cheaper than holding d more values per step
  }

  gradient(): Tensor | null {
    return null;
  }

  /** Recomputes s_from+1..s_to from the held s_from, yielding between steps; s_to ends as the transient. */
  private *advanceSteps(from: number, to: number): Generator<void, void, void> {
    const start = this.held.get(from);
    if (!start) throw new Error(`internal: checkpoint ${from} missing`);
    if (this.transient) {
      this.transient.state.dispose();
      this.note(-this.stateBytes);
      this.transient = null;
    }
    let s = start;
    for (let t = from + 1; t <= to; t++) {
      this.note(this.stateBytes); // the step's output exists next to its input
      const next = this.advanceFn!(s, t);
      if (s !== start) {
        s.dispose();
        this.note(-this.stateBytes);
      }
      s = next;
      // Owned by the store at every yield, so that end() frees it after an abort.
      this.transient = { index: t, state: s };
      this.recomputed++;
      if (t < to) yield;
    }
    this.transient = { index: to, state: s };
  }

  get(t: number): Tensor {
    return runToEnd(this.getSteps(t));
  }

  *getSteps(t: number): Generator<void, Tensor, void> {
    if (this.final) {
      this.final.dispose();
      this.final = null;
    }
    while (this.pc < this.plan.length) {
      const i = this.pc++;
      const a = { kind: this.plan.kind(i), index: this.plan.index(i) };
      if (a.kind === 'advance') yield* this.advanceSteps(a.index, this.plan.to(i));
      else if (a.kind === 'store') {
        if (!this.transient || this.transient.index !== a.index) throw new Error(`internal: store of ${a.index} without its state`);
        this.held.set(a.index, this.transient.state);
        this.transient = null;
      } else if (a.kind === 'free') {
        const h = this.held.get(a.index);
        if (h) {
          h.dispose();
          this.held.delete(a.index);
          this.note(-this.stateBytes);
        }
      } else {
        if (a.index !== t) throw new Error(`internal: the reverse pass asked for s_${t}, the schedule provides s_${a.index}`);
        const h = this.held.get(t) ?? (this.transient && this.transient.index === t ? this.transient.state : null);
        if (!h) {
          // the sweep's final transient is s_{T-1} only when no advance was planned for it
          throw new Error(`internal: s_${t} is not available`);
        }
        return h;
      }
    }
    throw new Error(`internal: schedule exhausted before s_${t}`);
  }

  release(t: number): void {
    if (this.transient && this.transient.index === t) {
      this.transient.state.dispose();
      this.transient = null;
      this.note(-this.stateBytes);
    }
  }

  end(): void {
    for (const h of this.held.values()) h.dispose();
    this.held.clear();
    this.transient?.state.dispose();
    this.transient = null;
    this.final?.dispose();
    this.final = null;
  }
}

/** Streams every state (and gradient) to a file; the reverse pass reads them back. */
export class DiskTrajectory implements TrajectoryStore {
  private fdStates = -1;
  private fdGrads = -1;
  private shape: readonly number[] = [];
  private gshape: readonly number[] = [];
  private last: Tensor | null = null;
  private files: string[] = [];
  private current: Tensor | null = null;
  readonly recomputed = 0;
  peakBytes = 0;

  constructor(private readonly dir: string = os.tmpdir()) {
    if (typeof dir !== 'string' || dir === '') throw new ArgumentError(`DiskTrajectory: argument 'dir' must be a folder path, got ${show(dir)}`);
  }

  private write(fd: number, t: Tensor, index: number): void {
    const a = t.toArray();
    fs.writeSync(fd, new Uint8Array(a.buffer, a.byteOffset, a.byteLength), 0, a.byteLength, index * a.byteLength);
  }
  private read(fd: number, like: Tensor | null, shape: readonly number[], dtype: 'float32' | 'float64', index: number): Tensor {
    const n = shape.reduce((x, y) => x * y, 1);
    const buf = dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
    fs.readSync(fd, new Uint8Array(buf.buffer), 0, buf.byteLength, index * buf.byteLength);
    void like;
    return K.tensor(buf, shape, { dtype });
  }

  private dtype: 'float32' | 'float64' = 'float32';

  begin(s0: Tensor): void {
    const base = fs.mkdtempSync(path.join(this.dir, 'rfho-trajectory-'));
    this.files = [path.join(base, 'states.bin'), path.join(base, 'grads.bin')];
    this.fdStates = fs.openSync(this.files[0], 'w+');
    this.fdGrads = fs.openSync(this.files[1], 'w+');
    this.shape = s0.shape;
    this.dtype = s0.dtype === 'float64' ? 'float64' : 'float32';
    this.write(this.fdStates, s0, 0);
    this.last = s0;
    this.peakBytes = bytesOf(s0);
  }
  push(t: number, s: Tensor): void {
    this.write(this.fdStates, s, t);
    this.last?.dispose();
    this.last = s;
  }
  pushGradient(t: number, g: Tensor): void {
    this.gshape = g.shape;
    this.write(this.fdGrads, g, t - 1);
    g.dispose();
  }
  get(t: number): Tensor {
    this.current?.dispose();
    this.current = this.read(this.fdStates, null, this.shape, this.dtype, t);
    return this.current;
  }
  private currentGrad: Tensor | null = null;
  gradient(t: number): Tensor | null {
    if (this.gshape.length === 0) return null;
    this.currentGrad?.dispose();
    this.currentGrad = this.read(this.fdGrads, null, this.gshape, this.dtype, t - 1);
    return this.currentGrad;
  }
  release(): void {
    this.current?.dispose();
    this.current = null;
    this.currentGrad?.dispose();
    this.currentGrad = null;
  }
  end(): void {
    this.release();
    this.last?.dispose();
    this.last = null;
    for (const fd of [this.fdStates, this.fdGrads]) if (fd >= 0) fs.closeSync(fd);
    this.fdStates = this.fdGrads = -1;
    for (const f of this.files) fs.rmSync(path.dirname(f), { recursive: true, force: true });
  }
}

/** rf.checkpointed({ T, slots }) or rf.checkpointed({ T, bytes }) */
export function checkpointed(opts: CheckpointOptions): CheckpointedTrajectory {
  return new CheckpointedTrajectory(opts);
}
