// Kernel bindings, softmax cross-entropy: its loss, gradient and tangents, and the linear model's
// fused pass over sparse or dense data. Each validates every argument, builds the iteration plan
// and dispatches to the backend.
#include <algorithm>
#include <cmath>
#include <vector>

#include "args.h"
#include "../cpu/linear_xent.h"

namespace rfho {
namespace {

void checkLabels(const Buffer& labels, int64_t c) {
  if (labels.device != Device::CPU) return;  // a device kernel flags them; reported at the next synchronisation
  const int32_t* y = static_cast<const int32_t*>(labels.data);
  for (size_t i = 0; i < labels.numel; ++i)
    if (y[i] < 0 || y[i] >= c)
      failValue("argument 'labels' has " + std::to_string(y[i]) + " at row " + std::to_string(i) +
           ", outside [0, " + std::to_string(c) + ")");
}

// softmaxXent(logits, labels, weights|null, loss|null, grad|null, n, c)
Napi::Value SoftmaxXent(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& z = argBuffer(info, 0, "logits");
    Buffer& y = argBuffer(info, 1, "labels");
    Buffer* w = argOptionalBuffer(info, 2, "weights");
    Buffer* loss = argOptionalBuffer(info, 3, "loss");
    Buffer* grad = argOptionalBuffer(info, 4, "grad");
    int64_t n = argInt(info, 5, "n");
    int64_t c = argInt(info, 6, "c", 1);
    requireFloat(z, "logits");
    requireDtype(y, DType::I32, "labels");
    requireSameDevice(z, "logits", y, "labels");
    requireNumel(z, n * c, "logits");
    requireNumel(y, n, "labels");
    requireOperands(z, "logits", {{w, "weights", n}, {loss, "loss", n}, {grad, "grad", n * c}});
    checkLabels(y, c);
    backendOf(z).softmaxXent(z.dtype, z.data, static_cast<const int32_t*>(y.data),
                             w ? w->data : nullptr, loss ? loss->data : nullptr,
                             grad ? grad->data : nullptr, n, c);
    return info.Env().Undefined();
  });
}

// softmaxXentJvp(logits, labels, weights|null, dLogits|null, dWeights|null, out, n, c, k)
Napi::Value SoftmaxXentJvp(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& z = argBuffer(info, 0, "logits");
    Buffer& y = argBuffer(info, 1, "labels");
    Buffer* w = argOptionalBuffer(info, 2, "weights");
    Buffer* dz = argOptionalBuffer(info, 3, "dLogits");
    Buffer* dw = argOptionalBuffer(info, 4, "dWeights");
    Buffer& o = argBuffer(info, 5, "out");
    int64_t n = argInt(info, 6, "n");
    int64_t c = argInt(info, 7, "c", 1);
    int64_t k = argInt(info, 8, "k");
    requireFloat(z, "logits");
    requireDtype(y, DType::I32, "labels");
    requireNumel(z, n * c, "logits");
    requireNumel(y, n, "labels");
    requireSameDevice(z, "logits", y, "labels");
    requireOperands(z, "logits", {{w, "weights", n}, {dz, "dLogits", k * n * c}, {dw, "dWeights", k * n},
                                  {&o, "out", k * n * c}});
    checkLabels(y, c);
    backendOf(z).softmaxXentJvp(z.dtype, z.data, static_cast<const int32_t*>(y.data),
                                w ? w->data : nullptr, dz ? dz->data : nullptr,
                                dw ? dw->data : nullptr, o.data, n, c, k);
    return info.Env().Undefined();
  });
}

