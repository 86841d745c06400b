/**
 * The kernel layer as users see it (rf.kernels): validated, non-differentiable calls for code that
 * manages its own tensors. The library's internal helpers (uninitialised buffers, in-place writes,
 * fused tangent kernels) stay in lib/kernels for rfho's own layers.
 */
export {
  tensor, empty, zeros, ones, full, randomNormal, randomUniform, cast, clone, toDevice, countNonFinite, memory, synchronize,
} from './creation';
export { UNARY, BINARY, unary, binary, binaryScalar } from './elementwise';
export type { UnaryName, BinaryName } from './elementwise';
export { reduce, argmax, dot } from './reduce';
export { reshapeView, permute, slice, concat } from './shape';
export { gatherRows, scatterAddRows } from './indexing';
export { softmaxXentLoss, softmaxXentLossAndGrad, softmaxXentGrad } from './xent';
export { gemm, matmul, asDataMatrix, isDataMatrix } from './matmul';
export type { GemmOptions } from './matmul';
