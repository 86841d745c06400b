// Shared types of the native layer: dtypes, devices, buffers and the backend interface.
// The backend interface works on raw pointers only; every argument has been validated by the
// bindings (native/src/bindings) before a backend sees it, so kernels may trust sizes.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace rfho {

enum class DType : int32_t { F32 = 0, F64 = 1, I32 = 2 };
enum class Device : int32_t { CPU = 0, CUDA = 1 };

inline size_t dtypeSize(DType d) { return d == DType::F64 ? 8 : 4; }
inline const char* dtypeName(DType d) {
  switch (d) {
    case DType::F32: return "float32";
    case DType::F64: return "float64";
    case DType::I32: return "int32";
  }
  return "unknown";
}

// A block of memory owned by the addon. The JS handle is an External pointing to this struct;
// `data` is released by dispose() (explicit) or by the External's finalizer (safety net).
struct Buffer {
  void* data = nullptr;
  size_t numel = 0;
  DType dtype = DType::F32;
  Device device = Device::CPU;
  bool freed = false;
  // A sparse layout of a data matrix (cpu/sparse_data.h) rather than a tensor: only the sparse
  // product accepts it, so its indices, valid when built, stay valid.
  bool sparse = false;
  int64_t sparseRows = 0, sparseCols = 0, sparseNnz = 0;
  size_t bytes() const { return numel * dtypeSize(dtype); }
};

// Thrown by validation; the bindings turn it into a JS Error whose message names the argument.
struct ArgError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A tensor's contents out of range (see failValue in bindings/args.h).
struct ValueError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

constexpr int kMaxDims = 8;

enum class UnaryOp : int32_t {
  Neg = 0, Exp, Log, Tanh, Sigmoid, Relu, Square, Sqrt, Abs, Reciprocal, Step, Sign, Softplus, Copy,
  Count
};
enum class BinaryOp : int32_t { Add = 0, Sub, Mul, Div, Maximum, Minimum, Pow, Greater, Count };
enum class ReduceOp : int32_t { Sum = 0, Max, Count };

// Broadcast iteration plan, already collapsed: out has `ndim` dims; strides in elements, 0 where
// the operand is broadcast along that dim.
struct BroadcastPlan {
  int ndim = 0;
  int64_t shape[kMaxDims] = {0};
  int64_t strideA[kMaxDims] = {0};
  int64_t strideB[kMaxDims] = {0};
  int64_t numel = 0;
};

// Reduction plan: iterate the input (contiguous, `ndim` dims) and accumulate into
// out[sum_i idx_i * outStride_i]; outStride is 0 along reduced dims.
struct ReducePlan {
  int ndim = 0;
  int64_t shape[kMaxDims] = {0};
  int64_t outStride[kMaxDims] = {0};
  int64_t inNumel = 0;
  int64_t outNumel = 0;
};

// A fixed-size shape that can be passed by value to a device kernel.
struct Shape8 {
  int64_t v[kMaxDims];
};

struct GemmArgs {
  bool transA = false, transB = false;
  int64_t m = 0, n = 0, k = 0;
  double alpha = 1, beta = 0;
  const void* A = nullptr; int64_t lda = 0, strideA = 0;
  const void* B = nullptr; int64_t ldb = 0, strideB = 0;
  void* C = nullptr; int64_t ldc = 0, strideC = 0;
  int64_t batch = 1;
};

// One implementation per device (cpu/, cuda/). Pointers are device pointers of that backend.
// The fused kernels a backend may provide (Backend::provides), by the names the bindings use.
enum class Fused { TanhGrad, TanhGradJvp, DynamicsTangent, RowPanels, SparseData, LinearXent };
inline constexpr const char* kFusedNames[] = {"tanhGrad", "tanhGradJvp", "dynamicsTangent", "rowPanels", "sparseData",
                                              "linearXent"};
inline constexpr int kFusedCount = 6;

