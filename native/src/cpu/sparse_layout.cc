// Sparse data matrices, their layout: a constant data matrix that is mostly zeros (digit images:
// ~80 %) kept compressed both ways — CSR (its rows) for X·B and CSC (the rows of Xᵀ) for Xᵀ·B — and,
// for the wide products, its densest columns apart (sparse_data.h). Built here from the dense
// matrix (indices valid by construction) in a buffer that no other kernel accepts
// (bindings/args.cc), so no call can corrupt it. NaN entries are stored (NaN ≠ 0) and propagate.
#include "sparse_data.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cpu_backend.h"
#include "sparse_parts.h"

namespace rfho {

namespace {
using namespace sparse_parts;

template <typename T>
int64_t countTyped(const T* x, int64_t n) {
  return static_cast<int64_t>(parallelSum(n, [&](int64_t b, int64_t e) {
    int64_t c = 0;
    for (int64_t i = b; i < e; ++i) c += x[i] != T(0);  // NaN counts (NaN != 0): it must propagate
    return static_cast<double>(c);
  }));
}

template <typename T>
void packTyped(const T* x, int64_t rows, int64_t cols, int64_t nnz, void* out) {
  Parts<T> p = partsOf<T>(out, rows, cols, nnz);
  int32_t e = 0;
  std::fill(p.ptrC, p.ptrC + cols + 1, 0);
  for (int64_t r = 0; r < rows; ++r) {
    p.ptrR[r] = e;
    const T* row = x + r * cols;
    for (int64_t c = 0; c < cols; ++c)
      if (row[c] != T(0)) {
        p.valR[e] = row[c];
        p.idxR[e] = static_cast<int32_t>(c);
        ++e;
        ++p.ptrC[c + 1];
      }
  }
  p.ptrR[rows] = e;
  for (int64_t c = 0; c < cols; ++c) p.ptrC[c + 1] += p.ptrC[c];
  // CSC by a counting sort of the CSR entries: rows ascending within each column.
  std::vector<int32_t> next(p.ptrC, p.ptrC + cols);
  for (int64_t r = 0; r < rows; ++r)
    for (int32_t q = p.ptrR[r]; q < p.ptrR[r + 1]; ++q) {
      const int32_t dst = next[p.idxR[q]]++;
      p.valC[dst] = p.valR[q];
      p.idxC[dst] = static_cast<int32_t>(r);
    }
}

// The second part (DenseColumns) from the first: the columns with at least plan.denseMinCount
// entries copied out densely, the other entries both ways as in the first part.
template <typename T>
void packDenseColumns(int64_t rows, int64_t cols, const SparsePlan& plan, void* out) {
  const Parts<T> all = partsOf<T>(out, rows, cols, plan.nnz);
  int64_t* header = headerOf(out, sizeof(T), rows, cols, plan.nnz);
  std::fill(header, header + 8, int64_t{0});
  header[0] = plan.denseCols;
  header[1] = plan.restNnz;
  if (plan.denseCols == 0) return;  // the layout ends with the header
  DenseColumns<T> d = denseColumnsOf<T>(out, rows, cols, plan.nnz);
  std::vector<int32_t> slot(cols, -1);  // a column's place among the dense ones
  int32_t count = 0;
  for (int64_t c = 0; c < cols; ++c)
    if (all.ptrC[c + 1] - all.ptrC[c] >= plan.denseMinCount) {
      d.columns[count] = static_cast<int32_t>(c);
      slot[c] = count++;
    }
  std::fill(d.values, d.values + rows * d.count, T(0));
  int32_t e = 0;
  for (int64_t r = 0; r < rows; ++r) {
    d.rest.ptrR[r] = e;
    for (int32_t q = all.ptrR[r]; q < all.ptrR[r + 1]; ++q) {
      const int32_t c = all.idxR[q];
      if (slot[c] >= 0) {
        d.values[r * d.count + slot[c]] = all.valR[q];
      } else {
        d.rest.valR[e] = all.valR[q];
        d.rest.idxR[e++] = c;
      }
    }
  }
  d.rest.ptrR[rows] = e;
  e = 0;
  for (int64_t c = 0; c < cols; ++c) {
    d.rest.ptrC[c] = e;
    if (slot[c] >= 0) continue;
    for (int32_t q = all.ptrC[c]; q < all.ptrC[c + 1]; ++q) {
      d.rest.valC[e] = all.valC[q];
      d.rest.idxC[e++] = all.idxC[q];
    }
  }
  d.rest.ptrC[cols] = e;
}

// Fewer dense columns than this are left with the others.
constexpr int64_t kDenseColumnsMin = 16;

}  // namespace

int64_t countNonzeros(DType dtype, const void* x, int64_t n) {
  return dtype == DType::F32 ? countTyped(static_cast<const float*>(x), n) : countTyped(static_cast<const double*>(x), n);
}

SparsePlan planSparse(DType dtype, const void* x, int64_t rows, int64_t cols, int64_t nnz, double denseFrom) {
  SparsePlan plan;  // no dense columns: the second part is its header alone
  plan.nnz = nnz;
  if (!(denseFrom <= 1)) return plan;
  plan.denseMinCount = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(denseFrom * static_cast<double>(rows))));
  std::vector<int64_t> count(cols, 0);
  withFloatType(dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* v = static_cast<const T*>(x);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) count[c] += v[r * cols + c] != T(0);
  });
  int64_t denseCols = 0, denseNnz = 0;
  for (int64_t c = 0; c < cols; ++c)
    if (count[c] >= plan.denseMinCount) {
      ++denseCols;
      denseNnz += count[c];
    }
  // A handful of dense columns is not worth a second product per call.
  if (denseCols < kDenseColumnsMin) return plan;
  plan.denseCols = denseCols;
  plan.restNnz = nnz - denseNnz;
  return plan;
}

