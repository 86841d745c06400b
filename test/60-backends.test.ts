/**
 * Backend parity: on every non-CPU backend, ops, autodiff and a hypergradient must match the CPU
 * (float64 to ~1e-12, float32 to the usual tolerance). Skipped, loudly, where no GPU is found.
 * The checks live in bench/gpu/parity.ts so that a lent GPU machine runs them without mocha.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as rf from '../lib';
import { parityChecks } from '../bench/gpu/parity';
import * as K from '../lib/kernels';
import { native } from '../lib/native/binding';

const info = rf.availableDevices();
const others = info.devices.filter((d) => d !== 'cpu');

describe('backend parity with the CPU', function () {
  this.timeout(300000);
  if (others.length === 0) {
    it(`skipped: ${info.cudaStatus}`, function () {
      console.log(`      GPU tests skipped: ${info.cudaStatus}`);
      this.skip();
    });
    return;
  }
  for (const device of others) {
    it(`${device}: ops, gradients, HVPs, random numbers and a Reverse-HG hypergradient match the CPU`, () => {
      const failures = parityChecks(device).filter((r) => !r.ok);
      assert.deepEqual(failures, []);
    });
  }
});

describe('the parity checks themselves (CPU against CPU)', () => {
  it('run and agree exactly when both sides are the CPU', () => {
    const results = parityChecks('cpu');
    assert.ok(results.length >= 14);
    for (const r of results) assert.ok(r.ok && r.maxRelError === 0, `${r.name}: ${r.maxRelError}`);
  });
});

describe('the CUDA kernels\' row arithmetic on the host', () => {
  it('softmax cross-entropy rows (cuda/xent_rows.h, through nvcc) agree with the CPU backend: random and confident rows, ties, JVPs, float32 and float64 (native harness)', function () {
    // built with the CUDA backend where nvcc and cuBLAS are (cmake/cuda.cmake), next to the addon
    const exe = path.resolve(__dirname, '..', '..', 'build', 'Release', 'rfho_xent_rows_test');
    if (!fs.existsSync(exe)) this.skip(); // no nvcc here: the CUDA backend and this harness are not built
    // its CPU side is compiled for the most capable level built (x86-64-v4)
    if (['x86-64-v2', 'x86-64-v3'].includes(rf.availableDevices().cpu)) this.skip();
    const run = spawnSync(exe, { encoding: 'utf8', timeout: 60000 });
    assert.equal(run.signal, null, `the harness was killed by ${run.signal}`);
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /confident \(float32, 9 rows of 10\)/);
    assert.match(run.stdout, /random \(float64, 257 rows of 37\)/);
    assert.match(run.stdout, /^ok$/m);
  });
});

describe('fused kernels chosen by what the backend provides', function () {
  this.timeout(120000);
  const dtype = 'float64' as const;

  /** An MLP's gradient, HVP and Forward-HG (momentum): the bits to compare. */
  function mlpBits(): number[] {
    // 80 hidden units: wide enough that denseTanh runs as one op (narrow layers take the data pass with tangents)
    const model = rf.mlp([5, 80, 3], { activation: 'tanh', init: rf.init.glorotNormal() });
    const X = rf.randomNormal([8, 5], { seed: 3, dtype }), Xv = rf.randomNormal([8, 5], { seed: 4, dtype });
    const y = rf.tensor(Int32Array.from({ length: 8 }, (_, i) => i % 3), undefined, { dtype: 'int32' });
    const w0 = model.initialize({ seed: 1, dtype });
    const lr = rf.hyperparameter('lr', 0.3, { dtype }), mu = rf.hyperparameter('mu', 0.7, { dtype });
    const l2 = rf.hyperparameter('l2', 0.01, { dtype });
    const loss = (w: rf.Tensor) => rf.crossEntropy(model.apply(w, X), y);
    const g = rf.grad(loss)(w0);
    const h = rf.hvp(loss, w0, rf.randomNormal([w0.size], { seed: 5, dtype }));
    const problem = rf.bilevel({
      params: model, hyperparameters: [l2], init: w0,
      train: (w, hp) => rf.add(loss(w), rf.l2Penalty(w, hp.l2)), valid: (w) => rf.crossEntropy(model.apply(w, Xv), y),
      dynamics: rf.dynamics.momentum({ lr, momentum: mu }),
    });
    const f = rf.forwardHG(problem, { T: 4 });
    const out = [...g.toArray(), ...h.toArray(), ...Object.values(f.grads).flatMap((t) => Array.from(t.toArray()))];
    [X, Xv, y, w0, g, h, f.state, ...Object.values(f.grads)].forEach((t) => t.dispose());
    return out;
  }

  it('the CPU backend provides every fused kernel; a device is asked by name', () => {
    // the linear cross-entropy's pass is compiled where the CPU has AVX-512 (the bench machines do)
    const always = ['dynamicsTangent', 'rowPanels', 'sparseData', 'tanhGrad', 'tanhGradJvp'];
    const names = [...(native.fusedKernels('cpu') ?? [])].sort();
    assert.deepEqual(names.filter((n) => n !== 'linearXent'), always);
    for (const k of [...always, 'linearXent'] as const) assert.equal(K.provides('cpu', k as K.FusedKernel), names.includes(k), k);
    assert.throws(() => native.fusedKernels('tpu'), /'device' must be 'cpu' or 'cuda', got 'tpu'/);
  });

  it('where a backend provides none, the ops compose themselves (no fused kernel called) with the same bits', () => {
    const fused = mlpBits();
    const calls = { tanhGrad: 0, tanhGradJvp: 0, dynamicsTangent: 0 };
    const saved = { tanhGrad: native.tanhGrad, tanhGradJvp: native.tanhGradJvp, dynamicsTangent: native.dynamicsTangent };
    K.overrideProvided('cpu', []);
    try {
      for (const k of Object.keys(calls) as (keyof typeof calls)[]) {
        (native as unknown as Record<string, unknown>)[k] = (...a: unknown[]) => {
          calls[k]++;
          return (saved[k] as (...x: unknown[]) => unknown)(...a);
        };
      }
      const composed = mlpBits();
      assert.deepEqual(calls, { tanhGrad: 0, tanhGradJvp: 0, dynamicsTangent: 0 }, 'a fused kernel the backend does not provide was called');
      assert.equal(composed.length, fused.length);
      composed.forEach((v, i) => assert.ok(Math.abs(v - fused[i]) <= 1e-12 * (1 + Math.abs(fused[i])), `value ${i}: ${v} vs ${fused[i]}`));
    } finally {
      Object.assign(native, saved);
      K.overrideProvided('cpu', null);
    }
    // and with the backend's own answer back, the fused kernels run again
    let used = 0;
    const tg = native.tanhGrad;
    (native as unknown as Record<string, unknown>).tanhGrad = (...a: unknown[]) => {
      used++;
      return (tg as (...x: unknown[]) => unknown)(...a);
    };
    try {
      mlpBits();
    } finally {
      native.tanhGrad = tg;
    }
    assert.ok(used > 0, 'the CPU backend provides tanhGrad and the MLP uses it');
  });
});
