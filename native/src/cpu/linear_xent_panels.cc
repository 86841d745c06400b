// The fused linear softmax cross-entropy (linear_xent.h) over a dense data matrix's row panels
// (packRowPanels: L rows side by side, column by column; L = 8 float64 rows), with the rows in the
// vector lanes throughout. Built for float64 only (laneSums): in float32 the pass of linear_xent.cc
// (Xᵀ through 16×16 transposes, intrinsics) measured 0.75× of this one's time on HC's data.
//   - logits: each column of a panel is one vector load, times each weight broadcast — every lane
//     a row, every lane used;
//   - softmax, gradient rows and their tangents: one row per lane, class after class (no
//     horizontal sums: a row's c values are c vectors), sums in double as the separate kernels
//     have them (the maximal term counted as exactly 1, p_y − 1 as −Σ others);
//   - Xᵀ of the outputs: each column of the block's panels times each output vector (rows in the
//     lanes, no transposes, no broadcasts), summed lane-wise over the block's 64 rows, then each
//     sum's lanes added once into the thread's own [Out·c, d] rows (laneSums). Tiles of 8 columns
//     by 3 outputs (24 accumulators). Against 8×8 transposes of the panels into rows of X with
//     each row's outputs broadcast, 7–13 % less time per pass on HC's 5000×784 (2026-12-04).
// One read of the block's panels from memory; the second from cache.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "cpu_backend.h"
#include "fast_math.h"
#include "linear_xent.h"
#include "simd.h"

