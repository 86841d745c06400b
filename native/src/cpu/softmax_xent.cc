// Fused softmax cross-entropy: per-row loss, gradient w.r.t. the logits, and the JVP of that
// gradient (the second derivative) for a batch of k tangents of the logits and of the row weights.
#include <cmath>
#include <vector>

#include "cpu_backend.h"

namespace rfho {
namespace {

// Writes softmax(z) into p and returns logsumexp(z). Works in double for float32 rows too,
// so that the loss of a confident row does not round to zero.
template <typename T>
double softmaxRow(const T* z, double* p, int64_t c) {
  double mx = z[0];
  for (int64_t j = 1; j < c; ++j) mx = z[j] > mx ? z[j] : mx;
  double s = 0;
  for (int64_t j = 0; j < c; ++j) {
    p[j] = std::exp(static_cast<double>(z[j]) - mx);
    s += p[j];
  }
  const double inv = 1.0 / s;
  for (int64_t j = 0; j < c; ++j) p[j] *= inv;
  return mx + std::log(s);
}

template <typename T>
void xentTyped(const T* z, const int32_t* y, const T* w, T* loss, T* grad, int64_t n, int64_t c) {
  parallelRange(n, n * c, [&](int64_t rb, int64_t re) {
    std::vector<double> p(static_cast<size_t>(c));
    for (int64_t i = rb; i < re; ++i) {
      const T* zi = z + i * c;
      const double lse = softmaxRow(zi, p.data(), c);
      if (loss) loss[i] = static_cast<T>(lse - static_cast<double>(zi[y[i]]));
      if (grad) {
        const double wi = w ? static_cast<double>(w[i]) : 1.0;
        T* gi = grad + i * c;
        for (int64_t j = 0; j < c; ++j) gi[j] = static_cast<T>(wi * p[j]);
        gi[y[i]] = static_cast<T>(wi * (p[y[i]] - 1.0));
      }
    }
  });
}

template <typename T>
void xentJvpTyped(const T* z, const int32_t* y, const T* w, const T* dz, const T* dw, T* out,
                  int64_t n, int64_t c, int64_t k) {
  parallelRange(n, n * c * (k + 1), [&](int64_t rb, int64_t re) {
    std::vector<double> p(static_cast<size_t>(c));
    for (int64_t i = rb; i < re; ++i) {
      softmaxRow(z + i * c, p.data(), c);
      const double wi = w ? static_cast<double>(w[i]) : 1.0;
      for (int64_t t = 0; t < k; ++t) {
        T* o = out + (t * n + i) * c;
        if (dz) {
          const T* d = dz + (t * n + i) * c;
          double s = 0;
          for (int64_t j = 0; j < c; ++j) s += p[j] * d[j];
          for (int64_t j = 0; j < c; ++j) o[j] = static_cast<T>(wi * p[j] * (d[j] - s));
        } else {
          for (int64_t j = 0; j < c; ++j) o[j] = T(0);
        }
        if (dw) {
          const double dwi = dw[t * n + i];
          for (int64_t j = 0; j < c; ++j) o[j] += static_cast<T>(dwi * p[j]);
          o[y[i]] -= static_cast<T>(dwi);
        }
      }
    }
  });
}

}  // namespace

void CpuBackend::softmaxXent(DType dtype, const void* logits, const int32_t* labels,
                             const void* weights, void* loss, void* grad, int64_t n, int64_t c) {
  withFloatType(dtype, [&](auto t) {
    using T = decltype(t);
    xentTyped<T>(static_cast<const T*>(logits), labels, static_cast<const T*>(weights),
                 static_cast<T*>(loss), static_cast<T*>(grad), n, c);
  });
}

void CpuBackend::softmaxXentJvp(DType dtype, const void* logits, const int32_t* labels,
                                const void* weights, const void* dLogits, const void* dWeights,
                                void* out, int64_t n, int64_t c, int64_t k) {
  withFloatType(dtype, [&](auto t) {
    using T = decltype(t);
    xentJvpTyped<T>(static_cast<const T*>(logits), labels, static_cast<const T*>(weights),
                    static_cast<const T*>(dLogits), static_cast<const T*>(dWeights),
                    static_cast<T*>(out), n, c, k);
  });
}

}  // namespace rfho
