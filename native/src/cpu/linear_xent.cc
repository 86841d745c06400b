// The loss of a linear softmax model and, in the same pass over the data matrix X [n, d], either
// its gradient (Kt = 0) or the tangents of its gradient along Kt directions (dW_q, db_q): the two
// halves of a Reverse-HG step on softmax regression (linear_xent.h).
//
// Each thread takes a share of the rows in blocks of kBlock: the logits z_i = X_i W + b of a block
// (and dz_iq = X_i dW_q + db_q), their softmax (softmax_rows16.h, the arithmetic of the separate
// softmax kernels; over row panels the same sixteen rows at a time, blockOutputsByClass), each
// row's gradient s_i (p_i − e_{y_i}) — or its tangents
// s_i (diag p_i − p_i p_iᵀ) dz_iq — and then Xᵀ of those rows added into the thread's own sums while
// the block's rows are still in cache; the threads' sums are added at the end. The separate
// kernels read X twice (X W, then Xᵀ G) and the logits went through memory between five kernels.
//
// Two sources of rows, one driver: the sparse layout's CSR half (gathers over the stored entries,
// Sᵀ as a scatter of each entry into [d, 16] rows) and a dense row-major matrix (broadcast FMAs over
// the columns; Xᵀ as sixteen columns of X at a time against the rows' outputs in registers).
#include "linear_xent.h"

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "cpu_backend.h"
#include "fast_math.h"
#include "softmax_rows16.h"
#include "sparse_parts.h"
#include "transpose_tiles.h"

