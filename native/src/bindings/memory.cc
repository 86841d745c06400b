// Buffers: allocation, disposal, host transfers, fills, random numbers, casts.
#include "../cpu/blas_runtime.h"
#include <cmath>
#include <cstring>

#include "args.h"
#include "../cpu/sparse_data.h"

namespace rfho {

LiveCounters& liveCounters() {
  static LiveCounters c;
  return c;
}

static void releaseBuffer(Buffer* b) {
  if (b->freed) return;
  b->freed = true;
  try {
    backendOf(*b).release(b->data, b->bytes());
  } catch (...) {
    // Finalizers must not throw; a CUDA buffer outliving its backend is simply dropped.
  }
  b->data = nullptr;
  liveCounters().bytes -= static_cast<int64_t>(b->numel * dtypeSize(b->dtype));
  liveCounters().buffers -= 1;
}

static void finalizeBuffer(Napi::Env, Buffer* b) {
  releaseBuffer(b);
  delete b;
}

static DType argDtype(const Napi::CallbackInfo& info, size_t i) {
  int64_t d = argInt(info, i, "dtype");
  if (d > 2) fail("argument 'dtype' must be 0 (float32), 1 (float64) or 2 (int32)");
  return static_cast<DType>(d);
}

static Napi::Value wrapNew(Napi::Env env, size_t numel, DType dtype, Device device) {
  Backend& be = device == Device::CPU ? cpuBackend() : *cudaBackend();
  auto* b = new Buffer();
  b->numel = numel;
  b->dtype = dtype;
  b->device = device;
  try {
    b->data = be.allocate(numel * dtypeSize(dtype));
  } catch (...) {
    delete b;
    throw;
  }
  liveCounters().bytes += static_cast<int64_t>(numel * dtypeSize(dtype));
  liveCounters().buffers += 1;
  auto ext = Napi::External<Buffer>::New(env, b, finalizeBuffer);
  ext.TypeTag(&kBufferTag);
  return ext;
}

static Device argDevice(const Napi::CallbackInfo& info, size_t i) {
  int64_t d = argInt(info, i, "device");
  if (d > 1) fail("argument 'device' must be 0 (cpu) or 1 (cuda)");
  if (d == 1 && !cudaBackend()) fail("CUDA device requested but unavailable: " + cudaStatus());
  return static_cast<Device>(d);
}

// alloc(numel, dtype, device) -> handle (uninitialised memory)
static Napi::Value Alloc(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    int64_t numel = argInt(info, 0, "numel");
    if (numel > (int64_t{1} << 40)) fail("argument 'numel' is too large: " + std::to_string(numel));
    DType dtype = argDtype(info, 1);
    Device device = info.Length() > 2 ? argDevice(info, 2) : Device::CPU;
    return wrapNew(info.Env(), static_cast<size_t>(numel), dtype, device);
  });
}

// packSparse(x, rows, cols, maxDensity[, denseFrom]) -> handle | null: the sparse layout of a
// [rows, cols] matrix (Backend::planSparse), or null when more than maxDensity of its entries are
// non-zero. Columns at least denseFrom non-zero are also kept densely (default: none, > 1).
static Napi::Value PackSparse(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& x = argBuffer(info, 0, "x");
    int64_t rows = argInt(info, 1, "rows"), cols = argInt(info, 2, "cols");
    double maxDensity = argNumber(info, 3, "maxDensity");
    requireFloat(x, "x");
    Backend& backend = backendOf(x);
    if (!backend.provides(Fused::SparseData)) fail(std::string("sparse layouts are not supported on ") + backend.name());
    requireNumel(x, rows * cols, "x");
    if (!(maxDensity >= 0 && maxDensity <= 1)) fail("argument 'maxDensity' must be in [0, 1]");
    const double denseFrom = info.Length() > 4 ? argNumber(info, 4, "denseFrom") : 2.0;
    if (!(denseFrom >= 0)) fail("argument 'denseFrom' must be a number ≥ 0 (above 1: no dense columns)");
    const int64_t kIndexMax = 2147483647;  // int32 indices and pointers
    if (rows == 0 || cols == 0 || rows >= kIndexMax || cols >= kIndexMax) return info.Env().Null();
    SparsePlan plan;
    size_t bytes = 0;
    if (!backend.planSparse(x.dtype, x.data, rows, cols, maxDensity, denseFrom, &plan, &bytes)) return info.Env().Null();
    const size_t numel = (bytes + dtypeSize(x.dtype) - 1) / dtypeSize(x.dtype);
    Napi::Value h = wrapNew(info.Env(), numel, x.dtype, x.device);
    Buffer* b = h.As<Napi::External<Buffer>>().Data();
    backend.packSparse(x.dtype, x.data, rows, cols, plan, b->data);
    b->sparse = true;
    b->sparseRows = rows;
    b->sparseCols = cols;
    b->sparseNnz = plan.nnz;
    return h;
  });
}

