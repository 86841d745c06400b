// Kernel bindings, matrix products: batched gemm, the row-panel layout and its product, sparse
// products. Each validates every argument, builds the iteration plan and dispatches to the backend.
#include <algorithm>
#include <cmath>
#include <vector>

#include "args.h"

namespace rfho {
namespace {

// gemm(transA, transB, m, n, k, alpha, A, offA, lda, strideA, B, offB, ldb, strideB,
//      beta, C, offC, ldc, strideC, batch)      row-major: C = alpha op(A) op(B) + beta C
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    GemmArgs g;
    g.transA = argBool(info, 0, "transA");
    g.transB = argBool(info, 1, "transB");
    g.m = argInt(info, 2, "m");
    g.n = argInt(info, 3, "n");
    g.k = argInt(info, 4, "k");
    g.alpha = argNumber(info, 5, "alpha");
    Buffer& A = argBuffer(info, 6, "A");
    int64_t offA = argInt(info, 7, "offsetA");
    g.lda = argInt(info, 8, "lda");
    g.strideA = argInt(info, 9, "strideA");
    Buffer& B = argBuffer(info, 10, "B");
    int64_t offB = argInt(info, 11, "offsetB");
    g.ldb = argInt(info, 12, "ldb");
    g.strideB = argInt(info, 13, "strideB");
    g.beta = argNumber(info, 14, "beta");
    Buffer& C = argBuffer(info, 15, "C");
    int64_t offC = argInt(info, 16, "offsetC");
    g.ldc = argInt(info, 17, "ldc");
    g.strideC = argInt(info, 18, "strideC");
    g.batch = argInt(info, 19, "batch");
    requireFloat(A, "A");
    requireSameDtype(A, "A", B, "B");
    requireSameDtype(A, "A", C, "C");
    requireSameDevice(A, "A", B, "B");
    requireSameDevice(A, "A", C, "C");
    if (C.data == A.data || C.data == B.data) fail("argument 'C' must not alias 'A' or 'B'");
    const int64_t rA = g.transA ? g.k : g.m, cA = g.transA ? g.m : g.k;
    const int64_t rB = g.transB ? g.n : g.k, cB = g.transB ? g.k : g.n;
    if (g.lda < std::max<int64_t>(1, cA)) fail("argument 'lda' is smaller than the row length of A");
    if (g.ldb < std::max<int64_t>(1, cB)) fail("argument 'ldb' is smaller than the row length of B");
    if (g.ldc < std::max<int64_t>(1, g.n)) fail("argument 'ldc' is smaller than n");
    requireAtLeast(A, extentNeeded(offA, g.batch, g.strideA, rA, cA, g.lda), "A");
    requireAtLeast(B, extentNeeded(offB, g.batch, g.strideB, rB, cB, g.ldb), "B");
    requireAtLeast(C, extentNeeded(offC, g.batch, g.strideC, g.m, g.n, g.ldc), "C");
    if (g.batch > 1 && g.strideC < g.m * g.ldc && g.m * g.n > 0)
      fail("argument 'strideC' makes batch outputs overlap");
    const size_t es = dtypeSize(A.dtype);
    g.A = static_cast<const char*>(A.data) + offA * es;
    g.B = static_cast<const char*>(B.data) + offB * es;
    g.C = static_cast<char*>(C.data) + offC * es;
    if (g.m > 0 && g.n > 0 && g.batch > 0) backendOf(A).gemm(A.dtype, g);
    return info.Env().Undefined();
  });
}

// packRowPanels(x, rows, cols, out): the row-panel layout of a [rows, cols] matrix (CPU).
Napi::Value PackRowPanels(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& x = argBuffer(info, 0, "x");
    int64_t rows = argInt(info, 1, "rows"), cols = argInt(info, 2, "cols");
    Buffer& o = argBuffer(info, 3, "out");
    requireFloat(x, "x");
    requireLike(x, "x", o, "out");
    const int64_t lanes = 64 / static_cast<int64_t>(dtypeSize(x.dtype));
    requireNumel(x, rows * cols, "x");
    requireNumel(o, (rows + lanes - 1) / lanes * lanes * cols, "out");
    if (x.data == o.data) fail("argument 'out' must not alias 'x'");
    if (rows > 0 && cols > 0) backendOf(x).packRowPanels(x.dtype, x.data, rows, cols, o.data);
    return info.Env().Undefined();
  });
}

// gemmRowPanels(panels, m, k, B, ldb, transB, n, alpha, C, ldc): C = alpha X op(B) from X's panels.
Napi::Value GemmRowPanels(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& P = argBuffer(info, 0, "panels");
    int64_t m = argInt(info, 1, "m"), k = argInt(info, 2, "k");
    Buffer& B = argBuffer(info, 3, "B");
    int64_t ldb = argInt(info, 4, "ldb");
    bool tb = argBool(info, 5, "transB");
    int64_t n = argInt(info, 6, "n");
    double alpha = argNumber(info, 7, "alpha");
    Buffer& C = argBuffer(info, 8, "C");
    int64_t ldc = argInt(info, 9, "ldc");
    requireFloat(P, "panels");
    requireSameDtype(P, "panels", B, "B");
    requireSameDtype(P, "panels", C, "C");
    requireSameDevice(P, "panels", B, "B");
    requireSameDevice(P, "panels", C, "C");
    if (n < 1 || n > 32) fail("argument 'n' must be in [1, 32] for a row-panel product");
    const int64_t lanes = 64 / static_cast<int64_t>(dtypeSize(P.dtype));
    requireNumel(P, (m + lanes - 1) / lanes * lanes * k, "panels");
    const int64_t rB = tb ? n : k, cB = tb ? k : n;
    if (ldb < std::max<int64_t>(1, cB)) fail("argument 'ldb' is smaller than the row length of B");
    if (ldc < n) fail("argument 'ldc' is smaller than n");
    requireAtLeast(B, extentNeeded(0, 1, 0, rB, cB, ldb), "B");
    requireAtLeast(C, extentNeeded(0, 1, 0, m, n, ldc), "C");
    if (C.data == P.data || C.data == B.data) fail("argument 'C' must not alias 'panels' or 'B'");
    if (m > 0) backendOf(P).gemmRowPanels(P.dtype, P.data, m, k, B.data, ldb, tb, n, alpha, C.data, ldc);
    return info.Env().Undefined();
  });
}

