#include "blas_runtime.h"
#include "../settings.h"

#include <dlfcn.h>

#include <cstdlib>

namespace rfho {

namespace {

// The built-in products: correct for every layout, written so that the innermost loop runs along
// contiguous memory (row-major C += a_ip · B_p: vectorised by the compiler).
template <typename T>
void builtinGemm(int order, int ta, int tb, int m, int n, int k, T alpha, const T* A, int lda, const T* B, int ldb, T beta, T* C, int ldc) {
  (void)order;  // rfho calls with row-major only
  for (int i = 0; i < m; ++i) {
    T* c = C + int64_t(i) * ldc;
    for (int j = 0; j < n; ++j) c[j] = beta == T(0) ? T(0) : beta * c[j];
    for (int p = 0; p < k; ++p) {
      const T a = alpha * (ta == CblasTrans ? A[int64_t(p) * lda + i] : A[int64_t(i) * lda + p]);
      if (a == T(0)) continue;
      if (tb == CblasTrans)
        for (int j = 0; j < n; ++j) c[j] += a * B[int64_t(j) * ldb + p];
      else {
        const T* b = B + int64_t(p) * ldb;
        for (int j = 0; j < n; ++j) c[j] += a * b[j];
      }
    }
  }
}

void builtinSgemm(int o, int ta, int tb, int m, int n, int k, float alpha, const float* A, int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  builtinGemm<float>(o, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
void builtinDgemm(int o, int ta, int tb, int m, int n, int k, double alpha, const double* A, int lda, const double* B, int ldb, double beta, double* C, int ldc) {
  builtinGemm<double>(o, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
double builtinDdot(int n, const double* x, int incx, const double* y, int incy) {
  double s = 0;
  for (int i = 0; i < n; ++i) s += x[int64_t(i) * incx] * y[int64_t(i) * incy];
  return s;
}

Blas builtin() { return Blas{builtinSgemm, builtinDgemm, builtinDdot, nullptr, "built-in"}; }

// A CBLAS from `file`, or false when it cannot be opened or lacks a symbol.
bool tryLoad(const char* file, Blas& out) {
  void* h = dlopen(file, RTLD_NOW | RTLD_LOCAL);
  if (!h) return false;
  auto sgemm = reinterpret_cast<decltype(Blas::sgemm)>(dlsym(h, "cblas_sgemm"));
  auto dgemm = reinterpret_cast<decltype(Blas::dgemm)>(dlsym(h, "cblas_dgemm"));
  auto ddot = reinterpret_cast<decltype(Blas::ddot)>(dlsym(h, "cblas_ddot"));
  if (!sgemm || !dgemm || !ddot) {
    dlclose(h);
    return false;
  }
  out = Blas{sgemm, dgemm, ddot, reinterpret_cast<decltype(Blas::setThreads)>(dlsym(h, "openblas_set_num_threads")), file};
  // All CPU parallelism goes through rfho's OpenMP pool (see blas.cc): OpenBLAS runs one thread.
  if (out.setThreads) out.setThreads(1);
  return true;  // the handle stays open for the life of the process
}

Blas resolve() {
  Blas b;
  const char* env = settings::blasLibrary();
  if (env && *env) {
    if (std::string(env) == "built-in") return builtin();
    if (tryLoad(env, b)) return b;
  }
  for (const char* file : {"libopenblas.so.0", "libopenblas.so", "libcblas.so.3", "libblas.so.3"})
    if (tryLoad(file, b)) return b;
  return builtin();
}

}  // namespace

const Blas& blas() {
  static const Blas b = resolve();
  return b;
}

}  // namespace rfho
