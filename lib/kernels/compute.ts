/**
 * Thin validated wrappers over the native kernels: each takes tensors, checks them, allocates the
 * output and calls the addon once (or a few times). Not differentiable: lib/ops builds on these.
 */
import { native } from '../native/binding';
import { ArgumentError, ShapeError } from '../errors/errors';
import { show } from '../errors/show';
import { Tensor, shapeToString, sizeOf } from '../tensor/tensor';
import {
  assertFloat, assertInt, assertSameDType, assertTensor, broadcastShapes, normAxis, sameShape,
} from '../tensor/validate';
import { emptyLike } from './creation';

export const UNARY = {
  neg: 0, exp: 1, log: 2, tanh: 3, sigmoid: 4, relu: 5, square: 6, sqrt: 7, abs: 8, reciprocal: 9,
  step: 10, sign: 11, softplus: 12, copy: 13,
} as const;
export type UnaryName = keyof typeof UNARY;
export const BINARY = { add: 0, sub: 1, mul: 2, div: 3, maximum: 4, minimum: 5, pow: 6, greater: 7 } as const;
export type BinaryName = keyof typeof BINARY;

export function unary(op: UnaryName, x: Tensor): Tensor {
  if (typeof op !== 'string' || !Object.hasOwn(UNARY, op)) throw new ArgumentError(`argument 'op' must be one of ${Object.keys(UNARY).join(', ')}, got ${show(op)}`);
  assertTensor(x, 'x');
  assertFloat(x, 'x');
  const out = emptyLike(x);
  native.unary(UNARY[op], x.handle, out.handle);
  return out;
}

/** a op b with broadcasting; `into` (the result's shape, may be a itself): written there. */
export function binary(op: BinaryName, a: Tensor, b: Tensor, into?: Tensor): Tensor {
  if (typeof op !== 'string' || !Object.hasOwn(BINARY, op)) throw new ArgumentError(`argument 'op' must be one of ${Object.keys(BINARY).join(', ')}, got ${show(op)}`);
  assertTensor(a, 'a');
  assertTensor(b, 'b');
  assertFloat(a, 'a');
  assertSameDType(a, 'a', b, 'b');
  const shape = sameShape(a.shape, b.shape) ? a.shape : broadcastShapes(a.shape, b.shape);
  const out = into ? intoTensor(into, a, shape) : emptyLike(a, shape);
  native.binary(BINARY[op], a.handle, a.shape, b.handle, b.shape, out.handle);
  return out;
}

/** op(a, s) or, with scalarFirst, op(s, a). */
export function binaryScalar(op: BinaryName, a: Tensor, s: number, scalarFirst = false): Tensor {
  assertTensor(a, 'a');
  assertFloat(a, 'a');
  if (typeof s !== 'number') throw new ArgumentError(`argument 'scalar' must be a number, got ${show(s)}`);
  if (typeof op !== 'string' || !Object.hasOwn(BINARY, op)) throw new ArgumentError(`argument 'op' must be one of ${Object.keys(BINARY).join(', ')}, got ${show(op)}`);
  const out = emptyLike(a);
  native.binaryScalar(BINARY[op], a.handle, s, scalarFirst, out.handle);
  return out;
}

/** x broadcast to `shape` (a copy). */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  assertTensor(x, 'x');
  const b = broadcastShapes(x.shape, shape, 'x', 'shape');
  if (!sameShape(b, shape)) throw new ShapeError(`argument 'x' ${shapeToString(x.shape)} cannot be broadcast to ${shapeToString(shape)}`);
  const out = emptyLike(x, shape);
  native.expand(x.handle, x.shape, out.handle, shape);
  return out;
}

/** alpha x + beta y in one pass (y optional): the fused update of optimizer steps. */
export function axpby(alpha: number, x: Tensor, beta = 0, y: Tensor | null = null, out?: Tensor): Tensor {
  assertTensor(x, 'x');
  assertFloat(x, 'x');
  if (y) {
    assertTensor(y, 'y');
    assertSameDType(x, 'x', y, 'y');
    if (!sameShape(x.shape, y.shape)) throw new ShapeError(`axpby: 'x' ${shapeToString(x.shape)} and 'y' ${shapeToString(y.shape)} must have the same shape`);
  }
  const o = out ?? emptyLike(x);
  if (out) {
    assertTensor(out, 'out');
    assertSameDType(x, 'x', out, 'out');
    if (!sameShape(out.shape, x.shape)) throw new ShapeError(`axpby: 'out' ${shapeToString(out.shape)} must have the shape of 'x' ${shapeToString(x.shape)}`);
  }
  if (out) out.storage.invalidateDerived(); // written in place
  native.axpby(alpha, x.handle, beta, y ? y.handle : null, o.handle);
  return o;
}

export function normAxes(axes: number | readonly number[] | undefined | null, rank: number): number[] {
  if (axes === undefined || axes === null) return Array.from({ length: rank }, (_, i) => i);
  if (typeof axes !== 'number' && !Array.isArray(axes)) throw new ArgumentError(`argument 'axes' must be an axis or an array of axes, got ${show(axes)}`);
  const list = typeof axes === 'number' ? [axes] : Array.from(axes);
  const out = list.map((a) => normAxis(a, rank, 'axes'));
  if (new Set(out).size !== out.length) throw new ArgumentError(`argument 'axes' repeats an axis: [${list.join(', ')}]`);
  return out.sort((p, q) => p - q);
}

