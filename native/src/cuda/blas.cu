// Products on cuBLAS (row-major operands swapped into its column-major calls).
#include "cuda_backend.h"

namespace rfho {
void CudaBackend::gemm(DType dtype, const GemmArgs& g) {
  const Serial serial(opMu_);
  // Row-major C = op(A) op(B) is column-major Cᵀ = op(B)ᵀ op(A)ᵀ: swap the operands.
  const cublasOperation_t ta = g.transA ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t tb = g.transB ? CUBLAS_OP_T : CUBLAS_OP_N;
  if (g.k == 0) {
    const size_t es = dtype == DType::F32 ? sizeof(float) : sizeof(double);
    for (int64_t b = 0; b < g.batch; ++b) scale2d(dtype, static_cast<char*>(g.C) + b * g.strideC * es, g.m, g.n, g.ldc, g.beta);
    return;
  }
  // cuBLAS takes int dimensions, leading dimensions and batch counts: refuse what would narrow
  for (const int64_t v : {g.m, g.n, g.k, g.lda, g.ldb, g.ldc, g.batch})
    if (v > INT32_MAX) throw ArgError("a product's dimension " + std::to_string(v) + " exceeds cuBLAS's int range; split it");
  if (dtype == DType::F32) {
    const float al = static_cast<float>(g.alpha), be = static_cast<float>(g.beta);
    RFHO_CUBLAS_CHECK(cublasSgemmStridedBatched(blas_, tb, ta, g.n, g.m, g.k, &al, static_cast<const float*>(g.B), g.ldb,
                                                g.strideB, static_cast<const float*>(g.A), g.lda, g.strideA, &be,
                                                static_cast<float*>(g.C), g.ldc, g.strideC, g.batch));
  } else {
    RFHO_CUBLAS_CHECK(cublasDgemmStridedBatched(blas_, tb, ta, g.n, g.m, g.k, &g.alpha, static_cast<const double*>(g.B), g.ldb,
                                                g.strideB, static_cast<const double*>(g.A), g.lda, g.strideA, &g.beta,
                                                static_cast<double*>(g.C), g.ldc, g.strideC, g.batch));
  }
}

}  // namespace rfho
