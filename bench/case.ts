/**
 * Runs one benchmark case of rfho in this process and prints `CASE {json}`: median seconds, peak
 * resident memory, and values to check against the peers.
 *   node dist/bench/case.js '{"case":"hc","folder":"/tmp/rfho-bench/hc","T":100,"reps":3}'
 */
import * as path from 'node:path';
import * as rf from '../lib';
import { FR_WIDTHS, HcData, frProblem, hcProblem } from './problems';
import { median, nowSeconds } from './common';

interface CaseArgs {
  case: 'hc' | 'fr-reverse' | 'fr-reverse-ckpt' | 'fr-reverse-ckpt10' | 'fr-forward' | 'fr-slope' | 'hvp';
  folder: string;
  T?: number;
  m?: number;
  reps?: number;
  dtype?: rf.FloatDType;
  ks?: number[];
  /** HC's data (bench/problems.ts HcData) */
  data?: HcData;
}

/**
 * Median of `reps` timed runs of fn, after untimed runs of the same call for at least two seconds (at
 * least one) — exactly what the peers do (bench/peers/common.py `timed`, whose first run is also
 * their compilation). One short warm-up is not the same state: a T = 100 HC run right after one
 * other took 2.8 ms a step, and 1.7 ms from the third on — V8's tiering of the per-step code and
 * a virtual machine's own ramp (a native-only loop also runs slower in its first seconds).
 */
function time<R>(fn: () => R, reps: number): { seconds: number; out: R } {
  const warm = nowSeconds() + WARM_UP_S;
  let out = fn();
  while (reps > 0 && nowSeconds() < warm) out = fn(); // reps = 0: one run (bench/run.ts writing a case's data)
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = nowSeconds();
    out = fn();
    ts.push(nowSeconds() - t0);
  }
  return { seconds: median(ts), out };
}

/** Seconds of untimed runs before the timed ones (bench/peers/common.py WARM_UP_S: the same). */
const WARM_UP_S = 2;

/** FR's training loss (unit example weights) over its first 2000 images, and the seeded w0. */
function frTraining(dtype: rf.FloatDType) {
  const model = rf.mlp(FR_WIDTHS, { activation: 'tanh', init: rf.init.glorotNormal() });
  const tr = rf.data.toTensors(rf.data.range(rf.data.loadEmbeddedDigits(), 0, 2000), dtype);
  const w0 = model.initialize({ seed: 1, dtype });
  const loss = (w: rf.Tensor) => rf.crossEntropy(model.apply(w, tr.X), tr.y);
  return { X: tr.X, w0, loss };
}

/**
 * The bar's slope of Forward-HG: its cost per extra hyperparameter, in training steps of the same
 * model, all timed in this process, interleaved (train, m = 4, m = 16, train, ...; medians):
 * slope = (forward(m = 16) − forward(m = 4)) / 12 per step. Beside it, the floor: a hyperparameter
 * adds one tangent direction to every step, and a tangent of this MLP's step (forward over
 * reverse) has two products for each product of the step with a weight matrix in it — six of
 * [2000, 256]·[256, 256] size where the step has three — besides the two sparse first-layer
 * products both have. `tangent_products_s` times exactly those eight products for one direction,
 * in the batched forms Forward-HG runs them in (16 directions at once, ÷ 16), on the same kernels:
 * its ratio to a training step is what no schedule of the arithmetic can go below.
 * The problems' data goes where the FR cases keep theirs (`fr-m4`, `fr-m16` beside `folder`).
 */
