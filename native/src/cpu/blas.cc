// Matrix products through CBLAS (OpenBLAS). Row-major throughout.
#include <cblas.h>

#include "cpu_backend.h"

namespace rfho {

void CpuBackend::gemm(DType dtype, const GemmArgs& g) {
  const CBLAS_TRANSPOSE ta = g.transA ? CblasTrans : CblasNoTrans;
  const CBLAS_TRANSPOSE tb = g.transB ? CblasTrans : CblasNoTrans;
  for (int64_t i = 0; i < g.batch; ++i) {
    if (dtype == DType::F32) {
      const float* A = static_cast<const float*>(g.A) + i * g.strideA;
      const float* B = static_cast<const float*>(g.B) + i * g.strideB;
      float* C = static_cast<float*>(g.C) + i * g.strideC;
      if (g.k == 0) {  // BLAS leaves C untouched when k = 0; the mathematics says C = beta C
        for (int64_t r = 0; r < g.m; ++r)
          for (int64_t c = 0; c < g.n; ++c) C[r * g.ldc + c] *= static_cast<float>(g.beta);
        continue;
      }
      cblas_sgemm(CblasRowMajor, ta, tb, g.m, g.n, g.k, static_cast<float>(g.alpha), A, g.lda, B,
                  g.ldb, static_cast<float>(g.beta), C, g.ldc);
    } else {
      const double* A = static_cast<const double*>(g.A) + i * g.strideA;
      const double* B = static_cast<const double*>(g.B) + i * g.strideB;
      double* C = static_cast<double*>(g.C) + i * g.strideC;
      if (g.k == 0) {
        for (int64_t r = 0; r < g.m; ++r)
          for (int64_t c = 0; c < g.n; ++c) C[r * g.ldc + c] *= g.beta;
        continue;
      }
      cblas_dgemm(CblasRowMajor, ta, tb, g.m, g.n, g.k, g.alpha, A, g.lda, B, g.ldb, g.beta, C,
                  g.ldc);
    }
  }
}

double CpuBackend::dot(DType dtype, const void* a, const void* b, int64_t n) {
  if (dtype == DType::F32) {
    // Accumulate in double: a float32 dot of 10^6 terms otherwise loses ~3 digits.
    const float* x = static_cast<const float*>(a);
    const float* y = static_cast<const float*>(b);
    double s = 0;
#pragma omp parallel for reduction(+ : s) if (n > kParallelThreshold)
    for (int64_t i = 0; i < n; ++i) s += static_cast<double>(x[i]) * y[i];
    return s;
  }
  return cblas_ddot(n, static_cast<const double*>(a), 1, static_cast<const double*>(b), 1);
}

}  // namespace rfho
