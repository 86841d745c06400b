/**
 * `rfho/internal`: the building blocks rfho's own layers use, for code that extends rfho (a new
 * op, a new method, a scheduler around the stepwise computations). Not the library's curated
 * surface (`rfho`), and free to change between minor versions.
 */
// autodiff: recording ops and the stepwise transformations
export {
  record, recordWithTangent, withoutTangents, setVjpReads, setTangentReadsPrimal, markLinear, NEEDS_NOTHING, NEEDS_INPUTS, NEEDS_OUTPUT,
} from './autodiff/engine';
export { implement } from './autodiff/implementations';
export type { Implementations } from './autodiff/implementations';
export { vjpSteps, gradSteps, hvpPartial, hvpPartialSteps, gradientWithTangent, gradientWithTangentSteps } from './autodiff/transforms';
export { liftTangent } from './ops/lift';
// stepwise computations and their scopes
export { runToEnd, runInSlices, yieldPoint, registerSuspendableState } from './util/stepwise';
export type { Stepwise, SliceOptions, SuspendableState } from './util/stepwise';
export { tidySteps } from './tensor/scope';
// kernels: what a device's backend provides
export { provides, overrideProvided } from './kernels/dispatch';
export type { FusedKernel } from './kernels/dispatch';
// hypergradients, step by step
export {
  reverseHGSteps, forwardHGSteps, truncatedReverseHGSteps, implicitHGSteps, reverseStep, reverseStepSteps, forwardStep, forwardStepSteps,
  forwardInit, forwardHypergradient, hyperBasis, shardColumns, forwardHGColumns, forwardHGColumnsAsync, forwardHGColumnsSteps,
  trainStep, trainStepWithGradient, reverseFromWindow,
} from './hyper/hypergradients';
export type { ForwardState, ColumnRange, ColumnsOptions, ColumnsResult } from './hyper/hypergradients';
export { methodOptions } from './hyper/hyperoptimizer';
export { revolvePlan, planAdvances } from './hyper/revolve';
