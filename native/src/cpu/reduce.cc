// Reductions (sum, max over any set of axes) and argmax along one axis.
#include <cmath>
#include <limits>
#include <vector>

#include "cpu_backend.h"

namespace rfho {
namespace {

template <typename T>
void reduceTyped(ReduceOp op, const T* x, T* out, const ReducePlan& p) {
  // Accumulate in double whatever the dtype: float32 sums over thousands of terms need it.
  const bool isMax = op == ReduceOp::Max;
  std::vector<double> acc(static_cast<size_t>(p.outNumel),
                          isMax ? -std::numeric_limits<double>::infinity() : 0.0);
  if (p.inNumel > 0) {
    const int last = p.ndim - 1;
    const int64_t inner = p.shape[last];
    const int64_t rows = p.inNumel / inner;
    const int64_t so = p.outStride[last];
    if (p.outNumel == 1) {
      double total = isMax ? -std::numeric_limits<double>::infinity() : 0.0;
      if (isMax) {
        for (int64_t i = 0; i < p.inNumel; ++i)
          if (!(x[i] <= total) && !std::isnan(total)) total = x[i];  // a NaN is taken and then kept
      } else {
        total = parallelSum(p.inNumel, [&](int64_t b, int64_t e) {
          double s = 0;
          for (int64_t i = b; i < e; ++i) s += x[i];
          return s;
        });
      }
      acc[0] = total;
    } else {
      // Rows are split across threads, each summing into its own partial (combined in thread order,
      // so a given thread count always gives the same bits): the tangents of a bias gradient,
      // [k, n, width] summed over n, are megabytes.
      const double init = isMax ? -std::numeric_limits<double>::infinity() : 0.0;
      int threads = 1;
#ifdef _OPENMP
      threads = omp_get_max_threads();
#endif
      const bool split = threads > 1 && p.inNumel > kParallelThreshold && p.outNumel <= (int64_t{1} << 20) && rows >= 2 * threads;
      std::vector<double> partials(split ? static_cast<size_t>((threads - 1) * p.outNumel) : 0, init);
      parallelRange(split ? threads : 1, p.inNumel, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t r0 = split ? rows * t / threads : 0, r1 = split ? rows * (t + 1) / threads : rows;
          double* base = t == 0 ? acc.data() : partials.data() + (t - 1) * p.outNumel;
          RowOffsets<1> at(last, p.shape, {p.outStride}, r0);
          for (int64_t r = r0; r < r1; ++r, at.next()) {
            const T* row = x + r * inner;
            double* o = base + at.off[0];
            if (so == 0) {
              double s = o[0];
              if (isMax) {
                for (int64_t i = 0; i < inner; ++i)
                  if (!(row[i] <= s) && !std::isnan(s)) s = row[i];
              } else {
                for (int64_t i = 0; i < inner; ++i) s += row[i];
              }
              o[0] = s;
            } else if (isMax) {
              for (int64_t i = 0; i < inner; ++i)
                if (!(row[i] <= o[i * so]) && !std::isnan(o[i * so])) o[i * so] = row[i];
            } else if (so == 1) {
#pragma omp simd
              for (int64_t i = 0; i < inner; ++i) o[i] += row[i];
            } else {
              for (int64_t i = 0; i < inner; ++i) o[i * so] += row[i];
            }
          }
        }
      });
      for (int t = 1; split && t < threads; ++t) {
        const double* part = partials.data() + (t - 1) * p.outNumel;
        for (int64_t i = 0; i < p.outNumel; ++i) {
          if (isMax) acc[i] = std::isnan(acc[i]) || part[i] <= acc[i] ? acc[i] : part[i];  // NaN propagates
          else acc[i] += part[i];
        }
      }
    }
  }
  for (int64_t i = 0; i < p.outNumel; ++i) out[i] = static_cast<T>(acc[i]);
}

}  // namespace

void CpuBackend::reduce(DType dtype, ReduceOp op, const void* x, void* out, const ReducePlan& p) {
  withFloatType(dtype, [&](auto t) {
    using T = decltype(t);
    reduceTyped<T>(op, static_cast<const T*>(x), static_cast<T*>(out), p);
  });
}

void CpuBackend::argmax(DType dtype, const void* x, int32_t* out, int64_t outer, int64_t axisLen,
                        int64_t inner) {
  withFloatType(dtype, [&](auto t) {
    using T = decltype(t);
    const T* v = static_cast<const T*>(x);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        const T* base = v + o * axisLen * inner + i;
        int32_t best = 0;
        T bestV = base[0];
        for (int64_t a = 1; a < axisLen; ++a) {
          T cur = base[a * inner];
          if (cur > bestV || (std::isnan(cur) && !std::isnan(bestV))) {
            bestV = cur;
            best = static_cast<int32_t>(a);
          }
        }
        out[o * inner + i] = best;
      }
  });
}

}  // namespace rfho