// The operands of a sparse product: an array of tensor handles and an array of element offsets.
std::vector<std::pair<Buffer*, int64_t>> argOperands(const Napi::CallbackInfo& info, size_t i, const char* name,
                                                     const char* offsetsName) {
  if (i + 1 >= info.Length() || !info[i].IsArray() || !info[i + 1].IsArray())
    fail(std::string("arguments '") + name + "' and '" + offsetsName + "' must be arrays");
  Napi::Array h = info[i].As<Napi::Array>(), o = info[i + 1].As<Napi::Array>();
  if (h.Length() < 1 || h.Length() > 256 || h.Length() != o.Length())
    fail(std::string("arguments '") + name + "' and '" + offsetsName + "' must have the same length, 1 to 256");
  std::vector<std::pair<Buffer*, int64_t>> out;
  for (uint32_t q = 0; q < h.Length(); ++q) {
    const std::string at = "[" + std::to_string(q) + "]";
    out.push_back({&tensorFrom(h[q], std::string("argument '") + name + "'" + at),
                   intFrom(o[q], std::string("argument '") + offsetsName + "'" + at)});
  }
  return out;
}

// sparseGemm(S, transS, Bs, offsetsB, ldb, transB, n, alpha, beta, Cs, offsetsC, ldc):
// C_q = alpha op(S) op(B_q) + beta C_q for every operand q in one pass over S, a sparse layout
// [rows, cols] (op(S) = Sᵀ when transS).
Napi::Value SparseGemm(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer& S = argSparseLayout(info, 0, "S");
    bool ts = argBool(info, 1, "transS");
    auto Bs = argOperands(info, 2, "B", "offsetsB");
    int64_t ldb = argInt(info, 4, "ldb");
    bool tb = argBool(info, 5, "transB");
    int64_t n = argInt(info, 6, "n");
    double alpha = argNumber(info, 7, "alpha"), beta = argNumber(info, 8, "beta");
    auto Cs = argOperands(info, 9, "C", "offsetsC");
    int64_t ldc = argInt(info, 11, "ldc");
    if (Bs.size() != Cs.size()) fail("arguments 'B' and 'C' must hold as many operands");
    const int64_t m = ts ? S.sparseCols : S.sparseRows, k = ts ? S.sparseRows : S.sparseCols;
    const int64_t rB = tb ? n : k, cB = tb ? k : n;
    if (ldb < std::max<int64_t>(1, cB)) fail("argument 'ldb' is smaller than the row length of B");
    if (ldc < std::max<int64_t>(1, n)) fail("argument 'ldc' is smaller than n");
    const size_t es = dtypeSize(S.dtype);
    const int64_t extB = extentNeeded(0, 1, 0, rB, cB, ldb), extC = extentNeeded(0, 1, 0, m, n, ldc);
    std::vector<const void*> bp;
    std::vector<void*> cp;
    for (auto& [b, off] : Bs) {
      requireLike(S, "S", *b, "B");
      requireAtLeast(*b, off + extB, "B");
      bp.push_back(static_cast<const char*>(b->data) + off * es);
    }
    for (auto& [c, off] : Cs) {
      requireLike(S, "S", *c, "C");
      requireAtLeast(*c, off + extC, "C");
      cp.push_back(static_cast<char*>(c->data) + off * es);
    }
    // No output may overlap an input or another output (byte ranges).
    auto overlaps = [&](const void* a, int64_t na, const void* b, int64_t nb) {
      const char *pa = static_cast<const char*>(a), *pb = static_cast<const char*>(b);
      return na > 0 && nb > 0 && pa < pb + nb * es && pb < pa + na * es;
    };
    for (size_t q = 0; q < cp.size(); ++q) {
      for (size_t r = 0; r < bp.size(); ++r)
        if (overlaps(cp[q], extC, bp[r], extB)) fail("argument 'C' must not overlap 'B'");
      for (size_t r = q + 1; r < cp.size(); ++r)
        if (overlaps(cp[q], extC, cp[r], extC)) fail("the outputs in 'C' must not overlap");
    }
    if (n > 0)
      backendOf(S).sparseGemm(S.dtype, S.data, S.sparseRows, S.sparseCols, S.sparseNnz, ts, bp.data(), ldb, tb, n, alpha, beta,
                 cp.data(), static_cast<int64_t>(cp.size()), ldc);
    return info.Env().Undefined();
  });
}

}  // namespace

void registerProductsBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("gemm", Napi::Function::New(env, Gemm, "gemm"));
  exports.Set("packRowPanels", Napi::Function::New(env, PackRowPanels, "packRowPanels"));
  exports.Set("gemmRowPanels", Napi::Function::New(env, GemmRowPanels, "gemmRowPanels"));
  exports.Set("sparseGemm", Napi::Function::New(env, SparseGemm, "sparseGemm"));
}

}  // namespace rfho
