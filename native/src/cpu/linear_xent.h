// The loss of a linear softmax model with its gradient, or with its gradient's tangents, in one pass
// over the data matrix (linear_xent.cc): over a sparse layout (sparse_data.h) or a dense matrix.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

namespace rfho {
// True where the fused passes are compiled (float32 rows of ≤ 16 classes need AVX-512).
bool linearXentAvailable();
// The loss of a linear softmax model on the float32 data matrix X [n, d],
// Σ_i s_i CE(X_i W + b, y_i) with s_i = scale · weights[i] (scale alone when weights is null),
// returned, with ce [n] the unweighted per-row losses, and in the same pass over X:
//   k = 0: the gradient, gW [d, c] and gb [c];
//   k = 1..4 directions (dW [k, d, c], db [k, c]): the gradient's tangents gW [k, d, c] and
//     gb [k, c], r [k, n] with r_qi = (p_i − e_{y_i})·dz_qi (dz_qi = X_i dW_q + db_q), and
//     dLoss [k] = Σ_i s_i r_qi, the loss's tangents.
//   With the weights' tangents dWeights [k, n] (or null) the tangents also carry their terms:
//     ds_qi scale (p_i − e_{y_i}) in the gradient's rows and Σ_i ds_qi scale CE_i in dLoss.
// c ≤ 16, labels in [0, c) (the caller checks both).
// logitsIn / logitsOut [n, c] (dense with panels only; at most one non-null): X W + b taken as
// given instead of computed, or written as computed (LinearXentArgs).
// X as the sparse layout of a matrix with nnz stored entries:
double sparseLinearXent(const void* layout, int64_t n, int64_t d, int64_t nnz, const float* W, const float* b,
                        int64_t k, const float* dW, const float* db, const int32_t* labels, const float* weights,
                        const float* dWeights, double scale, float* ce, float* gW, float* gb, float* r, double* dLoss,
                        int64_t c);
// X dense, row-major, with its row panels (packRowPanels: ⌈n/16⌉·16·d values) or null:
double denseLinearXent(const float* X, const float* panels, int64_t n, int64_t d, const float* W, const float* b,
                       int64_t k, const float* dW, const float* db, const int32_t* labels, const float* weights,
                       const float* dWeights, double scale, float* ce, float* gW, float* gb, float* r, double* dLoss,
                       int64_t c, const float* logitsIn, float* logitsOut);
// X by its row panels alone (packRowPanels: 8 float64 rows side by side), rows in the vector lanes
// (linear_xent_panels.cc; T = double); built where AVX-512 is.
bool panelsLinearXentAvailable();
template <typename T>
double panelsLinearXent(const T* panels, int64_t n, int64_t d, const T* W, const T* b, int64_t k, const T* dW,
                        const T* db, const int32_t* labels, const T* weights, const T* dWeights, double scale, T* ce,
                        T* gW, T* gb, T* r, double* dLoss, int64_t c, const T* logitsIn, T* logitsOut);

// The weights of the logits a pass over row panels computes, [d, sets·c] with row p = W's row p
// (unless X W + b is given: first = 1), then each dW_q's; and their biases [sets·c] likewise, where
// `bias` is given. sets = 1 + k − first.
template <typename T>
std::vector<T> packLogitWeights(const T* W, const T* b, const T* dW, const T* db, int64_t d, int64_t c, int64_t k,
                                int first, std::vector<T>* bias = nullptr) {
  const int64_t sets = 1 + k - first;
  const auto set = [&](int64_t q, const T* base, const T* dirs, int64_t size) { return q + first == 0 ? base : dirs + (q + first - 1) * size; };
  std::vector<T> Wq(static_cast<size_t>(d * sets * c));
  for (int64_t p = 0; p < d; ++p)
    for (int64_t q = 0; q < sets; ++q) std::copy_n(set(q, W, dW, d * c) + p * c, c, Wq.data() + (p * sets + q) * c);
  if (bias) {
    bias->resize(static_cast<size_t>(sets * c));
    for (int64_t q = 0; q < sets; ++q) std::copy_n(set(q, b, db, c), c, bias->data() + q * c);
  }
  return Wq;
}
}  // namespace rfho