// What a sparse layout of a [rows, cols] matrix holds (cpu/sparse_data.h): its nnz stored entries,
// and, kept apart for the wide products, its denseCols columns in which at least `denseFrom` of
// the entries are non-zero and the restNnz stored entries of the other columns.
struct SparsePlan {
  int64_t nnz = 0, denseCols = 0, restNnz = 0;
  int64_t denseMinCount = 0;  // a column with this many non-zero entries is a dense one
};

// The data matrix X [n, d] of a fused linear softmax cross-entropy pass: its rows (row-major), its
// row panels (packRowPanels), or its sparse layout with nnz stored entries; null where absent.
struct LinearXentData {
  const void* rows = nullptr;
  const void* panels = nullptr;
  const void* sparse = nullptr;
  int64_t n = 0, d = 0, nnz = 0;
};
// The other operands of that pass, all of X's dtype but the labels (Backend::linearXent says what
// it computes); dW, db and r are null when k = 0, weights when there are none.
struct LinearXentArgs {
  const void* W = nullptr;
  const void* b = nullptr;
  int64_t k = 0;
  const void* dW = nullptr;
  const void* db = nullptr;
  const int32_t* labels = nullptr;
  const void* weights = nullptr;
  const void* dWeights = nullptr;  // the weights' tangents [k, n] (k ≥ 1), or null
  double scale = 1;
  void* ce = nullptr;
  void* gW = nullptr;
  void* gb = nullptr;
  void* r = nullptr;
  double* dLoss = nullptr;
  int64_t c = 0;
  // The logits X W + b [n, c] of this very W and b, kept from an earlier pass (logitsIn: not
  // recomputed; the directions' still are), or to be written for a later one (logitsOut). Both
  // null, or one of them; only for a dense matrix with its row panels.
  const void* logitsIn = nullptr;
  void* logitsOut = nullptr;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  virtual void* allocate(size_t bytes) = 0;
  virtual void release(void* p, size_t bytes) = 0;
  virtual void copyFromHost(void* dst, const void* src, size_t bytes) = 0;
  virtual void copyToHost(void* dst, const void* src, size_t bytes) = 0;
  virtual void copy(void* dst, const void* src, size_t bytes) = 0;

