/**
 * Matrix products. `gemm` is the BLAS call on 2-D tensors; `matmul` handles leading batch
 * dimensions and picks the widest product: a batch of left operands against one right operand is
 * folded into one tall gemm, and one left operand against a batch of narrow right operands is run
 * as one wide gemm after a permute (that is what makes batched tangents cheap).
 */
import { ArgumentError, ShapeError } from '../errors/errors';
import { show } from '../errors/show';
import { DerivedLayouts, Storage, Tensor, shapeToString, sizeOf } from '../tensor/tensor';
import { Handle, native } from '../native/binding';
import { settings } from '../config/config';
import { assertFloat, assertSameDType, assertTensor, broadcastShapes, sameShape } from '../tensor/validate';
import { emptyLike, expand } from './index-internal';
import { provides } from './dispatch';
import { axpby } from './elementwise';
import { logitsToKeep, takeKeptLogits } from './keptLogits';
import { concat, permute, reshapeView, slice } from './shape';

export interface GemmOptions {
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  beta?: number;
  /** accumulate into this [m, n] tensor (with beta) instead of allocating */
  out?: Tensor;
}

/**
 * Marks x as a data matrix: read by many products and never written, so that products may keep
 * faster layouts of it beside it — a sparse one (CSR and CSC) where at most
 * `rf.config.sparseMaxDensity` of its entries are non-zero, row panels for narrow products on
 * dense data — made at its first product, freed with it, dropped if it is ever written in place.
 * `rf.data.toTensors` marks its X; a matrix built another way is marked here. Returns x.
 */
export function asDataMatrix(x: Tensor): Tensor {
  assertTensor(x, 'x');
  assertFloat(x, 'x');
  x.storage.constantData = true;
  return x;
}

/** Whether x is marked as a data matrix (asDataMatrix). */
export function isDataMatrix(x: Tensor): boolean {
  assertTensor(x, 'x');
  return x.storage.constantData;
}

/**
 * The sparse layout of a data matrix (null if too dense), its dense columns kept apart if `dense`.
 * Settings (lib/config): `sparseMaxDensity`, the largest fraction of non-zeros for which a data
 * matrix is kept sparse (digit images are ~80 % zeros; below about a third of non-zeros the sparse
 * products beat the dense ones even where those run at full speed); `sparseDenseColumns`: columns
 * with at least this fraction of non-zeros are also kept densely, and wide products
 * (native.sparseDenseColumnsMinWidth columns or more) take them through the dense gemm, the rest
 * through the sparse gathers. On the digits ~240 of 784 pixel columns are at least 0.3 non-zero
 * and hold ~3/4 of the entries (the first 2000 embedded digits). That copy is made at the first
 * wide product: data that only ever meets narrow ones (a linear model's 10 classes) never holds it.
 */
function packData(a: Tensor, rows: number, k: number, dense: boolean): Handle | null {
  return native.packSparse(a.handle, rows, k, settings.sparseMaxDensity, dense ? settings.sparseDenseColumns : 2 /* above 1: none */);
}

/**
 * The derived layouts of a data matrix a viewed as [rows, k], or null for anything else. Only
 * data matrices (rf.data.toTensors marks them) get them, at their first product, so every product
 * of a run takes the same path (the same bits, which checkpointed recomputation relies on); they
 * live with the buffer and are dropped if it is ever written in place.
 */
function layoutsFor(a: Tensor, rows: number, k: number, width: number): DerivedLayouts | null {
  const st = a.storage;
  if (!st.constantData || a.size !== st.numel || !(provides(a.device, 'sparseData') || provides(a.device, 'rowPanels'))) return null;
  const key = `${rows}x${k}`;
  const wide = width >= native.sparseDenseColumnsMinWidth && settings.sparseDenseColumns <= 1;
  const d = st.derived;
  if (d?.key === key) {
    // The first wide product rebuilds the sparse layout with its dense columns. Narrow products
    // read the same stored entries from either, so every product of a run still takes one path.
    if (wide && d.sparse && !d.denseColumns) {
      native.free(d.sparse);
      d.sparse = packData(a, rows, k, true);
      d.denseColumns = true;
    }
    return d;
  }
  st.invalidateDerived();
  const sparse = settings.sparseMaxDensity > 0 && rows * k >= 1 << 14 && provides(a.device, 'sparseData') ? packData(a, rows, k, wide) : null;
  st.derived = { key, sparse, denseColumns: wide, panels: null };
  return st.derived;
}

/**
 * The row-panel copy of a dense tall data matrix for narrow products a·B (n ≤ 32), or null.
 * Such a product in the row-major layout ends every output element with a horizontal sum; from
 * panels (16 rows side by side, column by column) it is a stream of outer products, 2–3× faster.
 */
