// Vectorisable float32 exp and tanh. libm's expf/tanhf are scalar calls (~5–20 ns each); written
// as branch-free polynomials, loops over them compile to AVX-512 code (`#pragma omp simd`).
// Double precision keeps libm (fastExp(double), fastTanh(double)): their callers are the float64
// reference paths — except the fused float64 pass, which takes vectorExp below.
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

// A vectorisable float64 exp, for the fused float64 pass (linear_xent_panels.cc), whose scalar
// libm calls took a tenth of its time: exp(x) = 2^n · e^r with n = round(x / ln 2), r = x − n ln 2
// (ln 2 in two parts), e^r = 1 + 2r P(r²) / (Q(r²) − r P(r²)) (Cephes' rational form: within
// 2 ulp of libm's over 20 million random arguments; test/21-linear-xent compares the pass with
// libm's composites to 1e-12). Below
// −708.39 the result is 0 (the pass flushes denormals), above 709.78 +inf, NaN stays NaN.
inline double vectorExp(double x) {
  const double hi = 709.782712893384, lo = -708.3964185322641, top = 709.0895657128241;  // top: n = 1024 above
  const bool upper = x > top;
  const double xc = x > hi ? hi : (x < lo ? lo : x);
  // round to nearest by the 1.5·2^52 trick (exact for |v| < 2^51)
  const double fx = (xc * 1.4426950408889634 + 6755399441055744.0) - 6755399441055744.0;
  const double r = (xc - fx * 6.93145751953125e-1) - fx * 1.42860682030941723212e-6;
  const double r2 = r * r;
  const double p = r * ((1.26177193074810590878e-4 * r2 + 3.02994407707441961300e-2) * r2 + 9.99999999999999999910e-1);
  const double q = ((3.00198505138664455042e-6 * r2 + 2.52448340349684104192e-3) * r2 + 2.27265548208155028766e-1) * r2 +
                   2.00000000000000000009e0;
  const double y = 1.0 + 2.0 * (p / (q - p));
  // 2^n from its exponent field: n ∈ [−1022, 1024], and n + 1023 − upper ∈ [1, 2046].
  const int64_t bits = (static_cast<int64_t>(fx) + (upper ? 1022 : 1023)) << 52;
  double scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  const double v = y * scale * (upper ? 2.0 : 1.0);
  return x != x ? x : (x > hi ? INFINITY : (x < lo ? 0.0 : v));
}

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

// log1p(x) for x ≥ 0 in double, branch-free (loops over it vectorise; libm's log1p is a ~8 ns
// call): log(u) · x / (u − 1) with u = 1 + x, which corrects the rounding of u (Goldberg), and
// log(u) = k ln 2 + 2 atanh(s), s = (m − 1)/(m + 1) for u = 2^k m, m ∈ [√½, √2): |s| ≤ 0.1716,
// and eleven terms of the atanh series reach double precision. +inf and NaN pass through.
inline double fastLog1p(double x) {
  const double u = 1.0 + x;
  int64_t bits;
  std::memcpy(&bits, &u, sizeof(bits));
  int64_t k = ((bits >> 52) & 0x7ff) - 1023;
  const int64_t mbits = (bits & 0x000fffffffffffffLL) | 0x3ff0000000000000LL;
  double m;
  std::memcpy(&m, &mbits, sizeof(m));
  const bool halve = m > 1.4142135623730951;
  m = halve ? m * 0.5 : m;
  k = halve ? k + 1 : k;
  const double f = m - 1.0, s = f / (2.0 + f), s2 = s * s;
  double q = 1.0 / 23;
  q = q * s2 + 1.0 / 21;
  q = q * s2 + 1.0 / 19;
  q = q * s2 + 1.0 / 17;
  q = q * s2 + 1.0 / 15;
  q = q * s2 + 1.0 / 13;
  q = q * s2 + 1.0 / 11;
  q = q * s2 + 1.0 / 9;
  q = q * s2 + 1.0 / 7;
  q = q * s2 + 1.0 / 5;
  q = q * s2 + 1.0 / 3;
  q = q * s2 + 1.0;
  const double kd = static_cast<double>(k);
  const double logu = kd * 6.93147180369123816490e-01 + (2.0 * s * q + kd * 1.90821492927058770002e-10);
  const double v = u == 1.0 ? x : logu * (x / (u - 1.0));
  return x == INFINITY ? x : v;
}

}  // namespace rfho
