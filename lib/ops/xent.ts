/**
 * Softmax cross-entropy as three differentiable primitives over the fused native kernels:
 *   ce    = xentLoss(z, y)                   per-row loss                      [n]
 *   G     = xentGrad(z, y, s)                s_i (p_i − e_{y_i})               [n, c]
 *   J     = xentGradJvp(z, y, s, dz, ds)     s_i H_i dz_i + ds_i (p_i − e_y)   [k, n, c]
 * Each one's derivative is the next, so gradients (order 1) and Hessian-vector products (order 2)
 * run entirely on fused kernels. Third derivatives with respect to the logits are not provided.
 */
import * as K from '../kernels';
import { record, recordWithTangent } from '../autodiff/engine';
import { implement } from '../autodiff/implementations';
import { RfhoError, ShapeError } from '../errors/errors';
import { Tensor, shapeToString } from '../tensor/tensor';
import { assertTensor, optionalTensor } from '../tensor/validate';
import { addTangents, mul } from './elementwise';
import { reshape } from './shape';
import { sum } from './broadcast';

export function xentLoss(z: Tensor, y: Tensor): Tensor {
  assertTensor(z, 'logits');
  assertTensor(y, 'labels');
  const node = (out: Tensor, g0: Tensor | null) => record(out, [z], 'xentLoss',
    (g) => [xentGrad(z, y, g, g0)],
    ([tz]) => (tz ? sum(mul(tz, xentGrad(z, y, null, g0)), -1) : null));
  return implement([z], {
    general: () => node(K.softmaxXentLoss(z, y), null),
    // One softmax pass also gives G0 = p − e_y, which both derivative rules reuse (a Reverse-HG
    // step otherwise ran the softmax five times).
    whenDifferentiated: () => {
      const r = K.softmaxXentLossAndGrad(z, y);
      return node(r.loss, r.grad);
    },
  });
}

/**
 * s_i (p_i − e_{y_i}). `unweighted` is G0 = p − e_y when the caller already has it (from the loss's
 * softmax pass); then the value costs one row scaling instead of a softmax.
 */
export function xentGrad(z: Tensor, y: Tensor, s: Tensor | null, unweighted: Tensor | null = null): Tensor {
  const [n, c] = z.shape;
  let out: Tensor;
  if (unweighted) {
    out = s ? K.binary('mul', unweighted, K.reshapeView(s, [n, 1])) : K.reshapeView(unweighted, [n, c]);
  } else {
    out = K.softmaxXentGrad(z, y, s);
  }
  const inputs = s ? [z, s] : [z];
  return record(out, inputs, 'xentGrad',
    (g) => {
      const dz = z.requiresGrad ? reshape(xentGradJvp(z, y, s, reshape(g, [1, n, c]), null), [n, c]) : null;
      const ds = s && s.requiresGrad ? sum(mul(xentGrad(z, y, null, unweighted), g), -1) : null;
      return s ? [dz, ds] : [dz];
    },
    ([tz, ts]) => {
      const k = (tz ?? ts)!.shape[0];
      return xentGradJvp(z, y, s, tz ?? null, ts ?? null, k);
    });
}

export function xentGradJvp(z: Tensor, y: Tensor, s: Tensor | null, dz: Tensor | null, ds: Tensor | null, kArg?: number): Tensor {
  const k = kArg ?? (dz ?? ds)!.shape[0];
  const out = K.softmaxXentGradJvp(z, y, s, dz, ds, k);
  const [n, c] = z.shape;
  const thirdOrder = () =>
    new RfhoError('third derivatives of softmax cross-entropy with respect to the logits are not supported');
  const inputs: Tensor[] = [z];
  const slots: ('z' | 's' | 'dz' | 'ds')[] = ['z'];
  if (s) { inputs.push(s); slots.push('s'); }
  if (dz) { inputs.push(dz); slots.push('dz'); }
  if (ds) { inputs.push(ds); slots.push('ds'); }
  return record(out, inputs, 'xentGradJvp',
    (g) => slots.map((slot) => {
      switch (slot) {
        case 'z':
          if (z.requiresGrad) throw thirdOrder();
          return null;
        case 's': // Σ_t,j g[t,i,j] (H_i dz[t,i])_j
          return dz ? sum(mul(g, xentGradJvp(z, y, null, dz, null, k)), [0, 2]) : null;
        case 'dz': // H symmetric
          return xentGradJvp(z, y, s, g, null, k);
        case 'ds':
          return sum(mul(g, xentGrad(z, y, null)), -1);
      }
    }),
    (ts) => {
      let result: Tensor | null = null;
      slots.forEach((slot, i) => {
        const t = ts[i];
        if (!t) return;
        const k2 = t.shape[0];
        let term: Tensor;
        switch (slot) {
          case 'z':
            throw thirdOrder();
          case 's':
            if (!dz) return; // J depends on s only through s H dz
            term = mul(reshape(t, [k2, 1, n, 1]), xentGradJvp(z, y, null, dz, null, k));
            break;
          case 'dz':
            term = reshape(xentGradJvp(z, y, s, reshape(t, [k2 * k, n, c]), null, k2 * k), [k2, k, n, c]);
            break;
          case 'ds':
            term = reshape(xentGradJvp(z, y, null, null, reshape(t, [k2 * k, n]), k2 * k), [k2, k, n, c]);
            break;
        }
        result = addTangents(result, term);
      });
      return result;
    });
}

