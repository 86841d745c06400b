// Entry point of the rfho native addon.
#include <napi.h>

#include "bindings/args.h"

namespace rfho {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  registerMemoryBindings(env, exports);
  registerProductsBindings(env, exports);
  registerElementwiseBindings(env, exports);
  registerReduceBindings(env, exports);
  registerXentBindings(env, exports);
  registerIndexingBindings(env, exports);
  registerThreadBindings(env, exports);
  exports.Set("version", Napi::String::New(env, "0.1.0"));
  return exports;
}

}  // namespace rfho

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return rfho::Init(env, exports); }

NODE_API_MODULE(rfho_native, InitAddon)
