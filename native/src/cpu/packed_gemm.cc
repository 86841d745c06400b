// Large matrix products with our own AVX-512 micro-kernel, in the Goto/BLIS structure: B is packed
// in panels that stay in L2, A in micro-panels of MR rows, and an MR × NR block of C is held in
// 16 registers while the shared dimension streams by.
//
// Why not OpenBLAS for these: the machines this project runs on pin OpenBLAS to its Haswell (AVX2)
// kernels (OPENBLAS_CORETYPE, because Debian's OpenBLAS 0.3.21 miscomputes with its own CPU
// detection there), which leaves about half of the cores' 512-bit FMA throughput unused. Products too small to amortise the packing, and builds without AVX-512, stay
// with OpenBLAS.
#include "packed_gemm.h"
#include "../settings.h"
#include "simd.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace rfho {

#if defined(__AVX512F__)
namespace {

template <typename T>
struct Tile {
  static constexpr int L = Vec<T>::L;
  static constexpr int MR = 8;      // rows of C per micro-kernel
  static constexpr int NR = 2 * L;  // columns of C per micro-kernel (two registers)
  typedef typename Vec<T>::type V;
};

// Blocking, in elements (float32 sizes): a kc × NR micro-panel of B (32 KiB) and a kc × MR one of
// A (8 KiB) fit a 48 KiB L1 together; the kc × nc panel of B (768 KiB) and the mc × kc block of A
// (192 KiB) share the 1 MiB L2. Measured against 192/144/512 and against MR = 12 (register
// spills): these were the fastest on the FR and 1024³ shapes.
constexpr int64_t KC = 256, MC = 192, NC = 768;

// Packs the block [p0, p0+kc) × [i0, i0+width) of an operand M, seen as a kc-deep, width-wide
// matrix M'(p, i), into micro-panels of W columns: panel r holds, for each p, the W values
// M'(p, r·W .. r·W+W) (zero beyond width). `alongRows`: M'(p, i) = M[p, i] (a contiguous run per p),
// else M'(p, i) = M[i, p] (W row streams). A's panels are op(A)ᵀ's with W = MR, B's op(B)'s with NR.
// 8 rows of 16 floats (row r at src + r·ld) into 16 groups of 8, one per column: dst[p·8 + r] =
// src[r·ld + p]: three rounds of two-source permutes (pairs, pairs of pairs, halves) in place of
// 128 scalar moves, for the A panels of a row-major A (op(A) rows contiguous).
inline void transpose8x16(const float* src, int64_t ld, float* dst) {
  const __m512i pairLo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i pairHi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const __m512i quadLo = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11);
  const __m512i quadHi = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
  const __m512i octLo = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
  const __m512i octHi = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
  __m512 v[8];
  for (int r = 0; r < 8; ++r) v[r] = _mm512_loadu_ps(src + r * ld);
  __m512d t[8];  // t[2q + h]: rows 2q, 2q + 1 interleaved, columns 8h .. 8h + 7
  for (int q = 0; q < 4; ++q) {
    t[2 * q] = _mm512_castps_pd(_mm512_permutex2var_ps(v[2 * q], pairLo, v[2 * q + 1]));
    t[2 * q + 1] = _mm512_castps_pd(_mm512_permutex2var_ps(v[2 * q], pairHi, v[2 * q + 1]));
  }
  __m512d u[8];  // u[4s + 2h + g]: rows 4s .. 4s + 3 of columns 8h + 4g .. 8h + 4g + 3
  for (int s = 0; s < 2; ++s)
    for (int h = 0; h < 2; ++h) {
      u[4 * s + 2 * h] = _mm512_permutex2var_pd(t[4 * s + h], quadLo, t[4 * s + 2 + h]);
      u[4 * s + 2 * h + 1] = _mm512_permutex2var_pd(t[4 * s + h], quadHi, t[4 * s + 2 + h]);
    }
  for (int j = 0; j < 4; ++j) {  // all 8 rows of columns 2c, 2c + 1 (c = 2j, 2j + 1)
    _mm512_storeu_pd(reinterpret_cast<double*>(dst + 32 * j), _mm512_permutex2var_pd(u[j], octLo, u[4 + j]));
    _mm512_storeu_pd(reinterpret_cast<double*>(dst + 32 * j + 16), _mm512_permutex2var_pd(u[j], octHi, u[4 + j]));
  }
}

