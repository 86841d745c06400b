// Fused softmax cross-entropy: per-row loss, gradient w.r.t. the logits, and the JVP of that
// gradient (the second derivative) for a batch of k tangents of the logits and of the row weights.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>
#include "cpu_backend.h"
#include "fast_math.h"
#include "softmax_rows16.h"

namespace rfho {
namespace {

// Softmax of a block of rows (rows × c, c ≤ the logits' width) into p, plus each row's
// log Σ_j exp(z_j − max) in `lse`. The exponentials run as one contiguous vectorised loop over
// the block (fastExp: libm's scalar expf was most of this kernel's time). The row sums are taken
// in double, and the log uses log1p of the terms other than the maximum (whose term is exactly
// 1), so that the loss of a confident row does not round to zero in float32.
template <typename T>
void softmaxBlock(const T* z, int64_t rows, int64_t c, T* p, double* lse, T* shift) {
  for (int64_t i = 0; i < rows; ++i) {
    const T* zi = z + i * c;
    T mx = zi[0];
    for (int64_t j = 1; j < c; ++j) mx = zi[j] > mx ? zi[j] : mx;
    for (int64_t j = 0; j < c; ++j) shift[i * c + j] = mx;
  }
  const int64_t m = rows * c;
#pragma omp simd
  for (int64_t e = 0; e < m; ++e) p[e] = fastExp(z[e] - shift[e]);
  for (int64_t i = 0; i < rows; ++i) {
    T* pi = p + i * c;
    double rest = 0;
    bool seenMax = false;
    for (int64_t j = 0; j < c; ++j) {
      if (!seenMax && z[i * c + j] == shift[i * c]) {
        seenMax = true;  // exp(0) = 1 exactly
        continue;
      }
      rest += static_cast<double>(pi[j]);
    }
    const double inv = 1.0 / (1.0 + rest);
    for (int64_t j = 0; j < c; ++j) pi[j] = static_cast<T>(static_cast<double>(pi[j]) * inv);
    lse[i] = std::log1p(rest);
  }
}

// p_y − 1 as −Σ_{j≠y} p_j, in double: subtracting 1 from a float32 p_y near 1 would lose most of
// its digits (a confident, correct row's gradient is exactly this small number).
template <typename T>
T labelTermMinusOne(const T* p, int64_t c, int32_t y) {
  double others = 0;
  for (int64_t j = 0; j < c; ++j) others += j == y ? 0.0 : static_cast<double>(p[j]);
  return static_cast<T>(-others);
}

// Rows per block: the block's probabilities and shifts stay in L1.
constexpr int64_t kSoftmaxBlockElems = 2048;

template <typename T, typename F>
void forSoftmaxBlocks(const T* z, int64_t n, int64_t c, int64_t work, F&& f) {
  const int64_t rowsPer = std::max<int64_t>(1, kSoftmaxBlockElems / std::max<int64_t>(c, 1));
  parallelRange((n + rowsPer - 1) / rowsPer, work, [&](int64_t b0, int64_t b1) {
    std::vector<T> p(static_cast<size_t>(rowsPer * c)), shift(p.size());
    std::vector<double> lse(static_cast<size_t>(rowsPer));
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t r0 = b * rowsPer, rows = std::min(n, r0 + rowsPer) - r0;
      softmaxBlock(z + r0 * c, rows, c, p.data(), lse.data(), shift.data());
      f(r0, rows, p.data(), lse.data(), shift.data());
    }
  });
}

#ifdef RFHO_SOFTMAX_ROWS16
// Rows of at most 16 float32 logits (a classifier's classes): one masked vector per row
// (softmax_rows16.h), where the loops above ran scalar code per element and a libm log1p per
// row — ~25 ns a row, more than the products around them in a linear model's step.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
namespace narrowRows {
using namespace ::rfho::rows16;

constexpr int64_t kRows = 256;  // rows per block: its log1p arguments are then one vector loop

// Stores row i of width c with a full vector when the rows it spills into (the next
// ceil((16 − c) / c)) are ours to write afterwards; else masked. Masked stores are slow on AMD's
// cores; unmasked ones cost one cycle.
inline int spillRows(int64_t c) { return static_cast<int>((16 - c + c - 1) / c); }
inline void storeRow(float* row, __m512 v, __mmask16 valid, bool spillIsOurs) {
  if (spillIsOurs) _mm512_storeu_ps(row, v);
  else _mm512_mask_storeu_ps(row, valid, v);
}

void xent(const float* z, const int32_t* y, const float* w, float* loss, float* grad, int64_t n, int64_t c) {
  const __mmask16 valid = static_cast<__mmask16>((1u << c) - 1);
  const int spill = spillRows(c);
  parallelRange((n + kRows - 1) / kRows, n * c * 8, [&](int64_t b0, int64_t b1) {
    alignas(64) double rest[kRows], shift[kRows];
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t r0 = b * kRows, rows = std::min(n, r0 + kRows) - r0;
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t i = r0 + r;
        const Row row = softmax(z + i * c, valid);
        rest[r] = row.rest;
        shift[r] = static_cast<double>(row.mx) - static_cast<double>(z[i * c + y[i]]);
        if (grad) {
          const __m512 g = minusLabel(row.p, valid, y[i]);
          storeRow(grad + i * c, w ? _mm512_mul_ps(_mm512_set1_ps(w[i]), g) : g, valid, r + spill < rows);
        }
      }
      // loss = logsumexp(z) − z_y = log1p(rest) + (max − z_y)
      if (loss) {
#pragma omp simd
        for (int64_t r = 0; r < rows; ++r) loss[r0 + r] = static_cast<float>(fastLog1p(rest[r]) + shift[r]);
      }
    }
  });
}

