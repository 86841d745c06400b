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
          if (!(x[i] <= total)) total = x[i];  // NaN propagates
      } else {
        total = parallelSum(p.inNumel, [&](int64_t b, int64_t e) {
          double s = 0;
          for (int64_t i = b; i < e; ++i) s += x[i];
          return s;
        });
      }
      acc[0] = total;
    } else {
      RowOffsets<1> at(last, p.shape, {p.outStride}, 0);
      for (int64_t r = 0; r < rows; ++r, at.next()) {
        const T* row = x + r * inner;
        double* o = acc.data() + at.off[0];
        if (so == 0) {
          double s = o[0];
          if (isMax) {
            for (int64_t i = 0; i < inner; ++i)
              if (!(row[i] <= s)) s = row[i];
          } else {
            for (int64_t i = 0; i < inner; ++i) s += row[i];
          }
          o[0] = s;
        } else if (isMax) {
          for (int64_t i = 0; i < inner; ++i)
            if (!(row[i] <= o[i * so])) o[i * so] = row[i];
        } else {
          for (int64_t i = 0; i < inner; ++i) o[i * so] += row[i];
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