// sparseInfo(S) -> { rows, cols, nnz, denseCols }: what a sparse layout holds (diagnostics, tests).
static Napi::Value SparseInfo(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& S = argSparseLayout(info, 0, "S");
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("rows", static_cast<double>(S.sparseRows));
    o.Set("cols", static_cast<double>(S.sparseCols));
    o.Set("nnz", static_cast<double>(S.sparseNnz));
    o.Set("denseCols", static_cast<double>(backendOf(S).sparseDenseColumns(S.dtype, S.data, S.sparseRows, S.sparseCols, S.sparseNnz)));
    return o;
  });
}

// free(handle): idempotent
static Napi::Value Free(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsExternal()) fail("argument 'handle' must be a tensor handle");
    auto ext = info[0].As<Napi::External<Buffer>>();
    if (!ext.CheckTypeTag(&kBufferTag)) fail("argument 'handle' is not an rfho tensor handle");
    releaseBuffer(ext.Data());
    return info.Env().Undefined();
  });
}

static Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("bytes", Napi::Number::New(info.Env(), static_cast<double>(liveCounters().bytes.load())));
  o.Set("buffers",
        Napi::Number::New(info.Env(), static_cast<double>(liveCounters().buffers.load())));
  return o;
}

static void checkTypedArray(const Napi::TypedArray& ta, DType dtype, const char* name) {
  napi_typedarray_type t = ta.TypedArrayType();
  bool ok = (dtype == DType::F32 && t == napi_float32_array) ||
            (dtype == DType::F64 && t == napi_float64_array) ||
            (dtype == DType::I32 && t == napi_int32_array);
  if (!ok)
    fail(std::string("argument '") + name + "' must be a typed array matching dtype " +
         dtypeName(dtype));
}

// write(handle, typedArray, offsetElements)
static Napi::Value Write(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& b = argBuffer(info, 0, "dst");
    if (info.Length() < 2 || !info[1].IsTypedArray()) fail("argument 'src' must be a typed array");
    auto ta = info[1].As<Napi::TypedArray>();
    checkTypedArray(ta, b.dtype, "src");
    int64_t off = info.Length() > 2 ? argInt(info, 2, "offset") : 0;
    if (off + static_cast<int64_t>(ta.ElementLength()) > static_cast<int64_t>(b.numel))
      fail("argument 'src' (" + std::to_string(ta.ElementLength()) + " elements at offset " +
           std::to_string(off) + ") does not fit the tensor of " + std::to_string(b.numel));
    auto* src = static_cast<const char*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    backendOf(b).copyFromHost(static_cast<char*>(b.data) + off * dtypeSize(b.dtype), src,
                              ta.ElementLength() * dtypeSize(b.dtype));
    return info.Env().Undefined();
  });
}

