/**
 * rfho — gradient-based hyperparameter optimization for Node.js.
 * Layers (each knows only those below it): native addon → tensors and kernels → differentiable
 * ops and autodiff → models, losses, dynamics → hypergradients → outer loop → data, CLI.
 */
export { config } from './config/config';
export type { Config, Settings, SettingName, SettingDescription } from './config/config';
export { Tensor } from './tensor/tensor';
export type { DType, FloatDType, Device, TypedArray } from './tensor/dtype';
export { tidy, keep } from './tensor/scope';
export { synchronize } from './kernels/creation';
export { cores, getThreads, setThreads } from './kernels/threads';
export * from './errors/errors';
export {
  tensor, empty, zeros, ones, full, randomNormal, randomUniform, cast, clone, toDevice, memory,
  countNonFinite, releaseCachedMemory, availableDevices, getDefaultDevice, setDefaultDevice, getDefaultDType, setDefaultDType,
} from './kernels/creation';
export * as kernels from './kernels/public';
export {
  neg, exp, log, tanh, sigmoid, relu, square, sqrt, abs, reciprocal, softplus, step, sign, maximum, minimum, add, sub, mul, div, pow, stopGradient,
} from './ops/elementwise';
export { sum, mean, max, vdot, logSumExp, softmax } from './ops/reduce';
export { reshape, permute, transpose, slice, concat, stack, gatherRows, scatterAddRows } from './ops/shape';
export { broadcastTo } from './ops/broadcast';
export { matmul, denseTanh } from './ops/linalg';
export { softmaxCrossEntropy } from './ops/xent';
export { grad, valueAndGrad, vjp, jvp, hvp } from './autodiff/transforms';
export type { TensorRecord, Args, JvpOptions, JvpResult, ValueAndGrad } from './autodiff/transforms';
export { params, init, ParamLayout } from './models/params';
export type { ParamSpec, Initializer, ParamEntry } from './models/params';
export { linear, mlp } from './models/models';
export type { Model, LinearModel, Activation, MlpOptions } from './models/models';
export { crossEntropy, linearCrossEntropy, binaryCrossEntropy, squaredError, l2Penalty, l1Penalty, accuracy } from './models/losses';
export type { Reduction } from './models/losses';
// training dynamics only as rf.dynamics.* (rf.outer.* are the outer optimizers: two Adams, one name each)
export { dynamics, weightsOf } from './dynamics/dynamics';
export type { Dynamics } from './dynamics/dynamics';
export { optimize } from './dynamics/optimize';
export type { OptimizeOptions, OptimizeResult } from './dynamics/optimize';
export { Hyperparameter, hyperparameter } from './hyperparameters/hyperparameter';
export type { HyperRecord, HyperInput, HyperparameterOptions } from './hyperparameters/hyperparameter';
export { constraints, project, projectSimplex, projectCappedSimplex } from './hyperparameters/constraints';
export type { Constraint } from './hyperparameters/constraints';
export * as data from './data';
export { bilevel, Problem } from './hyper/problem';
export type { BilevelSpec, ValidationErrors } from './hyper/problem';
export { reverseHG, forwardHG, truncatedReverseHG, implicitHG, reverseHGAsync, forwardHGAsync, truncatedReverseHGAsync, implicitHGAsync } from './hyper/hypergradients';
export type { SliceOptions } from './util/stepwise';
export type { Horizon, HypergradientOptions, HypergradientResult, ReverseOptions, TruncatedOptions, ImplicitOptions, ImplicitResult } from './hyper/hypergradients';
export { FullTrajectory } from './hyper/trajectory';
export { CheckpointedTrajectory, checkpointed } from './hyper/checkpointedTrajectory';
export { DiskTrajectory } from './hyper/diskTrajectory';
export { revolveCost, revolveClosedForm } from './hyper/revolve';
export type { CheckpointOptions } from './hyper/checkpointedTrajectory';
export type { TrajectoryStore } from './hyper/trajectory';
export { outer } from './hyper/outer';
export type { OuterOptimizer } from './hyper/outer';
export { HyperOptimizer } from './hyper/hyperoptimizer';
export type {
  Method, HyperOptimizerOptions, HyperStepRecord, OptimizerSettings,
  ReverseMethodOptions, ForwardMethodOptions, TruncatedMethodOptions, ImplicitMethodOptions, RthoMethodOptions, TrhoMethodOptions,
} from './hyper/hyperoptimizer';
export { save, load } from './io/weights';
export type { SaveContents, LoadedWeights } from './io/weights';
export * as jobs from './jobs';
export { JobRunner, Job, JobError } from './jobs';
export type { JobSpec, JobSummary, JobStatus, JobRunnerOptions, SubmitOptions, ModuleJob } from './jobs';