void xentJvp(const float* z, const int32_t* y, const float* w, const float* dz, const float* dw, float* out,
             int64_t n, int64_t c, int64_t k) {
  const __mmask16 valid = static_cast<__mmask16>((1u << c) - 1);
  const int spill = spillRows(c);
  parallelRange((n + kRows - 1) / kRows, n * c * (k + 8), [&](int64_t b0, int64_t b1) {
    const int64_t end = std::min(n, b1 * kRows);
    for (int64_t i = b0 * kRows; i < end; ++i) {
      const __m512 p = softmax(z + i * c, valid).p;
      const double wi = w ? w[i] : 1.0;
      const __m512 g0 = dw ? minusLabel(p, valid, y[i]) : p;
      for (int64_t t = 0; t < k; ++t) {
        __m512 o = _mm512_setzero_ps();
        if (dz) o = weightedHessianTimes(p, _mm512_maskz_loadu_ps(valid, dz + (t * n + i) * c), wi);
        if (dw) o = _mm512_fmadd_ps(_mm512_set1_ps(dw[t * n + i]), g0, o);
        storeRow(out + (t * n + i) * c, o, valid, i + spill < end);
      }
    }
  });
}

}  // namespace narrowRows
#pragma GCC diagnostic pop
#endif

template <typename T>
void xentTyped(const T* z, const int32_t* y, const T* w, T* loss, T* grad, int64_t n, int64_t c) {
#ifdef RFHO_SOFTMAX_ROWS16
  if constexpr (std::is_same_v<T, float>) {
    if (c >= 1 && c <= 16) return narrowRows::xent(z, y, w, loss, grad, n, c);
  }
#endif
  forSoftmaxBlocks(z, n, c, n * c * 8, [&](int64_t r0, int64_t rows, const T* p, const double* lse, const T* shift) {
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = r0 + r;
      const T* pi = p + r * c;
      // loss = logsumexp(z) − z_y = lse + (max − z_y)
      if (loss) loss[i] = static_cast<T>(lse[r] + (static_cast<double>(shift[r * c]) - static_cast<double>(z[i * c + y[i]])));
      if (grad) {
        const T wi = w ? w[i] : T(1);
        T* gi = grad + i * c;
        for (int64_t j = 0; j < c; ++j) gi[j] = wi * pi[j];
        gi[y[i]] = wi * labelTermMinusOne(pi, c, y[i]);
      }
    }
  });
}

template <typename T>
void xentJvpTyped(const T* z, const int32_t* y, const T* w, const T* dz, const T* dw, T* out,
                  int64_t n, int64_t c, int64_t k) {
#ifdef RFHO_SOFTMAX_ROWS16
  if constexpr (std::is_same_v<T, float>) {
    if (c >= 1 && c <= 16) return narrowRows::xentJvp(z, y, w, dz, dw, out, n, c, k);
  }
#endif
  forSoftmaxBlocks(z, n, c, n * c * (k + 8), [&](int64_t r0, int64_t rows, const T* p, const double*, const T*) {
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = r0 + r;
      const T* pi = p + r * c;
      const T wi = w ? w[i] : T(1);
      for (int64_t t = 0; t < k; ++t) {
        T* o = out + (t * n + i) * c;
        if (dz) {
          const T* d = dz + (t * n + i) * c;
          T s = 0;
          for (int64_t j = 0; j < c; ++j) s += pi[j] * d[j];
          for (int64_t j = 0; j < c; ++j) o[j] = wi * pi[j] * (d[j] - s);
        } else {
          for (int64_t j = 0; j < c; ++j) o[j] = T(0);
        }
        if (dw) {
          const T dwi = dw[t * n + i];
          for (int64_t j = 0; j < c; ++j) o[j] += dwi * (j == y[i] ? labelTermMinusOne(pi, c, y[i]) : pi[j]);
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
