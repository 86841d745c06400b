// Data movement: strided copies, permutations, row gathers and deterministic scatter-adds.
#include "cuda_backend.h"
#include <cub/cub.cuh>

namespace rfho {
namespace {

// rows × cols elements of es bytes from a row stride ss to a row stride ds (in elements)
__global__ void copy2dKernel(const char* src, int64_t ss, char* dst, int64_t ds, int64_t rows, int64_t cols, int es) {
  GRID_STRIDE(i, rows * cols) {
    const int64_t r = i / cols, c = i % cols;
    const char* from = src + (r * ss + c) * es;
    char* to = dst + (r * ds + c) * es;
    if (es == 8) *reinterpret_cast<uint64_t*>(to) = *reinterpret_cast<const uint64_t*>(from);
    else *reinterpret_cast<uint32_t*>(to) = *reinterpret_cast<const uint32_t*>(from);
  }
}


// ---- data movement ------------------------------------------------------------------------

template <typename T>
__global__ void permuteKernel(const T* x, T* out, int ndim, Shape8 outShape, Shape8 srcStride, int64_t n) {
  GRID_STRIDE(i, n) {
    int64_t rem = i, off = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      off += (rem % outShape.v[d]) * srcStride.v[d];
      rem /= outShape.v[d];
    }
    out[i] = x[off];
  }
}

// An index outside [0, rows) gathers zeros and flags kBadIndex.
template <typename T>
__global__ void gatherKernel(const T* x, const int32_t* idx, T* out, int64_t nIdx, int64_t rowLen, int64_t rows, unsigned* status) {
  GRID_STRIDE(i, nIdx * rowLen) {
    const int32_t r = idx[i / rowLen];
    if (r < 0 || r >= rows) {
      out[i] = T(0);
      atomicOr(status, kBadIndex);
    } else {
      out[i] = x[static_cast<int64_t>(r) * rowLen + i % rowLen];
    }
  }
}
// scatterAddRows without atomics, so that its sums are the same bits run after run (checkpointed
// reverse passes recompute steps and must equal the full ones): the indices sorted with their
// positions (a stable radix sort), then one thread per output element adds its entries in position
// order onto the old value — the CPU backend's order. Indices outside [0, rows) flag kBadIndex.
__global__ void iotaKernel(int32_t* v, int64_t n) {
  GRID_STRIDE(i, n) v[i] = static_cast<int32_t>(i);
}
__global__ void flagOutOfRange(const int32_t* idx, int64_t n, int64_t rows, unsigned* status) {
  GRID_STRIDE(i, n) if (idx[i] < 0 || idx[i] >= rows) atomicOr(status, kBadIndex);
}
template <typename T>
__global__ void segmentAddKernel(const T* x, const int32_t* keys, const int32_t* pos, T* out, int64_t nIdx,
                                 int64_t rowLen, int64_t rows) {
  GRID_STRIDE(e, rows * rowLen) {
    const int64_t r = e / rowLen, col = e % rowLen;
    int64_t lo = 0, hi = nIdx;  // the first sorted entry with key ≥ r
    while (lo < hi) {
      const int64_t mid = (lo + hi) / 2;
      if (keys[mid] < r) lo = mid + 1;
      else hi = mid;
    }
    if (lo == nIdx || keys[lo] != r) continue;
    T acc = out[e];
    for (int64_t p = lo; p < nIdx && keys[p] == r; ++p) acc += x[static_cast<int64_t>(pos[p]) * rowLen + col];
    out[e] = acc;
  }
}

}  // namespace

void CudaBackend::copy2d(DType d, const void* src, int64_t so, int64_t ss, void* dst, int64_t dof, int64_t ds, int64_t rows, int64_t cols) {
  const Serial serial(opMu_);
  if (rows * cols == 0) return;
  const size_t es = dtypeSize(d);
  copy2dKernel<<<blocksFor(rows * cols), kThreads, 0, stream_>>>(static_cast<const char*>(src) + so * es, ss, static_cast<char*>(dst) + dof * es, ds,
                                                              rows, cols, static_cast<int>(es));
  check(__func__);
}

