// Products with a narrow right-hand side (n ≤ 32 columns), the shape of a linear model's logits
// (X W, n = classes) and of its gradient (Xᵀ G). BLAS packs and blocks for square products and
// reaches a third of the memory bandwidth here; these kernels stream the tall operand once, at
// close to the bandwidth, keeping the narrow one in registers or L1.
#include <algorithm>
#include <cstring>
#include <vector>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "cpu_backend.h"
#include "simd.h"
#include "skinny_gemm.h"

namespace rfho {
namespace {

// Horizontal sum by halving (512 → 256 → 128 bits), which compiles to extracts and vector adds
// instead of a scalar loop over the lanes.
template <typename T>
inline T hsum(typename Vec<T>::type v) {
  typedef T h32 __attribute__((vector_size(32)));
  typedef T h16 __attribute__((vector_size(16)));
  h32 a, b;
  std::memcpy(&a, &v, 32);
  std::memcpy(&b, reinterpret_cast<const char*>(&v) + 32, 32);
  a += b;
  h16 c, d;
  std::memcpy(&c, &a, 16);
  std::memcpy(&d, reinterpret_cast<const char*>(&a) + 16, 16);
  c += d;
  T s = 0;
  for (int i = 0; i < static_cast<int>(16 / sizeof(T)); ++i) s += c[i];
  return s;
}

// Lane i of the result = the sum of v[i]'s 16 lanes, for 16 float vectors at once: four rounds
// of two-source shuffles and adds (45 instructions) instead of 16 separate horizontal sums.
inline Vec<float>::type sumLanes16(const Vec<float>::type* v) {
  typedef Vec<float>::type V;
  typedef int32_t I __attribute__((vector_size(64)));
  const I lo1 = {0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23};
  const I hi1 = {8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31};
  const I lo2 = {0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27};
  const I hi2 = {4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31};
  const I lo3 = {0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29};
  const I hi3 = {2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31};
  const I lo4 = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
  const I hi4 = {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31};
  V r1[8], r2[4], r3[2];
  for (int q = 0; q < 8; ++q) r1[q] = __builtin_shuffle(v[2 * q], v[2 * q + 1], lo1) + __builtin_shuffle(v[2 * q], v[2 * q + 1], hi1);
  for (int q = 0; q < 4; ++q) r2[q] = __builtin_shuffle(r1[2 * q], r1[2 * q + 1], lo2) + __builtin_shuffle(r1[2 * q], r1[2 * q + 1], hi2);
  for (int q = 0; q < 2; ++q) r3[q] = __builtin_shuffle(r2[2 * q], r2[2 * q + 1], lo3) + __builtin_shuffle(r2[2 * q], r2[2 * q + 1], hi3);
  return __builtin_shuffle(r3[0], r3[1], lo4) + __builtin_shuffle(r3[0], r3[1], hi4);
}

// The dot products of both rows' accumulators: s[j] (row 0) and s[NB + j] (row 1).
template <typename T, int NB>
inline void rowSums(const typename Vec<T>::type* acc0, const typename Vec<T>::type* acc1, T* s) {
  if constexpr (Vec<T>::L == 16) {
    typename Vec<T>::type all[32];
    const int n = 2 * NB, padded = (n + 15) / 16 * 16;
    for (int j = 0; j < NB; ++j) {
      all[j] = acc0[j];
      all[NB + j] = acc1[j];
    }
    for (int j = n; j < padded; ++j) all[j] = typename Vec<T>::type{};
    T out[32];
    for (int c = 0; c < padded; c += 16) storeu(out + c, sumLanes16(all + c));
    for (int j = 0; j < n; ++j) s[j] = out[j];
  } else {
    for (int j = 0; j < NB; ++j) {
      s[j] = hsum<T>(acc0[j]);
      s[NB + j] = hsum<T>(acc1[j]);
    }
  }
}

// C[i, j0..j0+NB) = alpha Σ_p A[i,p] Bt[j,p] + beta C  for rows i in [r0, r1); two rows at a time.
template <typename T, int NB>
void rowDotBlock(const T* A, int64_t lda, const T* Bt, int64_t ldbt, T* C, int64_t ldc, int64_t k,
                 int64_t r0, int64_t r1, int64_t j0, T alpha, T beta) {
  using V = typename Vec<T>::type;
  constexpr int L = Vec<T>::L;
  const int64_t kv = k - k % L;
  int64_t i = r0;
  for (; i + 1 < r1; i += 2) {
    V acc0[NB], acc1[NB];
    for (int j = 0; j < NB; ++j) acc0[j] = acc1[j] = V{};
    const T* a0 = A + i * lda;
    const T* a1 = a0 + lda;
    for (int64_t p = 0; p < kv; p += L) {
      const V x0 = loadu(a0 + p), x1 = loadu(a1 + p);
      for (int j = 0; j < NB; ++j) {
        const V b = loadu(Bt + (j0 + j) * ldbt + p);
        acc0[j] += x0 * b;
        acc1[j] += x1 * b;
      }
    }
    T sums[2 * NB];
    rowSums<T, NB>(acc0, acc1, sums);
    for (int j = 0; j < NB; ++j) {
      T s0 = sums[j], s1 = sums[NB + j];
      const T* b = Bt + (j0 + j) * ldbt;
      for (int64_t p = kv; p < k; ++p) {
        s0 += a0[p] * b[p];
        s1 += a1[p] * b[p];
      }
      T* c0 = C + i * ldc + j0 + j;
      T* c1 = c0 + ldc;
      *c0 = alpha * s0 + (beta == T(0) ? T(0) : beta * *c0);
      *c1 = alpha * s1 + (beta == T(0) ? T(0) : beta * *c1);
    }
  }
  for (; i < r1; ++i) {
    const T* a0 = A + i * lda;
    for (int j = 0; j < NB; ++j) {
      const T* b = Bt + (j0 + j) * ldbt;
      V acc = V{};
      for (int64_t p = 0; p < kv; p += L) acc += loadu(a0 + p) * loadu(b + p);
      T s = hsum<T>(acc);
      for (int64_t p = kv; p < k; ++p) s += a0[p] * b[p];
      T* c = C + i * ldc + j0 + j;
      *c = alpha * s + (beta == T(0) ? T(0) : beta * *c);
    }
  }
}

template <typename T>
void rowDot(const T* A, int64_t lda, const T* Bt, int64_t ldbt, T* C, int64_t ldc, int64_t k,
            int64_t n, int64_t r0, int64_t r1, T alpha, T beta) {
  // Each column block streams all rows (its block of Bᵀ stays in L1); chunking rows through every
  // block instead measured slower here, Bᵀ for 20 columns no longer fitting L1.
  const int64_t kRowChunk = r1 - r0;
  for (int64_t rb = r0; rb < r1; rb += std::max<int64_t>(kRowChunk, 1)) {
    const int64_t re = std::min(r1, rb + kRowChunk);
    for (int64_t j0 = 0; j0 < n;) {
      const int64_t nb = std::min<int64_t>(n - j0, 12);
      switch (nb) {
#define RFHO_CASE(N) case N: rowDotBlock<T, N>(A, lda, Bt, ldbt, C, ldc, k, rb, re, j0, alpha, beta); break;
        RFHO_CASE(1) RFHO_CASE(2) RFHO_CASE(3) RFHO_CASE(4) RFHO_CASE(5) RFHO_CASE(6)
        RFHO_CASE(7) RFHO_CASE(8) RFHO_CASE(9) RFHO_CASE(10) RFHO_CASE(11) RFHO_CASE(12)
#undef RFHO_CASE
      }
      j0 += nb;
    }
  }
}

// Ct[j, i] = Σ_p B(p, j) A[p, i] for i in one vector chunk [i0, i0+L), j in [j0, j0+NB):
// accumulators stay in registers while the rows p of A stream by.
template <typename T, int NB>
void outerChunk(const T* A, int64_t lda, const T* B, int64_t sbp, int64_t sbj, int64_t kRows,
                int64_t i0, int64_t j0, T* Ct, int64_t ldct) {
  using V = typename Vec<T>::type;
  V acc[NB];
  for (int j = 0; j < NB; ++j) acc[j] = V{};
  for (int64_t p = 0; p < kRows; ++p) {
    const V a = loadu(A + p * lda + i0);
    const T* bp = B + p * sbp + j0 * sbj;
    for (int j = 0; j < NB; ++j) acc[j] += a * bp[j * sbj];
  }
  for (int j = 0; j < NB; ++j) storeu(Ct + (j0 + j) * ldct + i0, acc[j]);
}

template <typename T, int NB>
void outerTail(const T* A, int64_t lda, const T* B, int64_t sbp, int64_t sbj, int64_t kRows,
               int64_t i0, int64_t i1, int64_t j0, T* Ct, int64_t ldct) {
  for (int64_t i = i0; i < i1; ++i)
    for (int j = 0; j < NB; ++j) {
      T s = 0;
      for (int64_t p = 0; p < kRows; ++p) s += A[p * lda + i] * B[p * sbp + (j0 + j) * sbj];
      Ct[(j0 + j) * ldct + i] = s;
    }
}

template <typename T>
void outerRange(const T* A, int64_t lda, const T* B, int64_t sbp, int64_t sbj, int64_t kRows,
                int64_t n, int64_t c0, int64_t c1, T* Ct, int64_t ldct) {
  constexpr int L = Vec<T>::L;
  for (int64_t j0 = 0; j0 < n;) {
    const int64_t nb = std::min<int64_t>(n - j0, 24);
    int64_t i = c0;
    for (; i + L <= c1; i += L) {
      switch (nb) {
#define RFHO_CASE(N) case N: outerChunk<T, N>(A, lda, B, sbp, sbj, kRows, i, j0, Ct, ldct); break;
        RFHO_CASE(1) RFHO_CASE(2) RFHO_CASE(3) RFHO_CASE(4) RFHO_CASE(5) RFHO_CASE(6) RFHO_CASE(7) RFHO_CASE(8)
        RFHO_CASE(9) RFHO_CASE(10) RFHO_CASE(11) RFHO_CASE(12) RFHO_CASE(13) RFHO_CASE(14) RFHO_CASE(15) RFHO_CASE(16)
        RFHO_CASE(17) RFHO_CASE(18) RFHO_CASE(19) RFHO_CASE(20) RFHO_CASE(21) RFHO_CASE(22) RFHO_CASE(23) RFHO_CASE(24)
#undef RFHO_CASE
      }
    }
    if (i < c1) {
      for (int64_t j = 0; j < nb; ++j)
        outerTail<T, 1>(A, lda, B, sbp, sbj, kRows, i, c1, j0 + j, Ct, ldct);
    }
    j0 += nb;
  }
}

#if defined(__AVX512F__)
// C[i, 0..n) = alpha Σ_p A[i, p] op(B)(p, 0..n) + beta C for n ≤ 16 float32 columns: R rows of C
// in R registers, each step of p one (masked) load of op(B)'s row and R broadcast FMAs. The row-dot
// form above needs a horizontal sum per output, which this one never does (about a third faster on
// a linear model's logits, alternating the two in one process). Eight rows at a time: twelve is
// faster from cache but slower from memory, and sixteen with blocked sums would not fit the registers. `Bp`: op(B)'s rows, ldp apart (masked loads read n
// values of each). Whole-vector stores of C where their spill lands in later rows this thread
// writes (masked stores cost ~10× more on AMD's cores).
template <int R>
inline void bcastRowsF32(const float* A, int64_t lda, const float* Bp, int64_t ldp, int64_t k, __mmask16 mask,
                         float* C, int64_t ldc, int64_t i, float alpha, float beta, int64_t wholeUntil) {
  // Sums in blocks of 16 terms added into running totals: one float32 accumulator over all k terms
  // grows its rounding error with k (against float64, unit-variance inputs, k = 4096: rms error
  // 1.2e-6·√k with one running sum, 2.8e-7·√k for the row-dot form, which sums 16 lanes apart,
  // 3.0e-7·√k blocked).
  constexpr int64_t kBlock = 16;
  __m512 acc[R], part[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  const float* a = A + i * lda;
  for (int64_t p0 = 0; p0 < k; p0 += kBlock) {
    const int64_t p1 = std::min(k, p0 + kBlock);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) part[r] = _mm512_setzero_ps();
    for (int64_t p = p0; p < p1; ++p) {
      const __m512 b = _mm512_maskz_loadu_ps(mask, Bp + p * ldp);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) part[r] = _mm512_fmadd_ps(_mm512_set1_ps(a[r * lda + p]), b, part[r]);
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) acc[r] = _mm512_add_ps(acc[r], part[r]);
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    float* c = C + (i + r) * ldc;
    __m512 out = _mm512_mul_ps(_mm512_set1_ps(alpha), acc[r]);
    if (beta != 0.0f) out = _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(mask, c), out);
    if (i + r < wholeUntil) _mm512_storeu_ps(c, out);
    else _mm512_mask_storeu_ps(c, mask, out);
  }
}

