// Linked when the CUDA backend is not built: the addon reports that no GPU backend exists.
#include "../common.h"

namespace rfho {
Backend* cudaBackend() { return nullptr; }
bool cudaAvailable() { return false; }
Backend* cudaBackendIfStarted() { return nullptr; }
std::string cudaStatus() { return "rfho was built without the CUDA backend (RFHO_CUDA=OFF or no nvcc/cuBLAS found)"; }
}  // namespace rfho
