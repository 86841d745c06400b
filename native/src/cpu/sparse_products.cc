// Sparse data matrices, their products (sparse_data.h): X·B and Xᵀ·B over a layout's CSR and CSC
// halves, so that the products of a linear model and of an MLP's first layer skip the
// multiplications by zero. Both are one kernel: output row r = Σ over the stored entries e of row
// r of val[e] · (row idx[e] of op(B)), the output row's columns held in registers while the
// entries stream by; wide products take the layout's dense columns through the dense gemm. A
// skipped zero times an infinite B entry contributes 0 where IEEE dense arithmetic gives NaN.
#include "sparse_data.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "cpu_backend.h"
#include "fast_math.h"
#include "simd.h"
#include "sparse_parts.h"

namespace rfho {

namespace {
using namespace sparse_parts;

// Loads and stores of the first lanes of a vector only (the last vector of a row whose width is
// not a multiple of the lanes); the lanes beyond are zero. Lanes is the number of lanes used.
#if defined(__AVX512F__)
typedef __mmask16 Lanes;
inline Lanes lanesFor(int count) { return static_cast<Lanes>((1u << count) - 1); }
inline Vec<float>::type loadLanes(const float* p, Lanes m) { return reinterpret_cast<Vec<float>::type>(_mm512_maskz_loadu_ps(m, p)); }
inline Vec<double>::type loadLanes(const double* p, Lanes m) {
  return reinterpret_cast<Vec<double>::type>(_mm512_maskz_loadu_pd(static_cast<__mmask8>(m), p));
}
inline void storeLanes(float* p, Vec<float>::type v, Lanes m) { _mm512_mask_storeu_ps(p, m, reinterpret_cast<__m512>(v)); }
inline void storeLanes(double* p, Vec<double>::type v, Lanes m) {
  _mm512_mask_storeu_pd(p, static_cast<__mmask8>(m), reinterpret_cast<__m512d>(v));
}
#else
typedef int Lanes;
inline Lanes lanesFor(int count) { return count; }
template <typename T>
inline typename Vec<T>::type loadLanes(const T* p, Lanes count) {
  typename Vec<T>::type v{};
  std::memcpy(&v, p, count * sizeof(T));
  return v;
}
template <typename T>
inline void storeLanes(T* p, typename Vec<T>::type v, Lanes count) {
  std::memcpy(p, &v, count * sizeof(T));
}
#endif

// One vector's worth of an output row: L (or fewer) columns of one operand, at the same offset
// in every row of that operand's B and C.
template <typename T>
struct Segment {
  const T* B;
  T* C;
  Lanes lanes;
};

// The TW segments of one output row r: S independent sets of TW accumulators take the stored
// entries in turn (one FMA chain per set would wait on its own latency), summed at the end.
// Every index into acc is a compile-time constant once unrolled, so it stays in registers.
// `wholeVectors`: a partial segment may be stored as a whole vector — its spill lands in rows
// this thread writes next (masked stores cost ~10× more on AMD's cores).
template <typename T, int TW, int S>
__attribute__((always_inline)) inline void rowTile(const int32_t* idx, const T* val, int32_t e0, int32_t e1,
                                                   const Segment<T>* seg, int64_t ldb, int64_t r, int64_t ldc, T alpha,
                                                   T beta, bool wholeVectors) {
  using V = typename Vec<T>::type;
  V acc[S][TW];
#pragma GCC unroll 8
  for (int s = 0; s < S; ++s)
#pragma GCC unroll 8
    for (int t = 0; t < TW; ++t) acc[s][t] = V{};
  int32_t e = e0;
  for (; e + S <= e1; e += S) {
#pragma GCC unroll 8
    for (int s = 0; s < S; ++s) {
      const int64_t row = static_cast<int64_t>(idx[e + s]) * ldb;
      const T v = val[e + s];
#pragma GCC unroll 8
      for (int t = 0; t < TW; ++t) acc[s][t] += v * loadLanes(seg[t].B + row, seg[t].lanes);
    }
  }
  for (; e < e1; ++e) {
    const int64_t row = static_cast<int64_t>(idx[e]) * ldb;
    const T v = val[e];
#pragma GCC unroll 8
    for (int t = 0; t < TW; ++t) acc[0][t] += v * loadLanes(seg[t].B + row, seg[t].lanes);
  }
#pragma GCC unroll 8
  for (int t = 0; t < TW; ++t) {
    V sum = acc[0][t];
#pragma GCC unroll 8
    for (int s = 1; s < S; ++s) sum += acc[s][t];
    T* c = seg[t].C + r * ldc;
    V out = alpha * sum;
    if (beta != T(0)) out += beta * loadLanes(c, seg[t].lanes);  // beta = 0 never reads C (it may hold NaN)
    if (wholeVectors) storeu(c, out);
    else storeLanes(c, out, seg[t].lanes);
  }
}

// Output rows [r0, r1) for the segments [s0, s1): tiles of up to four segments.
template <typename T>
void rowsOf(const int32_t* ptr, const int32_t* idx, const T* val, int64_t r0, int64_t r1, const Segment<T>* seg,
            int64_t s0, int64_t s1, int64_t ldb, int64_t n, int64_t ldc, T alpha, T beta, bool canSpill) {
  // Whole-vector stores of the last (partial) segment of a row overwrite the first columns of the
  // next rows, written afterwards by this thread (see spmm for when that holds).
  constexpr int64_t L = Vec<T>::L;
  const int64_t spillRows = (L - (n % L == 0 ? L : n % L) + n - 1) / n;
  for (int64_t r = r0; r < r1; ++r) {
    const int32_t e0 = ptr[r], e1 = ptr[r + 1];
    const bool whole = canSpill && r + spillRows < r1;
    for (int64_t s = s0; s < s1;) {
      const int64_t w = std::min<int64_t>(4, s1 - s);
      switch (w) {  // narrow products get more accumulator sets, wide ones more segments per pass
        case 1: rowTile<T, 1, 8>(idx, val, e0, e1, seg + s, ldb, r, ldc, alpha, beta, whole); break;
        case 2: rowTile<T, 2, 2>(idx, val, e0, e1, seg + s, ldb, r, ldc, alpha, beta, whole); break;
        case 3: rowTile<T, 3, 2>(idx, val, e0, e1, seg + s, ldb, r, ldc, alpha, beta, whole); break;
        default: rowTile<T, 4, 2>(idx, val, e0, e1, seg + s, ldb, r, ldc, alpha, beta, whole); break;
      }
      s += w;
    }
  }
}

// C_q [outRows, n] = alpha S B_q + beta C_q for every operand q, S given by (ptr, idx, val) with
// outRows rows (B_q: inner rows), all B_q with row stride ldb and all C_q with ldc. Rows are split
// across threads by stored entries (border pixels make some rows empty); wide products run in
// blocks of columns whose part of B stays in L2.
template <typename T>
void spmm(const int32_t* ptr, const int32_t* idx, const T* val, int64_t outRows, int64_t inner, const std::vector<const T*>& B,
          int64_t ldb, int64_t n, T alpha, T beta, const std::vector<T*>& C, int64_t ldc) {
  constexpr int L = Vec<T>::L;
  std::vector<Segment<T>> seg;
  for (size_t q = 0; q < B.size(); ++q)
    for (int64_t j = 0; j < n; j += L) seg.push_back({B[q] + j, C[q] + j, lanesFor(static_cast<int>(std::min<int64_t>(L, n - j)))});
  const int64_t nnz = ptr[outRows], segs = static_cast<int64_t>(seg.size());
  const std::vector<int64_t> bounds = rowsPerThread(ptr, outRows);
  const int threads = static_cast<int>(bounds.size()) - 1;
  // Blocks of 16 segments (256 float32 columns) when that much of B (inner rows) fits the 1 MiB L2,
  // else of 4 (64 columns): Xᵀ·G with 2000-row G measured ~8 % faster in blocks of 4 than of 16,
  // X·W with 784-row W ~2 % slower.
  const int64_t kBlockSegments = inner * 16 * L * static_cast<int64_t>(sizeof(T)) <= (int64_t{1} << 20) ? 16 : 4;
  // Spilling stores (rowsOf) need contiguous rows (ldc = n), no read of C (beta = 0) and every
  // column in one pass, so that the next rows' first columns are still to be written.
  const bool canSpill = beta == T(0) && ldc == n && segs <= kBlockSegments;
  // A product wider than one block reads each block's columns of B as short pieces of long rows
  // (a [784, 4096] float32 B: 1 KiB pieces 16 KiB apart, all in the same cache sets). Such a block
  // is first copied into rows of its own width, after which a wide product runs at the speed of a
  // 256-wide one instead of fighting over the same cache sets.
  const bool pack = segs > kBlockSegments;
  const int64_t segsPerOperand = (n + L - 1) / L;
  std::vector<T> once;
  std::vector<Segment<T>> packed(pack ? kBlockSegments : 0);
  for (int64_t s0 = 0; s0 < segs; s0 += kBlockSegments) {
    const int64_t s1 = std::min(segs, s0 + kBlockSegments);
    const Segment<T>* blockSeg = seg.data();
    int64_t blockLdb = ldb, first = s0;
    // (a block that is one operand's whole rows, back to back, is left where it is)
    const bool whole = s1 - s0 == segsPerOperand && s0 % segsPerOperand == 0 && ldb == segsPerOperand * L;
    if (pack && !whole) {
      const int64_t width = (s1 - s0) * L;
      T* dst = scratch<T, 2>(static_cast<size_t>(inner * width), once);
      parallelRange(inner, inner * width, [&](int64_t i0, int64_t i1) {
        for (int64_t q = s0; q < s1; ++q)  // each segment's columns (the last one's padded with zeros)
          padRows(dst + i0 * width + (q - s0) * L, width, L, seg[q].B + i0 * ldb, ldb, i1 - i0,
                  std::min<int64_t>(L, n - (q % segsPerOperand) * L), false);
      });
      for (int64_t q = s0; q < s1; ++q) packed[q - s0] = {dst + (q - s0) * L, seg[q].C, seg[q].lanes};
      blockSeg = packed.data();
      blockLdb = width;
      first = 0;
    }
    parallelRange(threads, (nnz + outRows) * (s1 - s0) * L, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t)
        rowsOf(ptr, idx, val, bounds[t], bounds[t + 1], blockSeg, first, first + (s1 - s0), blockLdb, n, ldc, alpha, beta, canSpill);
    });
  }
}