// read(handle) -> new typed array with a copy
static Napi::Value Read(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& b = argBuffer(info, 0, "src");
    Napi::Env env = info.Env();
    size_t n = b.numel;
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, n * dtypeSize(b.dtype));
    backendOf(b).copyToHost(ab.Data(), b.data, n * dtypeSize(b.dtype));
    switch (b.dtype) {
      case DType::F32: return Napi::Float32Array::New(env, n, ab, 0);
      case DType::F64: return Napi::Float64Array::New(env, n, ab, 0);
      default: return Napi::Int32Array::New(env, n, ab, 0);
    }
  });
}

// readScalar(handle, index) -> number (no typed array allocation: cheap for loss values)
static Napi::Value ReadScalar(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& b = argBuffer(info, 0, "src");
    int64_t i = info.Length() > 1 ? argInt(info, 1, "index") : 0;
    if (i >= static_cast<int64_t>(b.numel))
      fail("argument 'index' " + std::to_string(i) + " is out of range for " +
           std::to_string(b.numel) + " elements");
    double v = 0;
    char tmp[8];
    backendOf(b).copyToHost(tmp, static_cast<char*>(b.data) + i * dtypeSize(b.dtype),
                            dtypeSize(b.dtype));
    if (b.dtype == DType::F32) v = *reinterpret_cast<float*>(tmp);
    else if (b.dtype == DType::F64) v = *reinterpret_cast<double*>(tmp);
    else v = *reinterpret_cast<int32_t*>(tmp);
    return Napi::Number::New(info.Env(), v);
  });
}

// fill(handle, value)
static Napi::Value Fill(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& b = argBuffer(info, 0, "out");
    double v = argNumber(info, 1, "value");
    backendOf(b).fill(b.dtype, b.data, v, static_cast<int64_t>(b.numel));
    return info.Env().Undefined();
  });
}

static uint64_t argSeed(const Napi::CallbackInfo& info, size_t i) {
  double s = argNumber(info, i, "seed");
  if (!std::isfinite(s) || std::floor(s) != s || s < 0 || s > 9007199254740991.0)
    fail("argument 'seed' must be a non-negative integer below 2^53, got " + std::to_string(s));
  return static_cast<uint64_t>(s);
}

// randomUniform(out, seed, lo, hi) / randomNormal(out, seed, mean, std)
static Napi::Value RandomUniform(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& b = argBuffer(info, 0, "out");
    requireFloat(b, "out");
    uint64_t seed = argSeed(info, 1);
    double lo = argNumber(info, 2, "lo"), hi = argNumber(info, 3, "hi");
    if (!std::isfinite(lo) || !std::isfinite(hi) || lo > hi)
      fail("arguments 'lo' and 'hi' must be finite with lo <= hi");
    backendOf(b).randomUniform(b.dtype, b.data, static_cast<int64_t>(b.numel), seed, lo, hi);
    return info.Env().Undefined();
  });
}
static Napi::Value RandomNormal(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& b = argBuffer(info, 0, "out");
    requireFloat(b, "out");
    uint64_t seed = argSeed(info, 1);
    double mean = argNumber(info, 2, "mean"), sd = argNumber(info, 3, "std");
    if (!std::isfinite(mean) || !std::isfinite(sd) || sd < 0)
      fail("arguments 'mean' and 'std' must be finite with std >= 0");
    backendOf(b).randomNormal(b.dtype, b.data, static_cast<int64_t>(b.numel), seed, mean, sd);
    return info.Env().Undefined();
  });
}

// cast(x, out): any dtype to any dtype, same numel and device
static Napi::Value Cast(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& x = argBuffer(info, 0, "x");
    Buffer& o = argBuffer(info, 1, "out");
    requireSameDevice(x, "x", o, "out");
    requireNumel(o, static_cast<int64_t>(x.numel), "out");
    backendOf(x).cast(x.dtype, x.data, o.dtype, o.data, static_cast<int64_t>(x.numel));
    return info.Env().Undefined();
  });
}

