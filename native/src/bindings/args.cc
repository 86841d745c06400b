#include "args.h"

#include <cmath>

namespace rfho {

const napi_type_tag kBufferTag = {0x7a1f0e3c2b4d5e6fULL, 0x1029384756abcdefULL};

static std::string argLabel(const char* name) { return std::string("argument '") + name + "'"; }

Buffer& tensorFrom(const Napi::Value& v, const std::string& label) {
  if (!v.IsExternal()) fail(label + " must be a tensor handle");
  Napi::External<Buffer> ext = v.As<Napi::External<Buffer>>();
  if (!ext.CheckTypeTag(&kBufferTag)) fail(label + " is not an rfho tensor handle");
  Buffer* b = ext.Data();
  if (b->freed) fail(label + " refers to a tensor that has been disposed");
  if (b->sparse) fail(label + " is a sparse data layout, not a tensor");
  return *b;
}

Buffer& argBuffer(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return tensorFrom(i < info.Length() ? info[i] : info.Env().Undefined(), argLabel(name));
}

Buffer& argSparseLayout(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsExternal()) fail(argLabel(name) + " must be a sparse layout handle");
  Napi::External<Buffer> ext = info[i].As<Napi::External<Buffer>>();
  if (!ext.CheckTypeTag(&kBufferTag)) fail(argLabel(name) + " is not an rfho handle");
  Buffer* b = ext.Data();
  if (b->freed) fail(argLabel(name) + " refers to a sparse layout that has been freed");
  if (!b->sparse) fail(argLabel(name) + " is a tensor, not a sparse layout");
  return *b;
}

Buffer* argOptionalBuffer(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || info[i].IsNull() || info[i].IsUndefined()) return nullptr;
  return &argBuffer(info, i, name);
}

double argNumber(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsNumber()) fail(argLabel(name) + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

int64_t intFrom(const Napi::Value& value, const std::string& label, int64_t min) {
  if (!value.IsNumber()) fail(label + " must be a number");
  double v = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(v) || std::floor(v) != v)
    fail(label + " must be an integer, got " + std::to_string(v));
  if (v < static_cast<double>(min) || v > 9.007199254740992e15)
    fail(label + " must be >= " + std::to_string(min) + ", got " + std::to_string(v));
  return static_cast<int64_t>(v);
}

int64_t argInt(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min) {
  return intFrom(i < info.Length() ? info[i] : info.Env().Undefined(), argLabel(name), min);
}

bool argBool(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsBoolean()) fail(argLabel(name) + " must be a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

std::vector<int64_t> argShape(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsArray()) fail(argLabel(name) + " must be an array");
  Napi::Array a = info[i].As<Napi::Array>();
  if (a.Length() > static_cast<uint32_t>(kMaxDims))
    fail(argLabel(name) + " has more than " + std::to_string(kMaxDims) + " dimensions");
  std::vector<int64_t> s(a.Length());
  for (uint32_t k = 0; k < a.Length(); ++k) {
    Napi::Value v = a[k];
    if (!v.IsNumber()) fail(argLabel(name) + " must contain numbers");
    double d = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || d < 0 || std::floor(d) != d)
      fail(argLabel(name) + " must contain non-negative integers");
    s[k] = static_cast<int64_t>(d);
  }
  return s;
}

std::string shapeStr(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

int64_t numelOf(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (auto v : s) n *= v;
  return n;
}

void requireFloat(const Buffer& b, const char* name) {
  if (b.dtype != DType::F32 && b.dtype != DType::F64)
    fail(argLabel(name) + " must be float32 or float64, got " + dtypeName(b.dtype));
}
void requireDtype(const Buffer& b, DType d, const char* name) {
  if (b.dtype != d)
    fail(argLabel(name) + " must be " + dtypeName(d) + ", got " + dtypeName(b.dtype));
}
void requireSameDtype(const Buffer& a, const char* an, const Buffer& b, const char* bn) {
  if (a.dtype != b.dtype)
    fail(std::string("dtype mismatch: '") + an + "' is " + dtypeName(a.dtype) + " but '" + bn +
         "' is " + dtypeName(b.dtype));
}
void requireNumel(const Buffer& b, int64_t n, const char* name) {
  if (static_cast<int64_t>(b.numel) != n)
    fail(argLabel(name) + " has " + std::to_string(b.numel) + " elements, expected " +
         std::to_string(n));
}
void requireAtLeast(const Buffer& b, int64_t n, const char* name) {
  if (static_cast<int64_t>(b.numel) < n)
    fail(argLabel(name) + " has " + std::to_string(b.numel) + " elements, the call reads " +
         std::to_string(n));
}
Backend& backendOf(const Buffer& b) {
  if (b.device == Device::CPU) return cpuBackend();
  Backend* c = cudaBackend();
  if (!c) fail("tensor lives on a CUDA device but the CUDA backend is not available");
  return *c;
}
void requireSameDevice(const Buffer& a, const char* an, const Buffer& b, const char* bn) {
  if (a.device != b.device)
    fail(std::string("device mismatch: '") + an + "' and '" + bn +
         "' live on different devices; move one with toDevice()");
}

void requireLike(const Buffer& a, const char* an, const Buffer& b, const char* bn) {
  requireSameDtype(a, an, b, bn);
  requireSameDevice(a, an, b, bn);
}

void requireOperands(const Buffer& ref, const char* refName, std::initializer_list<Operand> operands) {
  for (const Operand& o : operands) {
    if (!o.buffer) continue;
    requireLike(ref, refName, *o.buffer, o.name);
    requireNumel(*o.buffer, o.numel, o.name);
  }
}

}  // namespace rfho
