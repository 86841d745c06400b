/**
 * Reverse-HG under a memory budget: a trajectory that keeps a few states and recomputes the others
 * from the nearest one when the reverse pass asks for them, following a schedule (revolve.ts).
 * Recomputed states go through the same operations in the same order, so the hypergradient is bit
 * for bit the one of the full trajectory.
 *
 * The budget counts the states the trajectory holds at once: the checkpoints (s_0 included) and,
 * while a step runs, its input and output — so at least 3 for T ≥ 2 (2 for T = 1). A byte budget is
 * converted with the size of one state. The final state s_T, which the objective needs, is not part
 * of the trajectory.
 */
import * as K from '../kernels';
import { ArgumentError } from '../errors/errors';
import { show } from '../errors/show';
import { Tensor } from '../tensor/tensor';
import { runToEnd } from '../util/stepwise';
import { TrajectoryStore, bytesOf } from './trajectory';
import { Plan, revolvePlan, uniformPlan } from './revolve';

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

/** rf.checkpointed({ T, slots }) or rf.checkpointed({ T, bytes }) */
export function checkpointed(opts: CheckpointOptions): CheckpointedTrajectory {
  return new CheckpointedTrajectory(opts);
}
