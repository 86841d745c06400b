// CUDA implementation of the backend interface: cuBLAS for products, .cu kernels for the rest,
// one stream per context, a caching allocator. Built as a separate shared library
// (rfho_cuda.so) that the addon loads on first use, so the addon itself never depends on the
// CUDA runtime, cuBLAS or a driver: without them it loads and reports that no GPU is available.
// This file: construction, the caching allocator, copies, synchronisation and fault reports, and
// the entry points the addon's loader looks up; the kernels are in one file per family
// (cuda_backend.h lists them).
#include "cuda_backend.h"
#include "../settings.h"

namespace rfho {

CudaBackend::CudaBackend() {
  RFHO_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  RFHO_CUBLAS_CHECK(cublasCreate(&blas_));
  RFHO_CUBLAS_CHECK(cublasSetStream(blas_, stream_));
  if (settings::cudaTf32()) RFHO_CUBLAS_CHECK(cublasSetMathMode(blas_, CUBLAS_TF32_TENSOR_OP_MATH));
  RFHO_CUDA_CHECK(cudaMalloc(&scratch_, 65536 * sizeof(double)));
  RFHO_CUDA_CHECK(cudaMemset(status(), 0, sizeof(unsigned)));
}

void* CudaBackend::allocate(size_t bytes) {
  const size_t rounded = roundSize(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  auto& list = cache_[rounded];
  if (!list.empty()) {
    void* p = list.back();
    list.pop_back();
    cachedBytes_ -= rounded;
    return p;
  }
  void* p = nullptr;
  if (cudaMalloc(&p, rounded) != cudaSuccess) {
    (void)cudaGetLastError();
    releaseCacheLocked();  // out of memory: give the cache back and try once more
    if (cudaMalloc(&p, rounded) != cudaSuccess) {
      (void)cudaGetLastError();
      throw std::bad_alloc();
    }
  }
  return p;
}

void CudaBackend::release(void* p, size_t bytes) {
  if (!p) return;
  std::lock_guard<std::mutex> lock(mu_);
  const size_t rounded = roundSize(bytes);
  if (cachedBytes_ + rounded > kMaxCache) {
    cudaFree(p);
    return;
  }
  cache_[rounded].push_back(p);
  cachedBytes_ += rounded;
}

void CudaBackend::copyFromHost(void* dst, const void* src, size_t bytes) {
  const Serial serial(opMu_);
  if (!bytes) return;
  RFHO_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_));
  RFHO_CUDA_CHECK(cudaStreamSynchronize(stream_));  // the host buffer may be a JS array freed next
}

void CudaBackend::copyToHost(void* dst, const void* src, size_t bytes) {
  const Serial serial(opMu_);
  if (!bytes) return;
  RFHO_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
  RFHO_CUDA_CHECK(cudaStreamSynchronize(stream_));
  checkStatus();
}

void CudaBackend::copy(void* dst, const void* src, size_t bytes) {
  const Serial serial(opMu_);
  if (bytes) RFHO_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
}

void CudaBackend::synchronize() {
  const Serial serial(opMu_);
  RFHO_CUDA_CHECK(cudaStreamSynchronize(stream_));
  checkStatus();
}

void CudaBackend::releaseCacheLocked() {
  for (auto& kv : cache_)
    for (void* p : kv.second) cudaFree(p);
  cache_.clear();
  cachedBytes_ = 0;
}

void CudaBackend::check(const char* op) {
  if (!firstFault_.empty()) throw std::runtime_error("CUDA context unusable since an earlier error: " + firstFault_);
  cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess && syncEveryLaunch_) e = cudaStreamSynchronize(stream_);
  if (e == cudaSuccess) return;
  const std::string what = std::string(cudaGetErrorString(e)) + (syncEveryLaunch_ ? " in " : " seen after ") + op +
                           (syncEveryLaunch_ ? "" : " (RFHO_CUDA_SYNC=1 names the op that faulted)");
  // launch-configuration errors leave the context usable; faults during execution do not
  if (e != cudaErrorInvalidValue && e != cudaErrorInvalidConfiguration && e != cudaErrorLaunchOutOfResources) firstFault_ = what;
  throw std::runtime_error("CUDA error: " + what);
}

void CudaBackend::checkStatus() {
  if (!statusPending_) return;
  statusPending_ = false;
  unsigned host = 0;
  RFHO_CUDA_CHECK(cudaMemcpy(&host, status(), sizeof(host), cudaMemcpyDeviceToHost));
  if (!host) return;
  RFHO_CUDA_CHECK(cudaMemset(status(), 0, sizeof(unsigned)));
  std::string what;
  if (host & kBadIndex) what += "an index outside the rows of its tensor (gatherRows / scatterAddRows)";
  if (host & kBadLabel) what += std::string(what.empty() ? "" : " and ") + "a label outside [0, classes) (softmax cross-entropy)";
  throw ValueError("a CUDA op since the last synchronisation was given " + what + "; those rows are zeros or NaN");
}

}  // namespace rfho

// Entry point looked up with dlsym by the addon: a backend, or null with the reason in `err`.
// Entry points looked up with dlsym by the addon (loader.cc). The probe says whether a device is
// there without creating a context (a context costs about half a GiB of device memory, and a run
// that never puts a tensor on the GPU should not hold one); create makes the backend (its stream,
// cuBLAS handle and scratch: the context) on first use.
extern "C" __attribute__((visibility("default"))) bool rfho_cuda_probe(char* err, size_t errLen) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    std::snprintf(err, errLen, "no CUDA device available (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    return false;
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  std::snprintf(err, errLen, "CUDA device 0: %s (compute %d.%d, %.1f GiB)", prop.name, prop.major, prop.minor,
                prop.totalGlobalMem / 1073741824.0);
  return true;
}

extern "C" __attribute__((visibility("default"))) rfho::Backend* rfho_cuda_create(char* err, size_t errLen) {
  try {
    return new rfho::CudaBackend();
  } catch (const std::exception& ex) {
    std::snprintf(err, errLen, "CUDA backend failed to start: %s", ex.what());
    return nullptr;
  }
}
