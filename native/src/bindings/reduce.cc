// Kernel bindings, reductions: sums and extrema over axes, argmax, dot. Each validates every
// argument, builds the iteration plan and dispatches to the backend.
#include <algorithm>
#include <cmath>
#include <vector>

#include "args.h"

namespace rfho {
namespace {

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
    requireLike(x, "x", o, "out");
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
    requireLike(a, "a", b, "b");
    requireNumel(b, static_cast<int64_t>(a.numel), "b");
    return Napi::Number::New(info.Env(),
                             backendOf(a).dot(a.dtype, a.data, b.data, static_cast<int64_t>(a.numel)));
  });
}

}  // namespace

void registerReduceBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("reduce", Napi::Function::New(env, Reduce, "reduce"));
  exports.Set("argmax", Napi::Function::New(env, Argmax, "argmax"));
  exports.Set("dot", Napi::Function::New(env, Dot, "dot"));
}

}  // namespace rfho
