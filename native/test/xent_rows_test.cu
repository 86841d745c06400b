// The CUDA kernels' softmax cross-entropy row arithmetic (cuda/xent_rows.h), built by nvcc and run on
// the host, against the CPU backend's kernels on the same rows: random rows of 3, 10 and 37 classes,
// confident rows with margins of 20 to 1000 (where log(1 + rest) and p − 1 would round the loss and
// the label's gradient to 0), labels on the maximum and off it, ties; loss, gradient (weighted) and
// the gradient's JVP along logit and weight tangents, in float32 and float64. Run by the tests
// (test/23-cuda-rows); prints one line per case and exits non-zero on a disagreement.
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "common.h"
#include "cuda/xent_rows.h"

using namespace rfho;

namespace {

int failures = 0;

void expectClose(const std::string& what, double got, double want, double rel, double abs) {
  const double err = std::fabs(got - want);
  if (!(err <= abs + rel * std::fabs(want))) {
    std::printf("FAIL %s: got %.17g, want %.17g (error %.3g)\n", what.c_str(), got, want, err);
    ++failures;
  }
}

template <typename T>
void runCase(const std::string& name, const std::vector<T>& z, const std::vector<int32_t>& y, int64_t c, double rel) {
  const int64_t n = static_cast<int64_t>(y.size()), k = 2;
  const DType dt = sizeof(T) == 4 ? DType::F32 : DType::F64;
  std::mt19937_64 gen(7);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<T> w(n), dz(k * n * c), dw(k * n);
  for (auto& v : w) v = static_cast<T>(0.5 + 0.5 * u(gen));
  for (auto& v : dz) v = static_cast<T>(u(gen));
  for (auto& v : dw) v = static_cast<T>(u(gen));
  std::vector<T> loss(n), grad(n * c), jvp(k * n * c);
  // below the smallest normal number: the CPU kernels flush denormals to zero, host code does not
  const double tiny = sizeof(T) == 4 ? 1.2e-38 : 2.3e-308;
  Backend& cpu = cpuBackend();
  cpu.softmaxXent(dt, z.data(), y.data(), w.data(), loss.data(), grad.data(), n, c);
  cpu.softmaxXentJvp(dt, z.data(), y.data(), w.data(), dz.data(), dw.data(), jvp.data(), n, c, k);
  double worst = 0;
  for (int64_t i = 0; i < n; ++i) {
    const T* zi = z.data() + i * c;
    const xent_rows::Stats s = xent_rows::stats(zi, c);
    const double l = xent_rows::loss(zi, y[i], s);
    expectClose(name + " loss row " + std::to_string(i), static_cast<T>(l), loss[i], rel, tiny);
    if (std::fabs(l) > tiny) worst = std::max(worst, std::fabs(l - loss[i]) / std::fabs(l));
    for (int64_t j = 0; j < c; ++j) {
      const double g = static_cast<double>(w[i]) * xent_rows::gradient(zi, c, y[i], j, s);
      expectClose(name + " grad row " + std::to_string(i) + " class " + std::to_string(j), static_cast<T>(g), grad[i * c + j], rel, tiny);
    }
    for (int64_t t = 0; t < k; ++t) {
      const T* d = dz.data() + (t * n + i) * c;
      const double sd = xent_rows::probDot(zi, d, c, s);
      for (int64_t j = 0; j < c; ++j) {
        const double wp = static_cast<double>(w[i]) * xent_rows::prob(zi, j, s);
        const double dg = static_cast<double>(dw[t * n + i]) * xent_rows::gradient(zi, c, y[i], j, s);
        const double v = wp * (static_cast<double>(d[j]) - sd) + dg;
        // an entry that is a difference of terms keeps the absolute error of their rounding (the
        // CPU's float32 path rounds p before it multiplies): relative to the terms' size
        const double terms = std::fabs(wp) * (std::fabs(static_cast<double>(d[j])) + std::fabs(sd)) + std::fabs(dg);
        expectClose(name + " jvp " + std::to_string(t) + " row " + std::to_string(i) + " class " + std::to_string(j),
                    static_cast<T>(v), jvp[(t * n + i) * c + j], rel, rel * terms + tiny);
      }
    }
  }
  std::printf("%s (%s, %lld rows of %lld): worst loss relative difference (normal numbers) %.3g\n", name.c_str(), sizeof(T) == 4 ? "float32" : "float64",
              static_cast<long long>(n), static_cast<long long>(c), worst);
}

template <typename T>
void runAll(double rel) {
  std::mt19937_64 gen(11);
  std::normal_distribution<double> normal(0.0, 3.0);
  for (int64_t c : {3, 10, 37}) {
    const int64_t n = 257;  // more rows than a block of threads, not a power of two
    std::vector<T> z(n * c);
    std::vector<int32_t> y(n);
    for (auto& v : z) v = static_cast<T>(normal(gen));
    for (int64_t i = 0; i < n; ++i) y[i] = static_cast<int32_t>(gen() % c);
    runCase<T>("random", z, y, c, rel);
  }
  // confident rows: the label's logit ahead by a margin (then the loss is about Σ exp(−margin)),
  // or another class ahead (then the loss is about the margin); a tie of two maxima
  const int64_t c = 10;
  std::vector<T> z;
  std::vector<int32_t> y;
  for (double margin : {20.0, 40.0, 100.0, 1000.0})
    for (int onLabel = 0; onLabel < 2; ++onLabel) {
      for (int64_t j = 0; j < c; ++j) z.push_back(static_cast<T>(j == 3 ? margin : 0.1 * static_cast<double>(j)));
      y.push_back(onLabel ? 3 : 5);
    }
  for (int64_t j = 0; j < c; ++j) z.push_back(static_cast<T>(j == 2 || j == 7 ? 30.0 : 0.0));
  y.push_back(7);
  runCase<T>("confident", z, y, c, rel);
  // the property that log(1 + rest) lacks: a confident correct row's loss and label gradient
  const T* row = z.data() + 3 * c;  // margin 40, on the label
  const xent_rows::Stats s = xent_rows::stats(row, c);
  const double l = xent_rows::loss(row, 3, s), g = xent_rows::gradient(row, c, 3, 3, s);
  double want = 0;
  for (int64_t j = 0; j < c; ++j) want += j == 3 ? 0.0 : std::exp(static_cast<double>(row[j]) - static_cast<double>(row[3]));
  if (!(l > 0 && std::fabs(l - want) < 1e-3 * want && g < 0 && std::fabs(g + want) < 1e-3 * want)) {
    std::printf("FAIL confident row, margin 40: loss %.17g and label gradient %.17g (want %.17g and its negative)\n", l, g, want);
    ++failures;
  }
}

}  // namespace

int main() {
  runAll<float>(2e-6);
  runAll<double>(1e-12);
  if (failures) std::printf("%d disagreements\n", failures);
  else std::printf("ok\n");
  return failures ? 1 : 0;
}
