// Aligned host memory. 64-byte alignment keeps AVX-512 loads aligned and rows cache-line aligned.
#include <cstdlib>
#include <cstring>
#include <new>

#include "cpu_backend.h"

namespace rfho {

void* CpuBackend::allocate(size_t bytes) {
  size_t rounded = ((bytes + 63) / 64) * 64;
  if (rounded == 0) rounded = 64;  // a valid, unique pointer even for empty tensors
  void* p = std::aligned_alloc(64, rounded);
  if (!p) throw std::bad_alloc();
  return p;
}
void CpuBackend::release(void* p, size_t) { std::free(p); }
void CpuBackend::copyFromHost(void* dst, const void* src, size_t bytes) {
  if (bytes) std::memcpy(dst, src, bytes);
}
void CpuBackend::copyToHost(void* dst, const void* src, size_t bytes) {
  if (bytes) std::memcpy(dst, src, bytes);
}
void CpuBackend::copy(void* dst, const void* src, size_t bytes) {
  if (bytes) std::memmove(dst, src, bytes);
}

Backend& cpuBackend() {
  static CpuBackend backend;
  return backend;
}

}  // namespace rfho
