// BLAS found at run time: the products that rfho's own kernels do not cover go to OpenBLAS (or
// another CBLAS) when the machine has one, loaded with dlopen, and to built-in loops otherwise. The
// addon therefore links no BLAS and runs on a machine without libopenblas (slower for large
// products on CPUs without AVX-512, where the built-in packed kernel does not apply).
#pragma once
#include <cstdint>
#include <string>

namespace rfho {

enum CblasOrder { CblasRowMajor = 101, CblasColMajor = 102 };
enum CblasTranspose { CblasNoTrans = 111, CblasTrans = 112 };

struct Blas {
  void (*sgemm)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
  void (*dgemm)(int, int, int, int, int, int, double, const double*, int, const double*, int, double, double*, int);
  double (*ddot)(int, const double*, int, const double*, int);
  // OpenBLAS's own thread count (absent from other CBLAS libraries)
  void (*setThreads)(int);
  // the library's file name, or "built-in"
  std::string name;
};

// The BLAS of this process, resolved once: RFHO_BLAS (a library path, or "built-in") first, then
// libopenblas.so.0, libopenblas.so, libcblas.so.3, libblas.so.3 — the first with the CBLAS symbols.
const Blas& blas();

}  // namespace rfho