void bcastRangeF32(const float* A, int64_t lda, const float* Bp, int64_t ldp, int64_t k, int64_t n, float* C,
                   int64_t ldc, int64_t r0, int64_t r1, float alpha, float beta) {
  const __mmask16 mask = static_cast<__mmask16>((1u << n) - 1);
  // a whole-vector store of row i writes 16 − n values past it: allowed where they fall inside rows
  // i+1 .. r1−1 (contiguous rows, written afterwards) and nothing is read back from C
  const int64_t spillRows = n == 16 ? 0 : (16 - n + ldc - 1) / ldc;
  const int64_t wholeUntil = beta == 0.0f && ldc == n ? r1 - spillRows : (n == 16 ? r1 : r0);
  int64_t i = r0;
  for (; i + 8 <= r1; i += 8) bcastRowsF32<8>(A, lda, Bp, ldp, k, mask, C, ldc, i, alpha, beta, wholeUntil);
  for (; i + 4 <= r1; i += 4) bcastRowsF32<4>(A, lda, Bp, ldp, k, mask, C, ldc, i, alpha, beta, wholeUntil);
  for (; i < r1; ++i) bcastRowsF32<1>(A, lda, Bp, ldp, k, mask, C, ldc, i, alpha, beta, wholeUntil);
}
#endif

