/** Differentiable matrix products. */
import * as K from '../kernels';
import { record } from '../autodiff/engine';
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
  const out = K.matmul(a, b, ta, tb);
  return record(out, [a, b], 'matmul',
    (g) => [
      a.requiresGrad ? sumTo(ta ? matmul(b, g, { transA: tb, transB: true }) : matmul(g, b, { transB: !tb }), a.shape) : null,
      b.requiresGrad ? sumTo(tb ? matmul(g, a, { transA: true, transB: ta }) : matmul(a, g, { transA: !ta }), b.shape) : null,
    ],
    // Tangents carry a leading k axis; lifting them to the output's rank puts k in front of the
    // primal batch dims so that batch dims line up.
    ([da, db]) => addTangents(
      da && matmul(liftTangent(da, out.rank), b, { transA: ta, transB: tb }),
      db && matmul(a, liftTangent(db, out.rank), { transA: ta, transB: tb })));
}
