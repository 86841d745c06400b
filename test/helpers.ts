/** Test helpers: a seeded JS generator, reference arithmetic, closeness checks, finite differences. */
import * as assert from 'node:assert/strict';
import * as rf from '../lib';
import * as KI from '../lib/kernels';
import { Tensor } from '../lib';

/** The seeded generator of lib/data (Mulberry32), for test data. */
export const rng = rf.data.seededRandom;

export function randomArray(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  const r = rng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

/** Row-major strides of a shape. */
export function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let p = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = p;
    p *= shape[i];
  }
  return s;
}

/** The multi-index of flat position i in a row-major shape. */
export function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}

export function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function rand(shape: readonly number[], seed: number, dtype: rf.DType = 'float64', lo = -1, hi = 1): Tensor {
  return rf.tensor(randomArray(size(shape), seed, lo, hi), shape, { dtype });
}

export function tolFor(dtype: rf.DType): number {
  return dtype === 'float64' ? 1e-12 : 1e-5;
}

/** Max relative error |a − b| / max(1, |b|) style check, elementwise. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what = 'value'): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} vs ${expected.length}`);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  scale = Math.max(scale, 1e-300);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    if (Number.isNaN(e)) {
      assert.ok(Number.isNaN(a), `${what}[${i}]: expected NaN, got ${a}`);
      continue;
    }
    const err = Math.abs(a - e) / Math.max(Math.abs(e), scale * 1e-3, 1e-300);
    if (!(err <= tol) && !(Math.abs(a - e) <= tol * 1e-3)) {
      assert.fail(`${what}[${i}]: got ${a}, expected ${e} (relative error ${err.toExponential(2)} > ${tol})`);
    }
  }
}

export function assertScalarClose(actual: number, expected: number, tol: number, what = 'value'): void {
  const err = Math.abs(actual - expected) / Math.max(Math.abs(expected), 1e-12);
  assert.ok(err <= tol, `${what}: got ${actual}, expected ${expected} (relative error ${err.toExponential(2)} > ${tol})`);
}

export function arr(t: Tensor): number[] {
  return Array.from(t.toArray());
}

/** Σ a_i b_i in float64 JS. */
export function jsDot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/**
 * Central finite difference of f (a function of tensors returning a tensor) at xs along vs:
 * (f(x + h v) − f(x − h v)) / 2h, as a flat float64 array.
 */
export function finiteDiff(f: (...xs: Tensor[]) => Tensor, xs: Tensor[], vs: Tensor[], h = 1e-6): Float64Array {
  const shifted = (sgn: number) =>
    rf.tidy(() => {
      const moved = xs.map((x, i) => KI.axpby(1, x, sgn * h, vs[i]));
      return Float64Array.from(f(...moved).toArray());
    });
  const plus = shifted(1), minus = shifted(-1);
  return plus.map((p, i) => (p - minus[i]) / (2 * h));
}
