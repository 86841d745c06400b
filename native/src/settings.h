// The settings the addon reads from the environment, all of them here: rf.config lists the same
// ones (kind 'native', lib/config/config.ts) with their meaning, and the TypeScript side never
// passes them down — they are read by the C++ (once, where cached) because some are needed before
// any JavaScript could set them (the BLAS library, the CUDA probe).
#pragma once
#include <cstdlib>
#include <cstring>

namespace rfho::settings {

// RFHO_BLAS: the CBLAS library to dlopen ("built-in": rfho's own loops); null or empty: the system's.
inline const char* blasLibrary() { return std::getenv("RFHO_BLAS"); }
// RFHO_GEMM=openblas: every large float product to the BLAS library instead of rfho's packed kernel.
inline bool gemmToBlas() {
  const char* v = std::getenv("RFHO_GEMM");
  return v != nullptr && std::strcmp(v, "openblas") == 0;
}
// RFHO_NO_HUGEPAGES set (to anything): large buffers do not ask for transparent huge pages.
inline bool hugePages() { return std::getenv("RFHO_NO_HUGEPAGES") == nullptr; }
// RFHO_DISABLE_CUDA set to anything but "" or "0": the CUDA library is never loaded.
inline bool cudaDisabled() {
  const char* v = std::getenv("RFHO_DISABLE_CUDA");
  return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
}
// RFHO_CUDA_SYNC=1: synchronise after every CUDA kernel (a fault reported by the call that made it).
inline bool cudaSyncEveryLaunch() {
  const char* v = std::getenv("RFHO_CUDA_SYNC");
  return v != nullptr && std::strcmp(v, "1") == 0;
}
// RFHO_CUDA_TF32=1: float32 products on CUDA may use TF32 tensor cores.
inline bool cudaTf32() {
  const char* v = std::getenv("RFHO_CUDA_TF32");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

}  // namespace rfho::settings
