// Kernel bindings: validate every argument, build the iteration plan, dispatch to the backend.
#include <algorithm>
#include <cmath>
#include <vector>

#include "args.h"
#include "../cpu/linear_xent.h"
#include "../cpu/sparse_data.h"
#include <cmath>

namespace rfho {
namespace {

int64_t extentNeeded(int64_t off, int64_t batch, int64_t stride, int64_t rows, int64_t cols,
                     int64_t ld) {
  if (batch == 0 || rows == 0 || cols == 0) return 0;
  return off + (batch - 1) * stride + (rows - 1) * ld + cols;
}

// gemm(transA, transB, m, n, k, alpha, A, offA, lda, strideA, B, offB, ldb, strideB,
//      beta, C, offC, ldc, strideC, batch)      row-major: C = alpha op(A) op(B) + beta C
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    GemmArgs g;
    g.transA = argBool(info, 0, "transA");
    g.transB = argBool(info, 1, "transB");
    g.m = argInt(info, 2, "m");
    g.n = argInt(info, 3, "n");
    g.k = argInt(info, 4, "k");
    g.alpha = argNumber(info, 5, "alpha");
    Buffer& A = argBuffer(info, 6, "A");
    int64_t offA = argInt(info, 7, "offsetA");
    g.lda = argInt(info, 8, "lda");
    g.strideA = argInt(info, 9, "strideA");
    Buffer& B = argBuffer(info, 10, "B");
    int64_t offB = argInt(info, 11, "offsetB");
    g.ldb = argInt(info, 12, "ldb");
    g.strideB = argInt(info, 13, "strideB");
    g.beta = argNumber(info, 14, "beta");
    Buffer& C = argBuffer(info, 15, "C");
    int64_t offC = argInt(info, 16, "offsetC");
    g.ldc = argInt(info, 17, "ldc");
    g.strideC = argInt(info, 18, "strideC");
    g.batch = argInt(info, 19, "batch");
    requireFloat(A, "A");
    requireSameDtype(A, "A", B, "B");
    requireSameDtype(A, "A", C, "C");
    requireSameDevice(A, "A", B, "B");
    requireSameDevice(A, "A", C, "C");
    if (C.data == A.data || C.data == B.data) fail("argument 'C' must not alias 'A' or 'B'");
    const int64_t rA = g.transA ? g.k : g.m, cA = g.transA ? g.m : g.k;
    const int64_t rB = g.transB ? g.n : g.k, cB = g.transB ? g.k : g.n;
    if (g.lda < std::max<int64_t>(1, cA)) fail("argument 'lda' is smaller than the row length of A");
    if (g.ldb < std::max<int64_t>(1, cB)) fail("argument 'ldb' is smaller than the row length of B");
    if (g.ldc < std::max<int64_t>(1, g.n)) fail("argument 'ldc' is smaller than n");
    requireAtLeast(A, extentNeeded(offA, g.batch, g.strideA, rA, cA, g.lda), "A");
    requireAtLeast(B, extentNeeded(offB, g.batch, g.strideB, rB, cB, g.ldb), "B");
    requireAtLeast(C, extentNeeded(offC, g.batch, g.strideC, g.m, g.n, g.ldc), "C");
    if (g.batch > 1 && g.strideC < g.m * g.ldc && g.m * g.n > 0)
      fail("argument 'strideC' makes batch outputs overlap");
    const size_t es = dtypeSize(A.dtype);
    g.A = static_cast<const char*>(A.data) + offA * es;
    g.B = static_cast<const char*>(B.data) + offB * es;
    g.C = static_cast<char*>(C.data) + offC * es;
    if (g.m > 0 && g.n > 0 && g.batch > 0) backendOf(A).gemm(A.dtype, g);
    return info.Env().Undefined();
  });
}

// unary(op, x, out)
Napi::Value Unary(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    int64_t op = argInt(info, 0, "op");
    if (op >= static_cast<int64_t>(UnaryOp::Count)) fail("argument 'op' is not a unary op");
    Buffer& x = argBuffer(info, 1, "x");
    Buffer& o = argBuffer(info, 2, "out");
    requireFloat(x, "x");
    requireSameDtype(x, "x", o, "out");
    requireSameDevice(x, "x", o, "out");
    requireNumel(o, static_cast<int64_t>(x.numel), "out");
    backendOf(x).unary(x.dtype, static_cast<UnaryOp>(op), x.data, o.data,
                       static_cast<int64_t>(x.numel));
    return info.Env().Undefined();
  });
}

