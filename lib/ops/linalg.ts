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
 * op(a) [b | tb_1 | ... | tb_k] in one read of a: the primal and its k tangents of
 * forward-over-reverse through a linear layer, where a is the data.
 */
function fusedWithTangent(a: Tensor, b: Tensor, tb: Tensor, ta: boolean, vjp: (g: Tensor) => (Tensor | null)[]): Tensor {
  const { out, tangent } = K.matmulWithTangents(a, b, tb, ta);
  return recordWithTangent(out, [a, b], 'matmul', vjp, tangent);
}
