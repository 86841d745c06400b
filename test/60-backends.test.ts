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
