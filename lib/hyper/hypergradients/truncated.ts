/**
 * Truncated Reverse-HG: the reverse sweep over the last K steps only.
 */
import * as K from '../../kernels';
import { ArgumentError } from '../../errors/errors';
import { keep } from '../../tensor/scope';
import { Tensor } from '../../tensor/tensor';
import { show } from '../../errors/show';
import { Problem } from '../problem';
import { checkSliceOptions, runInSlices, runToEnd, SliceOptions, Stepwise } from '../../util/stepwise';
import { accumulate, checkCall, disposeAll, finishGrads, horizon, HypergradientOptions, HypergradientResult, initialState, objectiveGradient, trainStep } from './common';
import { setKeptLogitsHorizon } from '../../kernels/keptLogits';
import { reverseHGSteps, withKeptLogits } from './reverse';
import { addInitialStateTerm, ReverseStep, reverseStepSteps } from './reverseStep';

export interface TruncatedOptions extends HypergradientOptions {
  /** reverse through the last K steps only */
  K: number;
}

/**
 * Truncated Reverse-HG: trains T steps but differentiates through the last K only (α_{T−K} and
 * Φ_0's term are dropped). K ≥ T gives Reverse-HG exactly.
 */
export function truncatedReverseHG(problem: Problem, opts: TruncatedOptions): HypergradientResult {
  return runToEnd(truncatedReverseHGSteps(problem, opts));
}

/** Truncated Reverse-HG without holding the event loop. */
export function truncatedReverseHGAsync(problem: Problem, opts: TruncatedOptions & SliceOptions): Promise<HypergradientResult> {
  checkSliceOptions(opts, 'truncatedReverseHGAsync');
  return runInSlices(truncatedReverseHGSteps(problem, opts), opts);
}

/** Truncated Reverse-HG as a stepwise computation (with kept logits, as Reverse-HG). */
export function* truncatedReverseHGSteps(problem: Problem, opts: TruncatedOptions): Stepwise<HypergradientResult> {
  checkCall(problem, opts, 'truncatedReverseHG');
  const Kt = opts?.K;
  if (typeof Kt !== 'number' || !Number.isInteger(Kt) || Kt < 1) throw new ArgumentError(`argument 'K' must be a positive integer, got ${show(Kt)}`);
  if (typeof opts.T === 'number' && Kt >= opts.T) return yield* reverseHGSteps(problem, opts);
  return yield* withKeptLogits(truncatedSweepSteps(problem, opts, Kt));
}

function* truncatedSweepSteps(problem: Problem, opts: TruncatedOptions, Kt: number): Stepwise<HypergradientResult> {
  const h = problem.current();
  const { max, done } = horizon(opts);
  const check = opts.checkFinite !== false;
  // Train up to the start of the truncated window without keeping anything.
  let s = initialState(problem, h);
  let t = 0;
  const window: Tensor[] = [];
  try {
    while (t < max) {
      // the sweep reaches the last K steps only
      setKeptLogitsHorizon(typeof opts.T !== 'number' ? 1 : opts.T - t <= Kt ? opts.T - t : Infinity);
      const next = trainStep(problem, s, h, t + 1, check);
      window.push(s);
      if (window.length > Kt) window.shift()!.dispose();
      s = next;
      t++;
      opts.onStep?.(t);
      if (done(t, s)) break;
      yield;
    }
    const start = t - window.length;
    setKeptLogitsHorizon(1);
    return yield* reverseFromWindowSteps(problem, window, start, s, check);
  } finally {
    disposeAll(window);
    disposeAll([s]);
  }
}

/**
 * Reverse pass over a window of stored states window[i] = s_{start+i} ending at sEnd = s_{start+len};
 * used by truncated and online reverse. Does not dispose the window or sEnd.
 */
export function reverseFromWindow(problem: Problem, window: readonly Tensor[], start: number, sEnd: Tensor, check: boolean): HypergradientResult {
  return runToEnd(reverseFromWindowSteps(problem, window, start, sEnd, check));
}

/** reverseFromWindow as a stepwise computation (one yield per reverse step). */
export function* reverseFromWindowSteps(problem: Problem, window: readonly Tensor[], start: number, sEnd: Tensor, check: boolean): Stepwise<HypergradientResult> {
  const h = problem.current();
  const hyper = problem.names.map((n) => h[n]);
  const og = objectiveGradient(problem, sEnd, hyper);
  const acc = og.dH.map((g) => keep(g));
  let alpha: Tensor = og.dS;
  let finished = false;
  try {
    for (let i = window.length - 1; i >= 0; i--) {
      yield;
      // The same reverse step as Reverse-HG (update VJP plus one HVP); the gradient rebuilt from the
      // states around the step, or recomputed, where the dynamics' VJP reads it.
      const step: ReverseStep = yield* reverseStepSteps(problem, window[i], i + 1 < window.length ? window[i + 1] : sEnd, null, hyper, alpha, start + i + 1);
      alpha.dispose();
      alpha = step.alpha;
      accumulate(acc, step.gh);
    }
    // A window that reaches s_0 = Φ_0(λ) (trho's first, or one as long as the run) ends with Φ_0's term too.
    if (start === 0) addInitialStateTerm(problem, hyper, alpha, acc);
    alpha.dispose();
    const grads = finishGrads(problem, acc, check);
    finished = true;
    return {
      grads,
      value: og.value,
      errors: og.errors,
      state: K.clone(sEnd),
      steps: start + window.length,
      stats: { forwardSteps: window.length, recomputedSteps: 0, peakTrajectoryBytes: window.reduce((b, w) => b + w.size * (w.dtype === 'float64' ? 8 : 4), 0) },
    };
  } finally {
    if (!finished) disposeAll([...acc, alpha]);
  }
}