namespace rfho {

namespace {

#ifdef RFHO_SOFTMAX_ROWS16
using namespace rows16;
using namespace sparse_parts;

constexpr int64_t L = 16, kBlock = 64;

// The shapes of a pass with Kt directions.
template <int Kt>
struct Pass {
  static constexpr int Sets = 1 + Kt;                  // logits, then each direction's tangents
  static constexpr int Out = Kt == 0 ? 1 : Kt;         // outputs per row: ∂W, or one per direction
  static constexpr int64_t outAt = Kt == 0 ? 0 : 1;    // z's first block holding an output
};

// row p of W, then row p of each dW_q, each in 16 lanes (aligned whole-vector loads, adjacent)
template <int Kt>
float* paddedWeights(const float* W, const float* dW, int64_t d, int64_t c, std::vector<float>& once) {
  float* Wp = scratch<float, 4>(static_cast<size_t>(Pass<Kt>::Sets * d * L), once);
  for (int q = 0; q <= Kt; ++q) padRows(Wp + q * L, Pass<Kt>::Sets * L, L, q == 0 ? W : dW + (q - 1) * d * c, c, d, c, false);
  return Wp;
}

// Each row's softmax and its output row(s), for the whole block, so that the rows' horizontal sums
// overlap; the outputs replace the logits (or their tangents) in z. rest and shift keep what the
// row's loss needs (blockLosses), r and loss[1 + k] the tangents' terms, Ub the bias sums. dw: the
// weights' tangents [Kt, n], or null.
template <int Kt>
inline void blockOutputs(float* z, int64_t r0, int64_t rows, __mmask16 valid, const int32_t* y, const float* w,
                         const float* dw, float scale, int64_t n, float* r, double* loss, __m512* Ub, double* rest,
                         double* shift) {
  using P = Pass<Kt>;
  for (int64_t q = 0; q < rows; ++q) {
    const int64_t i = r0 + q;
    const Row row = softmax(z + q * L, valid);
    rest[q] = row.rest;
    shift[q] = static_cast<double>(row.mx) - static_cast<double>(z[q * L + y[i]]);
    const float si = w ? w[i] * scale : scale;
    const __m512 g0 = minusLabel(row.p, valid, y[i]);
    __m512 out[P::Out];
    if constexpr (Kt == 0) {
      out[0] = _mm512_mul_ps(_mm512_set1_ps(si), g0);
    } else {
      // s_i (diag p − p pᵀ) dz (+ ds_i (p − e_y)), as the separate JVP kernel has it; r = (p − e_y)·dz.
      for (int k = 0; k < Kt; ++k) {
        const __m512 dz = _mm512_load_ps(z + ((k + 1) * kBlock + q) * L);
        __m512 o = weightedHessianTimes(row.p, dz, si);
        if (dw) o = _mm512_fmadd_ps(_mm512_set1_ps(dw[k * n + i] * scale), g0, o);
        out[k] = _mm512_maskz_mov_ps(valid, o);
        const double ri = sumInDouble(_mm512_maskz_mul_ps(valid, g0, dz));
        r[k * n + i] = static_cast<float>(ri);
        loss[1 + k] += static_cast<double>(si) * ri;
      }
    }
    for (int o = 0; o < P::Out; ++o) {
      Ub[o] = _mm512_add_ps(Ub[o], out[o]);
      _mm512_store_ps(z + ((P::outAt + o) * kBlock + q) * L, out[o]);
    }
  }
}

// The same for a block whose logits are class-major (z[(set·16 + j)·kBlock + q]: row panels' logits
// as computed, rows in the lanes), sixteen rows at a time with no horizontal sums: the max, the
// exponentials and the sums in double are lane-wise, class after class (where blockOutputs sums a
// row's lanes in a tree: the same values to rounding). The outputs replace the logits (or their
// tangents) class by class; ubl[o][j] gathers output (o, j)'s sums, one per lane.
// GCC 12 reports its own intrinsics' undefined upper lanes (softmax_rows16.h's halves) as uninitialised
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
template <int Kt>
inline void blockOutputsByClass(float* z, int64_t r0, int64_t rows, int64_t c, const int32_t* y, const float* w,
                                const float* dw, float scale, int64_t n, float* r, double* loss, float* ubl,
                                double* rest, double* shift) {
  using P = Pass<Kt>;
  for (int64_t q0 = 0; q0 < rows; q0 += L) {
    const int64_t pr = std::min<int64_t>(L, rows - q0);
    const __mmask16 vm = static_cast<__mmask16>(pr == L ? 0xFFFF : (1u << pr) - 1);
    const __m512i yv = _mm512_maskz_loadu_epi32(vm, y + r0 + q0);
    // s_i = w_i scale (0 past the block's rows: their outputs are 0)
    const __m512 sv = w ? _mm512_mul_ps(_mm512_maskz_loadu_ps(vm, w + r0 + q0), _mm512_set1_ps(scale)) : _mm512_maskz_mov_ps(vm, _mm512_set1_ps(scale));
    const auto zAt = [&](int set, int64_t j) { return z + (set * 16 + j) * kBlock + q0; };
    __mmask16 isY[16];  // the rows (lanes) whose label is class j
    for (int64_t j = 0; j < c; ++j) isY[j] = _mm512_cmpeq_epi32_mask(yv, _mm512_set1_epi32(static_cast<int>(j)));
    __m512 mx = _mm512_load_ps(zAt(0, 0)), zy = _mm512_setzero_ps();
    for (int64_t j = 1; j < c; ++j) mx = _mm512_max_ps(mx, _mm512_load_ps(zAt(0, j)));
    alignas(64) float e[16 * L];  // exp(z_j − max), class after class
    for (int64_t j = 0; j < c; ++j) _mm512_store_ps(e + j * L, _mm512_sub_ps(_mm512_load_ps(zAt(0, j)), mx));
#pragma omp simd
    for (int64_t t = 0; t < c * L; ++t) e[t] = fastExp(e[t]);
    __m512d restLo = _mm512_setzero_pd(), restHi = _mm512_setzero_pd();
    __mmask16 found = 0;
    for (int64_t j = 0; j < c; ++j) {
      const __m512 zj = _mm512_load_ps(zAt(0, j));
      const __mmask16 first = static_cast<__mmask16>(_mm512_cmp_ps_mask(zj, mx, _CMP_EQ_OQ) & ~found);  // counted as exactly 1
      found |= first;
      const __m512 ej = _mm512_maskz_mov_ps(static_cast<__mmask16>(~first), _mm512_load_ps(e + j * L));
      restLo = _mm512_add_pd(restLo, lowHalf(ej));
      restHi = _mm512_add_pd(restHi, highHalf(ej));
      zy = _mm512_mask_mov_ps(zy, isY[j], zj);
    }
    _mm512_storeu_pd(rest + q0, restLo);
    _mm512_storeu_pd(rest + q0 + 8, restHi);
    _mm512_storeu_pd(shift + q0, _mm512_sub_pd(lowHalf(mx), lowHalf(zy)));
    _mm512_storeu_pd(shift + q0 + 8, _mm512_sub_pd(highHalf(mx), highHalf(zy)));
    const __m512d one = _mm512_set1_pd(1.0);
    const __m512d invLo = _mm512_div_pd(one, _mm512_add_pd(one, restLo)), invHi = _mm512_div_pd(one, _mm512_add_pd(one, restHi));
    // p rounded once from double; others = Σ_{j≠y} p_j, so that p_y − 1 = −others
    __m512 p[16];
    __m512d othersLo = _mm512_setzero_pd(), othersHi = _mm512_setzero_pd();
    for (int64_t j = 0; j < c; ++j) {
      const __m512 ej = _mm512_load_ps(e + j * L);
      p[j] = roundedFromHalves(_mm512_mul_pd(lowHalf(ej), invLo), _mm512_mul_pd(highHalf(ej), invHi));
      const __m512 notY = _mm512_maskz_mov_ps(static_cast<__mmask16>(~isY[j]), p[j]);
      othersLo = _mm512_add_pd(othersLo, lowHalf(notY));
      othersHi = _mm512_add_pd(othersHi, highHalf(notY));
    }
    const __m512 minusOthers = _mm512_sub_ps(_mm512_setzero_ps(), roundedFromHalves(othersLo, othersHi));
    const auto g0 = [&](int64_t j) { return _mm512_mask_mov_ps(p[j], isY[j], minusOthers); };
    if constexpr (Kt == 0) {
      for (int64_t j = 0; j < c; ++j) {
        const __m512 o = _mm512_mul_ps(sv, g0(j));
        _mm512_store_ps(zAt(0, j), o);
        float* u = ubl + j * L;
        _mm512_store_ps(u, _mm512_add_ps(_mm512_load_ps(u), o));
      }
    } else {
      const __m512d svLo = lowHalf(sv), svHi = highHalf(sv);
      for (int k = 0; k < Kt; ++k) {
        // pᵀdz and r = (p − e_y)·dz in double; then s (diag p − p pᵀ) dz = s p ⊙ (dz − pᵀdz) (+ ds (p − e_y))
        __m512d pdLo = _mm512_setzero_pd(), pdHi = _mm512_setzero_pd(), riLo = _mm512_setzero_pd(), riHi = _mm512_setzero_pd();
        for (int64_t j = 0; j < c; ++j) {
          const __m512 dz = _mm512_load_ps(zAt(1 + k, j));
          pdLo = _mm512_fmadd_pd(lowHalf(p[j]), lowHalf(dz), pdLo);
          pdHi = _mm512_fmadd_pd(highHalf(p[j]), highHalf(dz), pdHi);
          const __m512 gd = _mm512_mul_ps(g0(j), dz);
          riLo = _mm512_add_pd(riLo, lowHalf(gd));
          riHi = _mm512_add_pd(riHi, highHalf(gd));
        }
        const __m512 dsv = dw ? _mm512_mul_ps(_mm512_maskz_loadu_ps(vm, dw + k * n + r0 + q0), _mm512_set1_ps(scale)) : _mm512_setzero_ps();
        for (int64_t j = 0; j < c; ++j) {
          float* at = zAt(P::outAt + k, j);
          const __m512 dz = _mm512_load_ps(at);
          __m512 o = roundedFromHalves(_mm512_mul_pd(_mm512_mul_pd(svLo, lowHalf(p[j])), _mm512_sub_pd(lowHalf(dz), pdLo)),
                                       _mm512_mul_pd(_mm512_mul_pd(svHi, highHalf(p[j])), _mm512_sub_pd(highHalf(dz), pdHi)));
          if (dw) o = _mm512_fmadd_ps(dsv, g0(j), o);
          _mm512_store_ps(at, o);
          float* u = ubl + (k * 16 + j) * L;
          _mm512_store_ps(u, _mm512_add_ps(_mm512_load_ps(u), o));
        }
        alignas(64) double ri[L];
        _mm512_store_pd(ri, riLo);
        _mm512_store_pd(ri + 8, riHi);
        for (int64_t q = 0; q < pr; ++q) {
          const int64_t i = r0 + q0 + q;
          r[k * n + i] = static_cast<float>(ri[q]);
          loss[1 + k] += static_cast<double>(w ? w[i] * scale : scale) * ri[q];
        }
      }
    }
  }
}
#pragma GCC diagnostic pop

// loss = logsumexp(z) − z_y = log1p(rest) + (max − z_y), as the separate kernel has it; with the
// weights' tangents dw [Kt, n], the loss's tangents gain Σ_i scale dw_ki CE_i.
template <int Kt>
inline void blockLosses(int64_t r0, int64_t rows, const float* w, const float* dw, float scale, int64_t n,
                        double* rest, const double* shift, float* ce, double* loss) {
#pragma omp simd
  for (int64_t q = 0; q < rows; ++q) rest[q] = fastLog1p(rest[q]) + shift[q];
  for (int64_t q = 0; q < rows; ++q) {
    ce[r0 + q] = static_cast<float>(rest[q]);
    loss[0] += (w ? static_cast<double>(w[r0 + q]) : 1.0) * static_cast<double>(ce[r0 + q]);
    if (dw)
      for (int k = 0; k < Kt; ++k) loss[1 + k] += static_cast<double>(dw[k * n + r0 + q] * scale) * static_cast<double>(ce[r0 + q]);
  }
}

// Rows from the sparse layout's CSR half: the logits gathered entry by entry, Sᵀ out scattered into
// the thread's [Out][d][16] rows while the row's entries are in L1.
template <int Kt>
struct SparseRows {
  using P = Pass<Kt>;
  static constexpr int Gathers = Kt == 0 ? 8 : 8 / (1 + Kt) > 0 ? 8 / (1 + Kt) : 1;  // accumulator sets per gather
  Parts<float> p;
  int64_t n, d;