// Runs f(q, r0, r1) over the rows of every batch entry, split evenly across threads as one
// sequence of batch × rows (an entry may be cut between two threads).
template <typename F>
void batchRows(int64_t batch, int64_t rows, int64_t work, F&& f) {
  parallelRange(batch * rows, work, [&](int64_t e0, int64_t e1) {
    for (int64_t q = e0 / rows; q * rows < e1; ++q) {
      const int64_t r0 = std::max(e0, q * rows) - q * rows, r1 = std::min(e1, (q + 1) * rows) - q * rows;
      if (r1 > r0) f(q, r0, r1);
    }
  });
}

// op(B) of every entry (one when strideB is 0) as rows of `width` values: dst + q·k·width.
template <typename T>
void packRowsOfOpB(const GemmArgs& g, int64_t entries, int64_t width, T* dst) {
  const T* B = static_cast<const T*>(g.B);
  for (int64_t q = 0; q < entries; ++q) {
    const T* Bq = B + q * g.strideB;
    T* d = dst + q * g.k * width;
    for (int64_t p = 0; p < g.k; ++p)
      for (int64_t j = 0; j < width; ++j)
        d[p * width + j] = j >= g.n ? T(0) : g.transB ? Bq[j * g.ldb + p] : Bq[p * g.ldb + j];
  }
}