size_t sparseLayoutBytes(DType dtype, int64_t rows, int64_t cols, const SparsePlan& plan) {
  const size_t v = dtypeSize(dtype), header = alignUp64(bothWaysBytes(v, rows, cols, plan.nnz)) + 64;
  if (plan.denseCols == 0) return header;
  return header + static_cast<size_t>(rows * plan.denseCols) * v + bothWaysBytes(v, rows, cols, plan.restNnz) +
         static_cast<size_t>(plan.denseCols) * 4;
}

int64_t sparseDenseColumns(DType dtype, const void* layout, int64_t rows, int64_t cols, int64_t nnz) {
  return headerOf(layout, dtypeSize(dtype), rows, cols, nnz)[0];
}

void packSparse(DType dtype, const void* x, int64_t rows, int64_t cols, const SparsePlan& plan, void* out) {
  if (dtype == DType::F32) {
    packTyped(static_cast<const float*>(x), rows, cols, plan.nnz, out);
    packDenseColumns<float>(rows, cols, plan, out);
  } else {
    packTyped(static_cast<const double*>(x), rows, cols, plan.nnz, out);
    packDenseColumns<double>(rows, cols, plan, out);
  }
}

// The CPU backend's sparse layouts (Backend::planSparse, packSparse, sparseDenseColumns).
bool CpuBackend::planSparse(DType dtype, const void* x, int64_t rows, int64_t cols, double maxDensity, double denseFrom,
                            SparsePlan* plan, size_t* bytes) {
  const int64_t nnz = countNonzeros(dtype, x, rows * cols);
  const int64_t kIndexMax = 2147483647;  // int32 indices and pointers
  if (static_cast<double>(nnz) > maxDensity * static_cast<double>(rows * cols) || nnz >= kIndexMax) return false;
  *plan = rfho::planSparse(dtype, x, rows, cols, nnz, denseFrom);
  *bytes = sparseLayoutBytes(dtype, rows, cols, *plan);
  return true;
}

void CpuBackend::packSparse(DType dtype, const void* x, int64_t rows, int64_t cols, const SparsePlan& plan, void* out) {
  rfho::packSparse(dtype, x, rows, cols, plan, out);
}

int64_t CpuBackend::sparseDenseColumns(DType dtype, const void* layout, int64_t rows, int64_t cols, int64_t nnz) {
  return rfho::sparseDenseColumns(dtype, layout, rows, cols, nnz);
}
}  // namespace rfho