  std::vector<int64_t> bounds() const { return rowsPerThread(p.ptrR, n); }
  bool needsPaddedWeights() const { return true; }
  int64_t work() const { return (p.ptrR[n] + n) * (2 + 2 * Kt) * L; }
  int64_t sumsSize() const { return P::Out * d * L; }

  void logits(int64_t r0, int64_t rows, const float* Wp, const __m512* bias, float* z) const {
    for (int64_t q = 0; q < rows; ++q) {
      const int32_t e0 = p.ptrR[r0 + q], e1 = p.ptrR[r0 + q + 1];
      __m512 acc[Gathers][1 + Kt];
      for (int u = 0; u < Gathers; ++u)
        for (int k = 0; k <= Kt; ++k) acc[u][k] = _mm512_setzero_ps();
      int32_t e = e0;
      for (; e + Gathers <= e1; e += Gathers)
#pragma GCC unroll 8
        for (int u = 0; u < Gathers; ++u) {
          const __m512 v = _mm512_set1_ps(p.valR[e + u]);
          const float* row = Wp + int64_t{p.idxR[e + u]} * (1 + Kt) * L;
#pragma GCC unroll 5
          for (int k = 0; k <= Kt; ++k) acc[u][k] = _mm512_fmadd_ps(v, _mm512_load_ps(row + k * L), acc[u][k]);
        }
      for (; e < e1; ++e) {
        const __m512 v = _mm512_set1_ps(p.valR[e]);
        const float* row = Wp + int64_t{p.idxR[e]} * (1 + Kt) * L;
        for (int k = 0; k <= Kt; ++k) acc[0][k] = _mm512_fmadd_ps(v, _mm512_load_ps(row + k * L), acc[0][k]);
      }
      for (int k = 0; k <= Kt; ++k) {
        __m512 sum = bias[k];
        for (int u = 0; u < Gathers; ++u) sum = _mm512_add_ps(sum, acc[u][k]);
        _mm512_store_ps(z + (k * kBlock + q) * L, sum);
      }
    }
  }

