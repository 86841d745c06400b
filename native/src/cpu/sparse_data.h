// Sparse data matrices (CPU): the layout (sparse_layout.cc) and its products (sparse_products.cc).
#pragma once
#include <cstddef>
#include <cstdint>

#include "../common.h"

namespace rfho {
// Number of entries of x [n] that are not zero (NaN counts as non-zero).
int64_t countNonzeros(DType, const void* x, int64_t n);
// Products narrower than this gather every entry even where a layout keeps dense columns: their
// share would be a narrow dense product, memory-bound on the [rows, denseCols] copy.
constexpr int64_t kDenseColumnsMinWidth = 32;

// SparsePlan (common.h): what a layout holds.
// The plan of x with nnz stored entries; denseFrom > 1 keeps no column apart.
SparsePlan planSparse(DType, const void* x, int64_t rows, int64_t cols, int64_t nnz, double denseFrom);
// Bytes of the layout: CSR and CSC values, the int32 row pointers, column indices, column
// pointers and row indices; then (64-byte aligned) a 64-byte header and, where there are dense
// columns, those as a row-major [rows, denseCols] matrix, CSR and CSC of the other columns'
// entries, and the dense columns' indices.
size_t sparseLayoutBytes(DType, int64_t rows, int64_t cols, const SparsePlan&);
// Builds that layout in `out` from the dense row-major x.
void packSparse(DType, const void* x, int64_t rows, int64_t cols, const SparsePlan&, void* out);
// The number of dense columns a built layout keeps apart.
int64_t sparseDenseColumns(DType, const void* layout, int64_t rows, int64_t cols, int64_t nnz);
// C[q] = alpha op(S) op(B[q]) + beta C[q] for q < operands (row-major, row strides ldb and ldc,
// n columns), S the [rows, cols] matrix of the layout and op(S) = Sᵀ when transS: the operands
// share one pass over S (a primal and its tangents). beta = 0 never reads C.
void sparseGemm(DType, const void* layout, int64_t rows, int64_t cols, int64_t nnz, bool transS,
                const void* const* B, int64_t ldb, bool transB, int64_t n, double alpha, double beta, void* const* C,
                int64_t operands, int64_t ldc);
}  // namespace rfho
