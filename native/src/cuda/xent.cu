// Fused softmax cross-entropy and its JVP; the row arithmetic is xent_rows.h, shared with a host test.
#include "cuda_backend.h"
#include "xent_rows.h"

namespace rfho {
namespace {

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

}  // namespace

void CudaBackend::softmaxXent(DType d, const void* z, const int32_t* y, const void* w, void* loss, void* grad, int64_t n, int64_t c) {
  const Serial serial(opMu_);
  statusPending_ = true;
  withType(d, [&](auto t) {
    using T = decltype(t);
    xentKernel<T><<<blocksFor(n), kThreads, 0, stream_>>>(static_cast<const T*>(z), y, static_cast<const T*>(w), static_cast<T*>(loss), static_cast<T*>(grad), n, c, status());
  });
  check(__func__);
}

void CudaBackend::softmaxXentJvp(DType d, const void* z, const int32_t* y, const void* w, const void* dz, const void* dw, void* out, int64_t n, int64_t c, int64_t k) {
  const Serial serial(opMu_);
  statusPending_ = true;
  withType(d, [&](auto t) {
    using T = decltype(t);
    xentJvpKernel<T><<<blocksFor(n * k), kThreads, 0, stream_>>>(static_cast<const T*>(z), y, static_cast<const T*>(w), static_cast<const T*>(dz), static_cast<const T*>(dw), static_cast<T*>(out), n, c, k, status());
  });
  check(__func__);
}

}  // namespace rfho