export function reducedShape(shape: readonly number[], axes: readonly number[], keepDims: boolean): number[] {
  const out: number[] = [];
  shape.forEach((d, i) => {
    if (!axes.includes(i)) out.push(d);
    else if (keepDims) out.push(1);
  });
  return out;
}

/** Sum or max over `axes` (all when omitted). */
export function reduce(op: 'sum' | 'max', x: Tensor, axes?: number | readonly number[] | null, keepDims = false): Tensor {
  if (op !== 'sum' && op !== 'max') throw new ArgumentError(`reduce: argument 'op' must be 'sum' or 'max', got ${show(op)}`);
  if (typeof keepDims !== 'boolean') throw new ArgumentError(`reduce: argument 'keepDims' must be a boolean, got ${show(keepDims)}`);
  assertTensor(x, 'x');
  assertFloat(x, 'x');
  const ax = normAxes(axes, x.rank);
  if (op === 'max' && x.size === 0) throw new ShapeError(`max: argument 'x' ${shapeToString(x.shape)} is empty`);
  const out = emptyLike(x, reducedShape(x.shape, ax, keepDims));
  native.reduce(op === 'sum' ? 0 : 1, x.handle, x.shape, ax, out.handle);
  return out;
}

/** Index of the largest entry along `axis` (int32). */
export function argmax(x: Tensor, axis = -1): Tensor {
  assertTensor(x, 'x');
  assertFloat(x, 'x');
  const a = normAxis(axis, x.rank);
  if (x.shape[a] === 0) throw new ShapeError(`argmax: axis ${a} of ${shapeToString(x.shape)} is empty`);
  const out = emptyLike(x, reducedShape(x.shape, [a], false), 'int32');
  native.argmax(x.handle, x.shape, a, out.handle);
  return out;
}

/** Σ a_i b_i over all elements (same shapes), as a JS number. */
export function dot(a: Tensor, b: Tensor): number {
  assertTensor(a, 'a');
  assertTensor(b, 'b');
  assertFloat(a, 'a');
  assertSameDType(a, 'a', b, 'b');
  if (a.size !== b.size) throw new ShapeError(`dot: 'a' ${shapeToString(a.shape)} and 'b' ${shapeToString(b.shape)} differ in size`);
  return native.dot(a.handle, b.handle);
}

/** A view with another shape (same data, same number of elements). One dim may be -1. */
export function reshapeView(x: Tensor, shape: readonly number[]): Tensor {
  assertTensor(x, 'x');
  if (!Array.isArray(shape)) throw new ArgumentError(`reshape: argument 'shape' must be an array of dimensions, got ${show(shape)}`);
  const s = Array.from(shape);
  if (s.filter((d) => d === -1).length > 1) throw new ShapeError(`reshape: argument 'shape' ${show(shape)} has more than one -1`);
  const neg = s.indexOf(-1);
  if (neg >= 0) {
    const rest = sizeOf(s.filter((_, i) => i !== neg));
    if (rest === 0 || x.size % rest !== 0) throw new ShapeError(`reshape: cannot infer -1 in ${shapeToString(s)} for ${x.size} elements`);
    s[neg] = x.size / rest;
  }
  for (const d of s) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) throw new ShapeError(`reshape: argument 'shape' ${show(shape)} must contain non-negative integers`);
  }
  if (sizeOf(s) !== x.size) throw new ShapeError(`reshape: cannot view ${shapeToString(x.shape)} (${x.size} elements) as ${shapeToString(s)}`);
  return new Tensor(x.storage, s);
}

export function permute(x: Tensor, perm: readonly number[]): Tensor {
  assertTensor(x, 'x');
  if (!Array.isArray(perm)) throw new ArgumentError(`permute: argument 'perm' must be an array of axes, got ${show(perm)}`);
  if (perm.length !== x.rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new ArgumentError(`permute: argument 'perm' ${show(perm)} is not a permutation of the ${x.rank} axes of ${shapeToString(x.shape)}`);
  }
  const out = emptyLike(x, perm.map((p) => x.shape[p]));
  native.permute(x.handle, x.shape, perm, out.handle);
  return out;
}

/** x[..., start:end, ...] along `axis` (a copy). */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  assertTensor(x, 'x');
  const a = normAxis(axis, x.rank);
  const len = x.shape[a];
  if (typeof start !== 'number' || !Number.isInteger(start) || start < 0 || start > len) {
    throw new ArgumentError(`slice: argument 'start' = ${show(start)} must be an integer in [0, ${len}] for axis ${a} of ${shapeToString(x.shape)}`);
  }
  if (typeof end !== 'number' || !Number.isInteger(end) || end < start || end > len) {
    throw new ArgumentError(`slice: argument 'end' = ${show(end)} must be an integer in [${start}, ${len}]: range [${start}, ${show(end)}) is invalid for axis ${a} of length ${len} in ${shapeToString(x.shape)}`);
  }
  const outer = sizeOf(x.shape.slice(0, a));
  const inner = sizeOf(x.shape.slice(a + 1));
  const shape = x.shape.slice();
  shape[a] = end - start;
  const out = emptyLike(x, shape);
  native.copy2d(x.handle, start * inner, len * inner, out.handle, 0, (end - start) * inner, outer, (end - start) * inner);
  return out;
}