// Builds a collapsed broadcast plan; throws naming both shapes when they do not broadcast.
BroadcastPlan makeBroadcastPlan(const std::vector<int64_t>& sa, const std::vector<int64_t>& sb,
                                std::vector<int64_t>& outShape) {
  const int nd = static_cast<int>(std::max(sa.size(), sb.size()));
  outShape.assign(nd, 1);
  std::vector<int64_t> ea(nd, 1), eb(nd, 1);
  for (int i = 0; i < nd; ++i) {
    int ia = i - (nd - static_cast<int>(sa.size())), ib = i - (nd - static_cast<int>(sb.size()));
    if (ia >= 0) ea[i] = sa[ia];
    if (ib >= 0) eb[i] = sb[ib];
    if (ea[i] != eb[i] && ea[i] != 1 && eb[i] != 1)
      fail("shapes " + shapeStr(sa) + " and " + shapeStr(sb) + " do not broadcast (dimension " +
           std::to_string(i) + ")");
    outShape[i] = ea[i] == 1 ? eb[i] : ea[i];
  }
  // Contiguous strides, zeroed where broadcast.
  std::vector<int64_t> ta(nd), tb(nd);
  int64_t pa = 1, pb = 1;
  for (int i = nd - 1; i >= 0; --i) {
    ta[i] = (ea[i] == 1 && outShape[i] != 1) ? 0 : pa;
    tb[i] = (eb[i] == 1 && outShape[i] != 1) ? 0 : pb;
    pa *= ea[i];
    pb *= eb[i];
  }
  // Collapse: drop size-1 dims, merge neighbours whose strides chain for both operands.
  BroadcastPlan p;
  p.numel = numelOf(outShape);
  std::vector<int64_t> cs, ca, cb;
  for (int i = 0; i < nd; ++i) {
    if (outShape[i] == 1) continue;
    if (!cs.empty() && ca.back() == ta[i] * outShape[i] && cb.back() == tb[i] * outShape[i]) {
      cs.back() *= outShape[i];
      ca.back() = ta[i];
      cb.back() = tb[i];
    } else {
      cs.push_back(outShape[i]);
      ca.push_back(ta[i]);
      cb.push_back(tb[i]);
    }
  }
  if (cs.empty()) {
    cs.push_back(1);
    ca.push_back(1);
    cb.push_back(1);
  }
  p.ndim = static_cast<int>(cs.size());
  for (int i = 0; i < p.ndim; ++i) {
    p.shape[i] = cs[i];
    p.strideA[i] = ca[i];
    p.strideB[i] = cb[i];
  }
  return p;
}

// binary(op, a, shapeA, b, shapeB, out)
Napi::Value Binary(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    int64_t op = argInt(info, 0, "op");
    if (op >= static_cast<int64_t>(BinaryOp::Count)) fail("argument 'op' is not a binary op");
    Buffer& a = argBuffer(info, 1, "a");
    auto sa = argShape(info, 2, "shapeA");
    Buffer& b = argBuffer(info, 3, "b");
    auto sb = argShape(info, 4, "shapeB");
    Buffer& o = argBuffer(info, 5, "out");
    requireFloat(a, "a");
    requireSameDtype(a, "a", b, "b");
    requireSameDtype(a, "a", o, "out");
    requireSameDevice(a, "a", b, "b");
    requireSameDevice(a, "a", o, "out");
    requireNumel(a, numelOf(sa), "a");
    requireNumel(b, numelOf(sb), "b");
    std::vector<int64_t> so;
    BroadcastPlan p = makeBroadcastPlan(sa, sb, so);
    requireNumel(o, p.numel, "out");
    backendOf(a).binary(a.dtype, static_cast<BinaryOp>(op), a.data, b.data, o.data, p);
    return info.Env().Undefined();
  });
}

// expand(x, shapeX, out, shapeOut): broadcast x to exactly shapeOut
Napi::Value Expand(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& x = argBuffer(info, 0, "x");
    auto sx = argShape(info, 1, "shapeX");
    Buffer& o = argBuffer(info, 2, "out");
    auto so = argShape(info, 3, "shapeOut");
    requireFloat(x, "x");
    requireSameDtype(x, "x", o, "out");
    requireSameDevice(x, "x", o, "out");
    requireNumel(x, numelOf(sx), "x");
    requireNumel(o, numelOf(so), "out");
    std::vector<int64_t> got;
    BroadcastPlan p = makeBroadcastPlan(sx, so, got);
    if (got != so) fail("shape " + shapeStr(sx) + " cannot be broadcast to " + shapeStr(so));
    backendOf(x).expand(x.dtype, x.data, o.data, p);
    return info.Env().Undefined();
  });
}

// binaryScalar(op, a, scalar, scalarFirst, out)
Napi::Value BinaryScalar(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    int64_t op = argInt(info, 0, "op");
    if (op >= static_cast<int64_t>(BinaryOp::Count)) fail("argument 'op' is not a binary op");
    Buffer& a = argBuffer(info, 1, "a");
    double s = argNumber(info, 2, "scalar");
    bool first = argBool(info, 3, "scalarFirst");
    Buffer& o = argBuffer(info, 4, "out");
    requireFloat(a, "a");
    requireSameDtype(a, "a", o, "out");
    requireSameDevice(a, "a", o, "out");
    requireNumel(o, static_cast<int64_t>(a.numel), "out");
    backendOf(a).binaryScalar(a.dtype, static_cast<BinaryOp>(op), a.data, s, first, o.data,
                              static_cast<int64_t>(a.numel));
    return info.Env().Undefined();
  });
}

// axpby(alpha, x, beta, y | null, out)
Napi::Value Axpby(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    double alpha = argNumber(info, 0, "alpha");
    Buffer& x = argBuffer(info, 1, "x");
    double beta = argNumber(info, 2, "beta");
    Buffer* y = argOptionalBuffer(info, 3, "y");
    Buffer& o = argBuffer(info, 4, "out");
    requireFloat(x, "x");
    requireSameDtype(x, "x", o, "out");
    requireSameDevice(x, "x", o, "out");
    requireNumel(o, static_cast<int64_t>(x.numel), "out");
    if (y) {
      requireSameDtype(x, "x", *y, "y");
      requireSameDevice(x, "x", *y, "y");
      requireNumel(*y, static_cast<int64_t>(x.numel), "y");
    }
    backendOf(x).axpby(x.dtype, alpha, x.data, beta, y ? y->data : nullptr, o.data,
                       static_cast<int64_t>(x.numel));
    return info.Env().Undefined();
  });
}