namespace rfho {

#if defined(__AVX512F__)
#include <immintrin.h>

// GCC 12 takes the shuffles' _mm512_undefined_pd() (laneSums) for an uninitialized read once inlined
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
namespace {

constexpr int64_t kBlockPanels = 8;  // panels whose outputs are summed before they touch U (16: L2 overflows, slower)
constexpr int64_t kLogitsTile = 20;  // logits per register tile: a direction's with the primal's (k = 1, c ≤ 10) in one sweep

// The softmax's exponential: float32's fastExp, float64's vectorisable one (not libm's scalar call).
inline float passExp(float v) { return fastExp(v); }
inline double passExp(double v) { return vectorExp(v); }

// Lane i of the result: the sum of v[i]'s eight lanes, in a fixed order (three rounds of
// two-source shuffles and adds).
inline Vec<double>::type laneSums(const Vec<double>::type* vin) {
  __m512d v[8], t[4], s[2];
  for (int i = 0; i < 8; ++i) v[i] = static_cast<__m512d>(vin[i]);
  for (int i = 0; i < 4; ++i)
    t[i] = _mm512_add_pd(_mm512_unpacklo_pd(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_pd(v[2 * i], v[2 * i + 1]));
  for (int i = 0; i < 2; ++i)
    s[i] = _mm512_add_pd(_mm512_shuffle_f64x2(t[2 * i], t[2 * i + 1], 0x88), _mm512_shuffle_f64x2(t[2 * i], t[2 * i + 1], 0xdd));
  const __m512d r = _mm512_add_pd(_mm512_shuffle_f64x2(s[0], s[1], 0x88), _mm512_shuffle_f64x2(s[0], s[1], 0xdd));
  return static_cast<Vec<double>::type>(r);
}

template <typename T, int Kt>
struct PanelPass {
  using V = typename Vec<T>::type;
  static constexpr int64_t L = Vec<T>::L;
  static constexpr int Sets = 1 + Kt, Out = Kt == 0 ? 1 : Kt;

  const T* panels;
  int64_t n, d, c;
  int first;      // the first set of logits computed: 1 where X W + b is given (zIn), else 0
  const T* Wq;    // [d, (Sets − first)·c]: row p = W's row p (unless given), then each dW_q's
  const T* bias;  // [(Sets − first)·c]: b (unless given), then each db_q
  const int32_t* y;
  const T* w;
  const T* dw;  // the weights' tangents [Kt, n], or null
  double scale;
  T* ce;
  T* r;
  const T* zIn;  // X W + b [n, c] as given, or null
  T* zOut;       // X W + b [n, c] written as computed, or null

  // zv[(set, j)][q] = bias + Σ_p panel[p][q] Wq[p][(set, j)] for the computed sets' columns.
  template <int NB>
  void logitsTile(const T* panel, int64_t j0, T* zv) const {
    V acc[NB];
    for (int j = 0; j < NB; ++j) acc[j] = V{};
    const int64_t ldw = (Sets - first) * c;
    for (int64_t p = 0; p < d; ++p) {
      const V a = loadu(panel + p * L);
      const T* wp = Wq + p * ldw + j0;
#pragma GCC unroll 20
      for (int j = 0; j < NB; ++j) acc[j] += a * wp[j];
    }
    for (int j = 0; j < NB; ++j) storeu(zv + (first * c + j0 + j) * L, acc[j] + bias[j0 + j]);
  }

  // The same for two adjacent panels (the second's logits in zv2): each broadcast weight serves
  // both (a broadcast per FMA held a sweep to about half the FMA rate).
  template <int NB>
  void logitsPairTile(const T* panel, int64_t j0, T* zv, T* zv2) const {
    V acc[2][NB];
    for (int j = 0; j < NB; ++j) acc[0][j] = acc[1][j] = V{};
    const int64_t ldw = (Sets - first) * c;
    for (int64_t p = 0; p < d; ++p) {
      const V a0 = loadu(panel + p * L), a1 = loadu(panel + (d + p) * L);
      const T* wp = Wq + p * ldw + j0;
#pragma GCC unroll 12
      for (int j = 0; j < NB; ++j) {
        const T wj = wp[j];
        acc[0][j] += a0 * wj;
        acc[1][j] += a1 * wj;
      }
    }
    for (int j = 0; j < NB; ++j) {
      storeu(zv + (first * c + j0 + j) * L, acc[0][j] + bias[j0 + j]);
      storeu(zv2 + (first * c + j0 + j) * L, acc[1][j] + bias[j0 + j]);
    }
  }

  void logitsPair(const T* panel, T* zv, T* zv2) const {
    if (first == Sets) return;  // no direction, and X W + b given
    const int64_t width = (Sets - first) * c, tiles = (width + 11) / 12, per = (width + tiles - 1) / tiles;
    for (int64_t j0 = 0; j0 < width;) {
      const int64_t nb = std::min<int64_t>(width - j0, per);
      switch (nb) {
#define RFHO_CASE(N) case N: logitsPairTile<N>(panel, j0, zv, zv2); break;
        RFHO_CASE(1) RFHO_CASE(2) RFHO_CASE(3) RFHO_CASE(4) RFHO_CASE(5) RFHO_CASE(6)
        RFHO_CASE(7) RFHO_CASE(8) RFHO_CASE(9) RFHO_CASE(10) RFHO_CASE(11) RFHO_CASE(12)
#undef RFHO_CASE
      }
      j0 += nb;
    }
  }

  void logits(const T* panel, T* zv) const {
    if (first == Sets) return;  // no direction, and X W + b given
    const int64_t width = (Sets - first) * c, tiles = (width + kLogitsTile - 1) / kLogitsTile, per = (width + tiles - 1) / tiles;
    for (int64_t j0 = 0; j0 < width;) {
      const int64_t nb = std::min<int64_t>(width - j0, per);
      switch (nb) {
#define RFHO_CASE(N) case N: logitsTile<N>(panel, j0, zv); break;
        RFHO_CASE(1) RFHO_CASE(2) RFHO_CASE(3) RFHO_CASE(4) RFHO_CASE(5) RFHO_CASE(6)
        RFHO_CASE(7) RFHO_CASE(8) RFHO_CASE(9) RFHO_CASE(10) RFHO_CASE(11) RFHO_CASE(12)
        RFHO_CASE(13) RFHO_CASE(14) RFHO_CASE(15) RFHO_CASE(16) RFHO_CASE(17) RFHO_CASE(18)
        RFHO_CASE(19) RFHO_CASE(20)
#undef RFHO_CASE
      }
      j0 += nb;
    }
  }

  // X W + b of the panel's rows: taken from zIn (rows past n: 0), or written to zOut.
  void keptLogits(int64_t row0, T* zv) const {
    const int64_t rows = std::min<int64_t>(L, n - row0);
    if (zIn) {
      for (int64_t j = 0; j < c; ++j)
        for (int64_t q = 0; q < L; ++q) zv[j * L + q] = q < rows ? zIn[(row0 + q) * c + j] : T(0);
    } else if (zOut) {
      for (int64_t q = 0; q < rows; ++q)
        for (int64_t j = 0; j < c; ++j) zOut[(row0 + q) * c + j] = zv[j * L + q];
    }
  }

  // The softmax of the panel's rows (lanes) and their outputs ov[(o, j)][q]; rows past n (the
  // last panel's padding) get weight 0, so their outputs are 0. Adds to loss[0] (Σ w_i CE_i),
  // loss[1 + k] (Σ s_i r_ki) and ub (the outputs' column sums).
  void outputs(int64_t row0, const T* zv, T* ov, double* loss, double* ub) const {
    double m[L], rest[L], s[L], zy[L], others[L];
    int32_t yl[L];
    double found[L];  // 1 once the row's first maximal term is seen (a double: the loop below stays branch-free and vectorises)
    double p[16][L], dz[16][L];
    for (int64_t q = 0; q < L; ++q) {
      const bool valid = row0 + q < n;
      yl[q] = valid ? y[row0 + q] : 0;
      s[q] = valid ? (w ? static_cast<double>(static_cast<T>(w[row0 + q] * static_cast<T>(scale))) : static_cast<double>(static_cast<T>(scale))) : 0.0;
      m[q] = zv[q];
      rest[q] = 0;
      zy[q] = 0;
      found[q] = 0;
      others[q] = 0;
    }
    for (int64_t j = 1; j < c; ++j)
#pragma omp simd
      for (int64_t q = 0; q < L; ++q) m[q] = zv[j * L + q] > m[q] ? zv[j * L + q] : m[q];
    for (int64_t j = 0; j < c; ++j)
#pragma omp simd
      for (int64_t q = 0; q < L; ++q) {
        const T zj = zv[j * L + q];
        const double e = static_cast<double>(passExp(static_cast<T>(zj - static_cast<T>(m[q]))));
        p[j][q] = e;
        const double first = (zj == static_cast<T>(m[q]) ? 1.0 : 0.0) * (1.0 - found[q]);  // the maximal term counts as exactly 1
        found[q] += first;
        rest[q] += first == 0.0 ? e : 0.0;
        zy[q] += j == yl[q] ? static_cast<double>(zj) : 0.0;
      }
    for (int64_t j = 0; j < c; ++j)
#pragma omp simd
      for (int64_t q = 0; q < L; ++q) {
        p[j][q] = static_cast<double>(static_cast<T>(p[j][q] / (1.0 + rest[q])));  // rounded once, as stored
        others[q] += j == yl[q] ? 0.0 : p[j][q];
      }
    // g0_j = p_j − [j = y], with p_y − 1 = −Σ_{j≠y} p_j (no cancellation near p_y = 1)
    const auto g0 = [&](int64_t j, int64_t q) { return j == yl[q] ? static_cast<double>(static_cast<T>(-others[q])) : p[j][q]; };
    if constexpr (Kt == 0) {
      for (int64_t j = 0; j < c; ++j) {
        double sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int64_t q = 0; q < L; ++q) {
          const T o = static_cast<T>(s[q] * g0(j, q));
          ov[j * L + q] = o;
          sum += static_cast<double>(o);
        }
        ub[j] += sum;
      }
    } else {
      for (int k = 0; k < Kt; ++k) {
        double pd[L], rk[L], ds[L];
        for (int64_t q = 0; q < L; ++q) {
          pd[q] = rk[q] = 0;
          ds[q] = dw && row0 + q < n ? static_cast<double>(static_cast<T>(dw[k * n + row0 + q] * static_cast<T>(scale))) : 0.0;
        }
        for (int64_t j = 0; j < c; ++j)
#pragma omp simd
          for (int64_t q = 0; q < L; ++q) {
            dz[j][q] = static_cast<double>(zv[((1 + k) * c + j) * L + q]);
            pd[q] += p[j][q] * dz[j][q];
            rk[q] += g0(j, q) * dz[j][q];
          }
        for (int64_t j = 0; j < c; ++j) {
          double sum = 0;
#pragma omp simd reduction(+ : sum)
          for (int64_t q = 0; q < L; ++q) {
            // s (diag p − p pᵀ) dz = s p ⊙ (dz − pᵀdz), in double: dz − pᵀdz cancels; + ds (p − e_y)
            const T o = static_cast<T>(s[q] * p[j][q] * (dz[j][q] - pd[q]) + ds[q] * g0(j, q));
            ov[(k * c + j) * L + q] = o;
            sum += static_cast<double>(o);
          }
          ub[k * c + j] += sum;
        }
        for (int64_t q = 0; q < L; ++q) {
          if (row0 + q >= n) break;
          r[k * n + row0 + q] = static_cast<T>(rk[q]);
          loss[1 + k] += s[q] * static_cast<double>(static_cast<T>(rk[q]));
        }
      }
    }
    // loss = logsumexp(z) − z_y = log1p(rest) + (max − z_y), with the vectorisable log1p (libm's
    // scalar call per row took about a twentieth of the pass)
    double lossRows[L];
#pragma omp simd
    for (int64_t q = 0; q < L; ++q) lossRows[q] = fastLog1p(rest[q]) + (m[q] - zy[q]);
    for (int64_t q = 0; q < L; ++q) {
      if (row0 + q >= n) break;
      const T v = static_cast<T>(lossRows[q]);
      ce[row0 + q] = v;
      loss[0] += (w ? static_cast<double>(w[row0 + q]) : 1.0) * static_cast<double>(v);
      if (dw)  // the weights' tangents' term of the loss's tangents: Σ_i scale ds_ki CE_i
        for (int k = 0; k < Kt; ++k)
          loss[1 + k] += static_cast<double>(static_cast<T>(dw[k * n + row0 + q] * static_cast<T>(scale))) * static_cast<double>(v);
    }
  }

  // U[(j0 + j), i0 + ii] += Σ_q X[q, i0 + ii] ov[j0 + j][q] over the block's rows: the panels'
  // columns as they are (rows in the lanes), a lane-wise sum per (j, column), then laneSums.
  template <int NJ>
  void columnSumsTile(const T* block, int64_t panelsInBlock, const T* ov, int64_t j0, int64_t i0, int64_t cols, T* U) const {
    V acc[NJ][L];
    for (int j = 0; j < NJ; ++j)
      for (int ii = 0; ii < L; ++ii) acc[j][ii] = V{};
    for (int64_t b = 0; b < panelsInBlock; ++b) {
      const T* panel = block + b * d * L + i0 * L;
      V o[NJ];
      for (int j = 0; j < NJ; ++j) o[j] = loadu(ov + ((j0 + j) * kBlockPanels + b) * L);
#pragma GCC unroll 8
      for (int ii = 0; ii < L; ++ii) {
        V x = ii < cols ? loadu(panel + ii * L) : V{};
        // x in a register for its NJ products: GCC otherwise folds its load into each FMA, and at
        // a load per FMA this loop ran at half the FMA rate (about one 512-bit load a cycle here)
        asm("" : "+v"(x));
        for (int j = 0; j < NJ; ++j) acc[j][ii] += x * o[j];
      }
    }
    for (int j = 0; j < NJ; ++j) {
      const V s = laneSums(acc[j]);
      T* u = U + (j0 + j) * d + i0;
      if (cols == L) {
        storeu(u, loadu(u) + s);
      } else {
        T tmp[L];
        storeu(tmp, s);
        for (int64_t ii = 0; ii < cols; ++ii) u[ii] += tmp[ii];
      }
    }
  }

  // `next` (nextBytes): the following block's panels, fetched into L2 a share per column tile
  // while this block's products run from cache (a float64 matrix of HC's size is read from memory,
  // and without it each block's logits waited on their loads).
  void columnSums(const T* block, int64_t panelsInBlock, const T* ov, T* U, const char* next, int64_t nextBytes) const {
    const int64_t width = Out * c, tiles = (d + L - 1) / L, share = (nextBytes / 64 + tiles - 1) / tiles * 64;
    const int64_t chunks = (width + 2) / 3, per = (width + chunks - 1) / chunks;
    for (int64_t i0 = 0; i0 < d; i0 += L) {
      for (int64_t off = i0 / L * share, end = std::min(nextBytes, off + share); off < end; off += 64)
        _mm_prefetch(next + off, _MM_HINT_T1);
      const int64_t cols = std::min<int64_t>(L, d - i0);
      for (int64_t j0 = 0; j0 < width;) {
        const int64_t nj = std::min<int64_t>(width - j0, per);
        if (nj == 3) columnSumsTile<3>(block, panelsInBlock, ov, j0, i0, cols, U);
        else if (nj == 2) columnSumsTile<2>(block, panelsInBlock, ov, j0, i0, cols, U);
        else columnSumsTile<1>(block, panelsInBlock, ov, j0, i0, cols, U);
        j0 += nj;
      }
    }
  }

  double run(T* gW, T* gb, double* dLoss) const {
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    const int64_t panelCount = (n + L - 1) / L, uSize = Out * c * d;
    std::vector<T> Us(static_cast<size_t>(threads * uSize), T(0));
    std::vector<double> ubs(static_cast<size_t>(threads * Out * c), 0.0), losses(static_cast<size_t>(threads * Sets), 0.0);
    parallelRange(threads, n * d * (Sets + Out) * L, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t b0 = panelCount * t / threads, b1 = panelCount * (t + 1) / threads;
        T* U = Us.data() + t * uSize;
        double* ub = ubs.data() + t * Out * c;
        double* loss = losses.data() + t * Sets;
        alignas(64) T zvs[2][Sets * 16 * L];
        T* zv = zvs[0];
        T* zv2 = zvs[1];
        alignas(64) T ov[Out * 16 * kBlockPanels * L];  // [(o, j)][block row]
        for (int64_t p0 = b0; p0 < b1; p0 += kBlockPanels) {
          const int64_t inBlock = std::min(kBlockPanels, b1 - p0);
          for (int64_t b = 0; b < inBlock; ++b) {
            const T* panel = panels + (p0 + b) * d * L;
            // two panels' logits in one sweep where the block has them (each broadcast weight
            // serves both: 15 % less time on a gradient pass than a panel at a time)
            if (b % 2 == 1) std::swap(zv, zv2);
            else if (b + 1 < inBlock) logitsPair(panel, zv, zv2);
            else logits(panel, zv);
            keptLogits((p0 + b) * L, zv);
            alignas(64) T op[Out * 16 * L];
            outputs((p0 + b) * L, zv, op, loss, ub);
            for (int64_t jj = 0; jj < Out * c; ++jj) std::copy_n(op + jj * L, L, ov + (jj * kBlockPanels + b) * L);
          }
          const int64_t nextPanels = std::min(kBlockPanels, b1 - p0 - inBlock);
          columnSums(panels + p0 * d * L, inBlock, ov, U, reinterpret_cast<const char*>(panels + (p0 + inBlock) * d * L),
                     nextPanels * d * L * static_cast<int64_t>(sizeof(T)));
        }
      }
    });
    // the threads' sums in a fixed order (reproducible for a given thread count)
    for (int o = 0; o < Out; ++o)
      for (int64_t i = 0; i < d; ++i)
        for (int64_t j = 0; j < c; ++j) {
          T sum = 0;
          for (int t = 0; t < threads; ++t) sum += Us[t * uSize + (o * c + j) * d + i];
          gW[(o * d + i) * c + j] = sum;
        }
    for (int64_t jj = 0; jj < Out * c; ++jj) {
      double sum = 0;
      for (int t = 0; t < threads; ++t) sum += ubs[t * Out * c + jj];
      gb[jj] = static_cast<T>(sum);
    }
    for (int k = 0; k < Kt; ++k) {
      dLoss[k] = 0;
      for (int t = 0; t < threads; ++t) dLoss[k] += losses[t * Sets + 1 + k];
    }
    double loss = 0;
    for (int t = 0; t < threads; ++t) loss += losses[t * Sets];
    return loss * scale;
  }
};

