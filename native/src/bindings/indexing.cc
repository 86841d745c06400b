// Kernel bindings, indexing: strided copies, permutations, gathering and scatter-adding rows. Each
// validates every argument, builds the iteration plan and dispatches to the backend.
#include <algorithm>
#include <cmath>
#include <vector>

#include "args.h"

namespace rfho {
namespace {

// copy2d(src, srcOffset, srcStride, dst, dstOffset, dstStride, rows, cols)
Napi::Value Copy2d(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& s = argBuffer(info, 0, "src");
    int64_t so = argInt(info, 1, "srcOffset"), ss = argInt(info, 2, "srcStride");
    Buffer& d = argBuffer(info, 3, "dst");
    int64_t dof = argInt(info, 4, "dstOffset"), ds = argInt(info, 5, "dstStride");
    int64_t rows = argInt(info, 6, "rows"), cols = argInt(info, 7, "cols");
    requireLike(s, "src", d, "dst");
    if (s.data == d.data) fail("argument 'dst' must not alias 'src'");
    requireAtLeast(s, extentNeeded(so, 1, 0, rows, cols, ss), "src");
    requireAtLeast(d, extentNeeded(dof, 1, 0, rows, cols, ds), "dst");
    if (rows > 1 && ds < cols) fail("argument 'dstStride' makes rows overlap");
    if (rows > 0 && cols > 0) backendOf(s).copy2d(s.dtype, s.data, so, ss, d.data, dof, ds, rows, cols);
    return info.Env().Undefined();
  });
}

// permute(x, shape, perm, out)
Napi::Value Permute(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& x = argBuffer(info, 0, "x");
    auto shape = argShape(info, 1, "shape");
    auto perm = argShape(info, 2, "perm");
    Buffer& o = argBuffer(info, 3, "out");
    requireLike(x, "x", o, "out");
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
    requireLike(x, "x", o, "out");
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
    requireLike(x, "x", o, "out");
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

void registerIndexingBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("copy2d", Napi::Function::New(env, Copy2d, "copy2d"));
  exports.Set("permute", Napi::Function::New(env, Permute, "permute"));
  exports.Set("gatherRows", Napi::Function::New(env, GatherRows, "gatherRows"));
  exports.Set("scatterAddRows", Napi::Function::New(env, ScatterAddRows, "scatterAddRows"));
}

}  // namespace rfho
