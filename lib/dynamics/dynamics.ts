/**
 * Training dynamics as differentiable maps Φ(s, λ) over an augmented state s:
 *   gradient descent  s = [w]         w' = w − η g
 *   momentum          s = [w; v]      v' = μ v + g;  w' = w − η v'          (heavy ball, as TF/RFHO)
 *   Nesterov          s = [w; v]      v' = μ v + g;  w' = w − η (g + μ v')  (TF's use_nesterov)
 *   Adam              s = [w; m; v]   m' = β1 m + (1−β1) g;  v' = β2 v + (1−β2) g²
 *                                      w' = w − η m̂ / sqrt(v̂ + ε),  m̂ = m'/(1−β1ᵗ), v̂ = v'/(1−β2ᵗ)
 * where g = ∇_w L_t(w, λ). Every update is written with differentiable ops, so A = ∂Φ/∂s and
 * B = ∂Φ/∂λ (for η, μ, β1, β2, and anything inside L) come from the autodiff engine.
 *
 * Adam's ε sits inside the square root. With ε outside (sqrt(v̂) + ε), ∂w'/∂v̂ = η m̂ / (2 sqrt(v̂)
 * (sqrt(v̂) + ε)²) is infinite wherever v̂ = 0 — a weight whose gradient has been zero so far, as
 * in a dead unit — and the hypergradient becomes NaN. Inside, the derivative stays bounded.
 * The step counter t is an explicit argument (1-based), never hidden state, so a reverse pass
 * replays step t exactly.
 */
import * as K from '../kernels';
import { withoutTangents } from '../autodiff/engine';
import { implement } from '../autodiff/implementations';
import { ArgumentError } from '../errors/errors';
import { show } from '../errors/show';
import { assertTensor } from '../tensor/validate';
import { Tensor } from '../tensor/tensor';
import { add, div, mul, pow, sqrt, square, sub } from '../ops/elementwise';
import { concat, slice } from '../ops/shape';
import { HyperInput, HyperRecord, Hyperparameter, resolve } from '../hyperparameters/hyperparameter';

export interface Dynamics {
  readonly name: string;
  /** number of d-sized blocks in the state */
  readonly slots: number;
  /** the hyperparameters this dynamics reads */
  readonly hyperparameters: readonly Hyperparameter[];
  /**
   * The step is affine in g with coefficients that do not depend on g (gradient descent, momentum,
   * Nesterov; not Adam). With no hyperparameters either, its VJP never reads g's value, and
   * Reverse-HG need not keep the gradients of the forward pass.
   */
  readonly linearInGradient?: boolean;
  /**
   * g_t rebuilt from the states around it, s_{t−1} and s_t = Φ_t(s_{t−1}, g_t), equal to g_t up to
   * rounding in the terms it is made of. Where the step's VJP reads g only through a quantity
   * that s_t holds (momentum's v_t = μ v_{t−1} + g_t), Reverse-HG then neither stores the
   * gradients of the forward pass nor recomputes them: a third of the full trajectory's memory,
   * and one gradient per reverse step of a checkpointed or truncated pass. Absent where the
   * rebuild would be ill-conditioned (gradient descent: (w − w')/η cancels when η g ≪ w) or the
   * step is not affine in g (Adam).
   */
  gradientFromStates?(prev: Tensor, next: Tensor, h: HyperRecord | null): Tensor;
  /** Φ_0's augmentation: [w0; zeros...] */
  initialState(w0: Tensor): Tensor;
  /** Φ_t: state [slots·d] and gradient g [d] at the state's weights → next state (t is 1-based) */
  step(s: Tensor, g: Tensor, h: HyperRecord | null, t: number): Tensor;
}

/** The weights block of a state. */
/** A Dynamics as rf.dynamics makes them (checked where one is passed in). */
export function assertDynamics(d: unknown, name = 'dynamics'): asserts d is Dynamics {
  const x = d as Dynamics;
  if (d === null || typeof d !== 'object' || typeof x.initialState !== 'function' || typeof x.step !== 'function' || !Array.isArray(x.hyperparameters) || !Number.isInteger(x.slots)) {
    throw new ArgumentError(`argument '${name}' must be a dynamics (rf.dynamics.gradientDescent, momentum, nesterov, adam), got ${show(d)}`);
  }
}