// reduce(op, x, shape, axes, out): axes is a list of distinct axis indices in [0, ndim)
Napi::Value Reduce(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    int64_t op = argInt(info, 0, "op");
    if (op >= static_cast<int64_t>(ReduceOp::Count)) fail("argument 'op' is not a reduction");
    Buffer& x = argBuffer(info, 1, "x");
    auto shape = argShape(info, 2, "shape");
    auto axes = argShape(info, 3, "axes");
    Buffer& o = argBuffer(info, 4, "out");
    requireFloat(x, "x");
    requireSameDtype(x, "x", o, "out");
    requireSameDevice(x, "x", o, "out");
    requireNumel(x, numelOf(shape), "x");
    const int nd = static_cast<int>(shape.size());
    std::vector<bool> reduced(nd, false);
    for (auto a : axes) {
      if (a >= nd) fail("argument 'axes' contains " + std::to_string(a) + ", out of range for shape " + shapeStr(shape));
      if (reduced[a]) fail("argument 'axes' repeats axis " + std::to_string(a));
      reduced[a] = true;
    }
    int64_t outNumel = 1;
    for (int i = 0; i < nd; ++i)
      if (!reduced[i]) outNumel *= shape[i];
    requireNumel(o, outNumel, "out");
    if (op == static_cast<int64_t>(ReduceOp::Max) && x.numel == 0)
      fail("max of an empty tensor is undefined");
    ReducePlan p;
    p.inNumel = numelOf(shape);
    p.outNumel = outNumel;
    int64_t stride = 1;
    std::vector<int64_t> os(nd);
    for (int i = nd - 1; i >= 0; --i) {
      os[i] = reduced[i] ? 0 : stride;
      if (!reduced[i]) stride *= shape[i];
    }
    std::vector<int64_t> cs, co;
    for (int i = 0; i < nd; ++i) {
      if (shape[i] == 1) continue;
      if (!cs.empty() && co.back() == os[i] * shape[i]) {
        cs.back() *= shape[i];
        co.back() = os[i];
      } else {
        cs.push_back(shape[i]);
        co.push_back(os[i]);
      }
    }
    if (cs.empty()) {
      cs.push_back(1);
      co.push_back(0);
    }
    p.ndim = static_cast<int>(cs.size());
    for (int i = 0; i < p.ndim; ++i) {
      p.shape[i] = cs[i];
      p.outStride[i] = co[i];
    }
    backendOf(x).reduce(x.dtype, static_cast<ReduceOp>(op), x.data, o.data, p);
    return info.Env().Undefined();
  });
}

// argmax(x, shape, axis, out:int32)
Napi::Value Argmax(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& x = argBuffer(info, 0, "x");
    auto shape = argShape(info, 1, "shape");
    int64_t axis = argInt(info, 2, "axis");
    Buffer& o = argBuffer(info, 3, "out");
    requireFloat(x, "x");
    requireDtype(o, DType::I32, "out");
    requireSameDevice(x, "x", o, "out");
    requireNumel(x, numelOf(shape), "x");
    if (axis >= static_cast<int64_t>(shape.size()))
      fail("argument 'axis' " + std::to_string(axis) + " is out of range for shape " + shapeStr(shape));
    if (shape[axis] == 0) fail("argmax along an empty axis is undefined");
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= shape[i];
    for (size_t i = axis + 1; i < shape.size(); ++i) inner *= shape[i];
    requireNumel(o, outer * inner, "out");
    backendOf(x).argmax(x.dtype, x.data, static_cast<int32_t*>(o.data), outer, shape[axis], inner);
    return info.Env().Undefined();
  });
}

Napi::Value Dot(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& a = argBuffer(info, 0, "a");
    Buffer& b = argBuffer(info, 1, "b");
    requireFloat(a, "a");
    requireSameDtype(a, "a", b, "b");
    requireSameDevice(a, "a", b, "b");
    requireNumel(b, static_cast<int64_t>(a.numel), "b");
    return Napi::Number::New(info.Env(),
                             backendOf(a).dot(a.dtype, a.data, b.data, static_cast<int64_t>(a.numel)));
  });
}

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

// copy2d(src, srcOffset, srcStride, dst, dstOffset, dstStride, rows, cols)
Napi::Value Copy2d(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& s = argBuffer(info, 0, "src");
    int64_t so = argInt(info, 1, "srcOffset"), ss = argInt(info, 2, "srcStride");
    Buffer& d = argBuffer(info, 3, "dst");
    int64_t dof = argInt(info, 4, "dstOffset"), ds = argInt(info, 5, "dstStride");
    int64_t rows = argInt(info, 6, "rows"), cols = argInt(info, 7, "cols");
    requireSameDtype(s, "src", d, "dst");
    requireSameDevice(s, "src", d, "dst");
    if (s.data == d.data) fail("argument 'dst' must not alias 'src'");
    requireAtLeast(s, extentNeeded(so, 1, 0, rows, cols, ss), "src");
    requireAtLeast(d, extentNeeded(dof, 1, 0, rows, cols, ds), "dst");
    if (rows > 1 && ds < cols) fail("argument 'dstStride' makes rows overlap");
    if (rows > 0 && cols > 0) backendOf(s).copy2d(s.dtype, s.data, so, ss, d.data, dof, ds, rows, cols);
    return info.Env().Undefined();
  });
}

