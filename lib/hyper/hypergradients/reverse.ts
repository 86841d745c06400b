/**
 * Reverse-HG: the forward pass stores s_0..s_{T−1} (or checkpoints), then the reverse sweep.
 */
import * as K from '../../kernels';
import { keepingLogitsSteps, KeptLogitsStats, setKeptLogitsHorizon } from '../../kernels/keptLogits';
import { settings } from '../../config/config';
import { ArgumentError } from '../../errors/errors';
import { keep } from '../../tensor/scope';
import { Tensor } from '../../tensor/tensor';
import { Problem } from '../problem';
import { FullTrajectory, TrajectoryStore } from '../trajectory';
import { checkSliceOptions, runInSlices, runToEnd, SliceOptions, Stepwise } from '../../util/stepwise';
import { accumulate, checkCall, checkFiniteTensor, disposeAll, finishGrads, horizon, HypergradientOptions, HypergradientResult, initialState, objectiveGradient, trainStep, trainStepWithGradientSteps } from './common';
import { addInitialStateTerm, gradientFromStatesBy, ReverseStep, reverseStepSteps, reverseStoresGradients } from './reverseStep';

/** A checkpointed store plans its schedule for one horizon: any other is refused before it is used. */
export function checkPlannedHorizon(store: TrajectoryStore, T: number | undefined): void {
  if (T === undefined || store.plannedSteps === undefined || store.plannedSteps === T) return;
  throw new ArgumentError(
    `argument 'trajectory' is planned for T = ${store.plannedSteps} steps but the run has ${T}; make it with checkpointed({ T: ${T}, ... })` +
      ' (a stopping rule must run to the planned horizon)',
  );
}

export interface ReverseOptions extends HypergradientOptions {
  /** where the trajectory lives (default: every state in memory) */
  trajectory?: TrajectoryStore;
}

/** Reverse-HG. */
export function reverseHG(problem: Problem, opts: ReverseOptions): HypergradientResult {
  return runToEnd(reverseHGSteps(problem, opts));
}

/** Reverse-HG without holding the event loop: yields between training and reverse steps. */
export function reverseHGAsync(problem: Problem, opts: ReverseOptions & SliceOptions): Promise<HypergradientResult> {
  checkSliceOptions(opts, 'reverseHGAsync');
  return runInSlices(reverseHGSteps(problem, opts), opts);
}

/**
 * Reverse-HG as a stepwise computation (one yield per training step and per reverse step). The
 * fused linear loss's logits of the forward steps are kept for the reverse steps' products within
 * rf.config.keptLogitsBytes (kernels/keptLogits.ts).
 */
export function* reverseHGSteps(problem: Problem, opts: ReverseOptions): Stepwise<HypergradientResult> {
  return yield* withKeptLogits(reverseSweepSteps(problem, opts));
}

/** A Reverse-HG computation run with a store of kept logits, its use reported in the result's stats. */
export function* withKeptLogits(steps: Stepwise<HypergradientResult>): Stepwise<HypergradientResult> {
  const kept: KeptLogitsStats = { reused: 0, peakBytes: 0 };
  const result = yield* keepingLogitsSteps(settings.keptLogitsBytes, steps, kept);
  result.stats.keptLogits = kept;
  return result;
}

function* reverseSweepSteps(problem: Problem, opts: ReverseOptions): Stepwise<HypergradientResult> {
  checkCall(problem, opts, 'reverseHG');
  const { max, done } = horizon(opts);
  const check = opts.checkFinite !== false;
  const h = problem.current();
  const hyper = problem.names.map((n) => h[n]);
  const store: TrajectoryStore = opts.trajectory ?? new FullTrajectory();
  checkPlannedHorizon(store, typeof opts.T === 'number' ? opts.T : undefined);
  // Forward pass: the store keeps what the reverse pass will need (all states, or checkpoints).
  let s = initialState(problem, h);
  let T = 0;
  store.begin(s, (state, t) => trainStep(problem, state, h, t, false));
  const storeGradients = reverseStoresGradients(problem), fromStates = gradientFromStatesBy(problem);
  // s_t for reverse step t where g_t is rebuilt from the states: s_T itself, then copies, since a
  // checkpointed store may free or overwrite s_t while it recomputes s_{t−1}.
  let after: Tensor | null = null;
  let finalState: Tensor | null = null;
  let acc: Tensor[] = [];
  let alpha: Tensor | null = null;
  let finished = false;
  try {
    while (T < max) {
      setKeptLogitsHorizon(typeof opts.T === 'number' ? opts.T - T : 1);
      const { next, grad: g } = yield* trainStepWithGradientSteps(problem, s, h, T + 1, check);
      T++;
      if (storeGradients) store.pushGradient(T, g);
      else g.dispose();
      store.push(T, next);
      s = next;
      opts.onStep?.(T);
      if (done(T, s)) break;
      yield;
    }
    checkPlannedHorizon(store, T);
    setKeptLogitsHorizon(1); // the sweep's own passes (recomputed steps) are used soon
    finalState = K.clone(s);
    const og = objectiveGradient(problem, finalState, hyper);
    acc = og.dH.map((g) => keep(g));
    alpha = og.dS;
    if (fromStates) after = finalState;
    for (let t = T; t >= 1; t--) {
      yield;
      const prev = store.getSteps ? yield* store.getSteps(t - 1) : store.get(t - 1);
      const step: ReverseStep = yield* reverseStepSteps(problem, prev, after, store.gradient(t), hyper, alpha, t);
      if (after) {
        if (after !== finalState) after.dispose();
        after = t > 1 ? K.clone(prev) : null;
      }
      store.release(t - 1);
      alpha.dispose();
      alpha = step.alpha;
      accumulate(acc, step.gh);
      if (check) checkFiniteTensor(alpha, 'the adjoint α', t);
    }
    addInitialStateTerm(problem, hyper, alpha, acc);
    alpha.dispose();
    const grads = finishGrads(problem, acc, check);
    finished = true;
    return {
      grads,
      value: og.value,
      errors: og.errors,
      state: finalState,
      steps: T,
      stats: { forwardSteps: T, recomputedSteps: store.recomputed, peakTrajectoryBytes: store.peakBytes },
    };
  } finally {
    if (after !== finalState) after?.dispose();
    store.end();
    if (!finished) disposeAll([...acc, alpha, finalState]);
  }
}