// copy(src, dst): same dtype and numel; across devices when they differ
static Napi::Value Copy(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& s = argBuffer(info, 0, "src");
    Buffer& d = argBuffer(info, 1, "dst");
    requireSameDtype(s, "src", d, "dst");
    requireNumel(d, static_cast<int64_t>(s.numel), "dst");
    size_t bytes = s.bytes();
    if (s.device == d.device) backendOf(s).copy(d.data, s.data, bytes);
    else if (s.device == Device::CPU) backendOf(d).copyFromHost(d.data, s.data, bytes);
    else backendOf(s).copyToHost(d.data, s.data, bytes);
    return info.Env().Undefined();
  });
}

static Napi::Value CountNonFinite(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& x = argBuffer(info, 0, "x");
    requireFloat(x, "x");
    return Napi::Number::New(info.Env(), static_cast<double>(backendOf(x).countNonFinite(
                                             x.dtype, x.data, static_cast<int64_t>(x.numel))));
  });
}

static Napi::Value DeviceInfo(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  // a device is there; its context is made when a tensor first goes to it
  o.Set("cuda", Napi::Boolean::New(info.Env(), cudaAvailable()));
  o.Set("cudaStatus", Napi::String::New(info.Env(), cudaStatus()));
  o.Set("blas", Napi::String::New(info.Env(), blas().name));
  return o;
}

// fusedKernels(device): the names of the fused kernels its backend provides; null for a device
// whose backend has not started (no tensor lives there yet: nothing to ask for).
static Napi::Value FusedKernels(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsString()) fail("argument 'device' must be 'cpu' or 'cuda'");
    const std::string device = info[0].As<Napi::String>();
    Backend* b = device == "cpu" ? &cpuBackend() : device == "cuda" ? cudaBackendIfStarted() : nullptr;
    if (device != "cpu" && device != "cuda") fail("argument 'device' must be 'cpu' or 'cuda', got '" + device + "'");
    if (!b) return info.Env().Null();
    Napi::Array out = Napi::Array::New(info.Env());
    for (int i = 0; i < kFusedCount; i++)
      if (b->provides(static_cast<Fused>(i))) out.Set(out.Length(), Napi::String::New(info.Env(), kFusedNames[i]));
    return out;
  });
}

static Napi::Value Synchronize(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    if (Backend* c = cudaBackendIfStarted()) c->synchronize();
    return info.Env().Undefined();
  });
}

void registerMemoryBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("alloc", Napi::Function::New(env, Alloc, "alloc"));
  exports.Set("free", Napi::Function::New(env, Free, "free"));
  exports.Set("stats", Napi::Function::New(env, Stats, "stats"));
  exports.Set("write", Napi::Function::New(env, Write, "write"));
  exports.Set("read", Napi::Function::New(env, Read, "read"));
  exports.Set("packSparse", Napi::Function::New(env, PackSparse, "packSparse"));
  exports.Set("sparseInfo", Napi::Function::New(env, SparseInfo, "sparseInfo"));
  exports.Set("sparseDenseColumnsMinWidth", Napi::Number::New(env, static_cast<double>(kDenseColumnsMinWidth)));
  exports.Set("readScalar", Napi::Function::New(env, ReadScalar, "readScalar"));
  exports.Set("fill", Napi::Function::New(env, Fill, "fill"));
  exports.Set("randomUniform", Napi::Function::New(env, RandomUniform, "randomUniform"));
  exports.Set("randomNormal", Napi::Function::New(env, RandomNormal, "randomNormal"));
  exports.Set("cast", Napi::Function::New(env, Cast, "cast"));
  exports.Set("copy", Napi::Function::New(env, Copy, "copy"));
  exports.Set("countNonFinite", Napi::Function::New(env, CountNonFinite, "countNonFinite"));
  exports.Set("deviceInfo", Napi::Function::New(env, DeviceInfo, "deviceInfo"));
  exports.Set("synchronize", Napi::Function::New(env, Synchronize, "synchronize"));
  exports.Set("fusedKernels", Napi::Function::New(env, FusedKernels, "fusedKernels"));
}

}  // namespace rfho