// packRowPanels(x, rows, cols, out): the row-panel layout of a [rows, cols] matrix (CPU).
Napi::Value PackRowPanels(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& x = argBuffer(info, 0, "x");
    int64_t rows = argInt(info, 1, "rows"), cols = argInt(info, 2, "cols");
    Buffer& o = argBuffer(info, 3, "out");
    requireFloat(x, "x");
    requireSameDtype(x, "x", o, "out");
    requireSameDevice(x, "x", o, "out");
    const int64_t lanes = 64 / static_cast<int64_t>(dtypeSize(x.dtype));
    requireNumel(x, rows * cols, "x");
    requireNumel(o, (rows + lanes - 1) / lanes * lanes * cols, "out");
    if (x.data == o.data) fail("argument 'out' must not alias 'x'");
    if (rows > 0 && cols > 0) backendOf(x).packRowPanels(x.dtype, x.data, rows, cols, o.data);
    return info.Env().Undefined();
  });
}

// gemmRowPanels(panels, m, k, B, ldb, transB, n, alpha, C, ldc): C = alpha X op(B) from X's panels.
Napi::Value GemmRowPanels(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& P = argBuffer(info, 0, "panels");
    int64_t m = argInt(info, 1, "m"), k = argInt(info, 2, "k");
    Buffer& B = argBuffer(info, 3, "B");
    int64_t ldb = argInt(info, 4, "ldb");
    bool tb = argBool(info, 5, "transB");
    int64_t n = argInt(info, 6, "n");
    double alpha = argNumber(info, 7, "alpha");
    Buffer& C = argBuffer(info, 8, "C");
    int64_t ldc = argInt(info, 9, "ldc");
    requireFloat(P, "panels");
    requireSameDtype(P, "panels", B, "B");
    requireSameDtype(P, "panels", C, "C");
    requireSameDevice(P, "panels", B, "B");
    requireSameDevice(P, "panels", C, "C");
    if (n < 1 || n > 32) fail("argument 'n' must be in [1, 32] for a row-panel product");
    const int64_t lanes = 64 / static_cast<int64_t>(dtypeSize(P.dtype));
    requireNumel(P, (m + lanes - 1) / lanes * lanes * k, "panels");
    const int64_t rB = tb ? n : k, cB = tb ? k : n;
    if (ldb < std::max<int64_t>(1, cB)) fail("argument 'ldb' is smaller than the row length of B");
    if (ldc < n) fail("argument 'ldc' is smaller than n");
    requireAtLeast(B, extentNeeded(0, 1, 0, rB, cB, ldb), "B");
    requireAtLeast(C, extentNeeded(0, 1, 0, m, n, ldc), "C");
    if (C.data == P.data || C.data == B.data) fail("argument 'C' must not alias 'panels' or 'B'");
    if (m > 0) backendOf(P).gemmRowPanels(P.dtype, P.data, m, k, B.data, ldb, tb, n, alpha, C.data, ldc);
    return info.Env().Undefined();
  });
}

// The operands of a sparse product: an array of tensor handles and an array of element offsets.
std::vector<std::pair<Buffer*, int64_t>> argOperands(const Napi::CallbackInfo& info, size_t i, const char* name,
                                                     const char* offsetsName) {
  if (i + 1 >= info.Length() || !info[i].IsArray() || !info[i + 1].IsArray())
    fail(std::string("arguments '") + name + "' and '" + offsetsName + "' must be arrays");
  Napi::Array h = info[i].As<Napi::Array>(), o = info[i + 1].As<Napi::Array>();
  if (h.Length() < 1 || h.Length() > 256 || h.Length() != o.Length())
    fail(std::string("arguments '") + name + "' and '" + offsetsName + "' must have the same length, 1 to 256");
  std::vector<std::pair<Buffer*, int64_t>> out;
  for (uint32_t q = 0; q < h.Length(); ++q) {
    const std::string at = "[" + std::to_string(q) + "]";
    out.push_back({&tensorFrom(h[q], std::string("argument '") + name + "'" + at),
                   intFrom(o[q], std::string("argument '") + offsetsName + "'" + at)});
  }
  return out;
}

