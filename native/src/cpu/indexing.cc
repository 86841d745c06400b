// Data movement: strided 2-D copies (slice, concat), permutes, row gathers and scatter-adds.
#include <cstring>

#include "cpu_backend.h"

namespace rfho {

void CpuBackend::copy2d(DType dtype, const void* src, int64_t srcOffset, int64_t srcStride,
                        void* dst, int64_t dstOffset, int64_t dstStride, int64_t rows,
                        int64_t cols) {
  const size_t es = dtypeSize(dtype);
  const char* s = static_cast<const char*>(src) + srcOffset * es;
  char* d = static_cast<char*>(dst) + dstOffset * es;
  // Split into pieces of ≥ 64 KiB (whole rows, or parts of long rows) across the threads: one
  // thread's memcpy reaches a fraction of the memory's bandwidth that two together reach (the blocks of a [k, d]
  // tangent of a flat parameter vector, copied out and back at every Forward-HG step).
  const int64_t rowBytes = cols * static_cast<int64_t>(es);
  const int64_t piecesPerRow = std::max<int64_t>(1, rowBytes / (int64_t{1} << 16));
  const int64_t pieceCols = (cols + piecesPerRow - 1) / piecesPerRow;
  parallelRange(rows * piecesPerRow, rows * rowBytes / 8, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t r = p / piecesPerRow, c0 = (p % piecesPerRow) * pieceCols, c1 = std::min(cols, c0 + pieceCols);
      if (c1 > c0) std::memcpy(d + (r * dstStride + c0) * es, s + (r * srcStride + c0) * es, (c1 - c0) * es);
    }
  });
}

namespace {
template <typename T>
void permuteTyped(const T* x, T* out, int ndim, const int64_t* shape, const int64_t* perm) {
  int64_t inStride[kMaxDims] = {0}, outShape[kMaxDims] = {0}, srcStride[kMaxDims] = {0};
  int64_t numel = 1;
  for (int d = ndim - 1; d >= 0; --d) {
    inStride[d] = numel;
    numel *= shape[d];
  }
  for (int d = 0; d < ndim; ++d) {
    outShape[d] = shape[perm[d]];
    srcStride[d] = inStride[perm[d]];
  }
  if (numel == 0) return;
  const int last = ndim - 1;
  const int64_t inner = outShape[last];
  const int64_t rows = numel / inner;
  const int64_t si = srcStride[last];
  parallelRange(rows, numel, [&](int64_t rb, int64_t re) {
    RowOffsets<1> at(last, outShape, {srcStride}, rb);
    for (int64_t r = rb; r < re; ++r, at.next()) {
      T* o = out + r * inner;
      const T* s = x + at.off[0];
      for (int64_t i = 0; i < inner; ++i) o[i] = s[i * si];
    }
  });
}
}  // namespace

void CpuBackend::permute(DType dtype, const void* x, void* out, int ndim, const int64_t* shape,
                         const int64_t* perm) {
  if (dtype == DType::I32) {
    permuteTyped(static_cast<const int32_t*>(x), static_cast<int32_t*>(out), ndim, shape, perm);
    return;
  }
  withFloatType(dtype, [&](auto t) {
    using T = decltype(t);
    permuteTyped(static_cast<const T*>(x), static_cast<T*>(out), ndim, shape, perm);
  });
}

void CpuBackend::gatherRows(DType dtype, const void* x, const int32_t* idx, void* out, int64_t nIdx,
                            int64_t rowLen, int64_t /* rows: the binding checked the indices */) {
  const size_t rb = rowLen * dtypeSize(dtype);
  const char* s = static_cast<const char*>(x);
  char* d = static_cast<char*>(out);
  parallelRange(nIdx, nIdx * rowLen, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) std::memcpy(d + i * rb, s + idx[i] * rb, rb);
  });
}

void CpuBackend::scatterAddRows(DType dtype, const void* x, const int32_t* idx, void* out,
                                int64_t nIdx, int64_t rowLen, int64_t /* rows: the binding checked the indices */) {
  withFloatType(dtype, [&](auto t) {
    using T = decltype(t);
    const T* s = static_cast<const T*>(x);
    T* d = static_cast<T*>(out);
    // Sequential over i: indices may repeat, and the order of additions must be reproducible.
    for (int64_t i = 0; i < nIdx; ++i) {
      T* row = d + idx[i] * rowLen;
      const T* src = s + i * rowLen;
      for (int64_t j = 0; j < rowLen; ++j) row[j] += src[j];
    }
  });
}

}  // namespace rfho
