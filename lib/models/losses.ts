/** Losses, penalties and metrics, written with differentiable ops. */
import * as K from '../kernels';
import { ArgumentError, ShapeError } from '../errors/errors';
import { Tensor, shapeToString } from '../tensor/tensor';
import { assertFloat, assertOneOf, assertOptions, assertSameDType, assertTensor, optionalTensor } from '../tensor/validate';
import { abs, add, mul, softplus, square, sub } from '../ops/elementwise';
import { matmul } from '../ops/linalg';
import { mean, sum } from '../ops/reduce';
import { implement } from '../autodiff/implementations';
import { linearXentWithGradient, linearXentWithGradientTangents, softmaxCrossEntropy } from '../ops/xent';

export type Reduction = 'mean' | 'sum' | 'none';

/** The reduction an options argument names, checked before anything is computed. */
function reductionOf(options: unknown): Reduction {
  const opts = assertOptions<{ reduction?: Reduction }>(options);
  return assertOneOf(opts.reduction ?? 'mean', ['mean', 'sum', 'none'] as const, 'reduction');
}

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
export function crossEntropy(logits: Tensor, labels: Tensor, options?: { weights?: Tensor | null; reduction?: Reduction }): Tensor {
  const opts = assertOptions<{ weights?: Tensor | null; reduction?: Reduction }>(options);
  const reduction = reductionOf(opts);
  return reduce(softmaxCrossEntropy(logits, labels, optionalTensor(opts.weights, 'weights')), reduction);
}

/**
 * The cross-entropy of a linear softmax model, crossEntropy(x W + b, labels, opts): x [n, d],
 * W [d, c], b [c]. The same value and derivatives as composing it. Over a float32 data matrix kept
 * sparse, with at most 16 classes, the two derivatives a Reverse-HG step asks for each come from
 * one fused native pass over the data instead of two sparse products and several elementwise
 * kernels: a first-order gradient (the training step) and a Hessian-vector product along up to 4
 * directions of (W, b) (the reverse step, including the mixed term for the weights). Anything
 * else — directions on the weights (Forward-HG), grad of grad, jvp, float64 — is the composite.
 * Both passes read the data once where the composite reads it several times (bench/RESULTS.md, hc).
 */
export function linearCrossEntropy(x: Tensor, W: Tensor, b: Tensor, labels: Tensor, options?: { weights?: Tensor | null; reduction?: Reduction }): Tensor {
  const opts = assertOptions<{ weights?: Tensor | null; reduction?: Reduction }>(options);
  for (const [t, name] of [[x, 'x'], [W, 'W'], [b, 'b']] as const) {
    assertTensor(t, name);
    assertFloat(t, name);
  }
  assertSameDType(x, 'x', W, 'W');
  assertSameDType(x, 'x', b, 'b');
  if (x.rank !== 2 || W.rank !== 2 || x.shape[1] !== W.shape[0] || b.rank !== 1 || b.shape[0] !== W.shape[1]) {
    throw new ShapeError(`linearCrossEntropy: expected x [n, d], W [d, c], b [c], got x ${shapeToString(x.shape)}, W ${shapeToString(W.shape)}, b ${shapeToString(b.shape)}`);
  }
  const n = x.shape[0];
  assertTensor(labels, 'labels');
  if (labels.dtype !== 'int32' || labels.rank !== 1 || labels.size !== n) {
    throw new ShapeError(`linearCrossEntropy: 'labels' must be an int32 tensor of shape [${n}], got ${labels.dtype} ${shapeToString(labels.shape)}`);
  }
  const weights = optionalTensor(opts.weights, 'weights');
  if (weights) {
    assertSameDType(x, 'x', weights, 'weights');
    if (weights.rank !== 1 || weights.size !== n) throw new ShapeError(`linearCrossEntropy: 'weights' must have shape [${n}], got ${shapeToString(weights.shape)}`);
  }
  const reduction = reductionOf(opts);
  const composite = () => crossEntropy(add(matmul(x, W), b), labels, { weights, reduction });
  if (reduction !== 'mean' && reduction !== 'sum') return composite();
  const scale = reduction === 'mean' ? 1 / n : 1;
  return implement([x, W, b, weights], {
    general: composite,
    fusedGradient: () => linearXentWithGradient(x, W, b, labels, weights, scale),
    fusedGradientTangents: () => linearXentWithGradientTangents(x, W, b, labels, weights, scale),
  });
}

/** Binary cross-entropy with logits: softplus(z) − y z (stable for any z). */
export function binaryCrossEntropy(logits: Tensor, targets: Tensor, opts?: { reduction?: Reduction }): Tensor {
  const reduction = reductionOf(opts);
  assertTensor(logits, 'logits');
  assertTensor(targets, 'targets');
  if (logits.size !== targets.size) throw new ShapeError(`binaryCrossEntropy: 'logits' ${shapeToString(logits.shape)} and 'targets' ${shapeToString(targets.shape)} differ`);
  return reduce(sub(softplus(logits), mul(targets, logits)), reduction);
}

/** ½ (pred − target)² per element (mean over elements by default). */
export function squaredError(pred: Tensor, target: Tensor, opts?: { reduction?: Reduction }): Tensor {
  const reduction = reductionOf(opts);
  return reduce(mul(square(sub(pred, target)), 0.5), reduction);
}

/** ½ c ‖w‖² ; c may be a number or a tensor broadcasting against w (per-weight coefficients). */
export function l2Penalty(w: Tensor, coefficient: Tensor | number): Tensor {
  assertTensor(w, 'w');
  return sum(mul(mul(square(w), 0.5), coefficient));
}

/** c ‖w‖₁. Its derivative uses sign(w), taking 0 at w = 0 (the minimum-norm subgradient). */
export function l1Penalty(w: Tensor, coefficient: Tensor | number): Tensor {
  assertTensor(w, 'w');
  return sum(mul(abs(w), coefficient));
}

/** Fraction of rows whose largest logit is the label (a number; not differentiable). */
export function accuracy(logits: Tensor, labels: Tensor): number {
  assertTensor(logits, 'logits');
  assertTensor(labels, 'labels');
  if (labels.dtype !== 'int32') throw new ArgumentError(`accuracy: argument 'labels' must be an int32 tensor, got ${labels.dtype}`);
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
