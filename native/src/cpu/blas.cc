// Matrix products: rfho's skinny and packed kernels where they apply, else the BLAS found at run
// time (blas_runtime.h). Row-major throughout.

#include <numeric>

#include "blas_runtime.h"
#include "cpu_backend.h"
#include "packed_gemm.h"
#include "skinny_gemm.h"

namespace rfho {

namespace {

template <typename T>
void gemmOne(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* A, int64_t lda,
             const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (k == 0) {  // BLAS leaves C untouched when k = 0; the mathematics says C = beta C
    for (int64_t r = 0; r < m; ++r)
      for (int64_t c = 0; c < n; ++c) C[r * ldc + c] = beta == T(0) ? T(0) : C[r * ldc + c] * beta;
    return;
  }
  if (packedGemm<T>(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)) return;
  const int cta = ta ? CblasTrans : CblasNoTrans, ctb = tb ? CblasTrans : CblasNoTrans;
  // CBLAS takes 32-bit sizes (LP64 builds, as distributions ship them): the callers' extents fit
  if constexpr (sizeof(T) == 4)
    blas().sgemm(CblasRowMajor, cta, ctb, int(m), int(n), int(k), alpha, A, int(lda), B, int(ldb), beta, C, int(ldc));
  else
    blas().dgemm(CblasRowMajor, cta, ctb, int(m), int(n), int(k), alpha, A, int(lda), B, int(ldb), beta, C, int(ldc));
}

// Rows of op(A) (and of C) in [r0, r1): op(A) row r is A + r * lda, or column r (A + r) if transposed.
template <typename T>
const T* rowsOfA(const T* A, bool ta, int64_t r0, int64_t lda) {
  return ta ? A + r0 : A + r0 * lda;
}

// All CPU parallelism goes through one OpenMP pool. OpenBLAS's own threads would otherwise spin
// after every product while our OpenMP workers (and the JavaScript thread) wanted the same two
// cores: small ops measured 20× slower between large products. So OpenBLAS runs single-threaded
// (set where it is loaded, blas_runtime.cc), and every product is split here — by batch entries,
// rows of C, or columns of C.

template <typename T>
void gemmTyped(const GemmArgs& g) {
  const T alpha = static_cast<T>(g.alpha), beta = static_cast<T>(g.beta);
  const T* A = static_cast<const T*>(g.A);
  const T* B = static_cast<const T*>(g.B);
  T* C = static_cast<T*>(g.C);
  int threads = 1;
#ifdef _OPENMP
  threads = omp_get_max_threads();
#endif
  const double flops = 2.0 * g.m * g.n * g.k * g.batch;
  // Below ~1 MFLOP one thread is faster: a fork/join of the pool costs as much as such a product
  // (64³ takes longer on two threads than on one; 100 × 784 × 10 is about where they meet).
  const int64_t work = flops > 1e6 ? (int64_t{1} << 40) : 0;
  const auto piece = [&](int64_t i, int64_t part0, int64_t part1, int64_t parts) {
    const T* Ai = A + i * g.strideA;
    const T* Bi = B + i * g.strideB;
    T* Ci = C + i * g.strideC;
    if (part0 == 0 && part1 == parts) {
      gemmOne<T>(g.transA, g.transB, g.m, g.n, g.k, alpha, Ai, g.lda, Bi, g.ldb, beta, Ci, g.ldc);
    } else if (g.m >= g.n) {
      // rows of C: rows of op(A)
      const int64_t r0 = g.m * part0 / parts, r1 = g.m * part1 / parts;
      if (r1 > r0)
        gemmOne<T>(g.transA, g.transB, r1 - r0, g.n, g.k, alpha, rowsOfA(Ai, g.transA, r0, g.lda), g.lda, Bi,
                   g.ldb, beta, Ci + r0 * g.ldc, g.ldc);
    } else {
      // columns of C: columns of op(B) (B + c0 when not transposed, rows of B when transposed)
      const int64_t c0 = g.n * part0 / parts, c1 = g.n * part1 / parts;
      if (c1 > c0)
        gemmOne<T>(g.transA, g.transB, g.m, c1 - c0, g.k, alpha, Ai, g.lda, g.transB ? Bi + c0 * g.ldb : Bi + c0,
                   g.ldb, beta, Ci + c0, g.ldc);
    }
  };
  if (threads == 1 || work == 0) {
    for (int64_t i = 0; i < g.batch; ++i) piece(i, 0, 1, 1);
    return;
  }
  // Each thread takes an equal, contiguous share of batch × parts pieces, where an entry is cut
  // into parts = threads / gcd(batch, threads) pieces (rows or columns of C). Whole entries go
  // whole; only where a share's edge falls inside an entry is that entry split. So 3 products on
  // 2 threads run as 1½ each (one split entry), not 2 and 1, which idled a core for a third of
  // the time; 1 product is split evenly, and 4 products go 2 and 2 unsplit.
  const int64_t parts = threads / std::gcd<int64_t, int64_t>(g.batch, threads), pieces = g.batch * parts;
  parallelRange(threads, work, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t p0 = pieces * t / threads, p1 = pieces * (t + 1) / threads;
      for (int64_t i = p0 / parts; i * parts < p1; ++i) {
        const int64_t lo = std::max(p0, i * parts) - i * parts, hi = std::min(p1, (i + 1) * parts) - i * parts;
        if (hi > lo) piece(i, lo, hi, parts);
      }
    }
  });
}

}  // namespace

void cpuGemm(DType dtype, const GemmArgs& g) {
  if (g.k > 0 && skinnyGemm(dtype, g)) return;
  if (dtype == DType::F32) gemmTyped<float>(g);
  else gemmTyped<double>(g);
}

void CpuBackend::gemm(DType dtype, const GemmArgs& g) { cpuGemm(dtype, g); }

double CpuBackend::dot(DType dtype, const void* a, const void* b, int64_t n) {
  if (dtype == DType::F32) {
    // Accumulate in double: a float32 dot of 10^6 terms otherwise loses ~3 digits.
    const float* x = static_cast<const float*>(a);
    const float* y = static_cast<const float*>(b);
    return parallelSum(n, [&](int64_t b, int64_t e) {
      double s = 0;
      for (int64_t i = b; i < e; ++i) s += static_cast<double>(x[i]) * y[i];
      return s;
    });
  }
  return blas().ddot(int(n), static_cast<const double*>(a), 1, static_cast<const double*>(b), 1);
}

}  // namespace rfho