// sparseGemm(S, transS, Bs, offsetsB, ldb, transB, n, alpha, beta, Cs, offsetsC, ldc):
// C_q = alpha op(S) op(B_q) + beta C_q for every operand q in one pass over S, a sparse layout
// [rows, cols] (op(S) = Sᵀ when transS).
Napi::Value SparseGemm(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& S = argSparseLayout(info, 0, "S");
    bool ts = argBool(info, 1, "transS");
    auto Bs = argOperands(info, 2, "B", "offsetsB");
    int64_t ldb = argInt(info, 4, "ldb");
    bool tb = argBool(info, 5, "transB");
    int64_t n = argInt(info, 6, "n");
    double alpha = argNumber(info, 7, "alpha"), beta = argNumber(info, 8, "beta");
    auto Cs = argOperands(info, 9, "C", "offsetsC");
    int64_t ldc = argInt(info, 11, "ldc");
    if (Bs.size() != Cs.size()) fail("arguments 'B' and 'C' must hold as many operands");
    const int64_t m = ts ? S.sparseCols : S.sparseRows, k = ts ? S.sparseRows : S.sparseCols;
    const int64_t rB = tb ? n : k, cB = tb ? k : n;
    if (ldb < std::max<int64_t>(1, cB)) fail("argument 'ldb' is smaller than the row length of B");
    if (ldc < std::max<int64_t>(1, n)) fail("argument 'ldc' is smaller than n");
    const size_t es = dtypeSize(S.dtype);
    const int64_t extB = extentNeeded(0, 1, 0, rB, cB, ldb), extC = extentNeeded(0, 1, 0, m, n, ldc);
    std::vector<const void*> bp;
    std::vector<void*> cp;
    for (auto& [b, off] : Bs) {
      requireSameDtype(S, "S", *b, "B");
      if (b->device != Device::CPU) fail("argument 'B' must hold CPU tensors for a sparse product");
      requireAtLeast(*b, off + extB, "B");
      bp.push_back(static_cast<const char*>(b->data) + off * es);
    }
    for (auto& [c, off] : Cs) {
      requireSameDtype(S, "S", *c, "C");
      if (c->device != Device::CPU) fail("argument 'C' must hold CPU tensors for a sparse product");
      requireAtLeast(*c, off + extC, "C");
      cp.push_back(static_cast<char*>(c->data) + off * es);
    }
    // No output may overlap an input or another output (byte ranges).
    auto overlaps = [&](const void* a, int64_t na, const void* b, int64_t nb) {
      const char *pa = static_cast<const char*>(a), *pb = static_cast<const char*>(b);
      return na > 0 && nb > 0 && pa < pb + nb * es && pb < pa + na * es;
    };
    for (size_t q = 0; q < cp.size(); ++q) {
      for (size_t r = 0; r < bp.size(); ++r)
        if (overlaps(cp[q], extC, bp[r], extB)) fail("argument 'C' must not overlap 'B'");
      for (size_t r = q + 1; r < cp.size(); ++r)
        if (overlaps(cp[q], extC, cp[r], extC)) fail("the outputs in 'C' must not overlap");
    }
    if (n > 0)
      sparseGemm(S.dtype, S.data, S.sparseRows, S.sparseCols, S.sparseNnz, ts, bp.data(), ldb, tb, n, alpha, beta,
                 cp.data(), static_cast<int64_t>(cp.size()), ldc);
    return info.Env().Undefined();
  });
}

// The arguments after the data matrix of sparseLinearXent and denseLinearXent, checked for a
// matrix of n rows and d columns: W, b, k, dW|null, db|null, labels, weights|null, scale, ce, gW, gb,
// r|null, c; `run` makes the pass and returns its loss, and the binding returns
// [loss, dLoss_1, ..., dLoss_k].
template <typename Run>
Napi::Value linearXentCall(const Napi::CallbackInfo& info, const Buffer& X, const char* xName, int64_t n, int64_t d, Run&& run) {
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
  if (!linearXentAvailable()) fail("the fused linear softmax cross-entropy is not built for this CPU (needs AVX-512)");
  if (c > 16) fail("argument 'c' must be at most 16 for the fused linear softmax cross-entropy, got " + std::to_string(c));
  if (k > 4) fail("argument 'k' must be at most 4, got " + std::to_string(k));
  if (k > 0 && (!dW || !db || !r)) fail("arguments 'dW', 'db' and 'r' are needed when k > 0");
  if (!std::isfinite(scale)) fail("argument 'scale' must be finite");
  const int64_t kk = std::max<int64_t>(k, 1);
  requireDtype(y, DType::I32, "labels");
  requireSameDevice(W, "W", y, "labels");
  requireNumel(y, n, "labels");
  requireOperands(X, xName, {{&W, "W", d * c}, {&b, "b", c}, {dW, "dW", k * d * c}, {db, "db", k * c},
                             {w, "weights", n}, {&ce, "ce", n}, {&gW, "gW", kk * d * c}, {&gb, "gb", kk * c},
                             {r, "r", k * n}});
  if (W.device != Device::CPU) fail("argument 'W' must be a CPU tensor for the fused linear softmax cross-entropy");
  const std::initializer_list<const Buffer*> outs{&ce, &gW, &gb, r}, ins{&X, &W, &b, dW, db, &y, w};
  for (const Buffer* o : outs)
    for (const Buffer* in : ins)
      if (o && in && o->data == in->data) fail("the outputs 'ce', 'gW', 'gb' and 'r' must not be inputs");
  for (const Buffer* o : outs)
    for (const Buffer* o2 : outs)
      if (o && o2 && o != o2 && o->data == o2->data) fail("the outputs 'ce', 'gW', 'gb' and 'r' must differ");
  checkLabels(y, c);
  std::vector<double> dLoss(static_cast<size_t>(k));
  // the pointers as void*: the pass casts them to its dtype (X's, which every operand shares)
  const auto f = [](const Buffer* x) -> void* { return x ? x->data : nullptr; };
  const double loss = run(f(&W), f(&b), k, f(dW), f(db), static_cast<const int32_t*>(y.data), f(w), scale, f(&ce),
                          f(&gW), f(&gb), f(r), dLoss.data(), c);
  Napi::Array out = Napi::Array::New(info.Env(), static_cast<size_t>(k + 1));
  out.Set(uint32_t{0}, Napi::Number::New(info.Env(), loss));
  for (int64_t q = 0; q < k; ++q) out.Set(static_cast<uint32_t>(q + 1), Napi::Number::New(info.Env(), dLoss[q]));
  return out;
}

