// Kernel bindings, elementwise kernels: unary and binary ops with broadcasting, axpby, and the
// fused tanh and dynamics tangents. Each validates every argument, builds the iteration plan and
// dispatches to the backend.
#include <algorithm>
#include <cmath>
#include <vector>

#include "args.h"

namespace rfho {
namespace {

// unary(op, x, out)
Napi::Value Unary(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    int64_t op = argInt(info, 0, "op");
    if (op >= static_cast<int64_t>(UnaryOp::Count)) fail("argument 'op' is not a unary op");
    Buffer& x = argBuffer(info, 1, "x");
    Buffer& o = argBuffer(info, 2, "out");
    requireFloat(x, "x");
    requireLike(x, "x", o, "out");
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
    requireLike(x, "x", o, "out");
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
    requireLike(a, "a", o, "out");
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
    requireLike(x, "x", o, "out");
    requireNumel(o, static_cast<int64_t>(x.numel), "out");
    if (y) {
      requireLike(x, "x", *y, "y");
      requireNumel(*y, static_cast<int64_t>(x.numel), "y");
    }
    backendOf(x).axpby(x.dtype, alpha, x.data, beta, y ? y->data : nullptr, o.data,
                       static_cast<int64_t>(x.numel));
    return info.Env().Undefined();
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

}  // namespace

void registerElementwiseBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("unary", Napi::Function::New(env, Unary, "unary"));
  exports.Set("binary", Napi::Function::New(env, Binary, "binary"));
  exports.Set("expand", Napi::Function::New(env, Expand, "expand"));
  exports.Set("binaryScalar", Napi::Function::New(env, BinaryScalar, "binaryScalar"));
  exports.Set("axpby", Napi::Function::New(env, Axpby, "axpby"));
  exports.Set("tanhGrad", Napi::Function::New(env, TanhGrad, "tanhGrad"));
  exports.Set("tanhGradJvp", Napi::Function::New(env, TanhGradJvp, "tanhGradJvp"));
  exports.Set("dynamicsTangent", Napi::Function::New(env, DynamicsTangent, "dynamicsTangent"));
}

}  // namespace rfho