  void addTransposed(int64_t r0, int64_t rows, const float* z, float* U) const {
    const int32_t* idx = p.idxR;  // locals: the vector stores below may alias p's fields
    const float* val = p.valR;
    for (int64_t q = 0; q < rows; ++q) {
      __m512 out[P::Out];
      for (int o = 0; o < P::Out; ++o) out[o] = _mm512_load_ps(z + ((P::outAt + o) * kBlock + q) * L);
      const int32_t e1 = p.ptrR[r0 + q + 1];
      for (int32_t e = p.ptrR[r0 + q]; e < e1; ++e) {
        const __m512 v = _mm512_set1_ps(val[e]);
        float* u = U + int64_t{idx[e]} * L;
#pragma GCC unroll 4
        for (int o = 0; o < P::Out; ++o) _mm512_store_ps(u + o * d * L, _mm512_fmadd_ps(v, out[o], _mm512_load_ps(u + o * d * L)));
      }
    }
  }

  void keptLogits(int64_t, int64_t, float*) const {}  // kept logits are for dense data (the backend refuses them here)
  bool classMajor() const { return false; }  // z: a row's classes in the lanes

  // where a thread's sums hold output o's entry (i, j): U[o, i, j] in 16 lanes
  int64_t sumAt(int o, int64_t i, int64_t j) const { return (o * d + i) * L + j; }
};

// Rows of a dense row-major matrix. The logits from its row panels where the caller has them
// (skinny_gemm.cc packRowPanels: 16 rows side by side, column by column): each column of a panel
// is one vector load and a broadcast FMA per output column, every lane used (a row-major row
// would fill c of its 16 lanes); without panels, by broadcast FMAs over the row-major rows, R rows
// at a time, summed in blocks of 16 columns (one float32 sum over all d terms grows its rounding
// error with d; see skinny_gemm.cc). Xᵀ out as U_t[j', i] += Σ_q X[q, i] out[q, j'] for sixteen
// columns i at a time, the block's outputs' columns j' = (o, j) in registers while the rows of X
// stream by from cache. Threads' shares and blocks start at multiples of 16 rows (whole panels).
template <int Kt>
struct DenseRows {
  using P = Pass<Kt>;
  static constexpr int R = Kt == 0 ? 8 : Kt <= 2 ? 4 : 2;  // rows per logits tile (accumulators ≤ 30)
  static constexpr int kWidest = 20;                        // output columns per row-major Xᵀ tile
  static constexpr int kNarrow = 12;                        // per tile of two panels' (or column tiles')
  const float* X;
  const float* panels;  // X's row panels, or null
  const float* Wq;      // with panels: [d, (Sets − first)·c], row p = W's row p (unless given), then each dW_q's
  int64_t n, d, c;
  int first;            // the first set of logits computed: 1 where X W + b is given (zIn; with panels), else 0
  const float* zIn;     // X W + b [n, c] as given, or null
  float* zOut;          // X W + b [n, c] written as computed, or null

  std::vector<int64_t> bounds() const {
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    std::vector<int64_t> b(threads + 1);
    for (int t = 0; t < threads; ++t) b[t] = (n * t / threads) / L * L;
    b[threads] = n;
    return b;
  }
  int64_t work() const { return n * d * (P::Sets + P::Out) * L; }
  bool needsPaddedWeights() const { return panels == nullptr; }  // the panels' logits read Wq
  // z: the panels' logits as computed, rows in the lanes (blockOutputsByClass); else a row's classes in the lanes
  bool classMajor() const { return panels != nullptr; }
  int64_t sumsSize() const { return P::Out * c * d; }

  template <int Rows>
  void logitsTile(const float* x, const float* Wp, const __m512* bias, float* z) const {
    __m512 acc[Rows][P::Sets], part[Rows][P::Sets];
    for (int r = 0; r < Rows; ++r)
      for (int k = 0; k < P::Sets; ++k) acc[r][k] = _mm512_setzero_ps();
    for (int64_t p0 = 0; p0 < d; p0 += 16) {
      const int64_t p1 = std::min(d, p0 + 16);
#pragma GCC unroll 8
      for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 5
        for (int k = 0; k < P::Sets; ++k) part[r][k] = _mm512_setzero_ps();
      for (int64_t p = p0; p < p1; ++p) {
        const float* row = Wp + p * P::Sets * L;
        __m512 wv[P::Sets];
#pragma GCC unroll 5
        for (int k = 0; k < P::Sets; ++k) wv[k] = _mm512_load_ps(row + k * L);
#pragma GCC unroll 8
        for (int r = 0; r < Rows; ++r) {
          const __m512 v = _mm512_set1_ps(x[r * d + p]);
#pragma GCC unroll 5
          for (int k = 0; k < P::Sets; ++k) part[r][k] = _mm512_fmadd_ps(v, wv[k], part[r][k]);
        }
      }
#pragma GCC unroll 8
      for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 5
        for (int k = 0; k < P::Sets; ++k) acc[r][k] = _mm512_add_ps(acc[r][k], part[r][k]);
    }
    for (int r = 0; r < Rows; ++r)
      for (int k = 0; k < P::Sets; ++k) _mm512_store_ps(z + (k * kBlock + r) * L, _mm512_add_ps(bias[k], acc[r][k]));
  }