function rowPanelsFor(layouts: DerivedLayouts | null, a: Tensor, rows: number, k: number, n: number): Storage | null {
  if (!settings.rowPanels || !layouts || layouts.sparse || n > 32 || k < 64 || rows < 512 || !provides(a.device, 'rowPanels')) return null;
  if (layouts.panels) return layouts.panels;
  const lanes = 64 / (a.dtype === 'float64' ? 8 : 4);
  const panels = Storage.allocate(Math.ceil(rows / lanes) * lanes * k, a.dtype, a.device);
  panels.refs = 1;
  native.packRowPanels(a.handle, rows, k, panels.handle);
  layouts.panels = panels;
  return panels;
}

/**
 * c[i] = op(S) op(b[i]) for every batch entry i of b ([..., k, n], or [..., n, k] with transB),
 * S the sparse layout of a 2-D data matrix; c [..., m, n], or `acc` with the products added to it.
 */
function sparseProducts(sparse: Handle, a: Tensor, b: Tensor, transA: boolean, transB: boolean, m: number, n: number, batch: number, outShape: number[], acc?: Tensor): Tensor {
  const c = acc ?? emptyLike(a, outShape);
  const br = b.rank, ldb = Math.max(1, b.shape[br - 1]), bStride = b.shape[br - 2] * b.shape[br - 1];
  sparseOperands(sparse, transA, transB, n, ldb, 1, acc ? 1 : 0, Array.from({ length: batch }, (_, i) => [b, i * bStride, c, i * m * n]));
  return c;
}

/** The addon's largest number of operands per sparse call. */
const SPARSE_MAX_OPERANDS = 256;

/**
 * C_q = alpha op(S) op(B_q) + beta C_q for operands [B, offset of B_q, C, offset of C_q] (row
 * strides ldb and n), in calls of at most 256 operands.
 */
function sparseOperands(sparse: Handle, transA: boolean, transB: boolean, n: number, ldb: number, alpha: number, beta: number, ops: [Tensor, number, Tensor, number][]): void {
  for (let q0 = 0; q0 < ops.length; q0 += SPARSE_MAX_OPERANDS) {
    const part = ops.slice(q0, q0 + SPARSE_MAX_OPERANDS);
    native.sparseGemm(sparse, transA, part.map((o) => o[0].handle), part.map((o) => o[1]), ldb, transB, n, alpha, beta,
      part.map((o) => o[2].handle), part.map((o) => o[3]), Math.max(1, n));
  }
}

/** C = alpha op(A) op(B) + beta C for 2-D A, B. */
export function gemm(a: Tensor, b: Tensor, opts: GemmOptions = {}): Tensor {
  assertTensor(a, 'a');
  assertTensor(b, 'b');
  assertFloat(a, 'a');
  assertSameDType(a, 'a', b, 'b');
  if (a.rank !== 2 || b.rank !== 2) throw new ShapeError(`gemm: 'a' ${shapeToString(a.shape)} and 'b' ${shapeToString(b.shape)} must be 2-D`);
  if (opts === null || typeof opts !== 'object') throw new ArgumentError(`gemm: argument 'opts' must be an options object, got ${show(opts)}`);
  for (const name of ['transA', 'transB'] as const) {
    if (opts[name] !== undefined && typeof opts[name] !== 'boolean') throw new ArgumentError(`gemm: argument '${name}' must be a boolean, got ${show(opts[name])}`);
  }
  for (const name of ['alpha', 'beta'] as const) {
    if (opts[name] !== undefined && (typeof opts[name] !== 'number' || !Number.isFinite(opts[name]))) throw new ArgumentError(`gemm: argument '${name}' must be a finite number, got ${show(opts[name])}`);
  }
  const ta = !!opts.transA, tb = !!opts.transB;
  const m = ta ? a.shape[1] : a.shape[0], k = ta ? a.shape[0] : a.shape[1];
  const kb = tb ? b.shape[1] : b.shape[0], n = tb ? b.shape[0] : b.shape[1];
  if (k !== kb) {
    throw new ShapeError(`gemm: inner dimensions differ: op(a) is [${m}, ${k}] (a ${shapeToString(a.shape)}${ta ? 'ᵀ' : ''}), op(b) is [${kb}, ${n}] (b ${shapeToString(b.shape)}${tb ? 'ᵀ' : ''})`);
  }
  let c: Tensor;
  let beta = opts.beta ?? 0;
  if (opts.out) {
    c = opts.out;
    assertTensor(c, 'out');
    assertSameDType(a, 'a', c, 'out');
    if (!sameShape(c.shape, [m, n])) throw new ShapeError(`gemm: 'out' must be [${m}, ${n}], got ${shapeToString(c.shape)}`);
    c.storage.invalidateDerived(); // written in place below
  } else {
    c = emptyLike(a, [m, n]);
    beta = 0;
  }
  const sparse = layoutsFor(a, a.shape[0], a.shape[1], n)?.sparse;
  if (sparse && c.storage !== b.storage) {
    sparseOperands(sparse, ta, tb, n, Math.max(1, b.shape[1]), opts.alpha ?? 1, beta, [[b, 0, c, 0]]);
    return c;
  }
  native.gemm(ta, tb, m, n, k, opts.alpha ?? 1, a.handle, 0, Math.max(1, a.shape[1]), 0, b.handle, 0, Math.max(1, b.shape[1]), 0,
    beta, c.handle, 0, Math.max(1, n), 0, 1);
  return c;
}

