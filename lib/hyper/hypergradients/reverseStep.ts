/**
 * One step of the reverse sweep, (α_{t−1}, B_tᵀ α_t) from α_t, shared by Reverse-HG, its truncated
 * form and the online truncated hyper-optimizer.
 */
import * as K from '../../kernels';
import { hvpPartial, hvpPartialSteps, vjp } from '../../autodiff/transforms';
import { tidy, tidySteps } from '../../tensor/scope';
import { Tensor } from '../../tensor/tensor';
import { weightsOf } from '../../dynamics/dynamics';
import { Problem } from '../problem';
import { Stepwise, yieldPoint } from '../../util/stepwise';
import { accumulate, record } from './common';

/**
 * True when the dynamics' VJP never reads the gradient's value (affine in it, no hyperparameters
 * of their own: plain gradient descent or momentum): Reverse-HG then stores no gradients, which
 * would double the trajectory's memory and traffic, and the reverse step puts zeros in their
 * place instead of recomputing them.
 */
export function gradientUnusedBy(problem: Problem): boolean {
  const dyn = problem.dynamics;
  return !!dyn.linearInGradient && dyn.hyperparameters.length === 0;
}

/**
 * True when the reverse pass rebuilds g_t from s_{t−1} and s_t (`Dynamics.gradientFromStates`)
 * instead of storing or recomputing it; the pass then hands each reverse step s_t too.
 */
export function gradientFromStatesBy(problem: Problem): boolean {
  return !gradientUnusedBy(problem) && !!problem.dynamics.gradientFromStates;
}

/** What the trajectory keeps besides the states: the gradients, where the reverse pass needs them. */
export function reverseStoresGradients(problem: Problem): boolean {
  return !gradientUnusedBy(problem) && !gradientFromStatesBy(problem);
}

/** One reverse step's results: α_{t−1} and the step's terms of the hypergradients. */
export interface ReverseStep {
  alpha: Tensor;
  gh: Tensor[];
}

/**
 * One step of the reverse sweep: (α_{t−1}, B_tᵀ α_t) from α_t, without differentiating twice in
 * reverse. With Φ_t(s, λ) = U(s, g, λ), g = ∇_w L_t(w, λ):
 *   (s̄, ḡ, λ̄_U) = vjp of the update U (elementwise, cheap)
 *   [H_ww ḡ; H_λw ḡ] = one forward-over-reverse Hessian-vector product of L_t (H symmetric)
 *   α_{t−1} = s̄ + [H_ww ḡ; 0],   B_tᵀ α_t = λ̄_U + H_λw ḡ.
 * In that product the data pass of a linear layer carries the primal and the tangent together.
 * A stepwise computation: it yields inside the gradient's and the product's sweeps.
 */
export function reverseStep(problem: Problem, prev: Tensor, next: Tensor | null, storedGrad: Tensor | null, hyper: readonly Tensor[], alpha: Tensor, t: number): ReverseStep {
  return tidy(() => {
    const u = updateVjp(problem, prev, next, storedGrad, hyper, alpha, t, () => problem.gradient(prev, record(problem, hyper), t));
    return combineReverseStep(problem, u, hvpPartial(...hessianProduct(problem, u, hyper, t)));
  });
}

/** reverseStep as a stepwise computation: it yields inside the gradient's and the product's sweeps. */
export function* reverseStepSteps(problem: Problem, prev: Tensor, next: Tensor | null, storedGrad: Tensor | null, hyper: readonly Tensor[], alpha: Tensor, t: number): Stepwise<ReverseStep> {
  if (!yieldPoint()) return reverseStep(problem, prev, next, storedGrad, hyper, alpha, t);
  return yield* tidySteps((function* () {
    const g = recomputesGradient(problem, next, storedGrad) ? yield* problem.gradientSteps(prev, record(problem, hyper), t) : null;
    const u = updateVjp(problem, prev, next, storedGrad, hyper, alpha, t, g);
    return combineReverseStep(problem, u, yield* hvpPartialSteps(...hessianProduct(problem, u, hyper, t)));
  })());
}

/** Whether a reverse step recomputes g_t: not stored, read by the update's VJP, not rebuilt from the states. */
export function recomputesGradient(problem: Problem, next: Tensor | null, storedGrad: Tensor | null): boolean {
  return !storedGrad && !gradientUnusedBy(problem) && !(next && problem.dynamics.gradientFromStates);
}

/**
 * The update's VJP at step t: (s̄, ḡ, λ̄_U), with g stored, zeros (unread), rebuilt from the states,
 * or recomputed (`recomputed`: the gradient, or how to get it; used only where recomputesGradient).
 */
export function updateVjp(problem: Problem, prev: Tensor, next: Tensor | null, storedGrad: Tensor | null, hyper: readonly Tensor[], alpha: Tensor, t: number, recomputed: Tensor | (() => Tensor) | null): UpdateVjp {
  const dyn = problem.dynamics;
  const g = storedGrad
    ?? (gradientUnusedBy(problem) ? K.fullLike(weightsOf(prev, dyn.slots), 0)
      : next && dyn.gradientFromStates ? dyn.gradientFromStates(prev, next, record(problem, hyper))
        : typeof recomputed === 'function' ? recomputed() : recomputed!);
  const u = vjp((x: Tensor, gg: Tensor, ...hv: Tensor[]) => dyn.step(x, gg, record(problem, hv), t), [prev, g, ...hyper], alpha).grads as Tensor[];
  return { sBar: u[0], gBar: u[1], hBarU: u.slice(2), w: weightsOf(prev, dyn.slots) };
}

export interface UpdateVjp {
  sBar: Tensor;
  gBar: Tensor;
  hBarU: Tensor[];
  w: Tensor;
}

/** The Hessian-vector product's arguments: L_t at (w, λ) along (ḡ, none). */
export function hessianProduct(problem: Problem, u: UpdateVjp, hyper: readonly Tensor[], t: number): [(...a: Tensor[]) => Tensor, Tensor[], (Tensor | null)[]] {
  return [(x: Tensor, ...hv: Tensor[]) => problem.trainLoss(x, record(problem, hv), t), [u.w, ...hyper], [u.gBar, ...hyper.map(() => null)]];
}

/** α_{t−1} = s̄ + [H_ww ḡ; 0] and B_tᵀ α_t = λ̄_U + H_λw ḡ from the update's VJP and the product's blocks. */
export function combineReverseStep(problem: Problem, u: UpdateVjp, blocks: Tensor[]): ReverseStep {
  const d = u.w.size;
  let alphaPrev: Tensor;
  if (problem.dynamics.slots === 1) {
    alphaPrev = K.axpby(1, u.sBar, 1, blocks[0]);
  } else {
    const head = K.axpby(1, K.slice(u.sBar, 0, 0, d), 1, blocks[0]);
    alphaPrev = K.concat([head, K.slice(u.sBar, 0, d, u.sBar.size)], 0);
  }
  const gh = u.hBarU.map((x, i) => K.axpby(1, x, 1, blocks[i + 1]));
  return { alpha: alphaPrev, gh };
}

/** The term of a learned initial state: (∂Φ_0/∂λ)ᵀ α_0, added to the accumulated hypergradients. */
export function addInitialStateTerm(problem: Problem, hyper: readonly Tensor[], alpha0: Tensor, acc: Tensor[]): void {
  if (!problem.initDependsOnHyper) return;
  const g0 = tidy(() => vjp((...hv: Tensor[]) => problem.initialState(record(problem, hv)), hyper as Tensor[], alpha0).grads as Tensor[]);
  accumulate(acc, g0);
}
