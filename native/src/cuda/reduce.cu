// Reductions (double accumulation; a fixed order within a launch configuration), argmax, dot, the finite check.
#include "cuda_backend.h"

namespace rfho {
namespace {

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

}  // namespace

void CudaBackend::reduce(DType d, ReduceOp op, const void* x, void* out, const ReducePlan& p) {
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

void CudaBackend::argmax(DType d, const void* x, int32_t* out, int64_t outer, int64_t axisLen, int64_t inner) {
  const Serial serial(opMu_);
  withType(d, [&](auto t) {
    using T = decltype(t);
    argmaxKernel<T><<<blocksFor(outer * inner), kThreads, 0, stream_>>>(static_cast<const T*>(x), out, outer, axisLen, inner);
  });
  check(__func__);
}

double CudaBackend::dot(DType d, const void* a, const void* b, int64_t n) {
  const Serial serial(opMu_);
  return sumOf(d, a, b, n, 0);
}

int64_t CudaBackend::countNonFinite(DType d, const void* x, int64_t n) {
  const Serial serial(opMu_);
  return static_cast<int64_t>(sumOf(d, x, x, n, 1));
}

double CudaBackend::sumOf(DType d, const void* a, const void* b, int64_t n, int mode) {
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

}  // namespace rfho
