// CUDA implementation of the backend interface: cuBLAS for products, .cu kernels for the rest,
// one stream per context, a caching allocator. Built as a separate shared library
// (rfho_cuda.so) that the addon loads on first use, so the addon itself never depends on the
// CUDA runtime, cuBLAS or a driver: without them it loads and reports that no GPU is available.
#include <cub/cub.cuh>
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
#include "xent_rows.h"

namespace rfho {
namespace {

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

// ---- elementwise --------------------------------------------------------------------------

template <typename T>
__device__ inline T unaryOp(int op, T v) {
  switch (op) {
    case 0: return -v;
    case 1: return exp(v);
    case 2: return log(v);
    case 3: return tanh(v);
    case 4: return v >= T(0) ? T(1) / (T(1) + exp(-v)) : exp(v) / (T(1) + exp(v));
    case 5: return v > T(0) ? v : T(0);
    case 6: return v * v;
    case 7: return sqrt(v);
    case 8: return fabs(v);
    case 9: return T(1) / v;
    case 10: return v > T(0) ? T(1) : T(0);
    case 11: return v > T(0) ? T(1) : (v < T(0) ? T(-1) : T(0));
    case 12: return v > T(0) ? v + log1p(exp(-v)) : log1p(exp(v));
    default: return v;
  }
}

template <typename T>
__device__ inline T binaryOp(int op, T a, T b) {
  switch (op) {
    case 0: return a + b;
    case 1: return a - b;
    case 2: return a * b;
    case 3: return a / b;
    case 4: return (a > b || isnan(a)) ? a : b;
    case 5: return (a < b || isnan(a)) ? a : b;
    case 6: return pow(a, b);
    case 7: return a > b ? T(1) : T(0);
    default: return T(0);
  }
}

template <typename T>
__global__ void unaryKernel(int op, const T* x, T* y, int64_t n) {
  GRID_STRIDE(i, n) y[i] = unaryOp<T>(op, x[i]);
}

template <typename T>
__global__ void binaryKernel(int op, const T* a, const T* b, T* out, BroadcastPlan p) {
  GRID_STRIDE(i, p.numel) {
    int64_t rem = i, oa = 0, ob = 0;
    for (int d = p.ndim - 1; d >= 0; --d) {
      const int64_t idx = rem % p.shape[d];
      rem /= p.shape[d];
      oa += idx * p.strideA[d];
      ob += idx * p.strideB[d];
    }
    out[i] = binaryOp<T>(op, a[oa], b[ob]);
  }
}

template <typename T>
__global__ void expandKernel(const T* x, T* out, BroadcastPlan p) {
  GRID_STRIDE(i, p.numel) {
    int64_t rem = i, oa = 0;
    for (int d = p.ndim - 1; d >= 0; --d) {
      oa += (rem % p.shape[d]) * p.strideA[d];
      rem /= p.shape[d];
    }
    out[i] = x[oa];
  }
}

template <typename T>
__global__ void scalarKernel(int op, const T* a, T s, bool first, T* out, int64_t n) {
  GRID_STRIDE(i, n) out[i] = first ? binaryOp<T>(op, s, a[i]) : binaryOp<T>(op, a[i], s);
}

template <typename T>
__global__ void axpbyKernel(T alpha, const T* x, T beta, const T* y, T* out, int64_t n) {
  GRID_STRIDE(i, n) out[i] = y ? alpha * x[i] + beta * y[i] : alpha * x[i];
}

template <typename T>
__global__ void fillKernel(T* out, T v, int64_t n) {
  GRID_STRIDE(i, n) out[i] = v;
}

template <typename F, typename To>
__global__ void castKernel(const F* x, To* out, int64_t n) {
  GRID_STRIDE(i, n) out[i] = static_cast<To>(x[i]);
}

// ---- reductions (double accumulation; fixed order within a launch configuration) -----------

// Where output o's reductions start, and where its r-th reduced element is (row-major strides of
// the input; outStride is the row-major stride among the kept dims).
struct ReduceIndex {
  int64_t inStride[kMaxDims];
  __device__ ReduceIndex(const ReducePlan& p) {
    int64_t s = 1;
    for (int d = p.ndim - 1; d >= 0; --d) {
      inStride[d] = s;
      s *= p.shape[d];
    }
  }
  __device__ int64_t base(const ReducePlan& p, int64_t o) const {
    int64_t b = 0;
    for (int d = 0; d < p.ndim; ++d)
      if (p.outStride[d] != 0) b += ((o / p.outStride[d]) % p.shape[d]) * inStride[d];
    return b;
  }
  __device__ int64_t offset(const ReducePlan& p, int64_t base, int64_t r) const {
    int64_t off = base;
    for (int d = p.ndim - 1; d >= 0; --d) {
      if (p.outStride[d] != 0) continue;
      off += (r % p.shape[d]) * inStride[d];
      r /= p.shape[d];
    }
    return off;
  }
};

// acc ⊕ v for sum (op 0) or max (op 1; a NaN is taken and then kept)
__device__ inline double combine(int op, double acc, double v) {
  if (op == 0) return acc + v;
  return !(v <= acc) && !isnan(acc) ? v : acc;
}

template <typename T>
__global__ void reduceKernel(int op, const T* x, T* out, ReducePlan p, int64_t reducedCount) {
  // One thread per output element, iterating over the reduced coordinates in order: for many
  // outputs of short reductions (bias sums over a batch).
  const ReduceIndex ix(p);
  GRID_STRIDE(o, p.outNumel) {
    const int64_t base = ix.base(p, o);
    double acc = op == 0 ? 0.0 : -INFINITY;
    for (int64_t r = 0; r < reducedCount; ++r) acc = combine(op, acc, static_cast<double>(x[ix.offset(p, base, r)]));
    out[o] = static_cast<T>(acc);
  }
}

template <typename T>
__global__ void blockReduceKernel(int op, const T* x, T* out, ReducePlan p, int64_t reducedCount) {
  // One block per output element, its threads striding over the reduced coordinates, their partial
  // results combined in a fixed tree: for few outputs of long reductions (a full sum would be one
  // thread above). The same bits for a given block size.
  __shared__ double sh[kThreads];
  const ReduceIndex ix(p);
  for (int64_t o = blockIdx.x; o < p.outNumel; o += gridDim.x) {
    const int64_t base = ix.base(p, o);
    double acc = op == 0 ? 0.0 : -INFINITY;
    for (int64_t r = threadIdx.x; r < reducedCount; r += blockDim.x) acc = combine(op, acc, static_cast<double>(x[ix.offset(p, base, r)]));
    sh[threadIdx.x] = acc;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
      if (threadIdx.x < w) sh[threadIdx.x] = combine(op, sh[threadIdx.x], sh[threadIdx.x + w]);
      __syncthreads();
    }
    if (threadIdx.x == 0) out[o] = static_cast<T>(sh[0]);
    __syncthreads();
  }
}

template <typename T>
__global__ void partialSums(const T* a, const T* b, int64_t n, double* partial, int mode) {
  // mode 0: Σ a b; mode 1: count of non-finite a
  __shared__ double sh[kThreads];
  double s = 0;
  GRID_STRIDE(i, n) {
    if (mode == 0) s += static_cast<double>(a[i]) * static_cast<double>(b[i]);
    else s += isfinite(static_cast<double>(a[i])) ? 0.0 : 1.0;
  }
  sh[threadIdx.x] = s;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w >>= 1) {
    if (threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = sh[0];
}

template <typename T>
__global__ void argmaxKernel(const T* x, int32_t* out, int64_t outer, int64_t axisLen, int64_t inner) {
  GRID_STRIDE(i, outer * inner) {
    const int64_t o = i / inner, in = i % inner;
    const T* base = x + o * axisLen * inner + in;
    int32_t best = 0;
    T bv = base[0];
    for (int64_t a = 1; a < axisLen; ++a) {
      const T v = base[a * inner];
      if (v > bv || (isnan(v) && !isnan(bv))) {
        bv = v;
        best = static_cast<int32_t>(a);
      }
    }
    out[i] = best;
  }
}

// ---- fused softmax cross-entropy ----------------------------------------------------------

// Row arithmetic: xent_rows.h, shared with a host test against the CPU backend.
template <typename T>
__global__ void xentKernel(const T* z, const int32_t* y, const T* w, T* loss, T* grad, int64_t n, int64_t c, unsigned* status) {
  GRID_STRIDE(i, n) {
    const T* zi = z + i * c;
    const int32_t yi = y[i];
    if (yi < 0 || yi >= c) {  // a NaN row, flagged
      atomicOr(status, kBadLabel);
      if (loss) loss[i] = static_cast<T>(NAN);
      if (grad)
        for (int64_t j = 0; j < c; ++j) grad[i * c + j] = static_cast<T>(NAN);
      continue;
    }
    const xent_rows::Stats s = xent_rows::stats(zi, c);
    if (loss) loss[i] = static_cast<T>(xent_rows::loss(zi, yi, s));
    if (grad) {
      const double wi = w ? static_cast<double>(w[i]) : 1.0;
      for (int64_t j = 0; j < c; ++j) grad[i * c + j] = static_cast<T>(wi * xent_rows::gradient(zi, c, yi, j, s));
    }
  }
}

template <typename T>
__global__ void xentJvpKernel(const T* z, const int32_t* y, const T* w, const T* dz, const T* dw, T* out,
                              int64_t n, int64_t c, int64_t k, unsigned* status) {
  GRID_STRIDE(idx, n * k) {
    const int64_t t = idx / n, i = idx % n;
    const T* zi = z + i * c;
    if (y[i] < 0 || y[i] >= c) {
      atomicOr(status, kBadLabel);
      for (int64_t j = 0; j < c; ++j) out[(t * n + i) * c + j] = static_cast<T>(NAN);
      continue;
    }
    const xent_rows::Stats s = xent_rows::stats(zi, c);
    const double wi = w ? static_cast<double>(w[i]) : 1.0;
    T* o = out + (t * n + i) * c;
    const T* d = dz ? dz + (t * n + i) * c : nullptr;
    const double sd = d ? xent_rows::probDot(zi, d, c, s) : 0.0;
    const double dwi = dw ? static_cast<double>(dw[t * n + i]) : 0.0;
    for (int64_t j = 0; j < c; ++j) {
      double v = d ? wi * xent_rows::prob(zi, j, s) * (static_cast<double>(d[j]) - sd) : 0.0;
      if (dw) v += dwi * xent_rows::gradient(zi, c, y[i], j, s);
      o[j] = static_cast<T>(v);
    }
  }
}

// rows × cols elements of es bytes from a row stride ss to a row stride ds (in elements)
__global__ void copy2dKernel(const char* src, int64_t ss, char* dst, int64_t ds, int64_t rows, int64_t cols, int es) {
  GRID_STRIDE(i, rows * cols) {
    const int64_t r = i / cols, c = i % cols;
    const char* from = src + (r * ss + c) * es;
    char* to = dst + (r * ds + c) * es;
    if (es == 8) *reinterpret_cast<uint64_t*>(to) = *reinterpret_cast<const uint64_t*>(from);
    else *reinterpret_cast<uint32_t*>(to) = *reinterpret_cast<const uint32_t*>(from);
  }
}


// ---- data movement ------------------------------------------------------------------------

template <typename T>
__global__ void permuteKernel(const T* x, T* out, int ndim, Shape8 outShape, Shape8 srcStride, int64_t n) {
  GRID_STRIDE(i, n) {
    int64_t rem = i, off = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      off += (rem % outShape.v[d]) * srcStride.v[d];
      rem /= outShape.v[d];
    }
    out[i] = x[off];
  }
}

// An index outside [0, rows) gathers zeros and flags kBadIndex.
template <typename T>
__global__ void gatherKernel(const T* x, const int32_t* idx, T* out, int64_t nIdx, int64_t rowLen, int64_t rows, unsigned* status) {
  GRID_STRIDE(i, nIdx * rowLen) {
    const int32_t r = idx[i / rowLen];
    if (r < 0 || r >= rows) {
      out[i] = T(0);
      atomicOr(status, kBadIndex);
    } else {
      out[i] = x[static_cast<int64_t>(r) * rowLen + i % rowLen];
    }
  }
}
// scatterAddRows without atomics, so that its sums are the same bits run after run (checkpointed
// reverse passes recompute steps and must equal the full ones): the indices sorted with their
// positions (a stable radix sort), then one thread per output element adds its entries in position
// order onto the old value — the CPU backend's order. Indices outside [0, rows) flag kBadIndex.
__global__ void iotaKernel(int32_t* v, int64_t n) {
  GRID_STRIDE(i, n) v[i] = static_cast<int32_t>(i);
}
__global__ void flagOutOfRange(const int32_t* idx, int64_t n, int64_t rows, unsigned* status) {
  GRID_STRIDE(i, n) if (idx[i] < 0 || idx[i] >= rows) atomicOr(status, kBadIndex);
}
template <typename T>
__global__ void segmentAddKernel(const T* x, const int32_t* keys, const int32_t* pos, T* out, int64_t nIdx,
                                 int64_t rowLen, int64_t rows) {
  GRID_STRIDE(e, rows * rowLen) {
    const int64_t r = e / rowLen, col = e % rowLen;
    int64_t lo = 0, hi = nIdx;  // the first sorted entry with key ≥ r
    while (lo < hi) {
      const int64_t mid = (lo + hi) / 2;
      if (keys[mid] < r) lo = mid + 1;
      else hi = mid;
    }
    if (lo == nIdx || keys[lo] != r) continue;
    T acc = out[e];
    for (int64_t p = lo; p < nIdx && keys[p] == r; ++p) acc += x[static_cast<int64_t>(pos[p]) * rowLen + col];
    out[e] = acc;
  }
}

__device__ inline uint64_t devSplitmix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}
__device__ inline double devUniform(uint64_t seed, uint64_t i) {
  const uint64_t h = devSplitmix(devSplitmix(seed) ^ (i * 0xD1B54A32D192ED03ULL));
  return (h >> 11) * (1.0 / 9007199254740992.0);
}

