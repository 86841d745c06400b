// The CUDA backend (see cuda_backend.cu): the class, shared by one .cu file per kernel family, as
// cpu/ is organised — cuda_backend.cu (memory, synchronisation, faults, the entry points),
// blas.cu, elementwise.cu, reduce.cu, xent.cu, indexing.cu, random.cu.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "../common.h"
#include "../settings.h"

namespace rfho {

#define RFHO_CUDA_CHECK(expr)                                                              \
  do {                                                                                     \
    cudaError_t e_ = (expr);                                                               \
    if (e_ != cudaSuccess)                                                                 \
      throw std::runtime_error(std::string("CUDA error: ") + cudaGetErrorString(e_) + " in " #expr); \
  } while (0)
#define RFHO_CUBLAS_CHECK(expr)                                                             \
  do {                                                                                     \
    cublasStatus_t s_ = (expr);                                                            \
    if (s_ != CUBLAS_STATUS_SUCCESS)                                                       \
      throw std::runtime_error(std::string("cuBLAS error ") + std::to_string(static_cast<int>(s_)) + " in " #expr); \
  } while (0)

constexpr int kThreads = 256;
inline unsigned blocksFor(int64_t n) {
  int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > 65535 * 64 ? 65535 * 64 : b));
}
#define GRID_STRIDE(i, n) for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)blockDim.x * gridDim.x)

// Bits of the device status word: what a kernel found wrong in a tensor's contents, which only the
// device reads. Reported at the next synchronisation (CudaBackend::checkStatus): no host round trip
// per call.
constexpr unsigned kBadIndex = 1, kBadLabel = 2;

template <typename F>
void withType(DType d, F&& f) {
  if (d == DType::F32) f(float{});
  else if (d == DType::F64) f(double{});
  else throw std::runtime_error(std::string("kernel needs a float tensor, got ") + dtypeName(d));
}

class CudaBackend final : public Backend {
 public:
  CudaBackend();
  const char* name() const override { return "cuda"; }

  // Caching allocator: freed blocks wait in per-size lists; a training loop allocates the same
  // sizes every step and never reaches cudaMalloc after the first.
  void* allocate(size_t bytes) override;
  void release(void* p, size_t bytes) override;
  void copyFromHost(void* dst, const void* src, size_t bytes) override;
  void copyToHost(void* dst, const void* src, size_t bytes) override;
  void copy(void* dst, const void* src, size_t bytes) override;

  void gemm(DType dtype, const GemmArgs& g) override;

  // C = beta C over an m×n block with leading dimension ldc (a product with k = 0)
  void scale2d(DType d, void* C, int64_t m, int64_t n, int64_t ldc, double beta);


  void unary(DType d, UnaryOp op, const void* x, void* y, int64_t n) override;
  void binary(DType d, BinaryOp op, const void* a, const void* b, void* out, const BroadcastPlan& p) override;
  void binaryScalar(DType d, BinaryOp op, const void* a, double s, bool first, void* out, int64_t n) override;
  void axpby(DType d, double alpha, const void* x, double beta, const void* y, void* out, int64_t n) override;
  void expand(DType d, const void* x, void* out, const BroadcastPlan& p) override;
  void reduce(DType d, ReduceOp op, const void* x, void* out, const ReducePlan& p) override;
  void argmax(DType d, const void* x, int32_t* out, int64_t outer, int64_t axisLen, int64_t inner) override;
  double dot(DType d, const void* a, const void* b, int64_t n) override;
  int64_t countNonFinite(DType d, const void* x, int64_t n) override;
  void softmaxXent(DType d, const void* z, const int32_t* y, const void* w, void* loss, void* grad, int64_t n, int64_t c) override;
  void softmaxXentJvp(DType d, const void* z, const int32_t* y, const void* w, const void* dz, const void* dw, void* out, int64_t n, int64_t c, int64_t k) override;
  // A kernel rather than cudaMemcpy2DAsync: a slice along axis 0 is one row whose pitch is the whole
  // tensor (over cudaMemcpy2D's maximum pitch for large ones), and a source stride below the row
  // length, which the CPU accepts, is refused there.
  void copy2d(DType d, const void* src, int64_t so, int64_t ss, void* dst, int64_t dof, int64_t ds, int64_t rows, int64_t cols) override;
  void permute(DType d, const void* x, void* out, int ndim, const int64_t* shape, const int64_t* perm) override;
  void gatherRows(DType d, const void* x, const int32_t* idx, void* out, int64_t nIdx, int64_t rowLen, int64_t rows) override;
  void scatterAddRows(DType d, const void* x, const int32_t* idx, void* out, int64_t nIdx, int64_t rowLen, int64_t rows) override;
  void fill(DType d, void* out, double v, int64_t n) override;
  void randomUniform(DType d, void* out, int64_t n, uint64_t seed, double lo, double hi) override;
  void randomNormal(DType d, void* out, int64_t n, uint64_t seed, double mean, double sd) override;
  void cast(DType from, const void* x, DType to, void* out, int64_t n) override;
  void synchronize() override;

 private:
  static constexpr size_t kMaxCache = size_t{4} << 30;
  static size_t roundSize(size_t b) {
    if (b < 512) return 512;
    if (b < (size_t{1} << 20)) return (b + 511) & ~size_t{511};
    return (b + (size_t{1} << 20) - 1) & ~((size_t{1} << 20) - 1);
  }
  void releaseCacheLocked();
  // After every launch. A kernel's fault (an illegal address, say) surfaces at some later call and
  // leaves the context unusable: the first error seen is kept and every later call reports it,
  // naming the op during which it was seen. RFHO_CUDA_SYNC=1 synchronises after every launch, so
  // that the op named is the one that faulted (slow; for finding it).
  void check(const char* op);

  double sumOf(DType d, const void* a, const void* b, int64_t n, int mode);
  // The device status word (kBadIndex, kBadLabel), zeroed at creation and after each report.
  unsigned* status() { return reinterpret_cast<unsigned*>(static_cast<char*>(scratch_) + 60000 * sizeof(double)); }
  // After the stream is synchronised: what a kernel since the last report found wrong in a tensor's
  // contents (an index or a label out of range: its rows were zeros or NaN). Reported here rather
  // than at the call, which would drain the stream to read a flag every time.
  void checkStatus();

  // One op at a time: worker threads may use CUDA at once, and the stream, the cuBLAS handle, the
  // scratch block and the status word are shared (recursive: ops call one another). The allocator
  // has its own lock (mu_): the garbage collector's finalizers release buffers from any thread.
  using Serial = std::lock_guard<std::recursive_mutex>;
  std::recursive_mutex opMu_;
  std::string firstFault_;
  bool statusPending_ = false;  // a kernel that may flag the status word ran since the last report
  const bool syncEveryLaunch_ = settings::cudaSyncEveryLaunch();
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  void* scratch_ = nullptr;
  std::mutex mu_;
  std::map<size_t, std::vector<void*>> cache_;
  size_t cachedBytes_ = 0;
};

}  // namespace rfho
