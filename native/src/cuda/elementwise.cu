// Elementwise kernels: unary and binary ops with broadcast plans, scalars, axpby, expand, fill, casts.
#include "cuda_backend.h"

namespace rfho {
namespace {

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

}  // namespace

void CudaBackend::unary(DType d, UnaryOp op, const void* x, void* y, int64_t n) {
  const Serial serial(opMu_);
  if (n == 0) return;
  withType(d, [&](auto t) {
    using T = decltype(t);
    unaryKernel<T><<<blocksFor(n), kThreads, 0, stream_>>>(static_cast<int>(op), static_cast<const T*>(x), static_cast<T*>(y), n);
  });
  check(__func__);
}

void CudaBackend::binary(DType d, BinaryOp op, const void* a, const void* b, void* out, const BroadcastPlan& p) {
  const Serial serial(opMu_);
  if (p.numel == 0) return;
  withType(d, [&](auto t) {
    using T = decltype(t);
    binaryKernel<T><<<blocksFor(p.numel), kThreads, 0, stream_>>>(static_cast<int>(op), static_cast<const T*>(a), static_cast<const T*>(b), static_cast<T*>(out), p);
  });
  check(__func__);
}

void CudaBackend::binaryScalar(DType d, BinaryOp op, const void* a, double s, bool first, void* out, int64_t n) {
  const Serial serial(opMu_);
  if (n == 0) return;
  withType(d, [&](auto t) {
    using T = decltype(t);
    scalarKernel<T><<<blocksFor(n), kThreads, 0, stream_>>>(static_cast<int>(op), static_cast<const T*>(a), static_cast<T>(s), first, static_cast<T*>(out), n);
  });
  check(__func__);
}

void CudaBackend::axpby(DType d, double alpha, const void* x, double beta, const void* y, void* out, int64_t n) {
  const Serial serial(opMu_);
  if (n == 0) return;
  withType(d, [&](auto t) {
    using T = decltype(t);
    axpbyKernel<T><<<blocksFor(n), kThreads, 0, stream_>>>(static_cast<T>(alpha), static_cast<const T*>(x), static_cast<T>(beta), static_cast<const T*>(y), static_cast<T*>(out), n);
  });
  check(__func__);
}

void CudaBackend::expand(DType d, const void* x, void* out, const BroadcastPlan& p) {
  const Serial serial(opMu_);
  if (p.numel == 0) return;
  withType(d, [&](auto t) {
    using T = decltype(t);
    expandKernel<T><<<blocksFor(p.numel), kThreads, 0, stream_>>>(static_cast<const T*>(x), static_cast<T*>(out), p);
  });
  check(__func__);
}

void CudaBackend::fill(DType d, void* out, double v, int64_t n) {
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

void CudaBackend::cast(DType from, const void* x, DType to, void* out, int64_t n) {
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

void CudaBackend::scale2d(DType d, void* C, int64_t m, int64_t n, int64_t ldc, double beta) {
  withType(d, [&](auto t) {
    using T = decltype(t);
    T* c = static_cast<T*>(C);
    for (int64_t r = 0; r < m; ++r) {
      if (beta == 0) RFHO_CUDA_CHECK(cudaMemsetAsync(c + r * ldc, 0, n * sizeof(T), stream_));
      else scalarKernel<T><<<blocksFor(n), kThreads, 0, stream_>>>(2, c + r * ldc, static_cast<T>(beta), false, c + r * ldc, n);
    }
  });
}

}  // namespace rfho
