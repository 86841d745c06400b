/** Differentiable matrix products. */
import * as K from '../kernels';
import { record, recordWithTangent, tangentsAreLeaves } from '../autodiff/engine';
import { Tensor } from '../tensor/tensor';
import { assertTensor } from '../tensor/validate';
import { addTangents } from './elementwise';
import { sumTo } from './shape';
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
  const vjp = (g: Tensor) => [
      a.requiresGrad ? sumTo(ta ? matmul(b, g, { transA: tb, transB: true }) : matmul(g, b, { transB: !tb }), a.shape) : null,
      b.requiresGrad ? sumTo(tb ? matmul(g, a, { transA: true, transB: ta }) : matmul(a, g, { transA: !ta }), b.shape) : null,
    ];
  // Fusing pays when the product is memory-bound (a tall a against narrow b): the data is read once.
  // Wide products are compute-bound, and the stacking copies would only add time.
  if (tangentsAreLeaves() && b.tangent && !a.tangent && a.rank === 2 && b.rank === 2 && !tb && b.shape[1] * (b.tangent.shape[0] + 1) <= 128) {
    return fusedWithTangent(a, b, b.tangent, ta, vjp);
  }
  const out = K.matmul(a, b, ta, tb);
  return record(out, [a, b], 'matmul', vjp,
    // Tangents carry a leading k axis; lifting them to the output's rank puts k in front of the
    // primal batch dims so that batch dims line up.
    ([da, db]) => addTangents(
      da && matmul(liftTangent(da, out.rank), b, { transA: ta, transB: tb }),
      db && matmul(a, liftTangent(db, out.rank), { transA: ta, transB: tb })));
}

/**
 * op(a) [b | tb_1 | ... | tb_k] as one product: the primal and its k tangents read the tall
 * operand a once (forward-over-reverse through a linear layer, where a is the data).
 */
function fusedWithTangent(a: Tensor, b: Tensor, tb: Tensor, ta: boolean, vjp: (g: Tensor) => (Tensor | null)[]): Tensor {
  const k = tb.shape[0];
  const [kd, n] = b.shape;
  const stacked = K.concat([K.reshapeView(b, [1, kd, n]), tb], 0); // [k+1, K, n]
  const wide = K.permute(stacked, [1, 0, 2]); // [K, k+1, n]
  stacked.dispose();
  const c = K.matmul(a, K.reshapeView(wide, [kd, (k + 1) * n]), ta, false); // [m, (k+1) n]
  wide.dispose();
  const m = c.shape[0];
  const c3 = K.reshapeView(c, [m, k + 1, n]);
  const out = K.reshapeView(K.slice(c3, 1, 0, 1), [m, n]);
  const tangent = K.permute(K.slice(c3, 1, 1, k + 1), [1, 0, 2]); // [k, m, n]
  c.dispose();
  return recordWithTangent(out, [a, b], 'matmul', vjp, tangent);
}
