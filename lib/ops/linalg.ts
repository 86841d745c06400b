/** Differentiable matrix products. */
import * as K from '../kernels';
import { NEEDS_INPUTS, record, recordWithTangent, setTangentReadsPrimal, setVjpReads, withoutTangents } from '../autodiff/engine';
import { implement } from '../autodiff/implementations';
import { ShapeError } from '../errors/errors';
import { Tensor, shapeToString } from '../tensor/tensor';
import { assertTensor, sameShape } from '../tensor/validate';
import { add, addTangents, tanh, tanhGrad } from './elementwise';
import { sumTo } from './broadcast';
import { liftTangent } from './lift';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

/**
 * op(a) @ op(b) with batch dims broadcast. Transposes are BLAS flags, never copies; batched
 * tangents run as one wide product (see kernels/matmul).
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  assertTensor(a, 'a');
  assertTensor(b, 'b');
  const ta = !!opts.transA, tb = !!opts.transB;
  const vjp = productVjp(a, b, ta, tb);
  return productNode(implement([a, b], {
    general: () => {
      const out = K.matmul(a, b, ta, tb);
      return record(out, [a, b], 'matmul', vjp, ([da, db]) => productTangent(a, b, ta, tb, da, db, out.rank));
    },
    // Fusing pays when the product is memory-bound (a tall a against narrow b): the data is read
    // once. Wide products are compute-bound, and the stacking copies would only add time.
    fusedTangents: () => {
      if (!b.tangent || a.tangent || a.rank !== 2 || b.rank !== 2 || tb || b.shape[1] * (b.tangent.shape[0] + 1) > 128) return null;
      const { out, tangent } = K.matmulWithTangents(a, b, b.tangent, ta);
      return recordWithTangent(out, [a, b], 'matmul', vjp, tangent);
    },
  }), [[a, b]]);
}

/**
 * tanh(x W + b) for x [n, d], W [d, h], b [h]: an MLP's hidden layer as one op. Its value, its
 * derivatives and their bits are those of the composite (matmul, add, tanh), but the product and
 * the pre-activation never become graph nodes: under Forward-HG's tangents each was a k-fold
 * [k, n, h] tensor kept until the reverse sweep, two of the three per layer, and the tangent's
 * bias and tanh derivative are applied in place to the product's tangent instead of into two new
 * ones. Elsewhere (other ranks or devices, a data matrix whose narrow product carries its tangent
 * in one pass, tangents an enclosing reverse pass differentiates) it is the composite.
 */
export function denseTanh(x: Tensor, W: Tensor, b: Tensor): Tensor {
  assertTensor(x, 'x');
  assertTensor(W, 'W');
  assertTensor(b, 'b');
  if (x.rank === 2 && W.rank === 2 && b.rank === 1 && (x.shape[1] !== W.shape[0] || b.shape[0] !== W.shape[1])) {
    throw new ShapeError(`denseTanh: 'x' ${shapeToString(x.shape)}, 'W' ${shapeToString(W.shape)} and 'b' ${shapeToString(b.shape)} do not fit x [n, d], W [d, h], b [h]`);
  }
  return implement([x, W, b], {
    general: () => tanh(add(matmul(x, W), b)),
    kernelTangents: () => {
      // a data matrix whose narrow product carries its tangent in one pass: the composite's matmul
      const narrowData = !!W.tangent && !x.tangent && W.rank === 2 && W.shape[1] * (W.tangent.shape[0] + 1) <= 128;
      if (x.rank !== 2 || W.rank !== 2 || b.rank !== 1 || !K.provides(x.device, 'tanhGrad') || narrowData) return null;
      return denseTanhKernel(x, W, b);
    },
  });
}

/** denseTanh's own kernels; its tangent rule is written with kernels (not differentiable). */
function denseTanhKernel(x: Tensor, W: Tensor, b: Tensor): Tensor {
  const z = K.matmul(x, W);
  K.binary('add', z, b, z); // the pre-activation in the product's own buffer
  const y = K.unary('tanh', z);
  z.dispose();
  const vjp = productVjp(x, W, false, false);
  return record(y, [x, W, b], 'denseTanh',
    (g, unused) => {
      const gz = tanhGrad(g, y);
      return [...vjp(gz, unused ? unused.slice(0, 2) : null), b.requiresGrad ? sumTo(gz, b.shape) : null];
    },
    ([tx, tW, tb]) => {
      // the composite's kernels in its order (x dW, then dx W added in), then in place: (· + db) ⊙ (1 − y²)
      let t: Tensor;
      if (tx && tW) t = K.matmul(tx, W, false, false, K.matmul(x, tW));
      else if (tx) t = K.matmul(tx, W);
      else if (tW) t = K.matmul(x, tW);
      else t = K.expand(liftTangent(tb!, 2), [tb!.shape[0], ...y.shape]);
      // (t + db) ⊙ (1 − y²) in one pass over the k-fold tangent
      return K.tanhGrad(y, t, t, tb && (tx || tW) ? tb : undefined);
    });
}

