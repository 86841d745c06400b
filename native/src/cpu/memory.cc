// Aligned host memory. 64-byte alignment keeps AVX-512 loads aligned and rows cache-line aligned.
#include <cstdlib>
#include <cstring>
#include <new>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "cpu_backend.h"
#include "../settings.h"

namespace rfho {

namespace {
// glibc serves large blocks with fresh mmaps and returns them on free, so every large temporary
// (a [2000, 256] activation is 2 MB) paid ~500 first-touch page faults: more than the arithmetic.
// Keep large blocks in the heap and let freed memory be reused instead.
struct HeapTuning {
  HeapTuning() {
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);  // glibc's maximum on 64-bit
    mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
#endif
  }
} heapTuning;
}  // namespace

void* CpuBackend::allocate(size_t bytes) {
  constexpr size_t kHuge = size_t{2} << 20;
  if (bytes >= 2 * kHuge) {
    // Large blocks: 2 MiB-aligned and backed by transparent huge pages where the kernel allows
    // (THP 'madvise' mode), so first touch costs one fault per 2 MiB instead of per 4 KiB.
    const size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
    void* p = std::aligned_alloc(kHuge, rounded);
    if (!p) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (settings::hugePages()) madvise(p, rounded, MADV_HUGEPAGE);
#endif
    return p;
  }
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