template <typename T>
bool skinnyTyped(const GemmArgs& g) {
  const T* A = static_cast<const T*>(g.A);
  const T* B = static_cast<const T*>(g.B);
  T* C = static_cast<T*>(g.C);
  const T alpha = static_cast<T>(g.alpha), beta = static_cast<T>(g.beta);
  constexpr int L = Vec<T>::L;
  const int64_t work = g.batch * g.m * g.k * g.n;
  const int64_t bEntries = g.strideB == 0 ? 1 : g.batch;  // a right operand shared by the batch is packed once
  if (!g.transA) {
#if defined(__AVX512F__)
    if constexpr (sizeof(T) == 4) {
      // n ≤ 16: the broadcast form reads op(B)'s rows in place when B is not transposed
      std::vector<T> Bp;
      const T* rowsOfB = B;
      int64_t ldp = g.ldb, sp = g.strideB;
      if (g.transB) {
        Bp.resize(static_cast<size_t>(bEntries * g.k * 16));
        packRowsOfOpB(g, bEntries, 16, Bp.data());
        rowsOfB = Bp.data();
        ldp = 16;
        sp = g.strideB == 0 ? 0 : g.k * 16;
      }
      batchRows(g.batch, g.m, work, [&](int64_t q, int64_t r0, int64_t r1) {
        bcastRangeF32(A + q * g.strideA, g.lda, rowsOfB + q * sp, ldp, g.k, g.n, C + q * g.strideC, g.ldc, r0, r1,
                      alpha, beta);
      });
      return true;
    }
#endif
    // C = A op(B): row dots against Bᵀ laid out [n, k].
    std::vector<T> tmp;
    if (!g.transB) {
      tmp.resize(static_cast<size_t>(bEntries * g.n * g.k));
      for (int64_t q = 0; q < bEntries; ++q)
        for (int64_t p = 0; p < g.k; ++p)
          for (int64_t j = 0; j < g.n; ++j) tmp[(q * g.n + j) * g.k + p] = B[q * g.strideB + p * g.ldb + j];
    }
    batchRows(g.batch, g.m, work, [&](int64_t q, int64_t r0, int64_t r1) {
      const T* Bt = g.transB ? B + q * g.strideB : tmp.data() + (g.strideB == 0 ? 0 : q) * g.n * g.k;
      rowDot(A + q * g.strideA, g.lda, Bt, g.transB ? g.ldb : g.k, C + q * g.strideC, g.ldc, g.k, g.n, r0, r1,
             alpha, beta);
    });
    return true;
  }
  // C = Aᵀ op(B) with A [k, m]: accumulate Cᵀ [n, m] by streaming the k rows of A, in chunks of L
  // columns of A (rows of C), each entry's chunks split across threads with the others'. Batches
  // came here from BLAS entry by entry; one pass over A for the whole batch reads it once, not k times.
  if (g.m < L) return false;
  const int64_t sbp = g.transB ? 1 : g.ldb, sbj = g.transB ? g.ldb : 1;
  std::vector<T> ct(static_cast<size_t>(g.batch * g.n * g.m));
  const int64_t chunks = (g.m + L - 1) / L;
  batchRows(g.batch, chunks, work, [&](int64_t q, int64_t b, int64_t e) {
    outerRange(A + q * g.strideA, g.lda, B + q * g.strideB, sbp, sbj, g.k, g.n, b * L, std::min(g.m, e * L),
               ct.data() + q * g.n * g.m, g.m);
  });
  for (int64_t q = 0; q < g.batch; ++q)
    for (int64_t i = 0; i < g.m; ++i)
      for (int64_t j = 0; j < g.n; ++j) {
        T* c = C + q * g.strideC + i * g.ldc + j;
        *c = alpha * ct[(q * g.n + j) * g.m + i] + (beta == T(0) ? T(0) : beta * *c);
      }
  return true;
}

