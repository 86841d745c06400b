// The arithmetic of one row of the fused softmax cross-entropy (logits z [c], label y), shared by the
// CUDA kernels (cuda_backend.cu) and a test that nvcc builds and runs on the host
// (native/test/xent_rows_test.cu), which compares it with the CPU backend on the same rows. The
// choices are the CPU backend's (cpu/softmax_xent.cc): sums in double; the first maximal term
// counted as exactly 1 and the loss as log1p of the others plus (max − z_y), so that a confident
// row's loss does not round to 0; p_y − 1 as −Σ_{j≠y} p_j, so that its gradient does not either.
#pragma once
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define RFHO_HD __host__ __device__
#else
#define RFHO_HD
#endif

namespace rfho {
namespace xent_rows {

// A row's largest logit and Σ exp(z_j − max) over all j but the first maximal one.
struct Stats {
  double mx;
  double rest;
};

template <typename T>
RFHO_HD inline Stats stats(const T* z, int64_t c) {
  double mx = static_cast<double>(z[0]);
  for (int64_t j = 1; j < c; ++j) mx = static_cast<double>(z[j]) > mx ? static_cast<double>(z[j]) : mx;
  double rest = 0;
  bool seenMax = false;
  for (int64_t j = 0; j < c; ++j) {
    const double v = static_cast<double>(z[j]);
    if (!seenMax && v == mx) {
      seenMax = true;  // exp(0) = 1 exactly
      continue;
    }
    rest += exp(v - mx);
  }
  return {mx, rest};
}

template <typename T>
RFHO_HD inline double prob(const T* z, int64_t j, const Stats& s) {
  return exp(static_cast<double>(z[j]) - s.mx) / (1.0 + s.rest);
}

// −log p_y = log Σ exp(z_j − max) − (z_y − max)
template <typename T>
RFHO_HD inline double loss(const T* z, int32_t y, const Stats& s) {
  return log1p(s.rest) + (s.mx - static_cast<double>(z[y]));
}

// p_j − [j = y]: for j = y, −Σ_{j'≠y} p_j' (no cancellation near p_y = 1)
template <typename T>
RFHO_HD inline double gradient(const T* z, int64_t c, int32_t y, int64_t j, const Stats& s) {
  if (j != y) return prob(z, j, s);
  double others = 0;
  for (int64_t i = 0; i < c; ++i)
    if (i != y) others += prob(z, i, s);
  return -others;
}

// pᵀd, for the JVP of the gradient: w (diag p − p pᵀ) d = w p ⊙ (d − pᵀd)
template <typename T>
RFHO_HD inline double probDot(const T* z, const T* d, int64_t c, const Stats& s) {
  double sum = 0;
  for (int64_t j = 0; j < c; ++j) sum += prob(z, j, s) * static_cast<double>(d[j]);
  return sum;
}

}  // namespace xent_rows
}  // namespace rfho
