// Softmax of one row of at most 16 float32 logits held in one AVX-512 vector (a classifier's
// classes), shared by the fused softmax cross-entropy kernels (softmax_xent.cc) and the fused
// linear-model loss over sparse data (linear_xent.cc). Sums in double, the maximal term counted
// as exactly 1, p_y − 1 formed without cancellation. RFHO_SOFTMAX_ROWS16 is defined where the
// instruction set has them.
#pragma once
#if defined(__AVX512F__) && defined(__AVX512DQ__)
#include <immintrin.h>

#include <cstdint>

#include "fast_math.h"
#define RFHO_SOFTMAX_ROWS16 1

// GCC 12 reports its own intrinsics' undefined upper lanes (cast 256 → 512 bits) as uninitialised.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
namespace rfho {
namespace rows16 {

inline __m512d lowHalf(__m512 v) { return _mm512_cvtps_pd(_mm512_castps512_ps256(v)); }
inline __m512d highHalf(__m512 v) {
  return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}
inline double sumInDouble(__m512 v) { return _mm512_reduce_add_pd(_mm512_add_pd(lowHalf(v), highHalf(v))); }
// sixteen doubles (the low eight, then the high eight) rounded once to float32
inline __m512 roundedFromHalves(__m512d lo, __m512d hi) {
  return _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(lo)), _mm512_cvtpd_ps(hi), 1);
}

struct Row {
  __m512 p;     // softmax, rounded once from double
  float mx;     // the largest logit
  double rest;  // Σ exp(z_j − mx) over all but the first maximal j (whose term is exactly 1)
};

inline Row softmax(const float* zi, __mmask16 valid) {
  const __m512 z = _mm512_maskz_loadu_ps(valid, zi);
  const float mx = _mm512_mask_reduce_max_ps(valid, z);
  alignas(64) float t[16];
  _mm512_store_ps(t, _mm512_sub_ps(z, _mm512_set1_ps(mx)));
#pragma omp simd
  for (int j = 0; j < 16; ++j) t[j] = fastExp(t[j]);
  const __m512 e = _mm512_maskz_load_ps(valid, t);
  const unsigned atMax = _mm512_mask_cmp_ps_mask(valid, z, _mm512_set1_ps(mx), _CMP_EQ_OQ);
  const __mmask16 others = static_cast<__mmask16>(valid & ~(atMax & (0u - atMax)));  // all but the lowest max lane
  const double rest = sumInDouble(_mm512_maskz_mov_ps(others, e));
  const __m512d inv = _mm512_set1_pd(1.0 / (1.0 + rest));
  return {roundedFromHalves(_mm512_mul_pd(lowHalf(e), inv), _mm512_mul_pd(highHalf(e), inv)), mx, rest};
}

// p with lane y replaced by p_y − 1 = −Σ_{j≠y} p_j (in double: no cancellation near p_y = 1).
inline __m512 minusLabel(__m512 p, __mmask16 valid, int32_t y) {
  const __mmask16 ym = static_cast<__mmask16>(1u << y);
  const double others = sumInDouble(_mm512_maskz_mov_ps(static_cast<__mmask16>(valid & ~ym), p));
  return _mm512_mask_mov_ps(p, ym, _mm512_set1_ps(static_cast<float>(-others)));
}

// w (diag p − p pᵀ) d = w p ⊙ (d − pᵀd), in double: d − pᵀd cancels when d is nearly constant
// across the row, and float32 would keep few of the digits left.
inline __m512 weightedHessianTimes(__m512 p, __m512 d, double w) {
  const __m512d pLo = lowHalf(p), pHi = highHalf(p), dLo = lowHalf(d), dHi = highHalf(d);
  const __m512d pd = _mm512_set1_pd(_mm512_reduce_add_pd(_mm512_fmadd_pd(pLo, dLo, _mm512_mul_pd(pHi, dHi))));
  const __m512d wv = _mm512_set1_pd(w);
  return roundedFromHalves(_mm512_mul_pd(_mm512_mul_pd(wv, pLo), _mm512_sub_pd(dLo, pd)),
                           _mm512_mul_pd(_mm512_mul_pd(wv, pHi), _mm512_sub_pd(dHi, pd)));
}

}  // namespace rows16
}  // namespace rfho
#pragma GCC diagnostic pop
#endif
