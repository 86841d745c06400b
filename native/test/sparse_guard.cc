// Guard-page check of the sparse products (cpu/sparse_products.cc): every right-hand side B ends
// exactly where a PROT_NONE page begins, so a vector load that reads one element past B's last
// one faults. The kernels load whole vectors from all but the last rows of B and pad narrow
// operands; this checks both, plus the values, against a float64 reference. Run by the tests
// (test/02-kernels); prints one line per dtype and exits non-zero on a wrong value.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "cpu/sparse_data.h"

using namespace rfho;

namespace {

// count elements of T that end exactly at a page no access may touch (the mapping is kept).
template <typename T>
T* endingAtGuardPage(size_t count) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t bytes = count * sizeof(T), pages = (bytes + page - 1) / page + 1;
  void* m = mmap(nullptr, pages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) {
    std::perror("mmap");
    std::exit(2);
  }
  char* base = static_cast<char*>(m);
  mprotect(base + (pages - 1) * page, page, PROT_NONE);
  return reinterpret_cast<T*>(base + (pages - 1) * page - bytes);
}

template <typename T>
int check(DType dtype, const char* name) {
  std::mt19937 gen(7);
  std::uniform_real_distribution<double> uniform(0, 1);
  int products = 0, withDense = 0;
  for (int rows : {37, 300, 1100})
    for (int cols : {5, 97}) {
      std::vector<T> x(static_cast<size_t>(rows) * cols);
      // every third column half full, the others 15 %: with denseFrom 0.3 (below) the first are
      // kept apart as dense columns where there are enough of them (97 columns, not 5)
      for (size_t i = 0; i < x.size(); ++i) x[i] = uniform(gen) < (i % cols % 3 == 0 ? 0.5 : 0.85) ? T(0) : T(uniform(gen));
      // The last row and column full: entries that read B's last row, for both transposes.
      for (int c = 0; c < cols; ++c) x[static_cast<size_t>(rows - 1) * cols + c] = 1;
      for (int r = 0; r < rows; ++r) x[static_cast<size_t>(r) * cols + cols - 1] = 1;
      const int64_t nnz = countNonzeros(dtype, x.data(), static_cast<int64_t>(x.size()));
      for (double denseFrom : {2.0, 0.3}) {  // no dense columns; a third of them (products ≥ 32 wide)
      const SparsePlan plan = planSparse(dtype, x.data(), rows, cols, nnz, denseFrom);
      if (denseFrom < 1 && cols == 97 && plan.denseCols == 0) {
        std::printf("%s: expected dense columns in the 97-column case, got %lld\n", name, static_cast<long long>(plan.denseCols));
        return 1;
      }
      std::vector<char> layout(sparseLayoutBytes(dtype, rows, cols, plan));
      packSparse(dtype, x.data(), rows, cols, plan, layout.data());
      for (bool transS : {false, true})
        for (bool transB : {false, true})
          for (int n : {1, 3, 10, 16, 17, 33, 300})
            for (int gap : {0, 3})  // B's rows contiguous or strided
              for (int operands : {1, 2}) {  // two: blocks of columns that span both operands
                const int inner = transS ? rows : cols, m = transS ? cols : rows;
                const int rB = transB ? n : inner, cB = transB ? inner : n, ldb = cB + gap;
                const size_t extent = static_cast<size_t>(rB - 1) * ldb + cB;
                std::vector<T*> B(operands);
                std::vector<std::vector<T>> C(operands, std::vector<T>(static_cast<size_t>(m) * n));
                std::vector<const void*> Bs(operands);
                std::vector<void*> Cs(operands);
                for (int q = 0; q < operands; ++q) {
                  B[q] = endingAtGuardPage<T>(extent);
                  for (size_t i = 0; i < extent; ++i) B[q][i] = T(uniform(gen) - 0.5);
                  Bs[q] = B[q];
                  Cs[q] = C[q].data();
                }
                // GUARD_TRACE=1 names each product before it runs: a segfault then points at its case
                if (std::getenv("GUARD_TRACE")) std::fprintf(stderr, "%s rows=%d cols=%d dense=%lld transS=%d transB=%d n=%d gap=%d operands=%d\n", name, rows, cols, static_cast<long long>(plan.denseCols), transS, transB, n, gap, operands);
                sparseGemm(dtype, layout.data(), rows, cols, nnz, transS, Bs.data(), ldb, transB, n, 1.0, 0.0, Cs.data(), operands, n);
                double worst = 0;
                for (int q = 0; q < operands; ++q)
                  for (int i = 0; i < m; ++i)
                    for (int j = 0; j < n; ++j) {
                      double ref = 0;
                      for (int p = 0; p < inner; ++p)
                        ref += double(transS ? x[static_cast<size_t>(p) * cols + i] : x[static_cast<size_t>(i) * cols + p]) *
                               double(transB ? B[q][static_cast<size_t>(j) * ldb + p] : B[q][static_cast<size_t>(p) * ldb + j]);
                      worst = std::max(worst, std::abs(double(C[q][static_cast<size_t>(i) * n + j]) - ref));
                    }
                if (!(worst < 1e-3)) {
                  std::printf("%s: WRONG rows=%d cols=%d dense=%lld transS=%d transB=%d n=%d gap=%d operands=%d: max error %g\n",
                              name, rows, cols, static_cast<long long>(plan.denseCols), transS, transB, n, gap, operands, worst);
                  return 1;
                }
                ++products;
                if (plan.denseCols > 0 && n >= kDenseColumnsMinWidth) ++withDense;
              }
      }
    }
  if (withDense == 0) {
    std::printf("%s: no product took the dense columns\n", name);
    return 1;
  }
  std::printf("%s: %d products (%d with dense columns), none read past B, all within 1e-3 of float64\n", name, products, withDense);
  return 0;
}

}  // namespace

int main() { return check<float>(DType::F32, "float32") | check<double>(DType::F64, "float64"); }