// C[rows of panel b, j0 .. j0+NB) = alpha Σ_p panel[p, lanes] · op(B)(p, j): each step of p is one
// vector load of the panel and NB broadcast FMAs, no horizontal sums (the row-dot form's cost).
template <typename T, int NB>
void panelBlock(const T* panel, int64_t k, const T* B, int64_t sbp, int64_t sbj, int64_t j0, T alpha,
                T* C, int64_t ldc, int64_t rows) {
  using V = typename Vec<T>::type;
  constexpr int L = Vec<T>::L;
  V acc[NB];
  for (int j = 0; j < NB; ++j) acc[j] = V{};
  for (int64_t p = 0; p < k; ++p) {
    const V x = loadu(panel + p * L);
    const T* bp = B + p * sbp + j0 * sbj;
    for (int j = 0; j < NB; ++j) acc[j] += x * bp[j * sbj];
  }
  T tile[NB][L];
  for (int j = 0; j < NB; ++j) storeu(tile[j], acc[j]);
  for (int64_t r = 0; r < rows; ++r)
    for (int j = 0; j < NB; ++j) C[r * ldc + j0 + j] = alpha * tile[j][r];
}

template <typename T>
void panelGemmTyped(const T* P, int64_t m, int64_t k, const T* B, int64_t ldb, bool transB, int64_t n,
                    T alpha, T* C, int64_t ldc) {
  constexpr int L = Vec<T>::L;
  const int64_t sbp = transB ? 1 : ldb, sbj = transB ? ldb : 1;
  const int64_t panels = (m + L - 1) / L;
  parallelRange(panels, m * k * n, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const T* panel = P + b * k * L;
      T* Cb = C + b * L * ldc;
      const int64_t rows = std::min<int64_t>(L, m - b * L);
      // column blocks of at most 16 keep the accumulators in registers
      for (int64_t j0 = 0; j0 < n;) {
        const int64_t nb = std::min<int64_t>(n - j0, n > 16 ? (n + 1) / 2 : 16);
        switch (nb) {
#define RFHO_CASE(N) case N: panelBlock<T, N>(panel, k, B, sbp, sbj, j0, alpha, Cb, ldc, rows); break;
          RFHO_CASE(1) RFHO_CASE(2) RFHO_CASE(3) RFHO_CASE(4) RFHO_CASE(5) RFHO_CASE(6) RFHO_CASE(7) RFHO_CASE(8)
          RFHO_CASE(9) RFHO_CASE(10) RFHO_CASE(11) RFHO_CASE(12) RFHO_CASE(13) RFHO_CASE(14) RFHO_CASE(15) RFHO_CASE(16)
#undef RFHO_CASE
        }
        j0 += nb;
      }
    }
  });
}