  virtual void gemm(DType, const GemmArgs&) = 0;
  virtual void unary(DType, UnaryOp, const void* x, void* y, int64_t n) = 0;
  virtual void binary(DType, BinaryOp, const void* a, const void* b, void* out,
                      const BroadcastPlan&) = 0;
  virtual void binaryScalar(DType, BinaryOp, const void* a, double s, bool scalarFirst, void* out,
                            int64_t n) = 0;
  // out = alpha * x + beta * y  (y may be null: out = alpha * x)
  virtual void axpby(DType, double alpha, const void* x, double beta, const void* y, void* out,
                     int64_t n) = 0;
  virtual void reduce(DType, ReduceOp, const void* x, void* out, const ReducePlan&) = 0;
  virtual void argmax(DType, const void* x, int32_t* out, int64_t outer, int64_t axisLen,
                      int64_t inner) = 0;
  virtual double dot(DType, const void* a, const void* b, int64_t n) = 0;
  // loss[i] = logsumexp(z_i) - z_i[y_i];  grad[i] = w_i (softmax(z_i) - e_{y_i})  (w = 1 if null)
  virtual void softmaxXent(DType, const void* logits, const int32_t* labels, const void* weights,
                           void* loss, void* grad, int64_t n, int64_t c) = 0;
  // out[t,i] = w_i (diag p_i - p_i p_iᵀ) dz[t,i] + dw[t,i] (p_i - e_{y_i})   for t < k
  virtual void softmaxXentJvp(DType, const void* logits, const int32_t* labels,
                              const void* weights, const void* dLogits, const void* dWeights,
                              void* out, int64_t n, int64_t c, int64_t k) = 0;
  // Copies `rows` rows of `cols` elements between strided 2-D layouts (slice / concat).
  virtual void copy2d(DType, const void* src, int64_t srcOffset, int64_t srcStride, void* dst,
                      int64_t dstOffset, int64_t dstStride, int64_t rows, int64_t cols) = 0;
  virtual void permute(DType, const void* x, void* out, int ndim, const int64_t* shape,
                       const int64_t* perm) = 0;
  // out[i] = x[idx[i]] for rows of rowLen; x has `rows` rows (the CPU's binding checks the indices
  // before the call, a device backend in its kernel)
  virtual void gatherRows(DType, const void* x, const int32_t* idx, void* out, int64_t nIdx,
                          int64_t rowLen, int64_t rows) = 0;
  // out (zeroed by caller or accumulated) [idx[i]] += x[i]; out has `rows` rows
  virtual void scatterAddRows(DType, const void* x, const int32_t* idx, void* out, int64_t nIdx,
                              int64_t rowLen, int64_t rows) = 0;
  virtual void fill(DType, void* out, double value, int64_t n) = 0;
  virtual void randomUniform(DType, void* out, int64_t n, uint64_t seed, double lo, double hi) = 0;
  virtual void randomNormal(DType, void* out, int64_t n, uint64_t seed, double mean,
                            double std) = 0;
  // out = x broadcast to the plan's shape (strideA describes x; strideB is ignored).
  virtual void expand(DType, const void* x, void* out, const BroadcastPlan&) = 0;
  virtual void cast(DType from, const void* x, DType to, void* out, int64_t n) = 0;
  // Finite check: returns the number of NaN/Inf elements.
  virtual int64_t countNonFinite(DType, const void* x, int64_t n) = 0;
  virtual void synchronize() {}
  // Fused kernels: one pass for what ops would compose from the kernels above. A backend provides
  // them or not (`provides`); the TypeScript layer asks (binding `fusedKernels`) and composes the
  // op from the interface every backend implements where one is not provided, so the defaults
  // below, which refuse, are reached only by a call that skipped that question.
  virtual bool provides(Fused) const { return false; }
  // The cotangent through tanh at its output y, and that product's tangent, for k rows of n:
  //   tanhGrad:     out[t, i] = (g[t, i] + bias[t, i mod h]) (1 − y[i]²)   (bias [k, h] may be null)
  //   tanhGradJvp:  out[t, i] = tg[t, i] (1 − y[i]²) − 2 g[i] y[i] ty[t, i]   (tg may be null)
  // One pass where the composed ops made six over the k-times larger tangents.
  virtual void tanhGrad(DType, const void* y, const void* g, void* out, int64_t n, int64_t k, const void* bias,
                        int64_t h) {
    throw ArgError(std::string("tanhGrad is not supported on ") + name());
  }
  virtual void tanhGradJvp(DType, const void* y, const void* g, const void* ty, const void* tg, void* out,
                           int64_t n, int64_t k) {
    throw ArgError(std::string("tanhGradJvp is not supported on ") + name());
  }
  // The tangent of one step of gradient descent (slots 1) or heavy-ball / Nesterov momentum
  // (slots 2) for k tangent rows, in one pass over the k-fold state tangent ts [k, slots·d], where
  // the composed ops made ~12. With tmu[q], teta[q] the coefficients' tangents (null: 0):
  //   slots 1:  out_w = tw − eta·tg − teta·g                                (dir = g)
  //   slots 2:  out_v = mu·tv + tmu·v + tg
  //             tdir  = out_v  (heavy ball)  or  tg + mu·out_v + tmu·v2  (Nesterov)
  //             out_w = tw − eta·tdir − teta·dir
  // v is the old velocity, v2 the new one, dir the primal update direction (g for slots 1).
  // Returns the number of non-finite values written (the divergence check, for free).
  virtual int64_t dynamicsTangent(DType, int slots, bool nesterov, int64_t d, int64_t k, double mu, double eta,
                               const void* ts, const void* tg, const void* tmu, const void* teta, const void* v,
                               const void* v2, const void* dir, void* out) {
    throw ArgError(std::string("dynamicsTangent is not supported on ") + name());
  }
  // Row panels of a [rows, cols] matrix: panel b holds rows bL .. bL+L (L = one vector's
  // lanes, zero rows beyond `rows`) column by column, so that X·B with a narrow B streams it as
  // outer products. out holds ceil(rows / L) · cols · L values.
  virtual void packRowPanels(DType, const void* x, int64_t rows, int64_t cols, void* out) {
    throw ArgError(std::string("row panels are not supported on ") + name());
  }
  // C[m, n] = alpha · X · op(B) from X's row panels (k = X's columns), n ≤ 32.
  virtual void gemmRowPanels(DType, const void* panels, int64_t m, int64_t k, const void* B, int64_t ldb,
                             bool transB, int64_t n, double alpha, void* C, int64_t ldc) {
    throw ArgError(std::string("row panels are not supported on ") + name());
  }
  // Sparse layouts of data matrices (Fused::SparseData). planSparse: the plan of x [rows, cols]'s
  // layout (denseFrom > 1: no dense columns) and its bytes, or false when more than maxDensity of
  // its entries are non-zero; packSparse builds it in `out`; sparseDenseColumns reads a built
  // layout's dense columns back.
  virtual bool planSparse(DType, const void* x, int64_t rows, int64_t cols, double maxDensity, double denseFrom,
                          SparsePlan* plan, size_t* bytes) {
    throw ArgError(std::string("sparse layouts are not supported on ") + name());
  }
  virtual void packSparse(DType, const void* x, int64_t rows, int64_t cols, const SparsePlan&, void* out) {
    throw ArgError(std::string("sparse layouts are not supported on ") + name());
  }
  virtual int64_t sparseDenseColumns(DType, const void* layout, int64_t rows, int64_t cols, int64_t nnz) {
    throw ArgError(std::string("sparse layouts are not supported on ") + name());
  }
  // C[q] = alpha op(S) op(B[q]) + beta C[q] for q < operands (row-major, row strides ldb and ldc,
  // n columns), S the [rows, cols] matrix of a sparse layout, op(S) = Sᵀ when transS: the operands
  // share one pass over S (a primal and its tangents). beta = 0 never reads C.
  virtual void sparseGemm(DType, const void* layout, int64_t rows, int64_t cols, int64_t nnz, bool transS,
                          const void* const* B, int64_t ldb, bool transB, int64_t n, double alpha, double beta,
                          void* const* C, int64_t operands, int64_t ldc) {
    throw ArgError(std::string("sparse products are not supported on ") + name());
  }
  // The loss Σ_i s_i CE(X_i W + b, y_i) of a linear softmax model (s_i = scale · weights[i]),
  // returned, with ce [n] the unweighted per-row losses, and from the same pass over X: the
  // gradient (k = 0: gW [d, c], gb [c]) or its tangents along k directions (dW [k, d, c],
  // db [k, c]: gW [k, d, c], gb [k, c], r [k, n] with r_qi = (p_i − e_{y_i})·dz_qi, and dLoss [k]
  // the loss's tangents) (Fused::LinearXent; cpu/linear_xent.h says which X each dtype takes).
  virtual double linearXent(DType, const LinearXentData&, const LinearXentArgs&) {
    throw ArgError(std::string("the fused linear softmax cross-entropy is not supported on ") + name());
  }
};

Backend& cpuBackend();
Backend* cudaBackend();  // null when the CUDA backend was not built or no GPU is usable
// Whether a CUDA device is there, asked without starting the backend (no CUDA context).
bool cudaAvailable();
// The backend if something has started it, else null (never starts it).
Backend* cudaBackendIfStarted();
std::string cudaStatus();

// Counter-based generator shared by all backends so that a seed gives the same numbers anywhere.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}
inline double uniformAt(uint64_t seed, uint64_t i) {
  uint64_t h = splitmix64(splitmix64(seed) ^ (i * 0xD1B54A32D192ED03ULL));
  return (h >> 11) * (1.0 / 9007199254740992.0);  // [0, 1) with 53 bits
}

struct LiveCounters {
  std::atomic<int64_t> bytes{0};
  std::atomic<int64_t> buffers{0};
};
LiveCounters& liveCounters();

}  // namespace rfho