template <typename T>
__global__ void uniformKernel(T* out, int64_t n, uint64_t seed, double lo, double hi) {
  GRID_STRIDE(i, n) out[i] = static_cast<T>(lo + (hi - lo) * devUniform(seed, i));
}
template <typename T>
__global__ void normalKernel(T* out, int64_t n, uint64_t seed, double mean, double sd) {
  GRID_STRIDE(i, n) {
    const double u1 = 1.0 - devUniform(seed, 2 * static_cast<uint64_t>(i));
    const double u2 = devUniform(seed, 2 * static_cast<uint64_t>(i) + 1);
    out[i] = static_cast<T>(mean + sd * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
  }
}

template <typename F>
void withType(DType d, F&& f) {
  if (d == DType::F32) f(float{});
  else if (d == DType::F64) f(double{});
  else throw std::runtime_error(std::string("kernel needs a float tensor, got ") + dtypeName(d));
}

class CudaBackend final : public Backend {
 public:
  CudaBackend() {
    RFHO_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    RFHO_CUBLAS_CHECK(cublasCreate(&blas_));
    RFHO_CUBLAS_CHECK(cublasSetStream(blas_, stream_));
    const char* tf32 = std::getenv("RFHO_CUDA_TF32");
    if (tf32 && std::strcmp(tf32, "1") == 0) RFHO_CUBLAS_CHECK(cublasSetMathMode(blas_, CUBLAS_TF32_TENSOR_OP_MATH));
    RFHO_CUDA_CHECK(cudaMalloc(&scratch_, 65536 * sizeof(double)));
    RFHO_CUDA_CHECK(cudaMemset(status(), 0, sizeof(unsigned)));
  }
  const char* name() const override { return "cuda"; }

  // Caching allocator: freed blocks wait in per-size lists; a training loop allocates the same
  // sizes every step and never reaches cudaMalloc after the first.
  void* allocate(size_t bytes) override {
    const size_t rounded = roundSize(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    auto& list = cache_[rounded];
    if (!list.empty()) {
      void* p = list.back();
      list.pop_back();
      cachedBytes_ -= rounded;
      return p;
    }
    void* p = nullptr;
    if (cudaMalloc(&p, rounded) != cudaSuccess) {
      (void)cudaGetLastError();
      releaseCacheLocked();  // out of memory: give the cache back and try once more
      if (cudaMalloc(&p, rounded) != cudaSuccess) {
        (void)cudaGetLastError();
        throw std::bad_alloc();
      }
    }
    return p;
  }
  void release(void* p, size_t bytes) override {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mu_);
    const size_t rounded = roundSize(bytes);
    if (cachedBytes_ + rounded > kMaxCache) {
      cudaFree(p);
      return;
    }
    cache_[rounded].push_back(p);
    cachedBytes_ += rounded;
  }
  void copyFromHost(void* dst, const void* src, size_t bytes) override {
    const Serial serial(opMu_);
    if (!bytes) return;
    RFHO_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_));
    RFHO_CUDA_CHECK(cudaStreamSynchronize(stream_));  // the host buffer may be a JS array freed next
  }
  void copyToHost(void* dst, const void* src, size_t bytes) override {
    const Serial serial(opMu_);
    if (!bytes) return;
    RFHO_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
    RFHO_CUDA_CHECK(cudaStreamSynchronize(stream_));
    checkStatus();
  }
  void copy(void* dst, const void* src, size_t bytes) override {
    const Serial serial(opMu_);
    if (bytes) RFHO_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
  }

  void gemm(DType dtype, const GemmArgs& g) override {
    const Serial serial(opMu_);
    // Row-major C = op(A) op(B) is column-major Cᵀ = op(B)ᵀ op(A)ᵀ: swap the operands.
    const cublasOperation_t ta = g.transA ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t tb = g.transB ? CUBLAS_OP_T : CUBLAS_OP_N;
    if (g.k == 0) {
      withType(dtype, [&](auto t) {
        using T = decltype(t);
        // C = beta C over the m×n block with leading dimension ldc
        for (int64_t b = 0; b < g.batch; ++b)
          scale2d<T>(static_cast<T*>(g.C) + b * g.strideC, g.m, g.n, g.ldc, static_cast<T>(g.beta));
      });
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

  template <typename T>
  void scale2d(T* C, int64_t m, int64_t n, int64_t ldc, T beta) {
    for (int64_t r = 0; r < m; ++r) {
      if (beta == T(0)) RFHO_CUDA_CHECK(cudaMemsetAsync(C + r * ldc, 0, n * sizeof(T), stream_));
      else scalarKernel<T><<<blocksFor(n), kThreads, 0, stream_>>>(2, C + r * ldc, beta, false, C + r * ldc, n);
    }
  }

  void unary(DType d, UnaryOp op, const void* x, void* y, int64_t n) override {
    const Serial serial(opMu_);
    if (n == 0) return;
    withType(d, [&](auto t) {
      using T = decltype(t);
      unaryKernel<T><<<blocksFor(n), kThreads, 0, stream_>>>(static_cast<int>(op), static_cast<const T*>(x), static_cast<T*>(y), n);
    });
    check(__func__);
  }
  void binary(DType d, BinaryOp op, const void* a, const void* b, void* out, const BroadcastPlan& p) override {
    const Serial serial(opMu_);
    if (p.numel == 0) return;
    withType(d, [&](auto t) {
      using T = decltype(t);
      binaryKernel<T><<<blocksFor(p.numel), kThreads, 0, stream_>>>(static_cast<int>(op), static_cast<const T*>(a), static_cast<const T*>(b), static_cast<T*>(out), p);
    });
    check(__func__);
  }
  void binaryScalar(DType d, BinaryOp op, const void* a, double s, bool first, void* out, int64_t n) override {
    const Serial serial(opMu_);
    if (n == 0) return;
    withType(d, [&](auto t) {
      using T = decltype(t);
      scalarKernel<T><<<blocksFor(n), kThreads, 0, stream_>>>(static_cast<int>(op), static_cast<const T*>(a), static_cast<T>(s), first, static_cast<T*>(out), n);
    });
    check(__func__);
  }
  void axpby(DType d, double alpha, const void* x, double beta, const void* y, void* out, int64_t n) override {
    const Serial serial(opMu_);
    if (n == 0) return;
    withType(d, [&](auto t) {
      using T = decltype(t);
      axpbyKernel<T><<<blocksFor(n), kThreads, 0, stream_>>>(static_cast<T>(alpha), static_cast<const T*>(x), static_cast<T>(beta), static_cast<const T*>(y), static_cast<T*>(out), n);
    });
    check(__func__);
  }
  void expand(DType d, const void* x, void* out, const BroadcastPlan& p) override {
    const Serial serial(opMu_);
    if (p.numel == 0) return;
    withType(d, [&](auto t) {
      using T = decltype(t);
      expandKernel<T><<<blocksFor(p.numel), kThreads, 0, stream_>>>(static_cast<const T*>(x), static_cast<T*>(out), p);
    });
    check(__func__);
  }
  void reduce(DType d, ReduceOp op, const void* x, void* out, const ReducePlan& p) override {
    const Serial serial(opMu_);
    int64_t reducedCount = 1;
    for (int i = 0; i < p.ndim; ++i)
      if (p.outStride[i] == 0) reducedCount *= p.shape[i];
    if (p.outNumel == 0) return;
    if (p.inNumel == 0) {
      fill(d, out, op == ReduceOp::Sum ? 0.0 : -INFINITY, p.outNumel);
      return;
    }
    withType(d, [&](auto t) {
      using T = decltype(t);
      // long reductions to few outputs: a block each; otherwise a thread each
      if (reducedCount >= 4 * kThreads && p.outNumel <= 65535)
        blockReduceKernel<T><<<static_cast<unsigned>(p.outNumel), kThreads, 0, stream_>>>(static_cast<int>(op), static_cast<const T*>(x), static_cast<T*>(out), p, reducedCount);
      else
        reduceKernel<T><<<blocksFor(p.outNumel), kThreads, 0, stream_>>>(static_cast<int>(op), static_cast<const T*>(x), static_cast<T*>(out), p, reducedCount);
    });
    check(__func__);
  }
  void argmax(DType d, const void* x, int32_t* out, int64_t outer, int64_t axisLen, int64_t inner) override {
    const Serial serial(opMu_);
    withType(d, [&](auto t) {
      using T = decltype(t);
      argmaxKernel<T><<<blocksFor(outer * inner), kThreads, 0, stream_>>>(static_cast<const T*>(x), out, outer, axisLen, inner);
    });
    check(__func__);
  }
  double dot(DType d, const void* a, const void* b, int64_t n) override {
    const Serial serial(opMu_);
    return sumOf(d, a, b, n, 0);
  }
  int64_t countNonFinite(DType d, const void* x, int64_t n) override {
    const Serial serial(opMu_);
    return static_cast<int64_t>(sumOf(d, x, x, n, 1));
  }
  void softmaxXent(DType d, const void* z, const int32_t* y, const void* w, void* loss, void* grad, int64_t n, int64_t c) override {
    const Serial serial(opMu_);
    statusPending_ = true;
    withType(d, [&](auto t) {
      using T = decltype(t);
      xentKernel<T><<<blocksFor(n), kThreads, 0, stream_>>>(static_cast<const T*>(z), y, static_cast<const T*>(w), static_cast<T*>(loss), static_cast<T*>(grad), n, c, status());
    });
    check(__func__);
  }
  void softmaxXentJvp(DType d, const void* z, const int32_t* y, const void* w, const void* dz, const void* dw, void* out, int64_t n, int64_t c, int64_t k) override {
    const Serial serial(opMu_);
    statusPending_ = true;
    withType(d, [&](auto t) {
      using T = decltype(t);
      xentJvpKernel<T><<<blocksFor(n * k), kThreads, 0, stream_>>>(static_cast<const T*>(z), y, static_cast<const T*>(w), static_cast<const T*>(dz), static_cast<const T*>(dw), static_cast<T*>(out), n, c, k, status());
    });
    check(__func__);
  }
  // A kernel rather than cudaMemcpy2DAsync: a slice along axis 0 is one row whose pitch is the whole
  // tensor (over cudaMemcpy2D's maximum pitch for large ones), and a source stride below the row
  // length, which the CPU accepts, is refused there.
  void copy2d(DType d, const void* src, int64_t so, int64_t ss, void* dst, int64_t dof, int64_t ds, int64_t rows, int64_t cols) override {
    const Serial serial(opMu_);
    if (rows * cols == 0) return;
    const size_t es = dtypeSize(d);
    copy2dKernel<<<blocksFor(rows * cols), kThreads, 0, stream_>>>(static_cast<const char*>(src) + so * es, ss, static_cast<char*>(dst) + dof * es, ds,
                                                                rows, cols, static_cast<int>(es));
    check(__func__);
  }
  void permute(DType d, const void* x, void* out, int ndim, const int64_t* shape, const int64_t* perm) override {
    const Serial serial(opMu_);
    Shape8 outShape{}, srcStride{};
    int64_t inStride[kMaxDims];
    int64_t n = 1;
    for (int i = ndim - 1; i >= 0; --i) {
      inStride[i] = n;
      n *= shape[i];
    }
    for (int i = 0; i < ndim; ++i) {
      outShape.v[i] = shape[perm[i]];
      srcStride.v[i] = inStride[perm[i]];
    }
    if (n == 0) return;
    if (d == DType::I32) {
      permuteKernel<int32_t><<<blocksFor(n), kThreads, 0, stream_>>>(static_cast<const int32_t*>(x), static_cast<int32_t*>(out), ndim, outShape, srcStride, n);
    } else {
      withType(d, [&](auto t) {
        using T = decltype(t);
        permuteKernel<T><<<blocksFor(n), kThreads, 0, stream_>>>(static_cast<const T*>(x), static_cast<T*>(out), ndim, outShape, srcStride, n);
      });
    }
    check(__func__);
  }
  void gatherRows(DType d, const void* x, const int32_t* idx, void* out, int64_t nIdx, int64_t rowLen, int64_t rows) override {
    const Serial serial(opMu_);
    if (nIdx * rowLen == 0) return;
    statusPending_ = true;
    if (d == DType::I32) {
      gatherKernel<int32_t><<<blocksFor(nIdx * rowLen), kThreads, 0, stream_>>>(static_cast<const int32_t*>(x), idx, static_cast<int32_t*>(out), nIdx, rowLen, rows, status());
    } else {
      withType(d, [&](auto t) {
        using T = decltype(t);
        gatherKernel<T><<<blocksFor(nIdx * rowLen), kThreads, 0, stream_>>>(static_cast<const T*>(x), idx, static_cast<T*>(out), nIdx, rowLen, rows, status());
      });
    }
    check(__func__);
  }
  void scatterAddRows(DType d, const void* x, const int32_t* idx, void* out, int64_t nIdx, int64_t rowLen, int64_t rows) override {
    const Serial serial(opMu_);
    if (nIdx * rowLen == 0) return;
    if (nIdx > INT32_MAX) throw ArgError("scatterAddRows: more than 2^31 − 1 indices; split them");
    statusPending_ = true;
    flagOutOfRange<<<blocksFor(nIdx), kThreads, 0, stream_>>>(idx, nIdx, rows, status());
    // keys and positions sorted (stable), in memory from the caching allocator (stream-ordered reuse)
    const int n = static_cast<int>(nIdx);
    size_t tempBytes = 0;
    RFHO_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, tempBytes, idx, static_cast<int32_t*>(nullptr), static_cast<const int32_t*>(nullptr),
                                                    static_cast<int32_t*>(nullptr), n, 0, 32, stream_));
    const size_t listBytes = static_cast<size_t>(n) * sizeof(int32_t);
    char* buf = static_cast<char*>(allocate(3 * listBytes + tempBytes));
    int32_t* keys = reinterpret_cast<int32_t*>(buf);
    int32_t* posIn = reinterpret_cast<int32_t*>(buf + listBytes);
    int32_t* pos = reinterpret_cast<int32_t*>(buf + 2 * listBytes);
    try {
      iotaKernel<<<blocksFor(nIdx), kThreads, 0, stream_>>>(posIn, nIdx);
      RFHO_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(buf + 3 * listBytes, tempBytes, idx, keys, posIn, pos, n, 0, 32, stream_));
      withType(d, [&](auto t) {
        using T = decltype(t);
        segmentAddKernel<T><<<blocksFor(rows * rowLen), kThreads, 0, stream_>>>(static_cast<const T*>(x), keys, pos, static_cast<T*>(out),
                                                                                nIdx, rowLen, rows);
      });
      check(__func__);
    } catch (...) {
      release(buf, 3 * listBytes + tempBytes);
      throw;
    }
    release(buf, 3 * listBytes + tempBytes);
  }
  void fill(DType d, void* out, double v, int64_t n) override {
    const Serial serial(opMu_);
    if (n == 0) return;
    if (d == DType::I32) {
      fillKernel<int32_t><<<blocksFor(n), kThreads, 0, stream_>>>(static_cast<int32_t*>(out), static_cast<int32_t>(v), n);
    } else {
      withType(d, [&](auto t) {
        using T = decltype(t);
        fillKernel<T><<<blocksFor(n), kThreads, 0, stream_>>>(static_cast<T*>(out), static_cast<T>(v), n);
      });
    }
    check(__func__);
  }
  void randomUniform(DType d, void* out, int64_t n, uint64_t seed, double lo, double hi) override {
    const Serial serial(opMu_);
    if (n == 0) return;
    withType(d, [&](auto t) {
      using T = decltype(t);
      uniformKernel<T><<<blocksFor(n), kThreads, 0, stream_>>>(static_cast<T*>(out), n, seed, lo, hi);
    });
    check(__func__);
  }
  void randomNormal(DType d, void* out, int64_t n, uint64_t seed, double mean, double sd) override {
    const Serial serial(opMu_);
    if (n == 0) return;
    withType(d, [&](auto t) {
      using T = decltype(t);
      normalKernel<T><<<blocksFor(n), kThreads, 0, stream_>>>(static_cast<T*>(out), n, seed, mean, sd);
    });
    check(__func__);
  }
  void cast(DType from, const void* x, DType to, void* out, int64_t n) override {
    const Serial serial(opMu_);
    if (n == 0) return;
    auto launch = [&](auto f, auto t) {
      using F = decltype(f);
      using To = decltype(t);
      castKernel<F, To><<<blocksFor(n), kThreads, 0, stream_>>>(static_cast<const F*>(x), static_cast<To*>(out), n);
    };
    auto pick = [&](auto f) {
      if (to == DType::F32) launch(f, float{});
      else if (to == DType::F64) launch(f, double{});
      else launch(f, int32_t{});
    };
    if (from == DType::F32) pick(float{});
    else if (from == DType::F64) pick(double{});
    else pick(int32_t{});
    check(__func__);
  }
  void synchronize() override {
    const Serial serial(opMu_);
    RFHO_CUDA_CHECK(cudaStreamSynchronize(stream_));
    checkStatus();
  }

 private:
  static constexpr size_t kMaxCache = size_t{4} << 30;
  static size_t roundSize(size_t b) {
    if (b < 512) return 512;
    if (b < (size_t{1} << 20)) return (b + 511) & ~size_t{511};
    return (b + (size_t{1} << 20) - 1) & ~((size_t{1} << 20) - 1);
  }
  void releaseCacheLocked() {
    for (auto& kv : cache_)
      for (void* p : kv.second) cudaFree(p);
    cache_.clear();
    cachedBytes_ = 0;
  }
  // After every launch. A kernel's fault (an illegal address, say) surfaces at some later call and
  // leaves the context unusable: the first error seen is kept and every later call reports it,
  // naming the op during which it was seen. RFHO_CUDA_SYNC=1 synchronises after every launch, so
  // that the op named is the one that faulted (slow; for finding it).
  void check(const char* op) {
    if (!firstFault_.empty()) throw std::runtime_error("CUDA context unusable since an earlier error: " + firstFault_);
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess && syncEveryLaunch_) e = cudaStreamSynchronize(stream_);
    if (e == cudaSuccess) return;
    const std::string what = std::string(cudaGetErrorString(e)) + (syncEveryLaunch_ ? " in " : " seen after ") + op +
                             (syncEveryLaunch_ ? "" : " (RFHO_CUDA_SYNC=1 names the op that faulted)");
    // launch-configuration errors leave the context usable; faults during execution do not
    if (e != cudaErrorInvalidValue && e != cudaErrorInvalidConfiguration && e != cudaErrorLaunchOutOfResources) firstFault_ = what;
    throw std::runtime_error("CUDA error: " + what);
  }

  double sumOf(DType d, const void* a, const void* b, int64_t n, int mode) {
    if (n == 0) return 0;
    const unsigned blocks = std::min<unsigned>(blocksFor(n), 1024);
    double* partial = static_cast<double*>(scratch_);
    withType(d, [&](auto t) {
      using T = decltype(t);
      partialSums<T><<<blocks, kThreads, 0, stream_>>>(static_cast<const T*>(a), static_cast<const T*>(b), n, partial, mode);
    });
    check(__func__);
    std::vector<double> host(blocks);
    copyToHost(host.data(), partial, blocks * sizeof(double));
    double s = 0;
    for (double v : host) s += v;
    return s;
  }
  // The device status word (kBadIndex, kBadLabel), zeroed at creation and after each report.
  unsigned* status() { return reinterpret_cast<unsigned*>(static_cast<char*>(scratch_) + 60000 * sizeof(double)); }
  // After the stream is synchronised: what a kernel since the last report found wrong in a tensor's
  // contents (an index or a label out of range: its rows were zeros or NaN). Reported here rather
  // than at the call, which would drain the stream to read a flag every time.
  void checkStatus() {
    if (!statusPending_) return;
    statusPending_ = false;
    unsigned host = 0;
    RFHO_CUDA_CHECK(cudaMemcpy(&host, status(), sizeof(host), cudaMemcpyDeviceToHost));
    if (!host) return;
    RFHO_CUDA_CHECK(cudaMemset(status(), 0, sizeof(unsigned)));
    std::string what;
    if (host & kBadIndex) what += "an index outside the rows of its tensor (gatherRows / scatterAddRows)";
    if (host & kBadLabel) what += std::string(what.empty() ? "" : " and ") + "a label outside [0, classes) (softmax cross-entropy)";
    throw ValueError("a CUDA op since the last synchronisation was given " + what + "; those rows are zeros or NaN");
  }

  // One op at a time: worker threads may use CUDA at once, and the stream, the cuBLAS handle, the
  // scratch block and the status word are shared (recursive: ops call one another). The allocator
  // has its own lock (mu_): the garbage collector's finalizers release buffers from any thread.
  using Serial = std::lock_guard<std::recursive_mutex>;
  std::recursive_mutex opMu_;
  std::string firstFault_;
  bool statusPending_ = false;  // a kernel that may flag the status word ran since the last report
  const bool syncEveryLaunch_ = [] {
    const char* v = std::getenv("RFHO_CUDA_SYNC");
    return v && std::strcmp(v, "1") == 0;
  }();
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  void* scratch_ = nullptr;
  std::mutex mu_;
  std::map<size_t, std::vector<void*>> cache_;
  size_t cachedBytes_ = 0;
};

}  // namespace
}  // namespace rfho

// Entry point looked up with dlsym by the addon: a backend, or null with the reason in `err`.
// Entry points looked up with dlsym by the addon (loader.cc). The probe says whether a device is
// there without creating a context (a context costs about half a GiB of device memory, and a run
// that never puts a tensor on the GPU should not hold one); create makes the backend (its stream,
// cuBLAS handle and scratch: the context) on first use.
extern "C" __attribute__((visibility("default"))) bool rfho_cuda_probe(char* err, size_t errLen) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    std::snprintf(err, errLen, "no CUDA device available (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    return false;
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  std::snprintf(err, errLen, "CUDA device 0: %s (compute %d.%d, %.1f GiB)", prop.name, prop.major, prop.minor,
                prop.totalGlobalMem / 1073741824.0);
  return true;
}

extern "C" __attribute__((visibility("default"))) rfho::Backend* rfho_cuda_create(char* err, size_t errLen) {
  try {
    return new rfho::CudaBackend();
  } catch (const std::exception& ex) {
    std::snprintf(err, errLen, "CUDA backend failed to start: %s", ex.what());
    return nullptr;
  }
}