template <typename T>
void packPanelsTyped(const T* X, int64_t rows, int64_t cols, T* out) {
  constexpr int L = Vec<T>::L;
  const int64_t panels = (rows + L - 1) / L;
  parallelRange(panels, rows * cols, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      T* dst = out + b * cols * L;
      for (int64_t r = 0; r < L; ++r) {
        const int64_t i = b * L + r;
        if (i < rows) {
          const T* src = X + i * cols;
          for (int64_t p = 0; p < cols; ++p) dst[p * L + r] = src[p];
        } else {
          for (int64_t p = 0; p < cols; ++p) dst[p * L + r] = T(0);
        }
      }
    }
  });
}

}  // namespace

bool skinnyGemm(DType dtype, const GemmArgs& g) {
  if (g.n < 1 || g.k < 1) return false;
  const bool f32 = dtype == DType::F32;
  if (g.n > 32 || g.k < 64 || g.m * g.k < (int64_t{1} << 16)) return false;
  // Widths up to which these kernels beat OpenBLAS (single-threaded halves, one per core), measured
  // on the shapes of a linear model over digits and of an MLP's output layer: the row-dot form
  // (C = A op(B)) to 12 float32 columns but only 2 float64 ones; the outer-product form
  // (C = Aᵀ op(B)) to 32 float32 columns and 12 float64 ones. With AVX-512 the float32 broadcast
  // form takes C = A op(B) to 16 columns. Past these widths BLAS's register blocking wins.
#if defined(__AVX512F__)
  const int64_t rowForm = f32 ? 16 : 2;
#else
  const int64_t rowForm = f32 ? 12 : 2;
#endif
  const int64_t widest = g.transA ? (f32 ? 32 : 12) : rowForm;
  if (g.n > widest) return false;
  return f32 ? skinnyTyped<float>(g) : skinnyTyped<double>(g);
}

}  // namespace rfho

namespace rfho {

void CpuBackend::packRowPanels(DType dtype, const void* x, int64_t rows, int64_t cols, void* out) {
  if (dtype == DType::F32) packPanelsTyped(static_cast<const float*>(x), rows, cols, static_cast<float*>(out));
  else packPanelsTyped(static_cast<const double*>(x), rows, cols, static_cast<double*>(out));
}

void CpuBackend::gemmRowPanels(DType dtype, const void* panels, int64_t m, int64_t k, const void* B, int64_t ldb,
                               bool transB, int64_t n, double alpha, void* C, int64_t ldc) {
  if (n > 32) throw ArgError("row-panel products take at most 32 columns");
  if (dtype == DType::F32)
    panelGemmTyped(static_cast<const float*>(panels), m, k, static_cast<const float*>(B), ldb, transB, n,
                   static_cast<float>(alpha), static_cast<float*>(C), ldc);
  else
    panelGemmTyped(static_cast<const double*>(panels), m, k, static_cast<const double*>(B), ldb, transB, n,
                   alpha, static_cast<double*>(C), ldc);
}

}  // namespace rfho
