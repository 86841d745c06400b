/** Losses, penalties and metrics, written with differentiable ops. */
import * as K from '../kernels';
import { ArgumentError, ShapeError } from '../tensor/errors';
import { Tensor, shapeToString } from '../tensor/tensor';
import { assertTensor } from '../tensor/validate';
import { abs, mul, softplus, square, sub } from '../ops/elementwise';
import { mean, sum } from '../ops/reduce';
import { softmaxCrossEntropy } from '../ops/xent';

export type Reduction = 'mean' | 'sum' | 'none';

function reduce(x: Tensor, reduction: Reduction): Tensor {
  if (reduction === 'mean') return mean(x);
  if (reduction === 'sum') return sum(x);
  if (reduction === 'none') return x;
  throw new ArgumentError(`argument 'reduction' must be 'mean', 'sum' or 'none', got ${String(reduction)}`);
}

/**
 * Softmax cross-entropy from logits [n, c] and int32 labels [n] (fused kernel). With `weights` [n]
 * each row's loss is multiplied by its weight; 'mean' divides the weighted sum by n (not by Σw),
 * which is the hyper-cleaning objective (1/N) Σ λ_i CE_i.
 */
export function crossEntropy(logits: Tensor, labels: Tensor, opts: { weights?: Tensor | null; reduction?: Reduction } = {}): Tensor {
  return reduce(softmaxCrossEntropy(logits, labels, opts.weights ?? null), opts.reduction ?? 'mean');
}

/** Binary cross-entropy with logits: softplus(z) − y z (stable for any z). */
export function binaryCrossEntropy(logits: Tensor, targets: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  assertTensor(logits, 'logits');
  assertTensor(targets, 'targets');
  if (logits.size !== targets.size) throw new ShapeError(`binaryCrossEntropy: 'logits' ${shapeToString(logits.shape)} and 'targets' ${shapeToString(targets.shape)} differ`);
  return reduce(sub(softplus(logits), mul(targets, logits)), opts.reduction ?? 'mean');
}

/** ½ (pred − target)² per element (mean over elements by default). */
export function squaredError(pred: Tensor, target: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  return reduce(mul(square(sub(pred, target)), 0.5), opts.reduction ?? 'mean');
}

/** ½ c ‖w‖² ; c may be a number or a tensor broadcasting against w (per-weight coefficients). */
export function l2Penalty(w: Tensor, coefficient: Tensor | number): Tensor {
  return sum(mul(mul(square(w), 0.5), coefficient));
}

/** c ‖w‖₁. Its derivative uses sign(w), taking 0 at w = 0 (the minimum-norm subgradient). */
export function l1Penalty(w: Tensor, coefficient: Tensor | number): Tensor {
  return sum(mul(abs(w), coefficient));
}

/** Fraction of rows whose largest logit is the label (a number; not differentiable). */
export function accuracy(logits: Tensor, labels: Tensor): number {
  assertTensor(logits, 'logits');
  assertTensor(labels, 'labels');
  if (logits.rank !== 2 || labels.size !== logits.shape[0]) {
    throw new ShapeError(`accuracy: 'logits' must be [n, c] and 'labels' [n], got ${shapeToString(logits.shape)} and ${shapeToString(labels.shape)}`);
  }
  const am = K.argmax(logits, 1);
  const pred = am.toArray();
  am.dispose();
  const y = labels.toArray();
  let right = 0;
  for (let i = 0; i < y.length; i++) if (pred[i] === y[i]) right++;
  return y.length ? right / y.length : 0;
}