  // Columns [j0, j0 + NB) of the Sets·c logits (set j / c, class j % c) of PN adjacent panels (16
  // rows each) into the class-major z, rows from q0 within the block: each broadcast weight serves
  // PN panels.
  template <int NB, int PN>
  void panelTile(const float* panel, int64_t j0, int64_t q0, int64_t rows, const float* biasAll, float* z) const {
    __m512 acc[PN][NB];
#pragma GCC unroll 2
    for (int u = 0; u < PN; ++u)
#pragma GCC unroll 12
      for (int j = 0; j < NB; ++j) acc[u][j] = _mm512_setzero_ps();
    const int64_t ldw = (P::Sets - first) * c;
    for (int64_t p = 0; p < d; ++p) {
      __m512 a[PN];
#pragma GCC unroll 2
      for (int u = 0; u < PN; ++u) a[u] = _mm512_load_ps(panel + (u * d + p) * L);
      const float* wp = Wq + p * ldw + j0;
#pragma GCC unroll 12
      for (int j = 0; j < NB; ++j) {
        const __m512 wj = _mm512_set1_ps(wp[j]);
#pragma GCC unroll 2
        for (int u = 0; u < PN; ++u) acc[u][j] = _mm512_fmadd_ps(a[u], wj, acc[u][j]);
      }
    }
    for (int u = 0; u < PN; ++u) {
      const int64_t pr = std::min<int64_t>(L, rows - (q0 + u * L));
      const __mmask16 m = static_cast<__mmask16>(pr == L ? 0xFFFF : (1u << pr) - 1);
      for (int j = 0; j < NB; ++j) {
        const int64_t set = first + (j0 + j) / c, cls = (j0 + j) % c;
        _mm512_mask_store_ps(z + (set * 16 + cls) * kBlock + q0 + u * L, m, _mm512_add_ps(acc[u][j], _mm512_set1_ps(biasAll[j0 + j])));
      }
    }
  }

  void logits(int64_t r0, int64_t rows, const float* Wp, const __m512* bias, float* z) const {
    if (panels) {
      alignas(64) float biasAll[P::Sets * 16 + 16];
      for (int k = first; k < P::Sets; ++k) _mm512_storeu_ps(biasAll + (k - first) * c, bias[k]);  // packed: c apart
      // rows past the block's stay 0
      std::fill(z, z + P::Sets * kBlock * L, 0.0f);
      if (first == P::Sets) return;  // no direction, and X W + b given
      const int64_t width = (P::Sets - first) * c, tiles = (width + kNarrow - 1) / kNarrow, per = (width + tiles - 1) / tiles;
      for (int64_t q0 = 0; q0 < rows;) {
        const float* panel = panels + (r0 + q0) / L * d * L;
        const bool two = rows - q0 > L;
        for (int64_t j0 = 0; j0 < width;) {
          const int64_t nb = std::min<int64_t>(width - j0, per);
          switch (nb) {
#define RFHO_CASE(N) case N: if (two) panelTile<N, 2>(panel, j0, q0, rows, biasAll, z); else panelTile<N, 1>(panel, j0, q0, rows, biasAll, z); break;
            RFHO_CASE(1) RFHO_CASE(2) RFHO_CASE(3) RFHO_CASE(4) RFHO_CASE(5) RFHO_CASE(6)
            RFHO_CASE(7) RFHO_CASE(8) RFHO_CASE(9) RFHO_CASE(10) RFHO_CASE(11) RFHO_CASE(12)
#undef RFHO_CASE
          }
          j0 += nb;
        }
        q0 += two ? 2 * L : L;
      }
      return;
    }
    int64_t q = 0;
    for (; q + R <= rows; q += R) logitsTile<R>(X + (r0 + q) * d, Wp, bias, z + q * L);
    for (; q < rows; ++q) logitsTile<1>(X + (r0 + q) * d, Wp, bias, z + q * L);
  }

  // X W + b of the block's rows: taken from zIn, or written to zOut (both only with panels, so z is
  // class-major).
  void keptLogits(int64_t r0, int64_t rows, float* z) const {
    if (zIn) {
      for (int64_t j = 0; j < c; ++j)
        for (int64_t q = 0; q < rows; ++q) z[j * kBlock + q] = zIn[(r0 + q) * c + j];
    } else if (zOut) {
      for (int64_t j = 0; j < c; ++j)
        for (int64_t q = 0; q < rows; ++q) zOut[(r0 + q) * c + j] = z[j * kBlock + q];
    }
  }