template <typename T>
void gemmTyped(const void* layout, int64_t rows, int64_t cols, int64_t nnz, bool transS, const void* const* Bv,
               int64_t ldb, bool transB, int64_t n, T alpha, T beta, void* const* Cv, int64_t operands, int64_t ldc) {
  constexpr int64_t L = Vec<T>::L;
  Parts<T> p = partsOf<T>(const_cast<void*>(layout), rows, cols, nnz);
  const int64_t inner = transS ? rows : cols;  // rows of op(B)
  std::vector<const T*> B(operands);
  std::vector<T*> C(operands);
  for (int64_t q = 0; q < operands; ++q) {
    B[q] = static_cast<const T*>(Bv[q]);
    C[q] = static_cast<T*>(Cv[q]);
  }
  // Each stored entry loads a row of op(B). Rows whose vectors straddle cache lines (a narrow
  // product: 10 float32 columns, rows 40 bytes apart) cost more than aligned ones while B is
  // small enough to stay in L1, so such a B is copied into whole aligned vectors when the copy is
  // at most 1/16 of the product's entries (on the digits, X·W and X·[W|V] gained a tenth). Xᵀ·G is
  // not copied: its G comes from L2, where straddling rows cost the same, and the copy only adds.
  // Bᵀ is always laid out [inner, n] (B is the small operand here).
  const int64_t ldp = (n + L - 1) / L * L;
  bool aligned = ldb % L == 0;
  for (int64_t q = 0; q < operands; ++q) aligned = aligned && reinterpret_cast<uintptr_t>(B[q]) % 64 == 0;
  const bool pad = !aligned && inner * ldp * operands * 16 <= nnz;
  std::vector<T> once;  // a copy over 4 MiB lives here, until the products below have read it
  if (transB || pad) {
    const int64_t stride = pad ? ldp : n;
    T* base = scratch<T, 0>(static_cast<size_t>(operands * inner * stride), once);
    for (int64_t q = 0; q < operands; ++q) {
      T* d = base + q * inner * stride;
      padRows(d, stride, stride, B[q], ldb, inner, n, transB);
      B[q] = d;
    }
    ldb = stride;
  }
  const DenseColumns<T> dense = denseColumnsOf<T>(const_cast<void*>(layout), rows, cols, nnz);
  if (dense.count == 0 || n < kDenseColumnsMinWidth) {
    if (transS) spmm(p.ptrC, p.idxC, p.valC, cols, inner, B, ldb, n, alpha, beta, C, ldc);
    else spmm(p.ptrR, p.idxR, p.valR, rows, inner, B, ldb, n, alpha, beta, C, ldc);
    return;
  }
  // The other columns' entries by the gathers (alpha, beta: every output row written), then the
  // dense columns' share added by the dense gemm, operand by operand.
  const Parts<T>& rest = dense.rest;
  const int64_t dc = dense.count;
  std::vector<T> onceD;
  T* part = scratch<T, 3>(static_cast<size_t>(dc * n), onceD);
  const DType dtype = sizeof(T) == 4 ? DType::F32 : DType::F64;
  if (!transS) {
    // C += alpha · D · B[columns, :], D the [rows, dc] dense columns
    spmm(rest.ptrR, rest.idxR, rest.valR, rows, inner, B, ldb, n, alpha, beta, C, ldc);
    for (int64_t q = 0; q < operands; ++q) {
      parallelRange(dc, dc * n, [&](int64_t j0, int64_t j1) {
        for (int64_t j = j0; j < j1; ++j)
          std::memcpy(part + j * n, B[q] + int64_t{dense.columns[j]} * ldb, static_cast<size_t>(n) * sizeof(T));
      });
      GemmArgs g;
      g.m = rows, g.n = n, g.k = dc, g.alpha = alpha, g.beta = 1;
      g.A = dense.values, g.lda = dc, g.B = part, g.ldb = n, g.C = C[q], g.ldc = ldc;
      cpuGemm(dtype, g);
    }
  } else {
    // rows `columns` of C += alpha · Dᵀ · B
    spmm(rest.ptrC, rest.idxC, rest.valC, cols, inner, B, ldb, n, alpha, beta, C, ldc);
    for (int64_t q = 0; q < operands; ++q) {
      GemmArgs g;
      g.transA = true, g.m = dc, g.n = n, g.k = rows, g.alpha = alpha, g.beta = 0;
      g.A = dense.values, g.lda = dc, g.B = B[q], g.ldb = ldb, g.C = part, g.ldc = n;
      cpuGemm(dtype, g);
      parallelRange(dc, dc * n, [&](int64_t j0, int64_t j1) {
        for (int64_t j = j0; j < j1; ++j) {
          T* c = C[q] + int64_t{dense.columns[j]} * ldc;
          const T* s = part + j * n;
#pragma omp simd
          for (int64_t i = 0; i < n; ++i) c[i] += s[i];
        }
      });
    }
  }
}

}  // namespace

void sparseGemm(DType dtype, const void* layout, int64_t rows, int64_t cols, int64_t nnz, bool transS,
                const void* const* B, int64_t ldb, bool transB, int64_t n, double alpha, double beta, void* const* C,
                int64_t operands, int64_t ldc) {
  DenormalsAreZero daz;
  if (dtype == DType::F32)
    gemmTyped<float>(layout, rows, cols, nnz, transS, B, ldb, transB, n, static_cast<float>(alpha),
                     static_cast<float>(beta), C, operands, ldc);
  else
    gemmTyped<double>(layout, rows, cols, nnz, transS, B, ldb, transB, n, alpha, beta, C, operands, ldc);
}

void CpuBackend::sparseGemm(DType dtype, const void* layout, int64_t rows, int64_t cols, int64_t nnz, bool transS,
                            const void* const* B, int64_t ldb, bool transB, int64_t n, double alpha, double beta,
                            void* const* C, int64_t operands, int64_t ldc) {
  rfho::sparseGemm(dtype, layout, rows, cols, nnz, transS, B, ldb, transB, n, alpha, beta, C, operands, ldc);
}
}  // namespace rfho