template <typename T, int W>
void packPanels(const T* M, int64_t ld, bool alongRows, int64_t i0, int64_t width, int64_t p0, int64_t kc, T* dst) {
  for (int64_t ir = 0; ir < width; ir += W) {
    const int64_t w = std::min<int64_t>(W, width - ir);
    T* d = dst + ir * kc;
    if (alongRows) {
      const T* src = M + p0 * ld + i0 + ir;
      if (w == W) {
        // a copy of a compile-time size: inlined vector moves (a memcpy call per W values cost
        // ~12 % of a 256 × 256 × 2000 product, whose panels are packed 8 and 32 floats at a time)
        for (int64_t p = 0; p < kc; ++p) std::memcpy(d + p * W, src + p * ld, W * sizeof(T));
      } else {
        for (int64_t p = 0; p < kc; ++p) {
          std::memcpy(d + p * W, src + p * ld, static_cast<size_t>(w) * sizeof(T));
          for (int64_t r = w; r < W; ++r) d[p * W + r] = T(0);
        }
      }
    } else {
      int64_t done = 0;  // leading values of each row packed 16 at a time
      if constexpr (sizeof(T) == 4 && W == 8) {
        if (w == W)
          for (; done + 16 <= kc; done += 16) transpose8x16(M + (i0 + ir) * ld + p0 + done, ld, d + done * W);
      }
      for (int64_t r = 0; r < W; ++r) {
        if (r < w) {
          const T* src = M + (i0 + ir + r) * ld + p0;
          for (int64_t p = done; p < kc; ++p) d[p * W + r] = src[p];
        } else {
          for (int64_t p = done; p < kc; ++p) d[p * W + r] = T(0);
        }
      }
    }
  }
}

// C[0..mr) × [0..nr) (= / +=) alpha · Apanel · Bpanel over kc. `first`: C = alpha·AB + beta·C,
// else C += alpha·AB (the later kc blocks). beta = 0 never reads C (it may hold NaN).
template <typename T>
inline void microKernel(int64_t kc, const T* __restrict a, const T* __restrict b, T* C, int64_t ldc,
                        int64_t mr, int64_t nr, T alpha, T beta, bool first) {
  using V = typename Tile<T>::V;
  constexpr int L = Tile<T>::L, MR = Tile<T>::MR, NR = Tile<T>::NR;
  V c0[MR], c1[MR];
  for (int r = 0; r < MR; ++r) c0[r] = c1[r] = V{};
  for (int64_t p = 0; p < kc; ++p) {
    const V b0 = loadu<T>(b + p * NR), b1 = loadu<T>(b + p * NR + L);
    const T* ap = a + p * MR;
    for (int r = 0; r < MR; ++r) {
      const T ar = ap[r];
      c0[r] += b0 * ar;
      c1[r] += b1 * ar;
    }
  }
  const T cb = first ? beta : T(1);
  if (mr == MR && nr == NR) {
    for (int r = 0; r < MR; ++r) {
      T* cr = C + r * ldc;
      if (cb == T(0)) {
        storeu<T>(cr, c0[r] * alpha);
        storeu<T>(cr + L, c1[r] * alpha);
      } else {
        storeu<T>(cr, c0[r] * alpha + loadu<T>(cr) * cb);
        storeu<T>(cr + L, c1[r] * alpha + loadu<T>(cr + L) * cb);
      }
    }
    return;
  }
  T tile[MR * NR];
  for (int r = 0; r < MR; ++r) {
    storeu<T>(tile + r * NR, c0[r]);
    storeu<T>(tile + r * NR + L, c1[r]);
  }
  for (int64_t r = 0; r < mr; ++r)
    for (int64_t j = 0; j < nr; ++j) {
      T* c = C + r * ldc + j;
      *c = alpha * tile[r * NR + j] + (cb == T(0) ? T(0) : cb * *c);
    }
}

}  // namespace

template <typename T>
bool packedGemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* A, int64_t lda,
                const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  constexpr int MR = Tile<T>::MR, NR = Tile<T>::NR;
  // RFHO_GEMM=openblas sends every product to OpenBLAS (for comparisons and as an escape hatch).
  static const bool disabled = settings::gemmToBlas();
  if (disabled) return false;
  // Below ~64³ (or for very thin products) the packing does not pay; OpenBLAS takes those.
  if (m < MR || n < NR || k < 16 || m * n * k < (int64_t{1} << 18)) return false;
  // One set of packing buffers per thread, reused across calls.
  thread_local std::vector<T> bufA, bufB;
  bufA.resize(static_cast<size_t>(MC * KC));
  bufB.resize(static_cast<size_t>(((NC + NR - 1) / NR) * NR * KC));
  for (int64_t jc = 0; jc < n; jc += NC) {
    const int64_t nc = std::min(NC, n - jc);
    for (int64_t pc = 0; pc < k; pc += KC) {
      const int64_t kc = std::min(KC, k - pc);
      packPanels<T, NR>(B, ldb, !tb, jc, nc, pc, kc, bufB.data());  // op(B)(p, j)
      for (int64_t ic = 0; ic < m; ic += MC) {
        const int64_t mc = std::min(MC, m - ic);
        packPanels<T, MR>(A, lda, ta, ic, mc, pc, kc, bufA.data());  // op(A)ᵀ(p, i)
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int64_t nr = std::min<int64_t>(NR, nc - jr);
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int64_t mr = std::min<int64_t>(MR, mc - ir);
            microKernel<T>(kc, bufA.data() + ir * kc, bufB.data() + jr * kc, C + (ic + ir) * ldc + jc + jr, ldc,
                           mr, nr, alpha, beta, pc == 0);
          }
        }
      }
    }
  }
  return true;
}

#else  // no AVX-512 in this build: OpenBLAS does every product

template <typename T>
bool packedGemm(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, int64_t, T, T*, int64_t) {
  return false;
}

#endif

template bool packedGemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                                int64_t, float, float*, int64_t);
template bool packedGemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                 const double*, int64_t, double, double*, int64_t);

}  // namespace rfho
