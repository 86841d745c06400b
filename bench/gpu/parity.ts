/**
 * Backend parity checks: the same computations on the CPU and on another device, compared.
 * Used by test/60-backends.test.ts (mocha) and by bench/gpu/run.sh on a lent GPU machine, where
 * this file runs as a plain script (no test runner needs to be carried there).
 */
import * as rf from '../../lib';
import { Tensor } from '../../lib';

export interface ParityResult {
  name: string;
  maxRelError: number;
  tolerance: number;
  ok: boolean;
}

function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0, err = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < b.length; i++) err = Math.max(err, Math.abs(a[i] - b[i]));
  return err / Math.max(scale, 1e-300);
}

function seeded(shape: number[], seed: number, dtype: rf.FloatDType): Tensor {
  return rf.randomUniform(shape, { seed, dtype, lo: -1, hi: 1, device: 'cpu' });
}

/** Runs every check on `device` against the CPU, in float64 (1e-12) and float32 (2e-5). */
export function parityChecks(device: rf.Device): ParityResult[] {
  const out: ParityResult[] = [];
  for (const dtype of ['float64', 'float32'] as const) {
    const tol = dtype === 'float64' ? 1e-12 : 2e-5;
    const x = seeded([64, 33], 1, dtype), w = seeded([33, 10], 2, dtype), v = seeded([4, 33, 10], 3, dtype);
    const labels = rf.tensor(Array.from({ length: 64 }, (_, i) => i % 10), undefined, { dtype: 'int32', device: 'cpu' });
    const f = (X: Tensor, y: Tensor) => (W: Tensor) => rf.mean(rf.softmaxCrossEntropy(rf.tanh(rf.matmul(X, W)), y));
    const compute = (dev: rf.Device) => rf.tidy(() => {
      const X = rf.toDevice(x, dev), W = rf.toDevice(w, dev), V = rf.toDevice(v, dev), Y = rf.toDevice(labels, dev);
      return {
        gradient: (rf.grad(f(X, Y))(W) as Tensor).toArray(),
        hvp: (rf.hvp(f(X, Y), W, V, { batched: true }) as Tensor).toArray(),
        reductions: rf.sum(rf.exp(rf.sub(X, rf.max(X, 1, true))), 0).toArray(),
        'batched matmul': rf.matmul(rf.reshape(V, [4, 33, 10]), rf.transpose(rf.reshape(V, [4, 33, 10]))).toArray(),
        'gather/scatter': rf.scatterAddRows(rf.gatherRows(X, rf.toDevice(rf.tensor([3, 1, 3, 0], undefined, { dtype: 'int32' }), dev)), rf.toDevice(rf.tensor([0, 2, 1, 2], undefined, { dtype: 'int32' }), dev), 5).toArray(),
        random: rf.randomNormal([1000], { seed: 9, dtype, device: dev }).toArray(),
      };
    });
    const cpu = compute('cpu'), dev = compute(device);
    for (const k of Object.keys(cpu) as (keyof typeof cpu)[]) {
      const e = maxRel(dev[k], cpu[k]);
      out.push({ name: `${device} ${dtype} ${k}`, maxRelError: e, tolerance: tol, ok: e <= tol });
    }
    const hypergradient = (d: rf.Device) => {
      const X = rf.toDevice(x, d), Y = rf.toDevice(labels, d);
      const model = rf.linear(33, 10);
      const lam = rf.hyperparameter('lam', rf.full([64], 0.5, { dtype, device: d }));
      const p = rf.bilevel({
        params: model, hyperparameters: [lam], init: rf.toDevice(model.initialize({ seed: 0, dtype }), d),
        train: (ww, h) => rf.crossEntropy(model.apply(ww, X), Y, { weights: h.lam }),
        valid: (ww) => rf.crossEntropy(model.apply(ww, X), Y),
        dynamics: rf.dynamics.gradientDescent({ lr: 0.5 }),
      });
      return rf.reverseHG(p, { T: 20 }).grads.lam.toArray();
    };
    const htol = dtype === 'float64' ? 1e-10 : 1e-4;
    const he = maxRel(hypergradient(device), hypergradient('cpu'));
    out.push({ name: `${device} ${dtype} Reverse-HG hypergradient`, maxRelError: he, tolerance: htol, ok: he <= htol });
  }
  return out;
}

if (require.main === module) {
  const info = rf.availableDevices();
  console.log(`# ${info.cudaStatus}`);
  const devices = info.devices.filter((d) => d !== 'cpu');
  if (devices.length === 0) {
    console.log('no GPU backend available: parity not checked');
    process.exit(2);
  }
  let failed = 0;
  for (const d of devices) {
    for (const r of parityChecks(d)) {
      if (!r.ok) failed++;
      console.log(`${r.ok ? 'PASS' : 'FAIL'} ${r.name}: max relative error ${r.maxRelError.toExponential(2)} (tolerance ${r.tolerance})`);
    }
  }
  console.log(`${failed === 0 ? 'all parity checks passed' : `${failed} parity checks failed`}`);
  process.exit(failed ? 1 : 0);
}
