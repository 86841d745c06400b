// Seeded random numbers from a counter-based generator: element i depends only on (seed, i),
// so results are identical for any thread count and on every backend.
#include <cmath>

#include "cpu_backend.h"

namespace rfho {

void CpuBackend::randomUniform(DType dtype, void* out, int64_t n, uint64_t seed, double lo,
                               double hi) {
  withFloatType(dtype, [&](auto t) {
    using T = decltype(t);
    T* o = static_cast<T*>(out);
    parallelRange(n, n, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) o[i] = static_cast<T>(lo + (hi - lo) * uniformAt(seed, i));
    });
  });
}

void CpuBackend::randomNormal(DType dtype, void* out, int64_t n, uint64_t seed, double mean,
                              double std) {
  withFloatType(dtype, [&](auto t) {
    using T = decltype(t);
    T* o = static_cast<T*>(out);
    parallelRange(n, n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      // Box-Muller on two independent counters; 1 - u keeps the log argument in (0, 1].
      const double u1 = 1.0 - uniformAt(seed, 2 * static_cast<uint64_t>(i));
      const double u2 = uniformAt(seed, 2 * static_cast<uint64_t>(i) + 1);
      const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
      o[i] = static_cast<T>(mean + std * z);
    }
    });
  });
}

}  // namespace rfho
