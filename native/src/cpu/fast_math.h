// Vectorisable float32 exp and tanh. libm's expf/tanhf are scalar calls (~5–20 ns each); written
// as branch-free polynomials, loops over them compile to AVX-512 code (`#pragma omp simd`).
// Double precision keeps libm: its callers are the float64 reference paths.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace rfho {

// exp(x) = 2^n · e^r with n = round(x / ln 2), |r| ≤ ln 2 / 2, e^r by Cephes' degree-6 polynomial
// (a few ulp over the whole range, checked exhaustively in test/). Below −87.34 the result is 0
// (float32 denormals are flushed anyway), above 88.72 +inf, NaN stays NaN.
inline float fastExp(float x) {
  const float hi = 88.7228394f, lo = -87.3365479f, top = 88.3762626f;
  // Above `top`, n = 128 and 2^n would need the exponent field 255: build 2^(n−1), times 2.
  const bool upper = x > top;
  const float xc = x > hi ? hi : (x < lo ? lo : x);
  // round to nearest by the 1.5·2^23 trick (exact for |v| < 2^22, no libm call)
  const float fx = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = xc - fx * 0.693359375f - fx * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  // 2^n from its exponent field: n ∈ [−126, 128], and n + 127 − upper ∈ [1, 254].
  const int32_t bits = (static_cast<int32_t>(fx) + (upper ? 126 : 127)) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  const float v = y * scale * (upper ? 2.0f : 1.0f);
  return x != x ? x : (x > hi ? INFINITY : (x < lo ? 0.0f : v));
}
inline double fastExp(double x) { return std::exp(x); }

// float32 tanh as a clamped rational function (the approximation Eigen uses, a few ulp): it
// vectorises, where libm's tanhf is a scalar call costing ~20 ns — an MLP's tanh layers spent
// more time there than in their matrix products.
inline float fastTanh(float x) {
  const float c = 7.90531110763549805f;
  x = x > c ? c : (x < -c ? -c : x);
  const float x2 = x * x;
  float p = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
  p = x2 * p + -8.60467152213735e-11f;
  p = x2 * p + 5.12229709037114e-08f;
  p = x2 * p + 1.48572235717979e-05f;
  p = x2 * p + 6.37261928875436e-04f;
  p = x2 * p + 4.89352455891786e-03f;
  p = x * p;
  float q = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
  q = x2 * q + 2.26843463243900e-03f;
  q = x2 * q + 4.89352518554385e-03f;
  return p / q;
}
inline double fastTanh(double x) { return std::tanh(x); }

}  // namespace rfho
