/**
 * Revolve planning: the schedule from the closed form (lib/hyper/revolve.ts, O(T·r)) against the
 * dynamic programme over every first checkpoint that it replaced (O(T²·slots), kept here as the
 * reference), on horizons and budgets of several shapes — few slots (deep recursion, large r),
 * many slots, and the README's T = 1600 with 42 slots. Both plans must recompute the same number of
 * steps before a time counts. `node dist/bench/revolve.js` prints one BENCH line per case.
 */
import { emit, machine, nowSeconds } from './common';
import { planAdvances, revolvePlan } from '../lib/hyper/revolve';

/** The replaced planner: R(n, c) memoised, and each split's argmin searched over every m. */
function dynamicProgrammePlan(T: number, c: number): number {
  const memo = new Map<number, number>();
  const R = (n: number, free: number): number => {
    if (n <= 1) return 0;
    if (free === 0) return (n * (n - 1)) / 2;
    const key = n * 65536 + free;
    const hit = memo.get(key);
    if (hit !== undefined) return hit;
    let best = Infinity;
    for (let m = 1; m < n; m++) best = Math.min(best, m + R(n - m, free - 1) + R(m, free));
    memo.set(key, best);
    return best;
  };
  // the plan's recursion, as the old planner walked it: an argmin per node over every m
  let advances = 0;
  const stack: [number, number, number][] = [[0, T, c]];
  while (stack.length) {
    const [a, b, free] = stack.pop()!;
    const n = b - a;
    if (n <= 1) continue;
    if (free === 0) {
      advances += (n * (n - 1)) / 2;
      continue;
    }
    let best = Infinity, bm = 1;
    for (let m = 1; m < n; m++) {
      const v = m + R(n - m, free - 1) + R(m, free);
      if (v < best) [best, bm] = [v, m];
    }
    advances += bm;
    stack.push([a, a + bm, free], [a + bm, b, free - 1]);
  }
  return advances;
}

// The cases without the reference first: its memo tables (millions of entries) would make the
// garbage collector's pauses part of the next planner timings.
const cases: { T: number; slots: number; reference: boolean }[] = [
  { T: 10_000, slots: 100, reference: false }, // the reference needs minutes here
  { T: 10_000, slots: 4, reference: false },
  { T: 100_000, slots: 20, reference: false },
  { T: 400, slots: 5, reference: true },
  { T: 1600, slots: 42, reference: true },
  { T: 3000, slots: 100, reference: true },
];

console.log(`Revolve planning, ${machine()}`);
for (const { T, slots, reference } of cases) {
  const c = slots - 3; // free slots besides s_0 and a step's input and output
  const t0 = nowSeconds();
  const plan = revolvePlan(T, c); // a (T, c) not planned before in this process: no cache hit
  const closedForm = nowSeconds() - t0;
  const t1 = nowSeconds();
  revolvePlan(T, c);
  const cached = nowSeconds() - t1;
  let dp: number | null = null;
  if (reference) {
    const t2 = nowSeconds();
    const advances = dynamicProgrammePlan(T, c);
    dp = nowSeconds() - t2;
    if (advances !== planAdvances(plan)) throw new Error(`T=${T}, slots=${slots}: the plans differ (${advances} vs ${planAdvances(plan)} recomputed steps)`);
  }
  emit({ bench: 'revolve-plan', T, slots, recomputed: planAdvances(plan), closed_form_ms: +(closedForm * 1e3).toFixed(2), cached_ms: +(cached * 1e3).toFixed(4), dynamic_programme_ms: dp === null ? null : +(dp * 1e3).toFixed(1), ratio: dp === null ? null : +(dp / closedForm).toFixed(0) });
}