export function weightsOf(s: Tensor, slots: number): Tensor {
  assertTensor(s, 's');
  if (typeof slots !== 'number' || !Number.isInteger(slots) || slots < 1 || s.size % slots !== 0) {
    throw new ArgumentError(`weightsOf: argument 'slots' must be a positive integer dividing the state's ${s.size} values, got ${show(slots)}`);
  }
  if (slots === 1) return s;
  return slice(s, 0, 0, s.size / slots);
}

function block(s: Tensor, i: number, slots: number): Tensor {
  const d = s.size / slots;
  return slice(s, 0, i * d, (i + 1) * d);
}

function checkHyper(v: unknown, name: string, opts: { min?: number; max?: number; maxExclusive?: number } = {}): HyperInput {
  if (v instanceof Hyperparameter) return v;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new ArgumentError(`dynamics: '${name}' must be a finite number or a Hyperparameter, got ${show(v)}`);
  }
  if (opts.min !== undefined && v < opts.min) throw new ArgumentError(`dynamics: '${name}' must be >= ${opts.min}, got ${v}`);
  if (opts.max !== undefined && v > opts.max) throw new ArgumentError(`dynamics: '${name}' must be <= ${opts.max}, got ${v}`);
  if (opts.maxExclusive !== undefined && v >= opts.maxExclusive) throw new ArgumentError(`dynamics: '${name}' must be < ${opts.maxExclusive}, got ${v}`);
  return v;
}

function hyperList(...vs: HyperInput[]): Hyperparameter[] {
  return vs.filter((v): v is Hyperparameter => v instanceof Hyperparameter);
}

const times = (a: Tensor | number, b: Tensor): Tensor => (typeof a === 'number' ? mul(b, a) : mul(a, b));

function zerosState(w0: Tensor, slots: number): Tensor {
  if (slots === 1) return w0;
  const z = K.fullLike(w0, 0, [w0.size * (slots - 1)]);
  return concat([w0, z], 0);
}

const isScalar = (c: Tensor | number) => typeof c === 'number' || c.size === 1;
const valueOf = (c: Tensor | number) => (typeof c === 'number' ? c : c.item());
const tangentOf = (c: Tensor | number) => (typeof c === 'number' ? null : c.tangent);

/**
 * A dynamics step Φ(s, g) with, as its fused-tangents implementation (see autodiff/implementations),
 * Forward-HG's state tangent [k, slots·d] from one fused kernel (K.dynamicsTangent) where the
 * backend provides it, instead of the composed ops' ~12 passes over the k-fold tangents, the block
 * slices and the concatenation (about a tenth of Forward-HG's step for an MLP with 18 directions).
 * The primal then runs with tangents off, recording its reverse graph as usual. Elsewhere
 * (tangents that will be differentiated again, other devices, coefficients that are not scalars)
 * the composed ops run.
 */
function stepWith(slots: 1 | 2, nesterov: boolean, s: Tensor, g: Tensor, mu: Tensor | number, eta: Tensor | number,
  primal: () => { out: Tensor; v: Tensor | null; v2: Tensor | null; dir: Tensor }): Tensor {
  return implement([s, g], {
    general: () => primal().out,
    fusedTangents: () => fusedStep(slots, nesterov, s, g, mu, eta, primal),
  });
}

function fusedStep(slots: 1 | 2, nesterov: boolean, s: Tensor, g: Tensor, mu: Tensor | number, eta: Tensor | number,
  primal: () => { out: Tensor; v: Tensor | null; v2: Tensor | null; dir: Tensor }): Tensor | null {
  if (!K.provides(s.device, 'dynamicsTangent') || !isScalar(mu) || !isScalar(eta)) return null;
  const anyTangent = s.tangent ?? g.tangent ?? tangentOf(mu) ?? tangentOf(eta);
  if (!anyTangent) return null;
  const k = anyTangent.shape[0], d = g.size;
  if (s.rank !== 1 || s.size !== slots * d) return null;
  const p = withoutTangents(primal);
  const scalarTangent = (c: Tensor | number) => {
    const t = tangentOf(c);
    return t ? K.reshapeView(t, [k]) : null;
  };
  p.out.tangent = K.dynamicsTangent({
    slots, nesterov, mu: valueOf(mu), eta: valueOf(eta),
    ts: s.tangent ?? K.fullLike(s, 0, [k, s.size]), tg: g.tangent ?? K.fullLike(g, 0, [k, d]),
    tmu: scalarTangent(mu), teta: scalarTangent(eta), v: p.v, v2: p.v2, dir: p.dir,
  });
  return p.out;
}

