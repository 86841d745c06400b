/**
 * Backend parity: on every non-CPU backend, ops, autodiff and a hypergradient must match the CPU
 * (float64 to ~1e-12, float32 to the usual tolerance). Skipped, loudly, where no GPU is found.
 * The checks live in bench/gpu/parity.ts so that a lent GPU machine runs them without mocha.
 */
import * as assert from 'node:assert/strict';
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
