/**
 * The kernel layer as users see it (rf.kernels): validated, non-differentiable calls for code that
 * manages its own tensors. The library's internal helpers (uninitialised buffers, in-place writes,
 * fused tangent kernels) stay in lib/kernels for rfho's own layers.
 */
export {
  tensor, empty, zeros, ones, full, randomNormal, randomUniform, cast, clone, toDevice, countNonFinite, memory, synchronize,
} from './creation';
export { UNARY, BINARY, unary, binary, binaryScalar, reduce, argmax, dot, reshapeView, permute, slice, concat, gatherRows, scatterAddRows, softmaxXentLoss, softmaxXentLossAndGrad, softmaxXentGrad } from './compute';
export type { UnaryName, BinaryName } from './compute';
export { gemm, matmul, asDataMatrix, isDataMatrix } from './matmul';
export type { GemmOptions } from './matmul';
