/** The hyper-iteration loop the experiments share: stop on abort or divergence, never holding the event loop. */
import { AbortError, DivergenceError } from '../errors/errors';
import { HyperOptimizer, HyperStepRecord } from '../hyper/hyperoptimizer';

/** Metrics are computed on the first, every `every`-th and the last of `n` hyper-iterations. */
export function evaluationSchedule(n: number, every: number): (iteration: number) => boolean {
  return (it) => it === 1 || it % every === 0 || it === n;
}

/**
 * Runs hyper-iterations `first`..n of `ho` (disposing it afterwards; first > 1 after a resume),
 * each in slices between inner steps. Returns whether the run was interrupted (abort signal:
 * within one inner step, the iteration in progress is dropped; or divergence): the hyperparameters
 * of the last whole iteration stay in place.
 */
export async function runHyperIterations(
  ho: HyperOptimizer, n: number, signal: AbortSignal | undefined,
  onIteration: (iteration: number, rec: HyperStepRecord) => void, first = 1,
): Promise<{ interrupted: boolean; divergence?: DivergenceError }> {
  try {
    for (let it = first; it <= n; it++) {
      if (signal?.aborted) return { interrupted: true };
      onIteration(it, await ho.stepAsync({ signal }));
    }
    return { interrupted: false };
  } catch (e) {
    if (e instanceof AbortError) return { interrupted: true };
    if (!(e instanceof DivergenceError)) throw e;
    return { interrupted: true, divergence: e };
  } finally {
    ho.dispose();
  }
}
