// CPU implementation of the backend interface: CBLAS for products, OpenMP loops for the rest.
#pragma once
#include <algorithm>
#include <initializer_list>

#include "../common.h"
#include "linear_xent.h"
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace rfho {

// Elementwise loops parallelise only above this size: below it the fork/join costs more than it saves.
constexpr int64_t kParallelThreshold = 1 << 15;

// Flushes denormal floats to zero while a kernel runs, and restores the thread's mode after.
// Softmax probabilities of confident rows underflow into float32 denormals, and arithmetic on
// them runs up to ~100× slower; every CPU ML framework runs its kernels this way. The mode is
// restored so that JavaScript's own double arithmetic on the main thread keeps IEEE semantics.
class DenormalsAreZero {
 public:
#if defined(__x86_64__) || defined(__i386__)
  DenormalsAreZero() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040); }
  ~DenormalsAreZero() { _mm_setcsr(saved_); }
 private:
  unsigned saved_;
#endif
};

// Runs f(begin, end) over [0, n): serially when `work` is small, else one contiguous block per
// OpenMP thread. The explicit branch matters: entering an OpenMP region costs about as much as a
// small op even when its `if` clause is false; so does a budget of one thread
// (a job sharing the cores with others, setThreads).
template <typename F>
inline void parallelRange(int64_t n, int64_t work, F&& f) {
#ifdef _OPENMP
  if (work > kParallelThreshold && n > 1 && omp_get_max_threads() > 1) {
#pragma omp parallel
    {
      const int64_t nt = omp_get_num_threads(), id = omp_get_thread_num();
      const int64_t chunk = (n + nt - 1) / nt, b = id * chunk, e = std::min(n, b + chunk);
      DenormalsAreZero daz;
      if (b < e) f(b, e);
    }
    return;
  }
#endif
  DenormalsAreZero daz;
  f(int64_t{0}, n);
}

// Σ over [0, n) of f(begin, end) partial sums, combined in a fixed order (reproducible for a
// given thread count).
template <typename F>
inline double parallelSum(int64_t n, F&& f) {
#ifdef _OPENMP
  if (n > kParallelThreshold && omp_get_max_threads() > 1) {
    double parts[256] = {0};
    int64_t used = 1;
#pragma omp parallel
    {
      const int64_t nt = std::min<int64_t>(omp_get_num_threads(), 256), id = omp_get_thread_num();
      if (id < nt) {
        const int64_t chunk = (n + nt - 1) / nt, b = id * chunk, e = std::min(n, b + chunk);
        DenormalsAreZero daz;
        parts[id] = b < e ? f(b, e) : 0.0;
      }
#pragma omp single
      used = nt;
    }
    double s = 0;
    for (int64_t i = 0; i < used; ++i) s += parts[i];
    return s;
  }
#endif
  DenormalsAreZero daz;
  return f(int64_t{0}, n);
}

// Offsets, under K sets of strides, of consecutive rows of a row-major walk over the outer
// dimensions shape[0 .. dims): found by division for the first row, then counted up like an
// odometer. With short rows (a [n, 10] array) the per-row divisions cost more than the row.
template <int K>
struct RowOffsets {
  int dims;
  const int64_t* shape;
  const int64_t* stride[K];
  int64_t coord[kMaxDims] = {0};
  int64_t off[K] = {0};
  RowOffsets(int dims_, const int64_t* shape_, std::initializer_list<const int64_t*> strides, int64_t row)
      : dims(dims_), shape(shape_) {
    int k = 0;
    for (const int64_t* st : strides) stride[k++] = st;
    for (int d = dims - 1; d >= 0; --d) {
      coord[d] = row % shape[d];
      row /= shape[d];
      for (int q = 0; q < K; ++q) off[q] += coord[d] * stride[q][d];
    }
  }
  void next() {
    for (int d = dims - 1; d >= 0; --d) {
      for (int q = 0; q < K; ++q) off[q] += stride[q][d];
      if (++coord[d] < shape[d]) return;
      for (int q = 0; q < K; ++q) off[q] -= stride[q][d] * shape[d];
      coord[d] = 0;
    }
  }
};

template <typename F>
inline void withFloatType(DType d, F&& f) {
  if (d == DType::F32) f(float{});
  else if (d == DType::F64) f(double{});
  else throw ArgError("kernel needs a float32 or float64 tensor, got " + std::string(dtypeName(d)));
}

// The CPU products (blas.cc), for kernels that run one inside their own work (sparse_products.cc).
void cpuGemm(DType, const GemmArgs&);