/** The shape of matmul(a, b, transA, transB) (batch dims broadcast), without computing it. */
export function matmulShape(a: Tensor, b: Tensor, transA = false, transB = false): number[] {
  const ar = a.rank, br = b.rank;
  const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2), 'a (batch dims)', 'b (batch dims)');
  return [...batch, transA ? a.shape[ar - 1] : a.shape[ar - 2], transB ? b.shape[br - 2] : b.shape[br - 1]];
}

/**
 * Batched product over leading dims with NumPy broadcasting of the batch dims:
 * a [..., m, k] (or [..., k, m] with transA) times b [..., k, n] (or [..., n, k] with transB).
 * With `acc` (the output's shape), the product is added into it (gemm beta = 1) and it is returned:
 * the sum of two products without a third buffer and an addition pass.
 */
export function matmul(a: Tensor, b: Tensor, transA = false, transB = false, acc?: Tensor): Tensor {
  assertTensor(a, 'a');
  assertTensor(b, 'b');
  if (typeof transA !== 'boolean') throw new ArgumentError(`matmul: argument 'transA' must be a boolean, got ${show(transA)}`);
  if (typeof transB !== 'boolean') throw new ArgumentError(`matmul: argument 'transB' must be a boolean, got ${show(transB)}`);
  if (acc !== undefined) assertTensor(acc, 'acc');
  assertFloat(a, 'a');
  assertSameDType(a, 'a', b, 'b');
  if (a.rank < 2 || b.rank < 2) throw new ShapeError(`matmul: 'a' ${shapeToString(a.shape)} and 'b' ${shapeToString(b.shape)} must have rank >= 2`);
  const ar = a.rank, br = b.rank;
  const m = transA ? a.shape[ar - 1] : a.shape[ar - 2];
  const k = transA ? a.shape[ar - 2] : a.shape[ar - 1];
  const kb = transB ? b.shape[br - 1] : b.shape[br - 2];
  const n = transB ? b.shape[br - 2] : b.shape[br - 1];
  if (k !== kb) {
    throw new ShapeError(`matmul: inner dimensions differ: 'a' ${shapeToString(a.shape)}${transA ? 'ᵀ' : ''} gives k = ${k}, 'b' ${shapeToString(b.shape)}${transB ? 'ᵀ' : ''} gives k = ${kb}`);
  }
  const aBatch = a.shape.slice(0, -2), bBatch = b.shape.slice(0, -2);
  const batch = broadcastShapes(aBatch, bBatch, 'a (batch dims)', 'b (batch dims)');
  const nb = sizeOf(batch);
  const outShape = [...batch, m, n];
  if (acc) {
    assertTensor(acc, 'acc');
    assertSameDType(a, 'a', acc, 'acc');
    if (!sameShape(acc.shape, outShape)) throw new ShapeError(`matmul: 'acc' must be ${shapeToString(outShape)}, got ${shapeToString(acc.shape)}`);
    if (acc.storage === a.storage || acc.storage === b.storage) throw new ArgumentError("matmul: 'acc' must not share memory with 'a' or 'b'");
    acc.storage.invalidateDerived(); // written in place
  }
  const beta = acc ? 1 : 0;
  const into = (shape: number[]) => acc ?? emptyLike(a, shape);
  // The one path that cannot accumulate (the permuted wide product) computes apart and adds.
  const added = (c: Tensor) => {
    if (!acc) return c;
    axpby(1, c, 1, acc, acc);
    c.dispose();
    return acc;
  };
  const lda = Math.max(1, a.shape[ar - 1]), ldb = Math.max(1, b.shape[br - 1]);
  // A data matrix: folded to [rows, k] when its batch goes into the rows (below), else 2-D only.
  const fold = bBatch.length === 0 && !transA;
  const layouts = fold ? layoutsFor(a, nb * m, k, n) : aBatch.length === 0 ? layoutsFor(a, a.shape[0], a.shape[1], n) : null;
  if (layouts?.sparse) return sparseProducts(layouts.sparse, a, b, transA, transB, fold ? nb * m : m, n, fold ? 1 : nb, outShape, acc);

  if (fold) {
    // Fold a's batch into its rows: one tall gemm.
    const panels = acc ? null : rowPanelsFor(layouts, a, nb * m, k, n);
    const c = into(outShape);
    if (panels) native.gemmRowPanels(panels.handle, nb * m, k, b.handle, ldb, transB, n, 1, c.handle, Math.max(1, n));
    else native.gemm(false, transB, nb * m, n, k, 1, a.handle, 0, lda, 0, b.handle, 0, ldb, 0, beta, c.handle, 0, Math.max(1, n), 0, 1);
    return c;
  }
  if (aBatch.length === 0 && nb > 1 && n < 128) {
    // One left operand, a batch of narrow right operands: lay them side by side and run one wide gemm.
    // b [B, k, n] -> [k, B*n]  (transB: b [B, n, k] is already [(B n), k], used transposed).
    const b3 = reshapeView(b, [nb, b.shape[br - 2], b.shape[br - 1]]);
    let wide: Tensor;
    let tbWide: boolean;
    let own = false;
    if (transB) {
      wide = reshapeView(b3, [nb * n, k]);
      tbWide = true;
    } else {
      wide = reshapeView(permute(b3, [1, 0, 2]), [k, nb * n]);
      tbWide = false;
      own = true;
    }
    const c2 = emptyLike(a, [m, nb * n]);
    native.gemm(transA, tbWide, m, nb * n, k, 1, a.handle, 0, lda, 0, wide.handle, 0, Math.max(1, wide.shape[1]), 0, 0, c2.handle, 0, Math.max(1, nb * n), 0, 1);
    if (own) wide.dispose();
    b3.dispose();
    const c = reshapeView(permute(reshapeView(c2, [m, nb, n]), [1, 0, 2]), outShape);
    c2.dispose();
    return added(c);
  }
  // General case: strided-batched gemm; operands whose batch dims do not match are expanded first.
  let aa = a, bb = b;
  const aFull = [...batch, ...a.shape.slice(-2)], bFull = [...batch, ...b.shape.slice(-2)];
  const aStride = aBatch.length === 0 ? 0 : sizeOf(a.shape.slice(-2));
  const bStride = bBatch.length === 0 ? 0 : sizeOf(b.shape.slice(-2));
  let sa = aStride, sb = bStride;
  if (aBatch.length > 0 && !sameShape(aBatch, batch)) {
    aa = expand(a, aFull);
    sa = sizeOf(a.shape.slice(-2));
  }
  if (bBatch.length > 0 && !sameShape(bBatch, batch)) {
    bb = expand(b, bFull);
    sb = sizeOf(b.shape.slice(-2));
  }
  const c = into(outShape);
  native.gemm(transA, transB, m, n, k, 1, aa.handle, 0, lda, sa, bb.handle, 0, ldb, sb, beta, c.handle, 0, Math.max(1, n), m * n, nb);
  if (aa !== a) aa.dispose();
  if (bb !== b) bb.dispose();
  return c;
}