// sparseLinearXent(S, W, b, k, dW|null, db|null, labels, weights|null, scale, ce, gW, gb, r|null, c)
// → [loss, dLoss_1, ..., dLoss_k]: the loss Σ_i s_i CE(S_i W + b, y_i) (s_i = scale · weights[i])
// of a linear softmax model on the float32 sparse data S [n, d] and, in one pass, its gradient
// (k = 0) or the gradient's tangents along k ≤ 4 directions (cpu/linear_xent.h).
Napi::Value SparseLinearXent(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& S = argSparseLayout(info, 0, "S");
    if (S.dtype != DType::F32) fail("argument 'S' must be float32 for the fused linear softmax cross-entropy");
    return linearXentCall(info, S, "S", S.sparseRows, S.sparseCols,
                          [&](void* W, void* b, int64_t k, void* dW, void* db, const int32_t* y, void* w, double scale,
                              void* ce, void* gW, void* gb, void* r, double* dLoss, int64_t c) {
                            const auto F = [](void* p) { return static_cast<float*>(p); };
                            return sparseLinearXent(S.data, S.sparseRows, S.sparseCols, S.sparseNnz, F(W), F(b), k, F(dW),
                                                    F(db), y, F(w), scale, F(ce), F(gW), F(gb), F(r), dLoss, c);
                          });
  });
}

// denseLinearXent(X, W, b, k, ..., c, panels|null): the same on a dense CPU matrix X [n, d], d = W's
// rows (W holds d·c values; X's size a multiple of d): float32 by linear_xent.cc's pass (X's row panels
// if given, else its rows), float64 by the pass with rows in the lanes (its row panels only).
Napi::Value DenseLinearXent(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& X = argBuffer(info, 0, "X");
    Buffer* panels = argOptionalBuffer(info, 14, "panels");
    Buffer& W = argBuffer(info, 1, "W");
    const int64_t c = argInt(info, 13, "c", 1);
    if (W.numel % c != 0 || W.numel == 0) fail("argument 'W' must hold d·c values (c = " + std::to_string(c) + ")");
    const int64_t d = W.numel / c;
    if (X.numel % d != 0) fail("argument 'X' must hold n·d values (d = " + std::to_string(d) + "), got " + std::to_string(X.numel));
    if (X.device != Device::CPU) fail("argument 'X' must be a CPU tensor for the fused linear softmax cross-entropy");
    const int64_t n = X.numel / d;
    if (X.dtype != DType::F32 && X.dtype != DType::F64) fail("argument 'X' must be float32 or float64 for the fused linear softmax cross-entropy");
    if (X.dtype == DType::F64 && !panels) fail("argument 'panels' is needed for a float64 'X'");
    if (panels) {
      requireSameDtype(X, "X", *panels, "panels");
      if (panels->device != Device::CPU) fail("argument 'panels' must be a CPU buffer");
      const int64_t lanes = X.dtype == DType::F32 ? 16 : 8;
      requireNumel(*panels, (n + lanes - 1) / lanes * lanes * d, "panels");
      if (!panelsLinearXentAvailable()) fail("the fused linear softmax cross-entropy over row panels needs AVX-512");
    }
    return linearXentCall(info, X, "X", n, d,
                          [&](void* Wp, void* b, int64_t k, void* dW, void* db, const int32_t* y, void* w, double scale,
                              void* ce, void* gW, void* gb, void* r, double* dLoss, int64_t cc) {
                            if (X.dtype == DType::F64) {
                              const auto D = [](void* p) { return static_cast<double*>(p); };
                              return panelsLinearXent<double>(D(panels->data), n, d, D(Wp), D(b), k, D(dW), D(db), y,
                                                              D(w), scale, D(ce), D(gW), D(gb), D(r), dLoss, cc);
                            }
                            const auto F = [](void* p) { return static_cast<float*>(p); };
                            return denseLinearXent(F(X.data), panels ? F(panels->data) : nullptr, n, d, F(Wp), F(b), k,
                                                   F(dW), F(db), y, F(w), scale, F(ce), F(gW), F(gb), F(r), dLoss, cc);
                          });
  });
}