// The arguments after the data matrix of sparseLinearXent and denseLinearXent, checked for a
// matrix of n rows and d columns: W, b, k, dW|null, db|null, labels, weights|null, scale, ce, gW, gb,
// r|null, c, and at `logitsAt` logitsIn|null, logitsOut|null (dense data with row panels only),
// dWeights|null (the weights' tangents [k, n], k ≥ 1, with weights);
// then the backend's pass over `data` (Backend::linearXent), returned as [loss, dLoss_1, ..., dLoss_k].
Napi::Value linearXentCall(const Napi::CallbackInfo& info, const Buffer& X, const char* xName, const LinearXentData& data,
                           size_t logitsAt) {
  const int64_t n = data.n, d = data.d;
  Buffer& W = argBuffer(info, 1, "W");
  Buffer& b = argBuffer(info, 2, "b");
  const int64_t k = argInt(info, 3, "k");
  Buffer* dW = argOptionalBuffer(info, 4, "dW");
  Buffer* db = argOptionalBuffer(info, 5, "db");
  Buffer& y = argBuffer(info, 6, "labels");
  Buffer* w = argOptionalBuffer(info, 7, "weights");
  const double scale = argNumber(info, 8, "scale");
  Buffer& ce = argBuffer(info, 9, "ce");
  Buffer& gW = argBuffer(info, 10, "gW");
  Buffer& gb = argBuffer(info, 11, "gb");
  Buffer* r = argOptionalBuffer(info, 12, "r");
  const int64_t c = argInt(info, 13, "c", 1);
  Buffer* logitsIn = argOptionalBuffer(info, logitsAt, "logitsIn");
  Buffer* logitsOut = argOptionalBuffer(info, logitsAt + 1, "logitsOut");
  Buffer* dw = argOptionalBuffer(info, logitsAt + 2, "dWeights");
  if (dw && (k == 0 || !w)) fail("argument 'dWeights' (the weights' tangents) needs k ≥ 1 directions and 'weights'");
  if (logitsIn && logitsOut) fail("arguments 'logitsIn' and 'logitsOut' exclude each other (logits are either kept or given)");
  if ((logitsIn || logitsOut) && !data.panels)
    fail(std::string("arguments 'logitsIn' and 'logitsOut' need a dense data matrix with its row panels, not ") +
         (data.sparse ? "a sparse layout" : "rows alone"));
  Backend& backend = backendOf(X);
  if (!backend.provides(Fused::LinearXent))
    fail(std::string("the fused linear softmax cross-entropy is not provided on ") + backend.name() + " (the CPU's needs AVX-512)");
  if (c > 16) fail("argument 'c' must be at most 16 for the fused linear softmax cross-entropy, got " + std::to_string(c));
  if (k > 4) fail("argument 'k' must be at most 4, got " + std::to_string(k));
  if (k > 0 && (!dW || !db || !r)) fail("arguments 'dW', 'db' and 'r' are needed when k > 0");
  if (!std::isfinite(scale)) fail("argument 'scale' must be finite");
  const int64_t kk = std::max<int64_t>(k, 1);
  requireDtype(y, DType::I32, "labels");
  requireSameDevice(X, xName, y, "labels");
  requireNumel(y, n, "labels");
  requireOperands(X, xName, {{&W, "W", d * c}, {&b, "b", c}, {dW, "dW", k * d * c}, {db, "db", k * c},
                             {w, "weights", n}, {&ce, "ce", n}, {&gW, "gW", kk * d * c}, {&gb, "gb", kk * c},
                             {r, "r", k * n}, {logitsIn, "logitsIn", n * c}, {logitsOut, "logitsOut", n * c},
                             {dw, "dWeights", k * n}});
  const std::initializer_list<const Buffer*> outs{&ce, &gW, &gb, r, logitsOut}, ins{&X, &W, &b, dW, db, &y, w, logitsIn, dw};
  for (const Buffer* o : outs)
    for (const Buffer* in : ins)
      if (o && in && o->data == in->data) fail("the outputs 'ce', 'gW', 'gb', 'r' and 'logitsOut' must not be inputs");
  for (const Buffer* o : outs)
    for (const Buffer* o2 : outs)
      if (o && o2 && o != o2 && o->data == o2->data) fail("the outputs 'ce', 'gW', 'gb', 'r' and 'logitsOut' must differ");
  checkLabels(y, c);
  std::vector<double> dLoss(static_cast<size_t>(k));
  const auto p = [](const Buffer* x) -> void* { return x ? x->data : nullptr; };
  LinearXentArgs args;
  args.W = p(&W);
  args.b = p(&b);
  args.k = k;
  args.dW = p(dW);
  args.db = p(db);
  args.labels = static_cast<const int32_t*>(y.data);
  args.weights = p(w);
  args.dWeights = p(dw);
  args.scale = scale;
  args.ce = p(&ce);
  args.gW = p(&gW);
  args.gb = p(&gb);
  args.r = p(r);
  args.dLoss = dLoss.data();
  args.c = c;
  args.logitsIn = p(logitsIn);
  args.logitsOut = p(logitsOut);
  const double loss = backend.linearXent(X.dtype, data, args);
  Napi::Array out = Napi::Array::New(info.Env(), static_cast<size_t>(k + 1));
  out.Set(uint32_t{0}, Napi::Number::New(info.Env(), loss));
  for (int64_t q = 0; q < k; ++q) out.Set(static_cast<uint32_t>(q + 1), Napi::Number::New(info.Env(), dLoss[q]));
  return out;
}

