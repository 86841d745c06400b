#pragma once
#include <cstdint>

namespace rfho {
// C = alpha op(A) op(B) + beta C (row-major) by our own cache-blocked AVX-512 kernel; false when
// not handled (a build without AVX-512, or a product too small to amortise the packing).
template <typename T>
bool packedGemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* A, int64_t lda,
                const T* B, int64_t ldb, T beta, T* C, int64_t ldc);
}  // namespace rfho
