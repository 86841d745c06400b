/**
 * rfho — gradient-based hyperparameter optimization for Node.js.
 * Layers (each knows only those below it): native addon → tensors and kernels → differentiable
 * ops and autodiff → models, losses, dynamics → hypergradients → outer loop → data, CLI.
 */
export { Tensor } from './tensor/tensor';
export type { DType, FloatDType, Device, TypedArray } from './tensor/dtype';
export { tidy, keep } from './tensor/scope';
export * from './tensor/errors';
export {
  tensor, empty, zeros, ones, full, randomNormal, randomUniform, cast, clone, toDevice, memory,
  countNonFinite, releaseCachedMemory, availableDevices, getDefaultDevice, setDefaultDevice, getDefaultDType, setDefaultDType,
} from './kernels/creation';
export * as kernels from './kernels';
export * from './ops';
export { grad, valueAndGrad, vjp, jvp, hvp } from './autodiff/transforms';
export type { TensorRecord, Args, JvpOptions, JvpResult, ValueAndGrad } from './autodiff/transforms';
