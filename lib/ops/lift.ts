/** Helpers that line batched tangents [k, ...shape] up with primal shapes inside JVP rules. */
import * as K from '../kernels';
import { Tensor } from '../tensor/tensor';
import { sameShape } from '../tensor/validate';

/** Reshapes a tangent [k, ...s] to [k, 1, ..., 1, ...s] of rank outRank + 1 (a view). */
export function liftTangent(t: Tensor, outRank: number): Tensor {
  const inner = t.shape.slice(1);
  if (inner.length >= outRank) return t;
  return K.reshapeView(t, [t.shape[0], ...new Array<number>(outRank - inner.length).fill(1), ...inner]);
}

/** Number of tangent directions of a batched tangent. */
export function kOf(t: Tensor): number {
  return t.shape[0];
}

export function tangentShape(k: number, shape: readonly number[]): number[] {
  return [k, ...shape];
}

export function isShape(t: Tensor, shape: readonly number[]): boolean {
  return sameShape(t.shape, shape);
}