export function gradientDescent(opts: { lr: HyperInput }): Dynamics {
  const lr = checkHyper(opts?.lr, 'lr', { min: 0 });
  return {
    name: 'gradientDescent',
    slots: 1,
    hyperparameters: hyperList(lr),
    linearInGradient: true,
    initialState: (w0) => w0,
    step: (s, g, h) => {
      const eta = resolve(lr, h);
      const parts = () => ({ out: sub(s, times(eta, g)), v: null, v2: null, dir: g });
      return stepWith(1, false, s, g, 0, eta, parts);
    },
  };
}

export function momentum(opts: { lr: HyperInput; momentum: HyperInput; nesterov?: boolean }): Dynamics {
  const lr = checkHyper(opts?.lr, 'lr', { min: 0 });
  // a constant momentum above 1 makes the velocity grow without bound
  const mu = checkHyper(opts?.momentum, 'momentum', { min: 0, max: 1 });
  const nesterov = !!opts.nesterov;
  return {
    name: nesterov ? 'nesterov' : 'momentum',
    slots: 2,
    hyperparameters: hyperList(lr, mu),
    linearInGradient: true,
    initialState: (w0) => zerosState(w0, 2),
    // v_t − μ v_{t−1}: both terms are of the update's own size (no cancellation beyond theirs),
    // and the VJP reads g only through v_t = μ v_{t−1} + g (η's term; Nesterov's direction too).
    gradientFromStates: (prev, next, h) => sub(block(next, 1, 2), times(resolve(mu, h), block(prev, 1, 2))),
    step: (s, g, h) => {
      const m = resolve(mu, h), eta = resolve(lr, h);
      const parts = () => {
        const w = block(s, 0, 2), v = block(s, 1, 2);
        const v2 = add(times(m, v), g);
        const dir = nesterov ? add(g, times(m, v2)) : v2;
        return { out: concat([sub(w, times(eta, dir)), v2], 0), v, v2, dir };
      };
      return stepWith(2, nesterov, s, g, m, eta, parts);
    },
  };
}

export function nesterov(opts: { lr: HyperInput; momentum: HyperInput }): Dynamics {
  return momentum({ ...opts, nesterov: true });
}

export function adam(opts: { lr: HyperInput; beta1?: HyperInput; beta2?: HyperInput; eps?: number }): Dynamics {
  const lr = checkHyper(opts?.lr, 'lr', { min: 0 });
  const b1 = checkHyper(opts.beta1 ?? 0.9, 'beta1', { min: 0, maxExclusive: 1 });
  const b2 = checkHyper(opts.beta2 ?? 0.999, 'beta2', { min: 0, maxExclusive: 1 });
  const eps = opts.eps ?? 1e-8;
  if (typeof eps !== 'number' || !(eps > 0)) throw new ArgumentError(`adam: 'eps' must be a positive number, got ${String(eps)}`);
  const powT = (b: Tensor | number, t: number) => (typeof b === 'number' ? b ** t : pow(b, t));
  const oneMinus = (b: Tensor | number) => (typeof b === 'number' ? 1 - b : sub(1, b));
  return {
    name: 'adam',
    slots: 3,
    hyperparameters: hyperList(lr, b1, b2),
    initialState: (w0) => zerosState(w0, 3),
    step: (s, g, h, t) => {
      if (!Number.isInteger(t) || t < 1) throw new ArgumentError(`adam: step index 't' must be an integer >= 1, got ${t}`);
      const w = block(s, 0, 3), m = block(s, 1, 3), v = block(s, 2, 3);
      const beta1 = resolve(b1, h), beta2 = resolve(b2, h), eta = resolve(lr, h);
      const m2 = add(times(beta1, m), times(oneMinus(beta1), g));
      const v2 = add(times(beta2, v), times(oneMinus(beta2), square(g)));
      const c1 = oneMinus(powT(beta1, t)), c2 = oneMinus(powT(beta2, t));
      const mHat = typeof c1 === 'number' ? mul(m2, 1 / c1) : div(m2, c1);
      const vHat = typeof c2 === 'number' ? mul(v2, 1 / c2) : div(v2, c2);
      const update = div(mHat, sqrt(add(vHat, eps)));
      return concat([sub(w, times(eta, update)), m2, v2], 0);
    },
  };
}

export const dynamics = { gradientDescent, momentum, nesterov, adam };