  template <int NB>
  void transposedTile(const float* x, int64_t rows, const float* const* col, float* U) const {
    for (int64_t i0 = 0; i0 < d; i0 += L) {
      const __mmask16 m = static_cast<__mmask16>(d - i0 >= L ? 0xFFFF : (1u << (d - i0)) - 1);
      __m512 acc[NB];
#pragma GCC unroll 20
      for (int j = 0; j < NB; ++j) acc[j] = _mm512_setzero_ps();
      for (int64_t q = 0; q < rows; ++q) {
        const __m512 a = _mm512_maskz_loadu_ps(m, x + q * d + i0);
#pragma GCC unroll 20
        for (int j = 0; j < NB; ++j) acc[j] = _mm512_fmadd_ps(a, _mm512_set1_ps(col[j][q * L]), acc[j]);
      }
#pragma GCC unroll 20
      for (int j = 0; j < NB; ++j) {
        float* u = U + j * d + i0;
        _mm512_mask_storeu_ps(u, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, u), acc[j]));
      }
    }
  }

  // The same from the block's panels (still in cache from its logits): each 16×16 tile of a panel
  // (16 columns of X by its 16 rows) transposed into rows of X, two tiles of columns side by side
  // so that each broadcast output serves both.
  template <int NB>
  void transposedPanelsTile(const float* block, int64_t rows, const float* const* col, float* U) const {
    alignas(64) float xt[2][16][L];  // rows of X, 16 columns each, for two column tiles
    for (int64_t i0 = 0; i0 < d; i0 += 2 * L) {
      int64_t cols[2];
      for (int h = 0; h < 2; ++h) cols[h] = std::max<int64_t>(0, std::min<int64_t>(L, d - i0 - h * L));
      __m512 acc[2][NB];
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h)
#pragma GCC unroll 12
        for (int j = 0; j < NB; ++j) acc[h][j] = _mm512_setzero_ps();
      for (int64_t q0 = 0; q0 < rows; q0 += L) {
        const float* panel = block + q0 * d;  // panel q0 / 16 of the block: [d][16]
        for (int h = 0; h < 2; ++h) {
          __m512 t[16];
          for (int ii = 0; ii < 16; ++ii) t[ii] = ii < cols[h] ? _mm512_load_ps(panel + (i0 + h * L + ii) * L) : _mm512_setzero_ps();
          transposeTile(t);
          for (int q = 0; q < 16; ++q) _mm512_store_ps(xt[h][q], t[q]);
        }
        const int64_t pr = std::min<int64_t>(L, rows - q0);
        for (int64_t q = 0; q < pr; ++q) {
          const __m512 a0 = _mm512_load_ps(xt[0][q]), a1 = _mm512_load_ps(xt[1][q]);
#pragma GCC unroll 12
          for (int j = 0; j < NB; ++j) {
            const __m512 g = _mm512_set1_ps(col[j][q0 + q]);
            acc[0][j] = _mm512_fmadd_ps(a0, g, acc[0][j]);
            acc[1][j] = _mm512_fmadd_ps(a1, g, acc[1][j]);
          }
        }
      }
      for (int h = 0; h < 2; ++h) {
        if (cols[h] == 0) break;
        const __mmask16 m = static_cast<__mmask16>(cols[h] == L ? 0xFFFF : (1u << cols[h]) - 1);
#pragma GCC unroll 12
        for (int j = 0; j < NB; ++j) {
          float* u = U + j * d + i0 + h * L;
          _mm512_mask_storeu_ps(u, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, u), acc[h][j]));
        }
      }
    }
  }

  void addTransposed(int64_t r0, int64_t rows, const float* z, float* U) const {
    // column j' = (o, j) of the block's outputs, row q at col[j'][q] (class-major, with panels) or
    // col[j'][q * L] (room for a tile past the last column: the compiler cannot see that a tile
    // ends within the width)
    const float* col[P::Out * 16 + kWidest];
    const int64_t width = P::Out * c;
    for (int64_t jj = 0; jj < width; ++jj)
      col[jj] = panels ? z + ((P::outAt + jj / c) * 16 + jj % c) * kBlock : z + (P::outAt + jj / c) * kBlock * L + jj % c;
    const int64_t widest = panels ? kNarrow : kWidest;
    const int64_t tiles = (width + widest - 1) / widest, per = (width + tiles - 1) / tiles;  // even tiles
    for (int64_t j0 = 0; j0 < width;) {
      const int64_t nb = std::min<int64_t>(width - j0, per);
      const float* x = X + r0 * d;
      const float* block = panels ? panels + r0 * d : nullptr;  // r0 is a multiple of 16
      float* u = U + j0 * d;
      switch (nb) {
#define RFHO_NARROW(N) case N: if (block) transposedPanelsTile<N>(block, rows, col + j0, u); else transposedTile<N>(x, rows, col + j0, u); break;
#define RFHO_WIDE(N) case N: transposedTile<N>(x, rows, col + j0, u); break;
        RFHO_NARROW(1) RFHO_NARROW(2) RFHO_NARROW(3) RFHO_NARROW(4) RFHO_NARROW(5) RFHO_NARROW(6) RFHO_NARROW(7)
        RFHO_NARROW(8) RFHO_NARROW(9) RFHO_NARROW(10) RFHO_NARROW(11) RFHO_NARROW(12) RFHO_WIDE(13) RFHO_WIDE(14)
        RFHO_WIDE(15) RFHO_WIDE(16) RFHO_WIDE(17) RFHO_WIDE(18) RFHO_WIDE(19) RFHO_WIDE(20)
#undef RFHO_NARROW
#undef RFHO_WIDE
      }
      j0 += nb;
    }
  }

  // where a thread's sums hold output o's entry (i, j): U[(o, j), i]
  int64_t sumAt(int o, int64_t i, int64_t j) const { return (o * c + j) * d + i; }
};