/** Writes `src` into `dst` at [start, start + src.shape[axis]) along axis (in place). */
export function sliceAssign(dst: Tensor, src: Tensor, axis: number, start: number): void {
  assertTensor(dst, 'dst');
  assertTensor(src, 'src');
  assertSameDType(dst, 'dst', src, 'src');
  const a = normAxis(axis, dst.rank);
  const len = dst.shape[a];
  const piece = src.shape[a];
  const okShape = src.rank === dst.rank && src.shape.every((d, i) => i === a || d === dst.shape[i]);
  if (!okShape || start < 0 || start + piece > len) {
    throw new ShapeError(`sliceAssign: 'src' ${shapeToString(src.shape)} does not fit 'dst' ${shapeToString(dst.shape)} at ${start} along axis ${a}`);
  }
  const outer = sizeOf(dst.shape.slice(0, a));
  const inner = sizeOf(dst.shape.slice(a + 1));
  dst.storage.invalidateDerived(); // written in place
  native.copy2d(src.handle, 0, piece * inner, dst.handle, start * inner, len * inner, outer, piece * inner);
}

export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (!Array.isArray(xs) || xs.length === 0) throw new ArgumentError(`concat: argument 'xs' must be a non-empty array of tensors`);
  xs.forEach((x, i) => assertTensor(x, `xs[${i}]`));
  const first = xs[0];
  const a = normAxis(axis, first.rank);
  let total = 0;
  xs.forEach((x: Tensor, i: number) => {
    assertSameDType(first, 'xs[0]', x, `xs[${i}]`);
    if (x.rank !== first.rank || x.shape.some((d: number, j: number) => j !== a && d !== first.shape[j])) {
      throw new ShapeError(`concat: 'xs[${i}]' ${shapeToString(x.shape)} does not match 'xs[0]' ${shapeToString(first.shape)} outside axis ${a}`);
    }
    total += x.shape[a];
  });
  const shape = first.shape.slice();
  shape[a] = total;
  const out = emptyLike(first, shape);
  let at = 0;
  for (const x of xs) {
    sliceAssign(out, x, a, at);
    at += x.shape[a];
  }
  return out;
}

function checkIndices(indices: Tensor): void {
  assertTensor(indices, 'indices');
  if (indices.dtype !== 'int32') throw new ArgumentError(`argument 'indices' must be an int32 tensor, got ${indices.dtype}`);
  if (indices.rank !== 1) throw new ShapeError(`argument 'indices' must be 1-D, got ${shapeToString(indices.shape)}`);
}

/** Rows x[indices[i]] along axis 0. */
export function gatherRows(x: Tensor, indices: Tensor): Tensor {
  assertTensor(x, 'x');
  checkIndices(indices);
  if (x.rank < 1) throw new ShapeError(`gatherRows: argument 'x' must have rank >= 1`);
  const rowLen = sizeOf(x.shape.slice(1));
  const out = emptyLike(x, [indices.size, ...x.shape.slice(1)]);
  if (rowLen > 0) native.gatherRows(x.handle, indices.handle, out.handle, rowLen);
  return out;
}

/** out = zeros([rows, ...]); out[indices[i]] += x[i]. */
export function scatterAddRows(x: Tensor, indices: Tensor, rows: number): Tensor {
  assertTensor(x, 'x');
  checkIndices(indices);
  assertInt(rows, 'rows');
  if (x.rank < 1 || x.shape[0] !== indices.size) {
    throw new ShapeError(`scatterAddRows: 'x' ${shapeToString(x.shape)} must have one row per index (${indices.size})`);
  }
  const rowLen = sizeOf(x.shape.slice(1));
  const out = emptyLike(x, [rows, ...x.shape.slice(1)]);
  native.fill(out.handle, 0);
  if (rowLen > 0) native.scatterAddRows(x.handle, indices.handle, out.handle, rowLen);
  return out;
}

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

/**
 * Checks an output buffer given to an elementwise kernel: `like`'s dtype and device, the result's
 * shape. It may be an input itself (elementwise, each element read before it is written).
 */
function intoTensor(into: Tensor, like: Tensor, shape: readonly number[]): Tensor {
  assertTensor(into, 'into');
  assertSameDType(like, 'input', into, 'into');
  if (into.device !== like.device) throw new ArgumentError(`argument 'into' is on ${into.device}, the inputs on ${like.device}`);
  if (!sameShape(into.shape, shape)) throw new ShapeError(`argument 'into' must be ${shapeToString(shape)}, got ${shapeToString(into.shape)}`);
  into.storage.invalidateDerived(); // written in place
  return into;
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
