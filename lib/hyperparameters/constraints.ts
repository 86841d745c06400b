/**
 * Constraints on hyperparameters, each with its exact Euclidean projection (computed in float64 on
 * the host: hyperparameter vectors are small next to the model, and exactness matters more).
 */
import * as K from '../kernels';
import { ArgumentError } from '../errors/errors';
import { show } from '../errors/show';
import { assertTensor } from '../tensor/validate';
import { Tensor } from '../tensor/tensor';

export interface Constraint {
  readonly name: string;
  /** the nearest point of the feasible set, in the Euclidean norm */
  projectArray(x: Float64Array): Float64Array;
  /** a description for messages and logs */
  describe(): string;
}

/** Projects a tensor (a new tensor of the same dtype and shape). */
export function project(c: Constraint, x: Tensor): Tensor {
  if (c === null || typeof c !== 'object' || typeof c.projectArray !== 'function') throw new ArgumentError(`project: argument 'c' must be a constraint (rf.constraints), got ${show(c)}`);
  assertTensor(x, 'x');
  const y = c.projectArray(Float64Array.from(x.toArray()));
  return K.tensor(y, x.shape, { dtype: x.dtype, device: x.device });
}

function checkNumber(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ArgumentError(`constraint: '${name}' must be a finite number, got ${show(v)}`);
  return v;
}

function checkVector(x: unknown, fn: string): void {
  if (!(x instanceof Float64Array)) throw new ArgumentError(`${fn}: the vector must be a Float64Array, got ${show(x)}`);
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) throw new ArgumentError(`${fn}: the vector has ${x[i]} at ${i}`);
}

export const constraints = {
  /**
   * A task-interaction matrix: symmetric, non-negative, zero diagonal (an n × n matrix, row-major).
   * The Euclidean projection is exact entry by entry: each pair (j, k) appears twice, so the nearest
   * y_jk = y_kj ≥ 0 is max(0, (x_jk + x_kj) / 2); the diagonal is 0.
   */
  interactionMatrix(): Constraint {
    return {
      name: 'interactionMatrix',
      describe: () => 'A = Aᵀ, A >= 0, diag(A) = 0',
      projectArray: (x) => {
        const n = Math.round(Math.sqrt(x.length));
        if (n * n !== x.length) throw new ArgumentError(`constraint interactionMatrix: a square matrix is needed, got ${x.length} values`);
        const y = new Float64Array(x.length);
        for (let j = 0; j < n; j++) {
          for (let k = j + 1; k < n; k++) y[j * n + k] = y[k * n + j] = Math.max(0, (x[j * n + k] + x[k * n + j]) / 2);
        }
        return y;
      },
    };
  },
  /** x ≥ 0 */
  nonNegative(): Constraint {
    return { name: 'nonNegative', describe: () => 'x >= 0', projectArray: (x) => x.map((v) => (v > 0 ? v : 0)) };
  },
  /** lo ≤ x ≤ hi */
  box(lo: number, hi: number): Constraint {
    checkNumber(lo, 'lo');
    checkNumber(hi, 'hi');
    if (lo > hi) throw new ArgumentError(`constraint box: 'lo' (${lo}) must not exceed 'hi' (${hi})`);
    return { name: 'box', describe: () => `${lo} <= x <= ${hi}`, projectArray: (x) => x.map((v) => Math.min(hi, Math.max(lo, v))) };
  },
  /** { x ≥ 0, Σx = radius } */
  simplex(radius = 1): Constraint {
    checkNumber(radius, 'radius');
    if (radius <= 0) throw new ArgumentError(`constraint simplex: 'radius' must be positive, got ${radius}`);
    return { name: 'simplex', describe: () => `x >= 0, sum(x) = ${radius}`, projectArray: (x) => projectSimplex(x, radius) };
  },
  /** { 0 ≤ x ≤ 1, Σx ≤ R } — the hyper-cleaning constraint. */
  cappedSimplex(R: number): Constraint {
    checkNumber(R, 'R');
    if (R < 0) throw new ArgumentError(`constraint cappedSimplex: 'R' must be non-negative, got ${R}`);
    return { name: 'cappedSimplex', describe: () => `0 <= x <= 1, sum(x) <= ${R}`, projectArray: (x) => projectCappedSimplex(x, R) };
  },
};

/** Duchi et al. (2008): sort, find the threshold θ with Σ max(x − θ, 0) = r. */
export function projectSimplex(x: Float64Array, r: number): Float64Array {
  checkVector(x, 'projectSimplex');
  if (checkNumber(r, 'r') <= 0) throw new ArgumentError(`projectSimplex: argument 'r' must be positive, got ${show(r)}`);
  const u = Float64Array.from(x).sort().reverse();
  let cumsum = 0;
  let theta = 0;
  for (let i = 0; i < u.length; i++) {
    cumsum += u[i];
    const t = (cumsum - r) / (i + 1);
    if (u[i] - t > 0) theta = t;
  }
  return x.map((v) => Math.max(v - theta, 0));
}

/**
 * Projection onto { 0 ≤ x ≤ 1, Σx ≤ R }. If clipping to [0, 1] already satisfies the sum, that is
 * the answer; otherwise the KKT conditions give x = clip(y − τ, 0, 1) with τ > 0 solving
 * Σ clip(y − τ, 0, 1) = R. That sum is piecewise linear and non-increasing in τ with breakpoints
 * at y_i and y_i − 1: sort them, find the segment, solve exactly.
 */
export function projectCappedSimplex(y: Float64Array, R: number): Float64Array {
  checkVector(y, 'projectCappedSimplex');
  if (checkNumber(R, 'R') < 0) throw new ArgumentError(`projectCappedSimplex: argument 'R' must be non-negative, got ${show(R)}`);
  const clip = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);
  let s0 = 0;
  for (const v of y) s0 += clip(v);
  if (s0 <= R) return y.map(clip);
  const sumAt = (tau: number) => {
    let s = 0;
    for (const v of y) s += clip(v - tau);
    return s;
  };
  const bps = Array.from(new Set([...y, ...Array.from(y, (v) => v - 1)].filter((b) => b > 0))).sort((a, b) => a - b);
  // Find consecutive breakpoints lo < hi with sumAt(lo) ≥ R ≥ sumAt(hi); the sum is linear between.
  let lo = 0;
  let sLo = s0;
  for (const hi of bps) {
    const sHi = sumAt(hi);
    if (sHi <= R) {
      const tau = sLo === sHi ? hi : lo + ((sLo - R) * (hi - lo)) / (sLo - sHi);
      return y.map((v) => clip(v - tau));
    }
    lo = hi;
    sLo = sHi;
  }
  return y.map((v) => clip(v - lo)); // unreachable: the sum reaches 0 at the largest breakpoint
}