// tanhGrad(y, g, out, n, k[, bias | null, h]): out[t, i] = (g[t, i] + bias[t, i mod h]) (1 − y[i]²)
// for t < k (no bias: g alone); h divides n.
Napi::Value TanhGrad(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& y = argBuffer(info, 0, "y");
    Buffer& g = argBuffer(info, 1, "g");
    Buffer& o = argBuffer(info, 2, "out");
    int64_t n = argInt(info, 3, "n"), k = argInt(info, 4, "k");
    Buffer* bias = info.Length() > 5 ? argOptionalBuffer(info, 5, "bias") : nullptr;
    const int64_t h = bias ? argInt(info, 6, "h", 1) : 1;
    requireFloat(y, "y");
    requireNumel(y, n, "y");
    if (n % h != 0) throw ArgError("tanhGrad: 'h' must divide 'n'");
    requireOperands(y, "y", {{&g, "g", n * k}, {&o, "out", n * k}, {bias, "bias", k * h}});
    if (n * k > 0) backendOf(y).tanhGrad(y.dtype, y.data, g.data, o.data, n, k, bias ? bias->data : nullptr, h);
    return info.Env().Undefined();
  });
}

// tanhGradJvp(y, g, ty, tg | null, out, n, k): out[t, i] = tg[t, i] (1 − y[i]²) − 2 g[i] y[i] ty[t, i].
Napi::Value TanhGradJvp(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& y = argBuffer(info, 0, "y");
    Buffer& g = argBuffer(info, 1, "g");
    Buffer& ty = argBuffer(info, 2, "ty");
    Buffer* tg = argOptionalBuffer(info, 3, "tg");
    Buffer& o = argBuffer(info, 4, "out");
    int64_t n = argInt(info, 5, "n"), k = argInt(info, 6, "k");
    requireFloat(y, "y");
    requireNumel(y, n, "y");
    requireOperands(y, "y", {{&g, "g", n}, {&ty, "ty", n * k}, {tg, "tg", n * k}, {&o, "out", n * k}});
    if (n * k > 0) backendOf(y).tanhGradJvp(y.dtype, y.data, g.data, ty.data, tg ? tg->data : nullptr, o.data, n, k);
    return info.Env().Undefined();
  });
}

// dynamicsTangent(slots, nesterov, d, k, mu, eta, ts, tg, tmu | null, teta | null, v | null, v2 | null, dir, out):
// the tangent of one gradient-descent / momentum step (see Backend::dynamicsTangent); returns the
// number of non-finite values written.
Napi::Value DynamicsTangent(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const int64_t slots = argInt(info, 0, "slots");
    const bool nesterov = argBool(info, 1, "nesterov");
    const int64_t d = argInt(info, 2, "d"), k = argInt(info, 3, "k");
    const double mu = argNumber(info, 4, "mu"), eta = argNumber(info, 5, "eta");
    Buffer& ts = argBuffer(info, 6, "ts");
    Buffer& tg = argBuffer(info, 7, "tg");
    Buffer* tmu = argOptionalBuffer(info, 8, "tmu");
    Buffer* teta = argOptionalBuffer(info, 9, "teta");
    Buffer* v = argOptionalBuffer(info, 10, "v");
    Buffer* v2 = argOptionalBuffer(info, 11, "v2");
    Buffer& dir = argBuffer(info, 12, "dir");
    Buffer& o = argBuffer(info, 13, "out");
    if (slots != 1 && slots != 2) fail("dynamicsTangent: 'slots' must be 1 or 2, got " + std::to_string(slots));
    if (slots == 2 && (!v || !v2)) fail("dynamicsTangent: momentum (slots 2) needs 'v' and 'v2'");
    requireFloat(ts, "ts");
    requireOperands(ts, "ts", {{&ts, "ts", slots * d * k}, {&tg, "tg", d * k}, {tmu, "tmu", k}, {teta, "teta", k},
                               {slots == 2 ? v : nullptr, "v", d}, {slots == 2 ? v2 : nullptr, "v2", d},
                               {&dir, "dir", d}, {&o, "out", slots * d * k}});
    int64_t bad = 0;
    if (d * k > 0)
      bad = backendOf(ts).dynamicsTangent(ts.dtype, static_cast<int>(slots), nesterov, d, k, mu, eta, ts.data, tg.data,
                                    tmu ? tmu->data : nullptr, teta ? teta->data : nullptr, v ? v->data : nullptr,
                                    v2 ? v2->data : nullptr, dir.data, o.data);
    return Napi::Number::New(info.Env(), static_cast<double>(bad));
  });
}

// permute(x, shape, perm, out)
Napi::Value Permute(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& x = argBuffer(info, 0, "x");
    auto shape = argShape(info, 1, "shape");
    auto perm = argShape(info, 2, "perm");
    Buffer& o = argBuffer(info, 3, "out");
    requireSameDtype(x, "x", o, "out");
    requireSameDevice(x, "x", o, "out");
    requireNumel(x, numelOf(shape), "x");
    requireNumel(o, numelOf(shape), "out");
    if (perm.size() != shape.size()) fail("argument 'perm' must have one entry per dimension");
    std::vector<bool> seen(shape.size(), false);
    for (auto p : perm) {
      if (p >= static_cast<int64_t>(shape.size()) || seen[p]) fail("argument 'perm' is not a permutation");
      seen[p] = true;
    }
    if (x.data == o.data) fail("argument 'out' must not alias 'x'");
    if (shape.empty()) {
      backendOf(x).copy(o.data, x.data, x.bytes());
    } else {
      backendOf(x).permute(x.dtype, x.data, o.data, static_cast<int>(shape.size()), shape.data(), perm.data());
    }
    return info.Env().Undefined();
  });
}

