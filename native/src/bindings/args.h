// Argument unwrapping and validation for the N-API bindings. Every check throws a JS error
// naming the argument, before any pointer is dereferenced.
#pragma once
#include <napi.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "../common.h"

namespace rfho {

// Tags our Externals so a foreign External (or a forged object) is refused instead of dereferenced.
extern const napi_type_tag kBufferTag;

[[noreturn]] inline void fail(const std::string& msg) { throw ArgError(msg); }
// A check of a tensor's contents (a label or an index out of range), which only the kernel can make
// without reading the data back: reaches JS as a RangeError, which rfho reports as the caller's
// ArgumentError rather than as a check the TypeScript layer should have made.
[[noreturn]] inline void failValue(const std::string& msg) { throw ValueError(msg); }

Buffer& argBuffer(const Napi::CallbackInfo& info, size_t i, const char* name);
// The same checks for a value that is not itself an argument (an element of an array argument).
Buffer& tensorFrom(const Napi::Value& v, const std::string& label);
int64_t intFrom(const Napi::Value& v, const std::string& label, int64_t min = 0);
// A handle made by packSparse (argBuffer refuses those).
Buffer& argSparseLayout(const Napi::CallbackInfo& info, size_t i, const char* name);
// Null/undefined → nullptr; otherwise a live buffer.
Buffer* argOptionalBuffer(const Napi::CallbackInfo& info, size_t i, const char* name);
int64_t argInt(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min = 0);
double argNumber(const Napi::CallbackInfo& info, size_t i, const char* name);
bool argBool(const Napi::CallbackInfo& info, size_t i, const char* name);
std::vector<int64_t> argShape(const Napi::CallbackInfo& info, size_t i, const char* name);

std::string shapeStr(const std::vector<int64_t>& s);
int64_t numelOf(const std::vector<int64_t>& s);
void requireFloat(const Buffer& b, const char* name);
void requireDtype(const Buffer& b, DType d, const char* name);
void requireSameDtype(const Buffer& a, const char* an, const Buffer& b, const char* bn);
void requireNumel(const Buffer& b, int64_t n, const char* name);
void requireAtLeast(const Buffer& b, int64_t n, const char* name);
Backend& backendOf(const Buffer& b);
void requireSameDevice(const Buffer& a, const char* an, const Buffer& b, const char* bn);
// b has a's dtype and lives on a's device (an output for an input, say): the two checks above.
void requireLike(const Buffer& a, const char* an, const Buffer& b, const char* bn);

// One operand of an elementwise kernel: a buffer (null: absent, skipped), its argument name and
// the number of elements it must hold.
struct Operand {
  const Buffer* buffer;
  const char* name;
  int64_t numel;
};
// Every present operand has ref's dtype and device and exactly its numel.
void requireOperands(const Buffer& ref, const char* refName, std::initializer_list<Operand> operands);

// Runs a binding body and converts C++ exceptions into JS errors (TypeError for ArgError).
template <typename F>
Napi::Value guarded(const Napi::CallbackInfo& info, F&& body) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const ValueError& e) {
    throw Napi::RangeError::New(info.Env(), e.what());
  } catch (const ArgError& e) {
    throw Napi::TypeError::New(info.Env(), e.what());
  } catch (const std::bad_alloc&) {
    throw Napi::RangeError::New(info.Env(), "rfho: out of memory");
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("rfho native error: ") + e.what());
  }
}

// Elements a strided operand must hold: the last element of the last row of the last batch, + 1.
inline int64_t extentNeeded(int64_t off, int64_t batch, int64_t stride, int64_t rows, int64_t cols, int64_t ld) {
  if (batch == 0 || rows == 0 || cols == 0) return 0;
  return off + (batch - 1) * stride + (rows - 1) * ld + cols;
}

// One registration per binding family (bindings/<family>.cc), called by the addon's entry point.
void registerMemoryBindings(Napi::Env env, Napi::Object exports);
void registerProductsBindings(Napi::Env env, Napi::Object exports);
void registerElementwiseBindings(Napi::Env env, Napi::Object exports);
void registerReduceBindings(Napi::Env env, Napi::Object exports);
void registerXentBindings(Napi::Env env, Napi::Object exports);
void registerIndexingBindings(Napi::Env env, Napi::Object exports);
void registerThreadBindings(Napi::Env env, Napi::Object exports);

}  // namespace rfho
