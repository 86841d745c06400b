/**
 * Hypergradient algorithms. All return ∂E/∂λ for the same problem; where the mathematics says they
 * agree (Reverse-HG, Forward-HG, RTHO with K = T on its first hyper-iteration, truncated reverse
 * with K = T) they agree to rounding.
 *
 *   Reverse-HG: forward pass storing s_0..s_{T−1}; α_T = ∂E/∂s_T; for t = T..1:
 *               g += B_tᵀ α_t, α_{t−1} = A_tᵀ α_t, each pair from one vjp of Φ_t; then Φ_0's term.
 *   Forward-HG: Z_t = A_t Z_{t−1} + B_t, all m hyperparameter directions as one batched tangent;
 *               hypergradient ∂E/∂λ + Z_Tᵀ ∂E/∂s_T.
 *   Implicit:   at the final iterate solve H q = ∂E/∂w by conjugate gradients on Hessian-vector
 *               products; hypergradient ∂E/∂λ − (∂²L/∂λ∂w) q.
 *
 * Each algorithm is written once as a generator that yields between inner steps (stepwise.ts):
 * `reverseHG` runs it to the end, `reverseHGAsync` in slices that leave the event loop free, and
 * both give the same bits. On an abort or an error, `finally` blocks free every tensor held.
 *
 * One file per method (reverse.ts, forward.ts — whole or by columns —, truncated.ts, implicit.ts),
 * the reverse step they share (reverseStep.ts) and what all of them share (common.ts).
 */
export { checkFiniteTensor, trainStep, trainStepWithGradient, trainStepWithGradientSteps } from './common';
export type { Horizon, HypergradientOptions, HypergradientStats, HypergradientResult } from './common';
export { reverseStep, reverseStepSteps } from './reverseStep';
export { reverseHG, reverseHGAsync, reverseHGSteps } from './reverse';
export type { ReverseOptions } from './reverse';
export { hyperBasis, shardColumns, forwardInit, forwardStep, forwardStepSteps, forwardHypergradient, forwardHG, forwardHGAsync, forwardHGSteps, forwardHGColumns, forwardHGColumnsAsync, forwardHGColumnsSteps } from './forward';
export type { ColumnRange, ForwardState, ColumnsOptions, ColumnsResult } from './forward';
export { truncatedReverseHG, truncatedReverseHGAsync, truncatedReverseHGSteps, reverseFromWindow, reverseFromWindowSteps } from './truncated';
export type { TruncatedOptions } from './truncated';
export { implicitHG, implicitHGAsync, implicitHGSteps } from './implicit';
export type { ImplicitOptions, ImplicitResult } from './implicit';
