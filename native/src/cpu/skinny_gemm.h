#pragma once
#include "../common.h"

namespace rfho {
// Handles C = alpha op(A) op(B) + beta C when n is small (see skinny_gemm.cc); false = not handled.
bool skinnyGemm(DType dtype, const GemmArgs& g);
}  // namespace rfho