// The pass over the rows of `src` (SparseRows or DenseRows): the thread's sums of Xᵀ out, then its
// bias sums, kept in per-thread scratch and added in a fixed order at the end (reproducible for a
// given thread count).
template <int Kt, typename Source>
double linearXentPass(const Source& src, int64_t n, int64_t d, const float* W, const float* b, const float* dW,
                      const float* db, const int32_t* y, const float* w, const float* dw, float scale, float* ce,
                      float* gW, float* gb, float* r, double* dLoss, int64_t c) {
  using P = Pass<Kt>;
  const __mmask16 valid = static_cast<__mmask16>((1u << c) - 1);
  const std::vector<int64_t> bounds = src.bounds();
  const int threads = static_cast<int>(bounds.size()) - 1;
  std::vector<float> once0, once1;
  const float* Wp = src.needsPaddedWeights() ? paddedWeights<Kt>(W, dW, d, c, once0) : nullptr;
  __m512 bias[P::Sets];
  for (int q = 0; q <= Kt; ++q) bias[q] = _mm512_maskz_loadu_ps(valid, q == 0 ? b : db + (q - 1) * c);
  const int64_t sums = src.sumsSize(), stride = sums + P::Out * L;
  float* priv = scratch<float, 5>(static_cast<size_t>(threads * stride), once1);
  std::vector<double> lossOf(threads * P::Sets, 0.0);
  parallelRange(threads, src.work(), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      float* U = priv + t * stride;
      std::fill(U, U + stride, 0.0f);
      __m512 Ub[P::Out];
      for (int o = 0; o < P::Out; ++o) Ub[o] = _mm512_setzero_ps();
      alignas(64) float ubl[P::Out * 16 * L] = {};  // class-major blocks' bias sums, [o][j][lane]
      alignas(64) float z[P::Sets * kBlock * L];  // the block's logits, then each direction's
      alignas(64) double rest[kBlock], shift[kBlock];
      double loss[P::Sets] = {};
      for (int64_t r0 = bounds[t]; r0 < bounds[t + 1]; r0 += kBlock) {
        const int64_t rows = std::min(kBlock, bounds[t + 1] - r0);
        src.logits(r0, rows, Wp, bias, z);
        src.keptLogits(r0, rows, z);
        if (src.classMajor()) blockOutputsByClass<Kt>(z, r0, rows, c, y, w, dw, scale, n, r, loss, ubl, rest, shift);
        else blockOutputs<Kt>(z, r0, rows, valid, y, w, dw, scale, n, r, loss, Ub, rest, shift);
        src.addTransposed(r0, rows, z, U);
        blockLosses<Kt>(r0, rows, w, dw, scale, n, rest, shift, ce, loss);
      }
      if (src.classMajor()) {
        for (int o = 0; o < P::Out; ++o) {
          alignas(64) float lanes[L] = {};
          for (int64_t j = 0; j < c; ++j)
            for (int64_t q = 0; q < L; ++q) lanes[j] += ubl[(o * 16 + j) * L + q];
          Ub[o] = _mm512_load_ps(lanes);
        }
      }
      for (int o = 0; o < P::Out; ++o) _mm512_storeu_ps(U + sums + o * L, Ub[o]);
      for (int k = 0; k <= Kt; ++k) lossOf[t * P::Sets + k] = loss[k];
    }
  });
  for (int k = 0; k < Kt; ++k) {
    dLoss[k] = 0;
    for (int t = 0; t < threads; ++t) dLoss[k] += lossOf[t * P::Sets + 1 + k];
  }
  // gW[o, i, j] = Σ_t of thread t's sums, in thread order
  for (int o = 0; o < P::Out; ++o)
    for (int64_t i = 0; i < d; ++i)
      for (int64_t j = 0; j < c; ++j) {
        float sum = 0;
        for (int t = 0; t < threads; ++t) sum += priv[t * stride + src.sumAt(o, i, j)];
        gW[(o * d + i) * c + j] = sum;
      }
  for (int o = 0; o < P::Out; ++o)
    for (int64_t j = 0; j < c; ++j) {
      float sum = 0;
      for (int t = 0; t < threads; ++t) sum += priv[t * stride + sums + o * L + j];
      gb[o * c + j] = sum;
    }
  double loss = 0;
  for (int t = 0; t < threads; ++t) loss += lossOf[t * P::Sets];
  return loss * static_cast<double>(scale);
}