void CudaBackend::permute(DType d, const void* x, void* out, int ndim, const int64_t* shape, const int64_t* perm) {
  const Serial serial(opMu_);
  Shape8 outShape{}, srcStride{};
  int64_t inStride[kMaxDims];
  int64_t n = 1;
  for (int i = ndim - 1; i >= 0; --i) {
    inStride[i] = n;
    n *= shape[i];
  }
  for (int i = 0; i < ndim; ++i) {
    outShape.v[i] = shape[perm[i]];
    srcStride.v[i] = inStride[perm[i]];
  }
  if (n == 0) return;
  if (d == DType::I32) {
    permuteKernel<int32_t><<<blocksFor(n), kThreads, 0, stream_>>>(static_cast<const int32_t*>(x), static_cast<int32_t*>(out), ndim, outShape, srcStride, n);
  } else {
    withType(d, [&](auto t) {
      using T = decltype(t);
      permuteKernel<T><<<blocksFor(n), kThreads, 0, stream_>>>(static_cast<const T*>(x), static_cast<T*>(out), ndim, outShape, srcStride, n);
    });
  }
  check(__func__);
}

void CudaBackend::gatherRows(DType d, const void* x, const int32_t* idx, void* out, int64_t nIdx, int64_t rowLen, int64_t rows) {
  const Serial serial(opMu_);
  if (nIdx * rowLen == 0) return;
  statusPending_ = true;
  if (d == DType::I32) {
    gatherKernel<int32_t><<<blocksFor(nIdx * rowLen), kThreads, 0, stream_>>>(static_cast<const int32_t*>(x), idx, static_cast<int32_t*>(out), nIdx, rowLen, rows, status());
  } else {
    withType(d, [&](auto t) {
      using T = decltype(t);
      gatherKernel<T><<<blocksFor(nIdx * rowLen), kThreads, 0, stream_>>>(static_cast<const T*>(x), idx, static_cast<T*>(out), nIdx, rowLen, rows, status());
    });
  }
  check(__func__);
}

void CudaBackend::scatterAddRows(DType d, const void* x, const int32_t* idx, void* out, int64_t nIdx, int64_t rowLen, int64_t rows) {
  const Serial serial(opMu_);
  if (nIdx * rowLen == 0) return;
  if (nIdx > INT32_MAX) throw ArgError("scatterAddRows: more than 2^31 − 1 indices; split them");
  statusPending_ = true;
  flagOutOfRange<<<blocksFor(nIdx), kThreads, 0, stream_>>>(idx, nIdx, rows, status());
  // keys and positions sorted (stable), in memory from the caching allocator (stream-ordered reuse)
  const int n = static_cast<int>(nIdx);
  size_t tempBytes = 0;
  RFHO_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, tempBytes, idx, static_cast<int32_t*>(nullptr), static_cast<const int32_t*>(nullptr),
                                                  static_cast<int32_t*>(nullptr), n, 0, 32, stream_));
  const size_t listBytes = static_cast<size_t>(n) * sizeof(int32_t);
  char* buf = static_cast<char*>(allocate(3 * listBytes + tempBytes));
  int32_t* keys = reinterpret_cast<int32_t*>(buf);
  int32_t* posIn = reinterpret_cast<int32_t*>(buf + listBytes);
  int32_t* pos = reinterpret_cast<int32_t*>(buf + 2 * listBytes);
  try {
    iotaKernel<<<blocksFor(nIdx), kThreads, 0, stream_>>>(posIn, nIdx);
    RFHO_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(buf + 3 * listBytes, tempBytes, idx, keys, posIn, pos, n, 0, 32, stream_));
    withType(d, [&](auto t) {
      using T = decltype(t);
      segmentAddKernel<T><<<blocksFor(rows * rowLen), kThreads, 0, stream_>>>(static_cast<const T*>(x), keys, pos, static_cast<T*>(out),
                                                                              nIdx, rowLen, rows);
    });
    check(__func__);
  } catch (...) {
    release(buf, 3 * listBytes + tempBytes);
    throw;
  }
  release(buf, 3 * listBytes + tempBytes);
}

}  // namespace rfho
