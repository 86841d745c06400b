/**
 * The kernel layer as users see it (rf.kernels): validated, non-differentiable calls for code that
 * manages its own tensors. Each name has one home: tensor creation, devices and memory are at the
 * top level (rf.tensor, rf.zeros, ...), and the names here that are also top-level names
 * (matmul, slice, concat, permute, gatherRows, scatterAddRows) are the raw kernels of those
 * differentiable ops — the namespace is what tells them apart. The library's internal helpers
 * (uninitialised buffers, in-place writes, fused tangent kernels) stay in lib/kernels for rfho's
 * own layers.
 */
export { UNARY, BINARY, unary, binary, binaryScalar } from './elementwise';
export type { UnaryName, BinaryName } from './elementwise';
export { reduce, argmax, dot } from './reduce';
export { reshapeView, permute, slice, concat } from './shape';
export { gatherRows, scatterAddRows } from './indexing';
export { softmaxXentLoss, softmaxXentLossAndGrad, softmaxXentGrad } from './xent';
export { gemm, matmul, asDataMatrix, isDataMatrix } from './matmul';
export type { GemmOptions } from './matmul';
