/**
 * Where Reverse-HG keeps the training trajectory. `FullTrajectory` stores every state s_0..s_{T−1}
 * in memory; checkpointed stores (lib/hyper/checkpoint) keep a few and recompute the rest.
 */
import { Tensor } from '../tensor/tensor';

export interface TrajectoryStore {
  /** starts a pass at s_0 (owned by the store from now on); `advance` recomputes one step */
  begin(s0: Tensor, advance: (s: Tensor, t: number) => Tensor): void;
  /** s_t was computed (owned by the store) */
  push(t: number, s: Tensor): void;
  /**
   * g_t = ∇_w L_t at s_{t−1}, a by-product of computing s_t (owned by the store, which may keep
   * it for the reverse pass or dispose it at once)
   */
  pushGradient(t: number, g: Tensor): void;
  /** the stored g_t, or null when the reverse pass must recompute it */
  gradient(t: number): Tensor | null;
  /** s_t for the reverse pass, requested for t = T−1 down to 0 */
  get(t: number): Tensor;
  /**
   * get(t) as a stepwise computation, for stores that recompute states: it yields between the
   * forward steps it recomputes, so that an asynchronous reverse pass never holds the event loop
   * for a whole recomputed segment. Optional: stores without it are asked with get().
   */
  getSteps?(t: number): Generator<void, Tensor, void>;
  /** the reverse pass no longer needs s_t */
  release(t: number): void;
  /** frees everything */
  end(): void;
  /** the number of steps the store was planned for (checkpointed stores), checked against the run's horizon */
  readonly plannedSteps?: number;
  readonly recomputed: number;
  readonly peakBytes: number;
}

export function bytesOf(t: Tensor): number {
  return t.size * (t.dtype === 'float64' ? 8 : 4);
}

export class FullTrajectory implements TrajectoryStore {
  private states: Tensor[] = [];
  private grads: Tensor[] = [];
  private bytes = 0;
  peakBytes = 0;
  readonly recomputed = 0;

  begin(s0: Tensor): void {
    this.states = [s0];
    this.bytes = bytesOf(s0);
    this.peakBytes = this.bytes;
  }
  push(t: number, s: Tensor): void {
    this.states[t] = s; // s_T too: the reverse pass never asks for it, end() frees it
    this.bytes += bytesOf(s);
    // s_T itself is not part of the trajectory the reverse pass reads; count what is held.
    this.peakBytes = Math.max(this.peakBytes, this.bytes);
  }
  pushGradient(t: number, g: Tensor): void {
    this.grads[t] = g;
    this.bytes += bytesOf(g);
    this.peakBytes = Math.max(this.peakBytes, this.bytes);
  }
  get(t: number): Tensor {
    return this.states[t];
  }
  gradient(t: number): Tensor | null {
    return this.grads[t] ?? null;
  }
  release(t: number): void {
    for (const x of [this.states[t], this.grads[t + 1]]) {
      if (x && !x.isDisposed) {
        this.bytes -= bytesOf(x);
        x.dispose();
      }
    }
  }
  end(): void {
    for (const s of [...this.states, ...this.grads]) if (s && !s.isDisposed) s.dispose();
    this.states = [];
    this.grads = [];
    this.bytes = 0;
  }
}