/**
 * The tangents of a product's cotangents read the primal of g where an operand whose cotangent is
 * wanted has a partner carrying a tangent (d(aᵀg) = daᵀg + aᵀdg).
 */
function productNode(out: Tensor, pairs: [Tensor, Tensor][]): Tensor {
  setVjpReads(out, NEEDS_INPUTS);
  return setTangentReadsPrimal(out, () => pairs.some(([a, b]) => (a.requiresGrad && !!b.tangent) || (b.requiresGrad && !!a.tangent)));
}

/**
 * The cotangents of op(a) op(b) with respect to a and b. `unused[i]`: only the tangent of input i's
 * cotangent is read (an HVP's reverse sweep, for a weight whose gradient it discards): its primal
 * is zeros and only the tangent is computed — Xᵀ·dG without Xᵀ·G.
 */
function productVjp(a: Tensor, b: Tensor, ta: boolean, tb: boolean): (g: Tensor, unused?: readonly boolean[] | null) => (Tensor | null)[] {
  const product = (x: Tensor, y: Tensor, opts: MatmulOptions, tangentOnly: boolean) =>
    (tangentOnly ? tangentOfProduct(x, y, opts) : matmul(x, y, opts));
  return (g, unused) => [
    a.requiresGrad ? sumTo(ta ? product(b, g, { transA: tb, transB: true }, !!unused?.[0]) : product(g, b, { transB: !tb }, !!unused?.[0]), a.shape) : null,
    b.requiresGrad ? sumTo(tb ? product(g, a, { transA: true, transB: ta }, !!unused?.[1]) : product(a, g, { transA: !ta }, !!unused?.[1]), b.shape) : null,
  ];
}

/** op(x) op(y) with zeros for its primal and its true tangent dx·y + x·dy (nobody reads the primal). */
function tangentOfProduct(x: Tensor, y: Tensor, opts: MatmulOptions): Tensor {
  const ta = !!opts.transA, tb = !!opts.transB;
  const zeros = K.full(K.matmulShape(x, y, ta, tb), 0, { dtype: x.dtype, device: x.device });
  const tangent = withoutTangents(() => productTangent(x, y, ta, tb, x.tangent, y.tangent, zeros.rank));
  return recordWithTangent(zeros, [x, y], 'matmul', productVjp(x, y, ta, tb), tangent);
}

/**
 * The tangent da·B + A·dB of op(a) op(b). Tangents carry a leading k axis; lifting them to the
 * output's rank puts k in front of the primal batch dims so that batch dims line up. Both terms
 * together are one product added into the other (matmulPair).
 */
function productTangent(a: Tensor, b: Tensor, ta: boolean, tb: boolean, da: Tensor | null, db: Tensor | null, rank: number): Tensor | null {
  const opts = { transA: ta, transB: tb };
  const left = da && liftTangent(da, rank), right = db && liftTangent(db, rank);
  if (left && right) return matmulPair(left, b, a, right, opts);
  return left ? matmul(left, b, opts) : right ? matmul(a, right, opts) : null;
}

/**
 * op(a1) op(b1) + op(a2) op(b2) with the same transposes: the second product is computed, and
 * the first added into its buffer by the BLAS call (beta = 1) — no third buffer, no addition pass
 * over what, for k tangents, is k outputs.
 */
function matmulPair(a1: Tensor, b1: Tensor, a2: Tensor, b2: Tensor, opts: MatmulOptions): Tensor {
  const ta = !!opts.transA, tb = !!opts.transB;
  if (!sameShape(K.matmulShape(a1, b1, ta, tb), K.matmulShape(a2, b2, ta, tb))) {
    return addTangents(matmul(a1, b1, opts), matmul(a2, b2, opts))!; // broadcast to different shapes
  }
  const out = K.matmul(a1, b1, ta, tb, K.matmul(a2, b2, ta, tb));
  const v1 = productVjp(a1, b1, ta, tb), v2 = productVjp(a2, b2, ta, tb);
  const r = record(out, [a1, b1, a2, b2], 'matmulPair', (g, unused) => {
    return [...v1(g, unused?.slice(0, 2)), ...v2(g, unused?.slice(2))];
  }, ([da1, db1, da2, db2]) => addTangents(productTangent(a1, b1, ta, tb, da1, db1, out.rank), productTangent(a2, b2, ta, tb, da2, db2, out.rank)));
  return productNode(r, [[a1, b1], [a2, b2]]);
}

/**
 * op(a) [b | tb_1 | ... | tb_k] in one read of a: the primal and its k tangents of
 * forward-over-reverse through a linear layer, where a is the data.
 */