function frSlope(folder: string, T: number, reps: number, dtype: rf.FloatDType): Record<string, unknown> {
  const { X, w0, loss } = frTraining(dtype);
  const dynamics = rf.dynamics.momentum({ lr: 0.02, momentum: 0.9 });
  const train = () => {
    const r = rf.optimize({ w0, loss, dynamics, steps: T });
    r.w.dispose();
    r.state.dispose();
  };
  const dir = path.dirname(folder);
  const p4 = frProblem(path.join(dir, 'fr-m4'), 4, dtype), p16 = frProblem(path.join(dir, 'fr-m16'), 16, dtype);
  const fwd = (p: typeof p4) => () => rf.tidy(() => void rf.forwardHG(p.problem, { T }));
  const k = 16, n = 2000, h = 256;
  const rnd = (shape: number[], seed: number) => rf.randomNormal(shape, { seed, dtype });
  const tall = rnd([k * n, h], 1), sq = rnd([h, h], 2), act = rnd([n, h], 3), dirs = rnd([k, h, h], 4), actK = rnd([k, n, h], 5);
  const v1 = rnd([k, 784, h], 6);
  const products = () => rf.tidy(() => {
    rf.matmul(tall, sq); // ḣ1 W2 and δ̇2 W2ᵀ, the k directions stacked
    rf.matmul(tall, sq, { transB: true });
    rf.matmul(act, dirs); // h1 V2 and δ2 V2ᵀ, batched over the directions
    rf.matmul(act, dirs, { transB: true });
    rf.matmul(actK, act, { transA: true }); // ḣ1ᵀ δ2 and h1ᵀ δ̇2
    rf.matmul(act, actK, { transA: true });
    rf.matmul(X, v1); // X V1 (sparse data)
    rf.matmul(X, actK, { transA: true }); // Xᵀ δ̇1
  });
  const timeOnce = (fn: () => void) => {
    const t0 = nowSeconds();
    fn();
    return nowSeconds() - t0;
  };
  const runs = { train: [] as number[], m4: [] as number[], m16: [] as number[], products: [] as number[] };
  train();
  fwd(p4)();
  fwd(p16)();
  products();
  for (let r = 0; r < reps; r++) {
    runs.train.push(timeOnce(train) / T);
    runs.m4.push(timeOnce(fwd(p4)) / T);
    runs.m16.push(timeOnce(fwd(p16)) / T);
    runs.products.push(timeOnce(products) / k);
  }
  [p4, p16].forEach((p) => p.dispose());
  [tall, sq, act, dirs, actK, v1].forEach((t) => t.dispose());
  const step = median(runs.train), slope = (median(runs.m16) - median(runs.m4)) / 12, floor = median(runs.products);
  return {
    train_step_s: step, forward_m4_step_s: median(runs.m4), forward_m16_step_s: median(runs.m16),
    slope_s: slope, slope_steps: slope / step, tangent_products_s: floor, tangent_products_steps: floor / step,
  };
}

function main() {
  const a = JSON.parse(process.argv[2]) as CaseArgs;
  const reps = a.reps ?? 3;
  const T = a.T ?? 100;
  const dtype = a.dtype ?? 'float32';
  let result: Record<string, unknown>;
  if (a.case === 'hc') {
    const p = hcProblem(a.folder, dtype, 5000, a.data ?? 'digits');
    const { seconds, out } = time(() => rf.reverseHG(p.problem, { T }), reps);
    const g = out.grads.lam.toArray();
    let n2 = 0;
    for (const v of g) n2 += v * v;
    result = { seconds, value: out.value, grad_head: Array.from(g.slice(0, 8)), grad_norm: Math.sqrt(n2) };
  } else if (a.case === 'hvp') {
    const p = frProblem(a.folder, 1, dtype);
    const { w0, loss: f } = frTraining(dtype);
    const g = time(() => rf.tidy(() => void rf.grad(f)(w0)), reps);
    result = { grad_seconds: g.seconds };
    for (const k of a.ks ?? [1, 8, 64]) {
      const V = rf.randomNormal([k, w0.size], { seed: k, dtype });
      const h = time(() => rf.tidy(() => (rf.hvp(f, w0, V, { batched: true }) as rf.Tensor).toArray().slice(0, 4)), reps);
      result[`hvp${k}_seconds`] = h.seconds;
      result[`hvp${k}_head`] = Array.from(h.out);
      V.dispose();
    }
    p.dispose();
  } else if (a.case === 'fr-slope') {
    result = frSlope(a.folder, a.T ?? 20, reps, dtype);
  } else {
    const m = a.m ?? 4;
    const p = frProblem(a.folder, m, dtype);
    const run = (T: number) => {
      if (a.case === 'fr-forward') return rf.forwardHG(p.problem, { T });
      const trajectory = a.case === 'fr-reverse-ckpt' ? rf.checkpointed({ T, slots: Math.ceil(Math.sqrt(T)) + 2 })
        : a.case === 'fr-reverse-ckpt10' ? rf.checkpointed({ T, slots: Math.max(3, Math.ceil(T / 10)) }) : undefined;
      return rf.reverseHG(p.problem, { T, trajectory });
    };
    const { seconds, out } = time(() => run(T), reps);
    result = {
      seconds, value: out.value, grad_groups: Array.from(out.grads.groupWeights.toArray().slice(0, 4)),
      grad_lr: out.grads.lr.item(), grad_mu: out.grads.momentum.item(),
      recomputed: out.stats.recomputedSteps, trajectory_mb: out.stats.peakTrajectoryBytes / 2 ** 20,
    };
  }
  const peak = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(`CASE ${JSON.stringify({ impl: 'rfho', ...a, ...result, peak_mb: peak })}\n`);
}

main();
