// How the kernels over a data matrix read a sparse layout (sparse_data.h) — its CSR and CSC halves,
// its dense columns — split its rows across threads, and keep per-thread scratch: shared by the
// layout's construction (sparse_layout.cc), its products (sparse_products.cc) and the linear
// model's fused loss (linear_xent.cc).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace rfho {
namespace sparse_parts {

template <typename T>
struct Parts {
  T* valR;        // [nnz] values in row order (CSR)
  T* valC;        // [nnz] values in column order (CSC)
  int32_t* ptrR;  // [rows + 1]
  int32_t* idxR;  // [nnz] column of each CSR value
  int32_t* ptrC;  // [cols + 1]
  int32_t* idxC;  // [nnz] row of each CSC value
};

template <typename T>
inline Parts<T> partsOf(void* base, int64_t rows, int64_t cols, int64_t nnz) {
  Parts<T> p;
  p.valR = static_cast<T*>(base);
  p.valC = p.valR + nnz;
  p.ptrR = reinterpret_cast<int32_t*>(p.valC + nnz);
  p.idxR = p.ptrR + rows + 1;
  p.ptrC = p.idxR + nnz;
  p.idxC = p.ptrC + cols + 1;
  return p;
}

// count elements of 64-byte-aligned scratch memory for the calling thread. Up to 4 MiB is kept
// between calls (grow-only, one block per Slot): a fresh block would be fresh pages, and their
// first touch costs more here than the work done in them. Larger requests live in `once`, freed
// by the caller's scope.
template <typename T, int Slot>
T* scratch(size_t count, std::vector<T>& once) {
  thread_local std::vector<T> kept;
  const size_t need = count + 64 / sizeof(T);
  std::vector<T>& block = need * sizeof(T) <= (size_t{4} << 20) ? kept : once;
  if (block.size() < need) block.resize(need);
  T* base = block.data();
  return base + (64 - reinterpret_cast<uintptr_t>(base) % 64) % 64 / sizeof(T);
}

// rows × n values of op(src) (src row stride ld; transposed: op(src) = srcᵀ) into rows `width`
// wide, dst row stride dstStride, zeros after the n values.
template <typename T>
inline void padRows(T* dst, int64_t dstStride, int64_t width, const T* src, int64_t ld, int64_t rows, int64_t n,
             bool transpose) {
  for (int64_t i = 0; i < rows; ++i) {
    T* di = dst + i * dstStride;
    if (transpose)
      for (int64_t j = 0; j < n; ++j) di[j] = src[j * ld + i];
    else
      std::memcpy(di, src + i * ld, static_cast<size_t>(n) * sizeof(T));
    std::fill(di + n, di + width, T(0));
  }
}

// Each thread's rows [bounds[t], bounds[t + 1]): equal shares of the stored entries (border
// pixels make some rows empty).
inline std::vector<int64_t> rowsPerThread(const int32_t* ptr, int64_t rows) {
  int threads = 1;
#ifdef _OPENMP
  threads = omp_get_max_threads();
#endif
  const int64_t nnz = ptr[rows];
  std::vector<int64_t> bounds(threads + 1, rows);
  bounds[0] = 0;
  for (int t = 1; t < threads; ++t)
    bounds[t] = std::upper_bound(ptr, ptr + rows + 1, static_cast<int32_t>(nnz * t / threads)) - ptr - 1;
  for (int t = 1; t <= threads; ++t) bounds[t] = std::max(bounds[t], bounds[t - 1]);
  return bounds;
}


// Bytes of the CSR and CSC halves of nnz entries (the first part of a layout).
inline size_t bothWaysBytes(size_t valueBytes, int64_t rows, int64_t cols, int64_t nnz) {
  return static_cast<size_t>(2 * nnz) * valueBytes + static_cast<size_t>(rows + 1 + cols + 1 + 2 * nnz) * 4;
}
inline size_t alignUp64(size_t bytes) { return (bytes + 63) / 64 * 64; }
// The second part's 64-byte header (denseCols, restNnz), after the first part of a layout.
inline int64_t* headerOf(const void* base, size_t valueBytes, int64_t rows, int64_t cols, int64_t nnz) {
  return reinterpret_cast<int64_t*>(const_cast<char*>(static_cast<const char*>(base)) +
                                    alignUp64(bothWaysBytes(valueBytes, rows, cols, nnz)));
}

// The second part of a layout (sparse_data.h): a 64-byte header (denseCols, restNnz), the dense
// columns as a row-major [rows, denseCols] matrix, the other columns' entries both ways, then the
// dense columns' indices. Wide products take the dense columns through the dense gemm (digits:
// ~240 of 784 pixel columns hold ~3/4 of the entries at densities 0.3–0.7, where a gather per
// entry runs at a third of the dense kernel's speed) and only the rest through the gathers.
template <typename T>
struct DenseColumns {
  int64_t count = 0, restNnz = 0;
  T* values = nullptr;           // [rows, count]
  int32_t* columns = nullptr;    // [count], ascending
  Parts<T> rest;                 // entries of the other columns (the dense ones' CSC ranges empty)
};

template <typename T>
inline DenseColumns<T> denseColumnsOf(void* base, int64_t rows, int64_t cols, int64_t nnz) {
  const int64_t* header = headerOf(base, sizeof(T), rows, cols, nnz);
  DenseColumns<T> d;
  d.count = header[0];
  d.restNnz = header[1];
  if (d.count == 0) return d;  // the layout ends with the header
  d.values = reinterpret_cast<T*>(const_cast<int64_t*>(header) + 8);
  d.rest = partsOf<T>(d.values + rows * d.count, rows, cols, d.restNnz);
  d.columns = d.rest.idxC + d.restNnz;
  return d;
}


}  // namespace sparse_parts
}  // namespace rfho
