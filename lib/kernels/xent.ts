/**
 * Softmax cross-entropy: per-row loss, its gradient, and the gradient's tangent. Thin validated wrappers over the native kernels: each takes
 * tensors, checks them, allocates the output and calls the addon once. Not differentiable.
 */
import { native } from '../native/binding';
import { ArgumentError, ShapeError } from '../errors/errors';
import { Tensor, shapeToString } from '../tensor/tensor';
import { assertFloat, assertInt, assertSameDType, assertTensor } from '../tensor/validate';
import { emptyLike } from './creation';

function checkXent(logits: Tensor, labels: Tensor, weights: Tensor | null): [number, number] {
  assertTensor(logits, 'logits');
  assertFloat(logits, 'logits');
  if (logits.rank !== 2) throw new ShapeError(`softmax cross-entropy: 'logits' must be [n, classes], got ${shapeToString(logits.shape)}`);
  const [n, c] = logits.shape;
  if (c < 1) throw new ShapeError(`softmax cross-entropy: 'logits' ${shapeToString(logits.shape)} has no classes`);
  assertTensor(labels, 'labels');
  if (labels.dtype !== 'int32') throw new ArgumentError(`argument 'labels' must be an int32 tensor of class indices, got ${labels.dtype}`);
  if (labels.rank !== 1 || labels.size !== n) throw new ShapeError(`argument 'labels' must have shape [${n}] to match 'logits' ${shapeToString(logits.shape)}, got ${shapeToString(labels.shape)}`);
  if (weights) {
    assertTensor(weights, 'weights');
    assertSameDType(logits, 'logits', weights, 'weights');
    if (weights.size !== n) throw new ShapeError(`argument 'weights' must have shape [${n}], got ${shapeToString(weights.shape)}`);
  }
  return [n, c];
}

/** Per-row loss logsumexp(z_i) − z_i[y_i] (unweighted), shape [n]. */
export function softmaxXentLoss(logits: Tensor, labels: Tensor): Tensor {
  const [n, c] = checkXent(logits, labels, null);
  const loss = emptyLike(logits, [n]);
  native.softmaxXent(logits.handle, labels.handle, null, loss.handle, null, n, c);
  return loss;
}

/**
 * The per-row loss [n] and the unweighted gradient softmax(z_i) − e_{y_i} [n, c] from one pass of
 * the softmax (what a loss needs when it will be differentiated).
 */
export function softmaxXentLossAndGrad(logits: Tensor, labels: Tensor): { loss: Tensor; grad: Tensor } {
  const [n, c] = checkXent(logits, labels, null);
  const loss = emptyLike(logits, [n]);
  const grad = emptyLike(logits, [n, c]);
  native.softmaxXent(logits.handle, labels.handle, null, loss.handle, grad.handle, n, c);
  return { loss, grad };
}

/** w_i (softmax(z_i) − e_{y_i}), shape [n, c]; w = 1 when omitted. */
export function softmaxXentGrad(logits: Tensor, labels: Tensor, weights: Tensor | null = null): Tensor {
  const [n, c] = checkXent(logits, labels, weights);
  const grad = emptyLike(logits, [n, c]);
  native.softmaxXent(logits.handle, labels.handle, weights ? weights.handle : null, null, grad.handle, n, c);
  return grad;
}

/**
 * JVP of softmaxXentGrad for k tangents: out[t,i] = w_i (diag p − p pᵀ) dz[t,i] + dw[t,i] (p_i − e_{y_i}).
 * dLogits: [k, n, c] or null; dWeights: [k, n] or null.
 */
export function softmaxXentGradJvp(
  logits: Tensor, labels: Tensor, weights: Tensor | null, dLogits: Tensor | null, dWeights: Tensor | null, k: number,
): Tensor {
  const [n, c] = checkXent(logits, labels, weights);
  assertInt(k, 'k');
  if (dLogits) {
    assertTensor(dLogits, 'dLogits');
    assertSameDType(logits, 'logits', dLogits, 'dLogits');
    if (dLogits.size !== k * n * c) throw new ShapeError(`argument 'dLogits' must have shape [${k}, ${n}, ${c}], got ${shapeToString(dLogits.shape)}`);
  }
  if (dWeights) {
    assertTensor(dWeights, 'dWeights');
    assertSameDType(logits, 'logits', dWeights, 'dWeights');
    if (dWeights.size !== k * n) throw new ShapeError(`argument 'dWeights' must have shape [${k}, ${n}], got ${shapeToString(dWeights.shape)}`);
  }
  const out = emptyLike(logits, [k, n, c]);
  native.softmaxXentJvp(logits.handle, labels.handle, weights ? weights.handle : null, dLogits ? dLogits.handle : null,
    dWeights ? dWeights.handle : null, out.handle, n, c, k);
  return out;
}
