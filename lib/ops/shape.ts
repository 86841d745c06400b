/** Differentiable shape and indexing ops. */
import * as K from '../kernels';
import { NEEDS_NOTHING, markLinear, record, setSlice, setVjpReads } from '../autodiff/engine';
import { ArgumentError, ShapeError } from '../errors/errors';
import { show } from '../errors/show';
import { Tensor, shapeToString } from '../tensor/tensor';
import { assertShapeArg, assertTensor, broadcastShapes, normAxis, sameShape } from '../tensor/validate';
import { liftTangent } from './lift';

/** A view with a new shape (one dim may be -1). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  assertTensor(x, 'x');
  const out = K.reshapeView(x, shape);
  return setVjpReads(markLinear(record(out, [x], 'reshape', (g) => [reshape(g, x.shape)], ([t]) => (t ? reshape(t, [t.shape[0], ...out.shape]) : null))), NEEDS_NOTHING);
}

export function permute(x: Tensor, perm: readonly number[]): Tensor {
  assertTensor(x, 'x');
  const out = K.permute(x, perm);
  const inverse = new Array<number>(perm.length);
  perm.forEach((p, i) => (inverse[p] = i));
  return record(out, [x], 'permute', (g) => [permute(g, inverse)], ([t]) => (t ? permute(t, [0, ...perm.map((p) => p + 1)]) : null));
}

/** Swaps the last two axes. */
export function transpose(x: Tensor): Tensor {
  assertTensor(x, 'x');
  if (x.rank < 2) throw new ShapeError(`transpose: argument 'x' must have rank >= 2, got ${shapeToString(x.shape)}`);
  const perm = x.shape.map((_, i) => i);
  [perm[x.rank - 2], perm[x.rank - 1]] = [perm[x.rank - 1], perm[x.rank - 2]];
  return permute(x, perm);
}

export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  assertTensor(x, 'x');
  const a = normAxis(axis, x.rank);
  const out = K.slice(x, a, start, end);
  const r = record(out, [x], 'slice', (g) => [padSlice(g, a, start, x.shape[a])], ([t]) => (t ? slice(t, a + 1, start, end) : null));
  return setSlice(r, { axis: a, start, length: x.shape[a] });
}

/** Zeros of length `length` along `axis` with x placed at `start` (the adjoint of slice). */
export function padSlice(x: Tensor, axis: number, start: number, length: number): Tensor {
  assertTensor(x, 'x');
  const a = normAxis(axis, x.rank);
  const shape = x.shape.slice();
  shape[a] = length;
  const out = K.fullLike(x, 0, shape);
  K.sliceAssign(out, x, a, start);
  const end = start + x.shape[a];
  return record(out, [x], 'padSlice', (g) => [slice(g, a, start, end)], ([t]) => (t ? padSlice(t, a + 1, start, length) : null));
}

/**
 * Σ padSlice(parts[i].x, axis, parts[i].start, length) for parts at disjoint offsets, built in one
 * buffer: a concatenation when they cover the axis, else zeros with the parts placed.
 */
export function assembleSlices(parts: readonly { x: Tensor; start: number }[], axis: number, length: number): Tensor {
  const sorted = [...parts].sort((p, q) => p.start - q.start);
  let end = 0;
  let covers = true;
  for (const p of sorted) {
    if (p.start < end) throw new ShapeError('assembleSlices: the parts overlap');
    if (p.start !== end) covers = false;
    end = p.start + p.x.shape[axis];
  }
  if (end > length) throw new ShapeError(`assembleSlices: the parts end at ${end}, beyond the length ${length}`);
  covers = covers && end === length;
  let out: Tensor;
  if (covers) {
    out = K.concat(sorted.map((p) => p.x), axis);
  } else {
    const shape = sorted[0].x.shape.slice();
    shape[axis] = length;
    out = K.fullLike(sorted[0].x, 0, shape);
    for (const p of sorted) K.sliceAssign(out, p.x, axis, p.start);
  }
  return record(out, sorted.map((p) => p.x), 'assembleSlices',
    (g) => sorted.map((p) => slice(g, axis, p.start, p.start + p.x.shape[axis])),
    (ts) => {
      const present = sorted.flatMap((p, i) => (ts[i] ? [{ x: ts[i]!, start: p.start }] : []));
      return present.length ? assembleSlices(present, axis + 1, length) : null;
    });
}

export function concat(xs: readonly Tensor[], axis: number): Tensor {
  const out = K.concat(xs, axis);
  const a = normAxis(axis, xs[0].rank);
  const offsets: number[] = [];
  let at = 0;
  for (const x of xs) {
    offsets.push(at);
    at += x.shape[a];
  }
  return record(out, xs, 'concat',
    (g) => xs.map((x, i) => slice(g, a, offsets[i], offsets[i] + x.shape[a])),
    (ts) => {
      const k = ts.find((t) => t)!.shape[0];
      return concat(ts.map((t, i) => t ?? K.fullLike(xs[i], 0, [k, ...xs[i].shape])), a + 1);
    });
}

/** Stacks same-shape tensors along a new leading axis. */
export function stack(xs: readonly Tensor[]): Tensor {
  if (!Array.isArray(xs) || xs.length === 0) throw new ArgumentError(`stack: argument 'xs' must be a non-empty array of tensors, got ${show(xs)}`);
  xs.forEach((x, i) => assertTensor(x, `xs[${i}]`));
  return concat(xs.map((x) => reshape(x, [1, ...x.shape])), 0);
}

/** Rows of x (axis 0) picked by int32 indices. */
export function gatherRows(x: Tensor, indices: Tensor): Tensor {
  assertTensor(x, 'x');
  const out = K.gatherRows(x, indices);
  return record(out, [x], 'gatherRows',
    (g) => [scatterAddRows(g, indices, x.shape[0])],
    ([t]) => (t ? swapFirstAxes(gatherRows(swapFirstAxes(t), indices)) : null));
}

/** Zeros with `rows` rows where row indices[i] accumulates x[i] (the adjoint of gatherRows). */
export function scatterAddRows(x: Tensor, indices: Tensor, rows: number): Tensor {
  assertTensor(x, 'x');
  const out = K.scatterAddRows(x, indices, rows);
  return record(out, [x], 'scatterAddRows',
    (g) => [gatherRows(g, indices)],
    ([t]) => (t ? swapFirstAxes(scatterAddRows(swapFirstAxes(t), indices, rows)) : null));
}

function swapFirstAxes(t: Tensor): Tensor {
  const perm = t.shape.map((_, i) => i);
  perm[0] = 1;
  perm[1] = 0;
  return permute(t, perm);
}