// One pass with the source of rows built for Kt directions (k ≤ 4 checked by the caller).
template <typename Make, typename Run>
double withDirections(int64_t k, Make&& make, Run&& run) {
  switch (k) {
    case 0: return run(make(std::integral_constant<int, 0>{}), std::integral_constant<int, 0>{});
    case 1: return run(make(std::integral_constant<int, 1>{}), std::integral_constant<int, 1>{});
    case 2: return run(make(std::integral_constant<int, 2>{}), std::integral_constant<int, 2>{});
    case 3: return run(make(std::integral_constant<int, 3>{}), std::integral_constant<int, 3>{});
    case 4: return run(make(std::integral_constant<int, 4>{}), std::integral_constant<int, 4>{});
    default: throw ArgError("the fused linear softmax cross-entropy takes at most 4 directions");
  }
}
#endif

}  // namespace

bool linearXentAvailable() {
#ifdef RFHO_SOFTMAX_ROWS16
  return true;
#else
  return false;
#endif
}

double sparseLinearXent(const void* layout, int64_t n, int64_t d, int64_t nnz, const float* W, const float* b,
                        int64_t k, const float* dW, const float* db, const int32_t* labels, const float* weights,
                        const float* dWeights, double scale, float* ce, float* gW, float* gb, float* r, double* dLoss,
                        int64_t c) {
#ifdef RFHO_SOFTMAX_ROWS16
  DenormalsAreZero daz;
  const Parts<float> p = partsOf<float>(const_cast<void*>(layout), n, d, nnz);
  const float s = static_cast<float>(scale);
  return withDirections(
      k, [&](auto kt) { return SparseRows<decltype(kt)::value>{p, n, d}; },
      [&](const auto& src, auto kt) {
        return linearXentPass<decltype(kt)::value>(src, n, d, W, b, dW, db, labels, weights, dWeights, s, ce, gW, gb, r, dLoss, c);
      });
#else
  throw ArgError("the fused linear softmax cross-entropy needs AVX-512 (linearXentAvailable)");
#endif
}

double denseLinearXent(const float* X, const float* panels, int64_t n, int64_t d, const float* W, const float* b,
                       int64_t k, const float* dW, const float* db, const int32_t* labels, const float* weights,
                       const float* dWeights, double scale, float* ce, float* gW, float* gb, float* r, double* dLoss,
                       int64_t c, const float* logitsIn, float* logitsOut) {
#ifdef RFHO_SOFTMAX_ROWS16
  DenormalsAreZero daz;
  if ((logitsIn || logitsOut) && !panels) throw ArgError("kept logits (logitsIn, logitsOut) need the data matrix's row panels");
  const float s = static_cast<float>(scale);
  const int first = logitsIn ? 1 : 0;
  const std::vector<float> Wq = panels ? packLogitWeights(W, b, dW, db, d, c, k, first) : std::vector<float>{};
  return withDirections(
      k, [&](auto kt) { return DenseRows<decltype(kt)::value>{X, panels, Wq.data(), n, d, c, first, logitsIn, logitsOut}; },
      [&](const auto& src, auto kt) {
        return linearXentPass<decltype(kt)::value>(src, n, d, W, b, dW, db, labels, weights, dWeights, s, ce, gW, gb, r, dLoss, c);
      });
#else
  throw ArgError("the fused linear softmax cross-entropy needs AVX-512 (linearXentAvailable)");
#endif
}

// The CPU backend's pass: over a sparse layout (float32), a float64 matrix's row panels (the pass
// with rows in the lanes), or float32 rows with their row panels where given.
double CpuBackend::linearXent(DType dtype, const LinearXentData& x, const LinearXentArgs& a) {
  if (dtype == DType::F64) {
    if (!x.panels || x.sparse) throw ArgError("the fused linear softmax cross-entropy takes a float64 matrix by its row panels");
    const auto D = [](const void* p) { return static_cast<double*>(const_cast<void*>(p)); };
    return panelsLinearXent<double>(D(x.panels), x.n, x.d, D(a.W), D(a.b), a.k, D(a.dW), D(a.db), a.labels, D(a.weights),
                                    D(a.dWeights), a.scale, D(a.ce), D(a.gW), D(a.gb), D(a.r), a.dLoss, a.c, D(a.logitsIn), D(a.logitsOut));
  }
  if (dtype != DType::F32) throw ArgError("the fused linear softmax cross-entropy needs float32 or float64 data");
  const auto F = [](const void* p) { return static_cast<float*>(const_cast<void*>(p)); };
  if ((a.logitsIn || a.logitsOut) && !x.panels)
    throw ArgError("kept logits (logitsIn, logitsOut) need a dense data matrix with its row panels");
  if (x.sparse)
    return sparseLinearXent(x.sparse, x.n, x.d, x.nnz, F(a.W), F(a.b), a.k, F(a.dW), F(a.db), a.labels, F(a.weights),
                            F(a.dWeights), a.scale, F(a.ce), F(a.gW), F(a.gb), F(a.r), a.dLoss, a.c);
  return denseLinearXent(F(x.rows), F(x.panels), x.n, x.d, F(a.W), F(a.b), a.k, F(a.dW), F(a.db), a.labels,
                         F(a.weights), F(a.dWeights), a.scale, F(a.ce), F(a.gW), F(a.gb), F(a.r), a.dLoss, a.c, F(a.logitsIn),
                         F(a.logitsOut));
}

}  // namespace rfho