class CpuBackend final : public Backend {
 public:
  const char* name() const override { return "cpu"; }
  // every fused kernel; the linear cross-entropy's pass where it is compiled (AVX-512)
  bool provides(Fused f) const override { return f != Fused::LinearXent || linearXentAvailable(); }
  void* allocate(size_t bytes) override;
  void release(void* p, size_t bytes) override;
  void copyFromHost(void* dst, const void* src, size_t bytes) override;
  void copyToHost(void* dst, const void* src, size_t bytes) override;
  void copy(void* dst, const void* src, size_t bytes) override;
  void gemm(DType, const GemmArgs&) override;
  void packRowPanels(DType, const void* x, int64_t rows, int64_t cols, void* out) override;
  void gemmRowPanels(DType, const void* panels, int64_t m, int64_t k, const void* B, int64_t ldb,
                     bool transB, int64_t n, double alpha, void* C, int64_t ldc) override;
  // sparse_layout.cc, sparse_products.cc
  bool planSparse(DType, const void* x, int64_t rows, int64_t cols, double maxDensity, double denseFrom,
                  SparsePlan* plan, size_t* bytes) override;
  void packSparse(DType, const void* x, int64_t rows, int64_t cols, const SparsePlan&, void* out) override;
  int64_t sparseDenseColumns(DType, const void* layout, int64_t rows, int64_t cols, int64_t nnz) override;
  void sparseGemm(DType, const void* layout, int64_t rows, int64_t cols, int64_t nnz, bool transS, const void* const* B,
                  int64_t ldb, bool transB, int64_t n, double alpha, double beta, void* const* C, int64_t operands,
                  int64_t ldc) override;
  // linear_xent.cc
  double linearXent(DType, const LinearXentData&, const LinearXentArgs&) override;
  void unary(DType, UnaryOp, const void* x, void* y, int64_t n) override;
  void binary(DType, BinaryOp, const void* a, const void* b, void* out,
              const BroadcastPlan&) override;
  void binaryScalar(DType, BinaryOp, const void* a, double s, bool scalarFirst, void* out,
                    int64_t n) override;
  void axpby(DType, double alpha, const void* x, double beta, const void* y, void* out,
             int64_t n) override;
  void reduce(DType, ReduceOp, const void* x, void* out, const ReducePlan&) override;
  void argmax(DType, const void* x, int32_t* out, int64_t outer, int64_t axisLen,
              int64_t inner) override;
  double dot(DType, const void* a, const void* b, int64_t n) override;
  void softmaxXent(DType, const void* logits, const int32_t* labels, const void* weights,
                   void* loss, void* grad, int64_t n, int64_t c) override;
  void softmaxXentJvp(DType, const void* logits, const int32_t* labels, const void* weights,
                      const void* dLogits, const void* dWeights, void* out, int64_t n, int64_t c,
                      int64_t k) override;
  void copy2d(DType, const void* src, int64_t srcOffset, int64_t srcStride, void* dst,
              int64_t dstOffset, int64_t dstStride, int64_t rows, int64_t cols) override;
  void permute(DType, const void* x, void* out, int ndim, const int64_t* shape,
               const int64_t* perm) override;
  void gatherRows(DType, const void* x, const int32_t* idx, void* out, int64_t nIdx,
                  int64_t rowLen, int64_t rows) override;
  void scatterAddRows(DType, const void* x, const int32_t* idx, void* out, int64_t nIdx,
                      int64_t rowLen, int64_t rows) override;
  void fill(DType, void* out, double value, int64_t n) override;
  void randomUniform(DType, void* out, int64_t n, uint64_t seed, double lo, double hi) override;
  void randomNormal(DType, void* out, int64_t n, uint64_t seed, double mean, double std) override;
  void expand(DType, const void* x, void* out, const BroadcastPlan&) override;
  void cast(DType from, const void* x, DType to, void* out, int64_t n) override;
  int64_t countNonFinite(DType, const void* x, int64_t n) override;
  void tanhGrad(DType, const void* y, const void* g, void* out, int64_t n, int64_t k, const void* bias,
                int64_t h) override;
  int64_t dynamicsTangent(DType, int slots, bool nesterov, int64_t d, int64_t k, double mu, double eta, const void* ts,
                       const void* tg, const void* tmu, const void* teta, const void* v, const void* v2,
                       const void* dir, void* out) override;
  void tanhGradJvp(DType, const void* y, const void* g, const void* ty, const void* tg, void* out, int64_t n,
                   int64_t k) override;
};

}  // namespace rfho
