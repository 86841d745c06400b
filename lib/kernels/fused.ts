/**
 * Fused kernels: one pass for what ops compose from the others (tanh's cotangent and its tangent, the dynamics' tangent step); a backend provides them or not (dispatch.ts). Thin validated wrappers over the native kernels: each takes
 * tensors, checks them, allocates the output and calls the addon once. Not differentiable.
 */
import { native } from '../native/binding';
import { ArgumentError, ShapeError } from '../errors/errors';
import { Tensor, shapeToString } from '../tensor/tensor';
import { assertFloat, assertSameDType, assertTensor, sameShape } from '../tensor/validate';
import { emptyLike } from './creation';
import { intoTensor } from './elementwise';

/**
 * g ⊙ (1 − y²) for g of y's shape or [k, ...y's shape] (y broadcast over k): the cotangent through
 * tanh. With `bias` [k, h] (h: y's last dimension), (g + bias) ⊙ (1 − y²), the bias of each of the k
 * rows added along y's last axis in the same pass (a tanh layer's tangent, bias tangent included).
 */
export function tanhGrad(y: Tensor, g: Tensor, into?: Tensor, bias?: Tensor): Tensor {
  assertTensor(y, 'y');
  assertTensor(g, 'g');
  assertFloat(y, 'y');
  assertSameDType(y, 'y', g, 'g');
  const k = y.size === 0 ? 0 : g.size / y.size;
  if (!Number.isInteger(k) || !sameShape(g.shape.slice(g.rank - y.rank), y.shape)) {
    throw new ShapeError(`tanhGrad: 'g' ${shapeToString(g.shape)} must be 'y' ${shapeToString(y.shape)} with optional leading dims`);
  }
  const h = y.rank === 0 ? 1 : y.shape[y.rank - 1];
  if (bias) {
    assertTensor(bias, 'bias');
    assertSameDType(y, 'y', bias, 'bias');
    if (bias.size !== k * h || (bias.rank > 0 && bias.shape[bias.rank - 1] !== h)) {
      throw new ShapeError(`tanhGrad: 'bias' ${shapeToString(bias.shape)} must hold ${k} rows of y's last dimension ${h}`);
    }
  }
  const out = into ? intoTensor(into, g, g.shape) : emptyLike(g);
  if (bias) native.tanhGrad(y.handle, g.handle, out.handle, y.size, k, bias.handle, h);
  else native.tanhGrad(y.handle, g.handle, out.handle, y.size, k);
  return out;
}

/** tg ⊙ (1 − y²) − 2 g ⊙ y ⊙ ty for tangents ty, tg [k, ...y's shape] (tg may be null): tanhGrad's tangent. */
export function tanhGradJvp(y: Tensor, g: Tensor, ty: Tensor, tg: Tensor | null): Tensor {
  assertTensor(y, 'y');
  assertTensor(g, 'g');
  assertTensor(ty, 'ty');
  assertFloat(y, 'y');
  for (const [t, name] of [[g, 'g'], [ty, 'ty'], ...(tg ? [[tg, 'tg'] as const] : [])] as const) assertSameDType(y, 'y', t, name);
  if (!sameShape(g.shape, y.shape)) throw new ShapeError(`tanhGradJvp: 'g' ${shapeToString(g.shape)} must have the shape of 'y' ${shapeToString(y.shape)}`);
  const k = ty.shape[0];
  if (!sameShape(ty.shape, [k, ...y.shape])) throw new ShapeError(`tanhGradJvp: 'ty' ${shapeToString(ty.shape)} must be [k, ...${shapeToString(y.shape)}]`);
  if (tg && !sameShape(tg.shape, ty.shape)) throw new ShapeError(`tanhGradJvp: 'tg' ${shapeToString(tg.shape)} must have the shape of 'ty' ${shapeToString(ty.shape)}`);
  const out = emptyLike(ty);
  native.tanhGradJvp(y.handle, g.handle, ty.handle, tg ? tg.handle : null, out.handle, y.size, k);
  return out;
}

/** One step of gradient descent (`slots` 1) or momentum (2): the primal vectors its tangent reads. */
export interface DynamicsTangentArgs {
  slots: 1 | 2;
  nesterov: boolean;
  /** the (scalar) coefficients' values */
  mu: number;
  eta: number;
  /** state tangent [k, slots·d] and gradient tangent [k, d] */
  ts: Tensor;
  tg: Tensor;
  /** the coefficients' tangents, k values each (null: they carry none) */
  tmu: Tensor | null;
  teta: Tensor | null;
  /** old and new velocity (slots 2), and the primal update direction (g for gradient descent), d each */
  v: Tensor | null;
  v2: Tensor | null;
  dir: Tensor;
}

/**
 * The state tangent [k, slots·d] after one step (CPU): for momentum
 * tv' = μ tv + tμ v + tg, tw' = tw − η tdir − tη dir with tdir = tv' (heavy ball) or
 * tg + μ tv' + tμ v' (Nesterov); for gradient descent tw' = tw − η tg − tη g. The kernel counts
 * the NaN/Inf values it writes, so K.countNonFinite of the result is free.
 */
export function dynamicsTangent(a: DynamicsTangentArgs): Tensor {
  const { slots, ts, tg, dir } = a;
  if (slots !== 1 && slots !== 2) throw new ArgumentError(`dynamicsTangent: 'slots' must be 1 or 2, got ${String(slots)}`);
  if (!Number.isFinite(a.mu) || !Number.isFinite(a.eta)) throw new ArgumentError(`dynamicsTangent: 'mu' and 'eta' must be finite, got ${a.mu}, ${a.eta}`);
  if (slots === 2 && (!a.v || !a.v2)) throw new ArgumentError("dynamicsTangent: momentum needs 'v' and 'v2'");
  assertTensor(ts, 'ts');
  assertFloat(ts, 'ts');
  assertTensor(dir, 'dir');
  const d = dir.size, k = ts.shape[0];
  const expect: [Tensor | null, string, number][] = [
    [ts, 'ts', k * slots * d], [tg, 'tg', k * d], [a.tmu, 'tmu', k], [a.teta, 'teta', k],
    [slots === 2 ? a.v : null, 'v', d], [slots === 2 ? a.v2 : null, 'v2', d], [dir, 'dir', d],
  ];
  for (const [t, name, size] of expect) {
    if (!t) continue;
    assertTensor(t, name);
    assertSameDType(ts, 'ts', t, name);
    if (t.size !== size) throw new ShapeError(`dynamicsTangent: '${name}' ${shapeToString(t.shape)} must hold ${size} values (k = ${k}, d = ${d})`);
  }
  const out = emptyLike(ts);
  out.storage.nonFinite = native.dynamicsTangent(slots, a.nesterov, d, k, a.mu, a.eta, ts.handle, tg.handle, a.tmu?.handle ?? null,
    a.teta?.handle ?? null, slots === 2 ? a.v!.handle : null, slots === 2 ? a.v2!.handle : null, dir.handle, out.handle);
  return out;
}