// Device tensors' indices are checked by the kernel, which reports at the next synchronisation.
void checkIndices(const Buffer& idx, int64_t rows, const char* what) {
  if (idx.device != Device::CPU) return;
  const int32_t* v = static_cast<const int32_t*>(idx.data);
  for (size_t i = 0; i < idx.numel; ++i)
    if (v[i] < 0 || v[i] >= rows)
      failValue(std::string("argument 'indices' has ") + std::to_string(v[i]) + " at position " +
           std::to_string(i) + ", outside [0, " + std::to_string(rows) + ") " + what);
}

// gatherRows(x, indices, out, rowLen)  /  scatterAddRows(x, indices, out, rowLen)
Napi::Value GatherRows(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& x = argBuffer(info, 0, "x");
    Buffer& idx = argBuffer(info, 1, "indices");
    Buffer& o = argBuffer(info, 2, "out");
    int64_t rowLen = argInt(info, 3, "rowLen", 1);
    requireDtype(idx, DType::I32, "indices");
    requireSameDtype(x, "x", o, "out");
    requireSameDevice(x, "x", o, "out");
    requireSameDevice(x, "x", idx, "indices");
    if (static_cast<int64_t>(x.numel) % rowLen) fail("argument 'x' is not a whole number of rows");
    requireNumel(o, static_cast<int64_t>(idx.numel) * rowLen, "out");
    checkIndices(idx, static_cast<int64_t>(x.numel) / rowLen, "(rows of x)");
    backendOf(x).gatherRows(x.dtype, x.data, static_cast<const int32_t*>(idx.data), o.data,
                            static_cast<int64_t>(idx.numel), rowLen, static_cast<int64_t>(x.numel) / rowLen);
    return info.Env().Undefined();
  });
}
Napi::Value ScatterAddRows(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& x = argBuffer(info, 0, "x");
    Buffer& idx = argBuffer(info, 1, "indices");
    Buffer& o = argBuffer(info, 2, "out");
    int64_t rowLen = argInt(info, 3, "rowLen", 1);
    requireFloat(x, "x");
    requireDtype(idx, DType::I32, "indices");
    requireSameDtype(x, "x", o, "out");
    requireSameDevice(x, "x", o, "out");
    requireSameDevice(x, "x", idx, "indices");
    requireNumel(x, static_cast<int64_t>(idx.numel) * rowLen, "x");
    if (static_cast<int64_t>(o.numel) % rowLen) fail("argument 'out' is not a whole number of rows");
    checkIndices(idx, static_cast<int64_t>(o.numel) / rowLen, "(rows of out)");
    if (x.data == o.data) fail("argument 'out' must not alias 'x'");
    backendOf(x).scatterAddRows(x.dtype, x.data, static_cast<const int32_t*>(idx.data), o.data,
                                static_cast<int64_t>(idx.numel), rowLen, static_cast<int64_t>(o.numel) / rowLen);
    return info.Env().Undefined();
  });
}

}  // namespace

void registerKernelBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("gemm", Napi::Function::New(env, Gemm, "gemm"));
  exports.Set("unary", Napi::Function::New(env, Unary, "unary"));
  exports.Set("binary", Napi::Function::New(env, Binary, "binary"));
  exports.Set("expand", Napi::Function::New(env, Expand, "expand"));
  exports.Set("binaryScalar", Napi::Function::New(env, BinaryScalar, "binaryScalar"));
  exports.Set("axpby", Napi::Function::New(env, Axpby, "axpby"));
  exports.Set("reduce", Napi::Function::New(env, Reduce, "reduce"));
  exports.Set("argmax", Napi::Function::New(env, Argmax, "argmax"));
  exports.Set("dot", Napi::Function::New(env, Dot, "dot"));
  exports.Set("softmaxXent", Napi::Function::New(env, SoftmaxXent, "softmaxXent"));
  exports.Set("softmaxXentJvp", Napi::Function::New(env, SoftmaxXentJvp, "softmaxXentJvp"));
  exports.Set("copy2d", Napi::Function::New(env, Copy2d, "copy2d"));
  exports.Set("packRowPanels", Napi::Function::New(env, PackRowPanels, "packRowPanels"));
  exports.Set("gemmRowPanels", Napi::Function::New(env, GemmRowPanels, "gemmRowPanels"));
  exports.Set("sparseGemm", Napi::Function::New(env, SparseGemm, "sparseGemm"));
  exports.Set("sparseLinearXent", Napi::Function::New(env, SparseLinearXent, "sparseLinearXent"));
  exports.Set("denseLinearXent", Napi::Function::New(env, DenseLinearXent, "denseLinearXent"));
  exports.Set("linearXentAvailable", Napi::Boolean::New(env, linearXentAvailable()));
  exports.Set("tanhGrad", Napi::Function::New(env, TanhGrad, "tanhGrad"));
  exports.Set("tanhGradJvp", Napi::Function::New(env, TanhGradJvp, "tanhGradJvp"));
  exports.Set("dynamicsTangent", Napi::Function::New(env, DynamicsTangent, "dynamicsTangent"));
  exports.Set("permute", Napi::Function::New(env, Permute, "permute"));
  exports.Set("gatherRows", Napi::Function::New(env, GatherRows, "gatherRows"));
  exports.Set("scatterAddRows", Napi::Function::New(env, ScatterAddRows, "scatterAddRows"));
}

}  // namespace rfho
