// Large matrix products with our own AVX-512 micro-kernel, in the Goto/BLIS structure: B is packed
// in panels that stay in L2, A in micro-panels of MR rows, and an MR × NR block of C is held in
// 16 registers while the shared dimension streams by.
//
// Why not OpenBLAS for these: the machines this project runs on pin OpenBLAS to its Haswell (AVX2)
// kernels (OPENBLAS_CORETYPE, because Debian's OpenBLAS 0.3.21 miscomputes with its own CPU
// detection there), which caps float32 products at ~190 GFLOP/s where the cores reach ~350 with
// 512-bit FMAs. Products too small to amortise the packing, and builds without AVX-512, stay
// with OpenBLAS.
#include "packed_gemm.h"
#include "simd.h"

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
      for (int64_t r = 0; r < W; ++r) {
        if (r < w) {
          const T* src = M + (i0 + ir + r) * ld + p0;
          for (int64_t p = 0; p < kc; ++p) d[p * W + r] = src[p];
        } else {
          for (int64_t p = 0; p < kc; ++p) d[p * W + r] = T(0);
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
  static const bool disabled = [] {
    const char* v = std::getenv("RFHO_GEMM");
    return v != nullptr && std::strcmp(v, "openblas") == 0;
  }();
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