// sparseLinearXent(S, W, b, k, dW|null, db|null, labels, weights|null, scale, ce, gW, gb, r|null, c)
// (logitsIn and logitsOut, at 14 and 15, are refused: kept logits are for dense data), dWeights|null at 16
// → [loss, dLoss_1, ..., dLoss_k]: the loss Σ_i s_i CE(S_i W + b, y_i) (s_i = scale · weights[i])
// of a linear softmax model on the float32 sparse data S [n, d] and, in one pass, its gradient
// (k = 0) or the gradient's tangents along k ≤ 4 directions (Backend::linearXent).
Napi::Value SparseLinearXent(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& S = argSparseLayout(info, 0, "S");
    if (S.dtype != DType::F32) fail("argument 'S' must be float32 for the fused linear softmax cross-entropy");
    LinearXentData data;
    data.sparse = S.data;
    data.n = S.sparseRows;
    data.d = S.sparseCols;
    data.nnz = S.sparseNnz;
    return linearXentCall(info, S, "S", data, 14);
  });
}

// denseLinearXent(X, W, b, k, ..., c, panels|null, logitsIn|null, logitsOut|null, dWeights|null): the same on a
// dense matrix X [n, d] (X W + b [n, c] given or kept where its panels are), d = W's
// rows (W holds d·c values; X's size a multiple of d): float32 from its rows (and its row panels if
// given), float64 from its row panels only.
Napi::Value DenseLinearXent(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& X = argBuffer(info, 0, "X");
    Buffer* panels = argOptionalBuffer(info, 14, "panels");
    Buffer& W = argBuffer(info, 1, "W");
    const int64_t c = argInt(info, 13, "c", 1);
    if (W.numel % c != 0 || W.numel == 0) fail("argument 'W' must hold d·c values (c = " + std::to_string(c) + ")");
    const int64_t d = W.numel / c;
    if (X.numel % d != 0) fail("argument 'X' must hold n·d values (d = " + std::to_string(d) + "), got " + std::to_string(X.numel));
    const int64_t n = X.numel / d;
    if (X.dtype != DType::F32 && X.dtype != DType::F64) fail("argument 'X' must be float32 or float64 for the fused linear softmax cross-entropy");
    if (X.dtype == DType::F64 && !panels) fail("argument 'panels' is needed for a float64 'X'");
    if (panels) {
      requireLike(X, "X", *panels, "panels");
      const int64_t lanes = X.dtype == DType::F32 ? 16 : 8;
      requireNumel(*panels, (n + lanes - 1) / lanes * lanes * d, "panels");
      if (!panelsLinearXentAvailable()) fail("the fused linear softmax cross-entropy over row panels needs AVX-512");
    }
    LinearXentData data;
    data.rows = X.data;
    data.panels = panels ? panels->data : nullptr;
    data.n = n;
    data.d = d;
    return linearXentCall(info, X, "X", data, 15);
  });
}

}  // namespace

void registerXentBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("softmaxXent", Napi::Function::New(env, SoftmaxXent, "softmaxXent"));
  exports.Set("softmaxXentJvp", Napi::Function::New(env, SoftmaxXentJvp, "softmaxXentJvp"));
  exports.Set("sparseLinearXent", Napi::Function::New(env, SparseLinearXent, "sparseLinearXent"));
  exports.Set("denseLinearXent", Napi::Function::New(env, DenseLinearXent, "denseLinearXent"));
}

}  // namespace rfho