/**
 * op(a) b and its k tangents op(a) tb[t] (tb [k, K, n]), for a without a tangent: the data pass of
 * forward-over-reverse through a linear layer. The products share one read of a — one sparse pass
 * with k + 1 operands, or one dense product of [b | tb_1 | ... | tb_k] laid side by side.
 */
export function matmulWithTangents(a: Tensor, b: Tensor, tb: Tensor, transA: boolean): { out: Tensor; tangent: Tensor } {
  const k = tb.shape[0];
  const [kd, n] = b.shape;
  const m = transA ? a.shape[1] : a.shape[0];
  const layouts = a.rank === 2 ? layoutsFor(a, a.shape[0], a.shape[1], n) : null;
  if (layouts?.sparse) {
    const out = emptyLike(a, [m, n]), tangent = emptyLike(a, [k, m, n]);
    sparseOperands(layouts.sparse, transA, false, n, Math.max(1, n), 1, 0,
      [[b, 0, out, 0], ...Array.from({ length: k }, (_, t): [Tensor, number, Tensor, number] => [tb, t * kd * n, tangent, t * m * n])]);
    return { out, tangent };
  }
  const stacked = concat([reshapeView(b, [1, kd, n]), tb], 0); // [k+1, K, n]
  const wide = permute(stacked, [1, 0, 2]); // [K, k+1, n]
  stacked.dispose();
  const c = matmul(a, reshapeView(wide, [kd, (k + 1) * n]), transA, false); // [m, (k+1) n]
  wide.dispose();
  const c3 = reshapeView(c, [m, k + 1, n]);
  const out = reshapeView(slice(c3, 1, 0, 1), [m, n]);
  const tangent = permute(slice(c3, 1, 1, k + 1), [1, 0, 2]); // [k, m, n]
  c.dispose();
  return { out, tangent };
}

