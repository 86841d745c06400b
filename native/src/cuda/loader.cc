// Loads the CUDA backend (rfho_cuda.so, built next to the addon) on first use. Keeping it out of
// the addon's own link line means the addon loads on machines without a GPU, a driver or cuBLAS;
// there cudaBackend() is null and cudaStatus() says why.
#include <dlfcn.h>

#include <mutex>
#include <string>

#include "../common.h"

namespace rfho {
namespace {

std::once_flag once;
Backend* backend = nullptr;
std::string status = "CUDA backend not initialised";

void load() {
  if (const char* off = std::getenv("RFHO_DISABLE_CUDA"); off && *off && std::string(off) != "0") {
    status = "CUDA backend disabled by RFHO_DISABLE_CUDA";
    return;
  }
  Dl_info info{};
  if (!dladdr(reinterpret_cast<void*>(&load), &info) || !info.dli_fname) {
    status = "cannot locate the rfho addon to find rfho_cuda.so";
    return;
  }
  std::string path = info.dli_fname;
  path = path.substr(0, path.find_last_of('/') + 1) + "rfho_cuda.so";
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    status = std::string("CUDA backend library could not be loaded: ") + dlerror();
    return;
  }
  using Create = Backend* (*)(char*, size_t);
  auto create = reinterpret_cast<Create>(dlsym(lib, "rfho_cuda_create"));
  if (!create) {
    status = "rfho_cuda.so has no rfho_cuda_create";
    return;
  }
  char msg[512] = {0};
  backend = create(msg, sizeof(msg));
  status = msg;
}

}  // namespace

Backend* cudaBackend() {
  std::call_once(once, load);
  return backend;
}

std::string cudaStatus() {
  std::call_once(once, load);
  return status;
}

}  // namespace rfho
