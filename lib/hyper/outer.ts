/** Outer optimizers: update the hyperparameters from their hypergradients (then project). */
import * as K from '../kernels';
import { ArgumentError } from '../errors/errors';
import { Tensor } from '../tensor/tensor';

export interface OuterOptimizer {
  readonly name: string;
  /** the new value of hyperparameter `name` (caller owns) from its value and hypergradient */
  update(name: string, value: Tensor, grad: Tensor): Tensor;
  /** serialisable state for save/resume */
  state(): unknown;
  /** throws an ArgumentError, changing nothing, when `state` is not one this optimizer saved */
  check?(state: unknown): void;
  /** restores a state from state() (checked first: all or nothing) */
  restore(state: unknown): void;
}

function checkLr(lr: unknown): number {
  if (typeof lr !== 'number' || !(lr > 0) || !Number.isFinite(lr)) throw new ArgumentError(`outer optimizer: 'lr' must be a positive number, got ${String(lr)}`);
  return lr;
}

/** λ ← λ − lr · g */
export function gd(opts: { lr: number }): OuterOptimizer {
  const lr = checkLr(opts?.lr);
  return {
    name: 'gd',
    update: (_name, value, grad) => K.axpby(1, value, -lr, grad),
    state: () => ({}),
    check: checkGdState,
    restore: checkGdState,
  };
}

function checkGdState(state: unknown): void {
  if (state !== undefined && (state === null || typeof state !== 'object' || Array.isArray(state) || Object.keys(state).length > 0)) {
    throw new ArgumentError(`outer gd: a saved state is {}, got ${JSON.stringify(state)?.slice(0, 80)}`);
  }
}

/** Adam on the hyperparameters (bias-corrected; ε outside the square root as in Kingma & Ba). */
export function adam(opts: { lr: number; beta1?: number; beta2?: number; eps?: number }): OuterOptimizer {
  const lr = checkLr(opts?.lr);
  const b1 = opts.beta1 ?? 0.9, b2 = opts.beta2 ?? 0.999, eps = opts.eps ?? 1e-8;
  if (!(b1 >= 0 && b1 < 1) || !(b2 >= 0 && b2 < 1)) throw new ArgumentError(`outer adam: 'beta1' and 'beta2' must be in [0, 1)`);
  const slots = new Map<string, { m: Float64Array; v: Float64Array; t: number }>();
  return {
    name: 'adam',
    update(name, value, grad) {
      const g = grad.toArray();
      let st = slots.get(name);
      if (!st || st.m.length !== g.length) {
        st = { m: new Float64Array(g.length), v: new Float64Array(g.length), t: 0 };
        slots.set(name, st);
      }
      st.t++;
      const x = value.toArray();
      const out = new Float64Array(g.length);
      const c1 = 1 - b1 ** st.t, c2 = 1 - b2 ** st.t;
      for (let i = 0; i < g.length; i++) {
        st.m[i] = b1 * st.m[i] + (1 - b1) * g[i];
        st.v[i] = b2 * st.v[i] + (1 - b2) * g[i] * g[i];
        out[i] = x[i] - (lr * (st.m[i] / c1)) / (Math.sqrt(st.v[i] / c2) + eps);
      }
      return K.tensor(out, value.shape, { dtype: value.dtype, device: value.device });
    },
    state: () => Object.fromEntries([...slots].map(([k, v]) => [k, { m: Array.from(v.m), v: Array.from(v.v), t: v.t }])),
    check: checkAdamState,
    restore(state) {
      checkAdamState(state);
      slots.clear();
      for (const [k, v] of Object.entries(state as Record<string, { m: number[]; v: number[]; t: number }>)) {
        slots.set(k, { m: Float64Array.from(v.m), v: Float64Array.from(v.v), t: v.t });
      }
    },
  };
}

function checkAdamState(state: unknown): void {
  if (!state || typeof state !== 'object' || Array.isArray(state)) throw new ArgumentError(`outer adam: a saved state is an object of moments per hyperparameter, got ${typeof state}`);
  for (const [k, v] of Object.entries(state as Record<string, unknown>)) {
    const e = v as { m?: unknown; v?: unknown; t?: unknown };
    if (!e || typeof e !== 'object') throw new ArgumentError(`outer adam: the state of '${k}' is not an object`);
    if (!Number.isInteger(e.t) || (e.t as number) < 0) throw new ArgumentError(`outer adam: the step count of '${k}' must be a non-negative integer, got ${String(e.t)}`);
    if (!Array.isArray(e.m) || !Array.isArray(e.v) || e.m.length !== e.v.length) throw new ArgumentError(`outer adam: the moments of '${k}' must be two arrays of one length`);
    if (!e.m.every((x) => typeof x === 'number' && Number.isFinite(x))) throw new ArgumentError(`outer adam: the first moment of '${k}' has a value that is not a finite number`);
    if (!e.v.every((x) => typeof x === 'number' && Number.isFinite(x) && x >= 0)) throw new ArgumentError(`outer adam: the second moment of '${k}' has a value that is not a finite number ≥ 0`);
  }
}

export const outer = { gd, adam };
