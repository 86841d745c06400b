/**
 * The implicit hypergradient: conjugate gradients on Hessian-vector products at the final iterate.
 */
import * as K from '../../kernels';
import { hvp, vjp } from '../../autodiff/transforms';
import { ArgumentError, DivergenceError, RfhoError } from '../../errors/errors';
import { tidy } from '../../tensor/scope';
import { Tensor } from '../../tensor/tensor';
import { show } from '../../errors/show';
import { weightsOf } from '../../dynamics/dynamics';
import { HyperRecord } from '../../hyperparameters/hyperparameter';
import { Problem } from '../problem';
import { checkSliceOptions, runInSlices, runToEnd, SliceOptions, Stepwise } from '../../util/stepwise';
import { checkCall, disposeAll, finishGrads, horizon, HypergradientOptions, HypergradientResult, initialState, record, trainStep } from './common';

export interface ImplicitOptions extends HypergradientOptions {
  /** conjugate-gradient relative residual tolerance (default 1e-10) */
  tol?: number;
  /** conjugate-gradient iteration cap (default 200) */
  maxIter?: number;
  /** the inner loss whose stationarity defines w*(λ) (default: the training loss of the last step) */
  loss?: (w: Tensor, h: HyperRecord) => Tensor;
}

export interface ImplicitResult extends HypergradientResult {
  cg: { iterations: number; residual: number; converged: boolean };
}

/**
 * Implicit hypergradient at the final iterate (HOAG / hypertorch's CG): assumes ∇_w L(w_T, λ) ≈ 0.
 * Hyperparameters that only enter the dynamics (learning rate, momentum) do not move the
 * stationary point, and get a zero hypergradient here.
 */
export function implicitHG(problem: Problem, opts: ImplicitOptions): ImplicitResult {
  return runToEnd(implicitHGSteps(problem, opts));
}

/** The implicit hypergradient without holding the event loop: yields between training steps and CG iterations. */
export function implicitHGAsync(problem: Problem, opts: ImplicitOptions & SliceOptions): Promise<ImplicitResult> {
  checkSliceOptions(opts, 'implicitHGAsync');
  return runInSlices(implicitHGSteps(problem, opts), opts);
}

/** The implicit hypergradient as a stepwise computation. */
export function* implicitHGSteps(problem: Problem, opts: ImplicitOptions): Stepwise<ImplicitResult> {
  checkCall(problem, opts, 'implicitHG');
  const { max, done } = horizon(opts);
  const check = opts.checkFinite !== false;
  const tol = opts.tol ?? 1e-10;
  const maxIter = opts.maxIter ?? 200;
  if (typeof tol !== 'number' || !(tol > 0) || !Number.isFinite(tol)) throw new ArgumentError(`argument 'tol' must be a positive number, got ${show(tol)}`);
  if (typeof maxIter !== 'number' || !Number.isSafeInteger(maxIter) || maxIter < 1) throw new ArgumentError(`argument 'maxIter' must be a positive integer, got ${show(maxIter)}`);
  if (opts.loss !== undefined && typeof opts.loss !== 'function') throw new ArgumentError(`argument 'loss' must be a function (w, h) => scalar tensor, got ${show(opts.loss)}`);
  const h = problem.current();
  const hyper = problem.names.map((n) => h[n]);
  let s = initialState(problem, h);
  let T = 0;
  // Everything held across yields, freed by `finally` unless handed to the caller.
  let w: Tensor | null = null, q: Tensor | null = null, r: Tensor | null = null, p: Tensor | null = null;
  let ogw: { value: number; errors: { [name: string]: number }; dW: Tensor; dH: Tensor[] } | null = null;
  let finished = false;
  try {
    while (T < max) {
      const next = trainStep(problem, s, h, T + 1, check);
      s.dispose();
      s = next;
      T++;
      opts.onStep?.(T);
      if (done(T, s)) break;
      yield;
    }
    const lastT = Math.max(T, 1);
    const innerLoss = (x: Tensor, hr: HyperRecord) => (opts.loss ? opts.loss(x, problem.guard(hr)) : problem.trainLoss(x, hr, lastT));
    const state = s;
    w = tidy(() => K.clone(weightsOf(state, problem.dynamics.slots)));
    const wT = w;
    ogw = tidy(() => {
      let errors: { [name: string]: number } = {};
      const res = vjp((x: Tensor, ...hv: Tensor[]) => {
        const hr = record(problem, hv);
        errors = Object.fromEntries(Object.entries(problem.validationErrorsAtWeights(x, hr)).map(([k, e]) => [k, e.item()]));
        return problem.objectiveAtWeights(x, hr);
      }, [wT, ...hyper]);
      const gs = res.grads as Tensor[];
      return { value: res.value.item(), errors, dW: gs[0], dH: gs.slice(1) };
    });
    // Conjugate gradients on H q = ∂E/∂w with H the Hessian of the inner loss in w.
    const Hv = (v: Tensor) => tidy(() => hvp((x: Tensor) => innerLoss(x, h), wT, v) as Tensor);
    const b = ogw.dW;
    q = K.fullLike(b, 0);
    r = K.clone(b);
    p = K.clone(r);
    let rr = K.dot(r, r);
    const bnorm = Math.sqrt(K.dot(b, b)) || 1;
    let it = 0;
    let converged = Math.sqrt(rr) <= tol * bnorm;
    while (!converged && it < maxIter) {
      yield;
      const Ap = Hv(p);
      const pAp = K.dot(p, Ap);
      if (!(pAp > 0)) {
        Ap.dispose();
        throw new RfhoError(`implicit hypergradient: the Hessian is not positive definite along the CG direction (pᵀHp = ${pAp}) at iteration ${it}; train longer or add an L2 term`);
      }
      const a = rr / pAp;
      const q2 = K.axpby(1, q, a, p);
      const r2 = K.axpby(1, r, -a, Ap);
      Ap.dispose();
      q.dispose();
      r.dispose();
      q = q2;
      r = r2;
      const rr2 = K.dot(r, r);
      const p2 = K.axpby(1, r, rr2 / rr, p);
      p.dispose();
      p = p2;
      rr = rr2;
      it++;
      converged = Math.sqrt(rr) <= tol * bnorm;
    }
    // Mixed term: the λ-blocks of the joint Hessian times (q, 0).
    const qT = q;
    const mixed = tidy(() => {
      const zeros = hyper.map((x) => K.fullLike(x, 0));
      const blocks = hvp((x: Tensor, ...hv: Tensor[]) => innerLoss(x, record(problem, hv)), [wT, ...hyper], [qT, ...zeros]) as Tensor[];
      return blocks.slice(1);
    });
    const acc = ogw.dH.map((g, i) => K.axpby(1, g, -1, mixed[i]));
    disposeAll(mixed);
    const residual = Math.sqrt(rr) / bnorm;
    if (check && !Number.isFinite(residual)) {
      disposeAll(acc);
      throw new DivergenceError(`implicit hypergradient: the CG residual is ${residual}`, T, 'CG residual');
    }
    const grads = finishGrads(problem, acc, check);
    finished = true;
    return {
      grads,
      value: ogw.value,
      errors: ogw.errors,
      state: s,
      steps: T,
      stats: { forwardSteps: T, recomputedSteps: 0, peakTrajectoryBytes: 0 },
      cg: { iterations: it, residual, converged },
    };
  } finally {
    disposeAll([q, r, p, w, ...(ogw ? [ogw.dW, ...ogw.dH] : [])]);
    if (!finished) disposeAll([s]);
  }
}
