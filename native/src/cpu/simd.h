// One 512-bit vector of T as a GCC vector type (AVX-512 with -march=native on such a CPU; two or
// four narrower registers elsewhere), with unaligned loads and stores. Shared by the product
// kernels.
#pragma once
#include <cstring>

namespace rfho {

template <typename T>
struct Vec {
  static constexpr int L = 64 / static_cast<int>(sizeof(T));  // lanes
  typedef T type __attribute__((vector_size(64)));
};

template <typename T>
inline typename Vec<T>::type loadu(const T* p) {
  typename Vec<T>::type v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

template <typename T>
inline void storeu(T* p, typename Vec<T>::type v) {
  std::memcpy(p, &v, sizeof(v));
}

}  // namespace rfho
