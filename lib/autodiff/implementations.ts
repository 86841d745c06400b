/**
 * Which of an op's implementations runs. An op states what each of its faster implementations
 * computes — its tangents from a fused kernel, its gradient from the value's own pass, ... — and
 * this module alone knows which transformation is running and so which of them is valid now. A
 * derivative rule therefore says only what the op's derivative is; the choice of kernels by the
 * running transformation lives here, as the choice of kernels by device lives in kernels/dispatch.
 *
 * Each optional implementation may return null where it does not apply (shapes, dtypes, a backend
 * that lacks the kernel); the next valid one is tried, and `general` always applies.
 */
import { Tensor } from '../tensor/tensor';
import { engine } from './engine';

export interface Implementations {
  /**
   * Always valid: the op's kernel with derivative rules written with differentiable ops, or the
   * op composed of other ops. Every other implementation computes the same values as this one.
   */
  general: () => Tensor;
  /**
   * The value together with what the derivative rules would otherwise recompute (a softmax's
   * probabilities, say). Chosen when the rules will run: an input is recorded by a reverse
   * transformation or carries a tangent.
   */
  whenDifferentiated?: () => Tensor;
  /**
   * The op's kernel with a tangent rule of kernels that record no reverse graph. Chosen unless a
   * forward transformation's tangents will themselves be differentiated (reverse over forward).
   */
  kernelTangents?: () => Tensor | null;
  /**
   * The value and its tangent from one fused kernel. Chosen when a forward transformation computes
   * tangents now and nothing differentiates them again.
   */
  fusedTangents?: () => Tensor | null;
  /**
   * The gradient computed with the value and handed back by the reverse rule as constants. Chosen
   * when the op is differentiated exactly once, in reverse mode, so that rule never runs under
   * another transformation.
   */
  fusedGradient?: () => Tensor | null;
  /**
   * The gradient's tangents computed with the value: a Hessian-vector product's forward over one
   * reverse transformation, with tangents that nothing differentiates again.
   */
  fusedGradientTangents?: () => Tensor | null;
}

/** Runs the first valid implementation of an op taking `inputs` (see Implementations). */
export function implement(inputs: readonly (Tensor | null)[], impls: Implementations): Tensor {
  const forward = engine.forwardK > 0;
  const recording = engine.reverseDepth > 0 && !engine.reversePaused;
  const leaves = forward && !engine.inJvpRule && engine.forwardBaseDepth === 0;
  const attempt = (valid: boolean, impl: (() => Tensor | null) | undefined) => (valid && impl ? impl() : null);
  return attempt(recording && !forward && engine.reverseDepth === 1, impls.fusedGradient)
    ?? attempt(leaves && recording && engine.reverseDepth === 1, impls.fusedGradientTangents)
    ?? attempt(leaves, impls.fusedTangents)
    ?? attempt(!forward || leaves, impls.kernelTangents)
    ?? attempt(inputs.some((x) => x && ((recording && x.requiresGrad) || (forward && !!x.tangent))), impls.whenDifferentiated)
    ?? impls.general();
}
