// Loads the CUDA backend (rfho_cuda.so, built next to the addon) on first use. Keeping it out of
// the addon's own link line means the addon loads on machines without a GPU, a driver or cuBLAS;
// there cudaBackend() is null and cudaStatus() says why.
#include <dlfcn.h>

#include <atomic>
#include <mutex>
#include <string>

#include "../common.h"
#include "../settings.h"

namespace rfho {
namespace {

std::once_flag probed, created;
void* lib = nullptr;
bool present = false;
std::atomic<Backend*> backend{nullptr};
std::string status = "CUDA backend not initialised";

// dlopen and ask whether a device is there (no CUDA context yet).
void probe() {
  if (settings::cudaDisabled()) {
    status = "CUDA backend disabled by RFHO_DISABLE_CUDA";
    return;
  }
  Dl_info info{};
  if (!dladdr(reinterpret_cast<void*>(&probe), &info) || !info.dli_fname) {
    status = "cannot locate the rfho addon to find rfho_cuda.so";
    return;
  }
  std::string path = info.dli_fname;
  path = path.substr(0, path.find_last_of('/') + 1) + "rfho_cuda.so";
  lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    status = std::string("CUDA backend library could not be loaded: ") + dlerror();
    return;
  }
  using Probe = bool (*)(char*, size_t);
  auto probeDevice = reinterpret_cast<Probe>(dlsym(lib, "rfho_cuda_probe"));
  if (!probeDevice || !dlsym(lib, "rfho_cuda_create")) {
    status = "rfho_cuda.so lacks rfho_cuda_probe or rfho_cuda_create";
    return;
  }
  char msg[512] = {0};
  present = probeDevice(msg, sizeof(msg));
  status = msg;
}

// The backend, and with it the CUDA context, on first use only.
void create() {
  std::call_once(probed, probe);
  if (!present) return;
  using Create = Backend* (*)(char*, size_t);
  char msg[512] = {0};
  Backend* b = reinterpret_cast<Create>(dlsym(lib, "rfho_cuda_create"))(msg, sizeof(msg));
  if (!b) status = msg;
  backend = b;
}

}  // namespace

Backend* cudaBackend() {
  std::call_once(created, create);
  return backend;
}

bool cudaAvailable() {
  std::call_once(probed, probe);
  return present;
}

Backend* cudaBackendIfStarted() { return backend; }

std::string cudaStatus() {
  std::call_once(probed, probe);
  return status;
}

}  // namespace rfho