/**
 * Per-row softmax cross-entropy from logits [n, c] and int32 labels [n], multiplied by
 * per-row weights [n] when given. Returns [n]; reduce it with sum or mean.
 */
export function softmaxCrossEntropy(logits: Tensor, labels: Tensor, weights?: Tensor | null): Tensor {
  const w = optionalTensor(weights, 'weights');
  const ce = xentLoss(logits, labels);
  if (w && (w.rank !== 1 || w.size !== ce.size)) {
    ce.dispose();
    throw new ShapeError(`softmaxCrossEntropy: argument 'weights' must have shape [${ce.size}], got ${shapeToString(w.shape)}`);
  }
  return w ? mul(w, ce) : ce;
}

/*
 * scale · Σ_i w_i CE(x_i W + b, y_i) (w_i = 1 without weights) from one fused native pass over the
 * data matrix x (K.linearXent: its sparse layout, or x itself when dense), with the derivatives
 * that pass gives. Two implementations of `linearCrossEntropy` (models/losses), each null where
 * the backend has no such pass for these operands; arguments are checked by the caller.
 */

/**
 * The gradient with respect to W, b and the weights from the value's pass, handed back by the
 * reverse rule as constants (so valid only where that rule is never differentiated itself).
 */
export function linearXentWithGradient(x: Tensor, W: Tensor, b: Tensor, labels: Tensor, weights: Tensor | null, scale: number): Tensor | null {
  if (!(W.requiresGrad || b.requiresGrad || weights?.requiresGrad)) return null;
  const r = K.linearXent(x, W, b, labels, weights, scale);
  if (!r) return null;
  return record(K.full([], r.loss, { dtype: x.dtype }), weights ? [W, b, weights] : [W, b], 'linearCrossEntropy',
    (g) => [mul(g, r.gW), mul(g, r.gb), ...(weights ? [mul(g, mul(r.ce, scale))] : [])],
    () => {
      throw new RfhoError('internal: the fused linear cross-entropy was recorded under forward mode');
    });
}

/**
 * With directions on W, b and the weights (any of them), the pass gives the gradient's tangents,
 * and the reverse rule hands back cotangents whose tangents are those, recording nothing (valid only
 * where these tangents are never differentiated again: a Hessian-vector product, or Forward-HG's
 * tangent of a training step). Their primal, the gradient with respect to W and b, is computed by a
 * second pass only if the reverse sweep reads it (an HVP's own sweep never does; a function of the
 * loss whose cotangent carries a tangent does). The weights' primal, scale·CE, is free.
 */
export function linearXentWithGradientTangents(x: Tensor, W: Tensor, b: Tensor, labels: Tensor, weights: Tensor | null, scale: number): Tensor | null {
  if (!(W.requiresGrad || b.requiresGrad || weights?.requiresGrad)) return null;
  const anyTangent = W.tangent ?? b.tangent ?? weights?.tangent;
  if (!anyTangent) return null;
  const inputs = weights ? [W, b, weights] : [W, b];
  const k = anyTangent.shape[0];
  const [d, c] = W.shape;
  const dW = W.tangent ?? K.full([k, d, c], 0, { dtype: x.dtype }), db = b.tangent ?? K.full([k, c], 0, { dtype: x.dtype });
  const r = K.linearXent(x, W, b, labels, weights, scale, { dW, db, dWeights: weights?.tangent ?? null });
  if (!r) return null;
  let gradient: K.LinearXent | null = null; // the primal gradient: only if the sweep reads it
  const gradientOf = () => (gradient ??= K.linearXent(x, W, b, labels, weights, scale)!);
  // a cotangent g·∂ with tangent g·d∂ (+ dg·∂ when g carries a tangent): no reverse node, since
  // these tangents are leaves
  const cotangent = (unused: boolean, g: Tensor, primal: () => Tensor, dPrimal: Tensor): Tensor => {
    const p = !unused || g.tangent ? primal() : null;
    const value = p ? K.binary('mul', p, g) : K.fullLike(dPrimal, 0, dPrimal.shape.slice(1));
    let tangent = K.binary('mul', dPrimal, g);
    if (g.tangent) tangent = K.binary('add', tangent, K.binary('mul', K.reshapeView(g.tangent, [k, ...value.shape.map(() => 1)]), p!));
    return recordWithTangent(value, [], 'linearCrossEntropy.cotangent', () => [], tangent);
  };
  const loss = K.full([], r.loss, { dtype: x.dtype });
  const lossTangent = K.tensor(Float64Array.from(r.dLoss), [k], { dtype: x.dtype });
  return recordWithTangent(loss, inputs, 'linearCrossEntropy', (g, unused) => {
    return [
      W.requiresGrad ? cotangent(!!unused?.[0], g, () => gradientOf().gW, r.gW) : null,
      b.requiresGrad ? cotangent(!!unused?.[1], g, () => gradientOf().gb, r.gb) : null,
      ...(weights ? [weights.requiresGrad ? cotangent(!!unused?.[2], g, () => K.binaryScalar('mul', r.ce, scale), K.binaryScalar('mul', r.r!, scale)) : null] : []),
    ];
  }, lossTangent);
}