/** A linear softmax model's loss with its gradient, or with its gradient's tangents. */
export interface LinearXent {
  /** Σ_i s_i CE_i with s_i = scale · weights[i] (scale when there are no weights) */
  loss: number;
  /** the unweighted per-row losses CE_i [n] */
  ce: Tensor;
  /** ∂loss/∂W [d, c] and ∂loss/∂b [c]; with k directions their tangents [k, d, c] and [k, c] */
  gW: Tensor;
  gb: Tensor;
  /** with k directions: r [k, n], r_qi = (p_i − e_{y_i})·dz_qi, and the loss's tangents Σ_i s_i r_qi */
  r: Tensor | null;
  dLoss: number[];
}

/** The largest number of directions the fused pass takes. */
export const LINEAR_XENT_MAX_DIRECTIONS = 4;

/**
 * The loss Σ_i s_i CE(x_i W + b, y_i) and, from the same native pass over the data matrix x [n, d]
 * — its sparse layout where it has one, else x itself — its gradient, or, given directions
 * dW [k, d, c] and db [k, c] (and dWeights [k, n], the weights' own, where they move too), the
 * gradient's tangents along them (one Hessian-vector product per
 * direction). Null where the pass does not apply: x's backend does not provide it
 * (provides(device, 'linearXent'): the CPU's, where the addon was built with AVX-512), x is not a
 * whole matrix in float32 (or in float64 with row panels: a dense data matrix), or there are more
 * than 16 classes or 4 directions. Shapes and dtypes are the caller's to check
 * (linearCrossEntropy); labels are checked natively.
 */
export function linearXent(x: Tensor, W: Tensor, b: Tensor, labels: Tensor, weights: Tensor | null, scale: number, directions?: { dW: Tensor; db: Tensor; dWeights?: Tensor | null }): LinearXent | null {
  const [n, d] = x.shape, c = W.shape[1];
  const k = directions ? directions.dW.shape[0] : 0;
  if (x.rank !== 2 || c > 16 || k > LINEAR_XENT_MAX_DIRECTIONS || W.device !== x.device || !provides(x.device, 'linearXent')) return null;
  if (x.size !== x.storage.numel) return null; // a view into a larger buffer
  const layouts = layoutsFor(x, n, d, c), sparse = layouts?.sparse;
  const panels = sparse ? null : rowPanelsFor(layouts, x, n, d, c);
  // float32: any layout; float64: a dense data matrix's row panels (the pass with rows in the lanes)
  if (x.dtype !== 'float32' && !(x.dtype === 'float64' && panels)) return null;
  const ce = emptyLike(x, [n]), gW = emptyLike(W, k ? [k, d, c] : [d, c]), gb = emptyLike(b, k ? [k, c] : [c]);
  const r = k ? emptyLike(x, [k, n]) : null;
  // X W + b kept from an earlier gradient pass at this W and b (a Reverse-HG reverse step), or
  // kept from this one for such a pass (keptLogits.ts)
  const given = panels && k > 0 ? takeKeptLogits(panels, W, b) : null;
  const toKeep = panels && k === 0 ? logitsToKeep(x, panels, W, b) : null;
  try {
    const args = [W.handle, b.handle, k, directions ? directions.dW.handle : null, directions ? directions.db.handle : null,
      labels.handle, weights ? weights.handle : null, scale, ce.handle, gW.handle, gb.handle, r ? r.handle : null, c] as const;
    const dWeights = directions?.dWeights?.handle ?? null;
    const out = sparse ? native.sparseLinearXent(sparse, ...args, null, null, dWeights)
      : native.denseLinearXent(x.handle, ...args, panels ? panels.handle : null, given?.handle ?? null, toKeep?.logits.handle ?? null, dWeights);
    toKeep?.commit();
    return { loss: out[0], ce, gW, gb, r, dLoss: out.slice(1) };
  } catch (e) {
    toKeep?.abandon();
    [ce, gW, gb, r].forEach((t) => t?.dispose());
    throw e;
  } finally {
    given?.release();
  }
}
