// Counter-based random numbers (SplitMix64 of seed and index, as on the CPU).
#include "cuda_backend.h"

namespace rfho {
namespace {

__device__ inline uint64_t devSplitmix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}
__device__ inline double devUniform(uint64_t seed, uint64_t i) {
  const uint64_t h = devSplitmix(devSplitmix(seed) ^ (i * 0xD1B54A32D192ED03ULL));
  return (h >> 11) * (1.0 / 9007199254740992.0);
}

template <typename T>
__global__ void uniformKernel(T* out, int64_t n, uint64_t seed, double lo, double hi) {
  GRID_STRIDE(i, n) out[i] = static_cast<T>(lo + (hi - lo) * devUniform(seed, i));
}
template <typename T>
__global__ void normalKernel(T* out, int64_t n, uint64_t seed, double mean, double sd) {
  GRID_STRIDE(i, n) {
    const double u1 = 1.0 - devUniform(seed, 2 * static_cast<uint64_t>(i));
    const double u2 = devUniform(seed, 2 * static_cast<uint64_t>(i) + 1);
    out[i] = static_cast<T>(mean + sd * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
  }
}

}  // namespace

void CudaBackend::randomUniform(DType d, void* out, int64_t n, uint64_t seed, double lo, double hi) {
  const Serial serial(opMu_);
  if (n == 0) return;
  withType(d, [&](auto t) {
    using T = decltype(t);
    uniformKernel<T><<<blocksFor(n), kThreads, 0, stream_>>>(static_cast<T*>(out), n, seed, lo, hi);
  });
  check(__func__);
}

void CudaBackend::randomNormal(DType d, void* out, int64_t n, uint64_t seed, double mean, double sd) {
  const Serial serial(opMu_);
  if (n == 0) return;
  withType(d, [&](auto t) {
    using T = decltype(t);
    normalKernel<T><<<blocksFor(n), kThreads, 0, stream_>>>(static_cast<T*>(out), n, seed, mean, sd);
  });
  check(__func__);
}

}  // namespace rfho