template <typename T, int Kt>
double panelsPass(const T* panels, int64_t n, int64_t d, const T* W, const T* b, const T* dW, const T* db,
                  const int32_t* labels, const T* weights, const T* dWeights, double scale, T* ce, T* gW, T* gb,
                  T* r, double* dLoss, int64_t c, const T* zIn, T* zOut) {
  const int first = zIn ? 1 : 0;
  std::vector<T> bias;
  const std::vector<T> Wq = packLogitWeights(W, b, dW, db, d, c, Kt, first, &bias);
  const PanelPass<T, Kt> pass{panels, n, d, c, first, Wq.data(), bias.data(), labels, weights, dWeights, scale, ce, r, zIn, zOut};
  return pass.run(gW, gb, dLoss);
}

}  // namespace
#pragma GCC diagnostic pop
#endif

bool panelsLinearXentAvailable() {
#if defined(__AVX512F__)
  return true;
#else
  return false;
#endif
}

template <typename T>
double panelsLinearXent(const T* panels, int64_t n, int64_t d, const T* W, const T* b, int64_t k, const T* dW,
                        const T* db, const int32_t* labels, const T* weights, const T* dWeights, double scale, T* ce,
                        T* gW, T* gb, T* r, double* dLoss, int64_t c, const T* logitsIn, T* logitsOut) {
#if defined(__AVX512F__)
  DenormalsAreZero daz;
  switch (k) {
    case 0: return panelsPass<T, 0>(panels, n, d, W, b, dW, db, labels, weights, dWeights, scale, ce, gW, gb, r, dLoss, c, logitsIn, logitsOut);
    case 1: return panelsPass<T, 1>(panels, n, d, W, b, dW, db, labels, weights, dWeights, scale, ce, gW, gb, r, dLoss, c, logitsIn, logitsOut);
    case 2: return panelsPass<T, 2>(panels, n, d, W, b, dW, db, labels, weights, dWeights, scale, ce, gW, gb, r, dLoss, c, logitsIn, logitsOut);
    case 3: return panelsPass<T, 3>(panels, n, d, W, b, dW, db, labels, weights, dWeights, scale, ce, gW, gb, r, dLoss, c, logitsIn, logitsOut);
    case 4: return panelsPass<T, 4>(panels, n, d, W, b, dW, db, labels, weights, dWeights, scale, ce, gW, gb, r, dLoss, c, logitsIn, logitsOut);
    default: throw ArgError("the fused linear softmax cross-entropy takes at most 4 directions");
  }
#else
  throw ArgError("the fused linear softmax cross-entropy over row panels needs AVX-512 (panelsLinearXentAvailable)");
#endif
}

template double panelsLinearXent<double>(const double*, int64_t, int64_t, const double*, const double*, int64_t,
                                         const double*, const double*, const int32_t*, const double*, const double*, double,
                                         double*, double*, double*, double*, double*, int64_t, const double*,
                                         double*);

}  // namespace rfho
