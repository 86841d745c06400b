// The calling thread's budget of CPU threads for kernels. OpenMP keeps the team size per calling
// thread (each Node worker thread has its own), so a job running in a worker can be held to its
// share of the cores while another job uses the rest. OpenBLAS stays single-threaded (cpu/blas.cc).
#include <thread>

#include "args.h"
#ifdef _OPENMP
#include <omp.h>
#endif

namespace rfho {

// setThreads(n): kernels called from this thread use at most n threads from now on.
static Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const int64_t n = argInt(info, 0, "threads");
    if (n < 1 || n > 4096) fail("argument 'threads' must be an integer in [1, 4096], got " + std::to_string(n));
#ifdef _OPENMP
    omp_set_num_threads(static_cast<int>(n));
#endif
    return info.Env().Undefined();
  });
}

// getThreads() -> the calling thread's budget (1 without OpenMP).
static Napi::Value GetThreads(const Napi::CallbackInfo& info) {
  int n = 1;
#ifdef _OPENMP
  n = omp_get_max_threads();
#endif
  return Napi::Number::New(info.Env(), n);
}

// cores() -> the processors this process may run on (OpenMP's count, which honours the affinity mask).
static Napi::Value Cores(const Napi::CallbackInfo& info) {
  int n = static_cast<int>(std::thread::hardware_concurrency());
#ifdef _OPENMP
  n = omp_get_num_procs();
#endif
  return Napi::Number::New(info.Env(), n < 1 ? 1 : n);
}

void registerThreadBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads, "getThreads"));
  exports.Set("cores", Napi::Function::New(env, Cores, "cores"));
}

}  // namespace rfho
