/**
 * One build for every x86-64 machine: an addon per instruction-set level, the best the CPU runs
 * chosen at load time (RFHO_CPU overrides), and a BLAS found at run time (RFHO_BLAS=built-in
 * forces the built-in loops). Each level and the built-in BLAS compute the same numbers as plain
 * JavaScript; no addon links a BLAS.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as rf from '../lib';

const root = path.resolve(__dirname, '..', '..');
const release = path.join(root, 'build', 'Release');

/** A child computing products of several shapes (both transposes, batched, float32 and float64), softmax cross-entropy and a reduction, against plain JavaScript. */
const PROBE = `
const rf = require(${JSON.stringify(path.join(root, 'dist', 'lib'))});
let worst = 0;
const check = (got, want, tol) => { for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i])) / tol); };
for (const dtype of ['float64', 'float32']) {
  const tol = dtype === 'float64' ? 1e-12 : 1e-4;
  for (const [m, k, n, ta, tb] of [[3, 4, 5, false, false], [64, 300, 70, false, true], [257, 129, 65, true, false], [500, 784, 10, false, false], [40, 33, 600, true, true]]) {
    const A = rf.randomNormal(ta ? [k, m] : [m, k], { seed: m + k, dtype }), B = rf.randomNormal(tb ? [n, k] : [k, n], { seed: n + k, dtype });
    const C = rf.kernels.matmul(A, B, ta, tb).toArray(), a = A.toArray(), b = B.toArray();
    const want = new Float64Array(m * n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) { let s = 0; for (let p = 0; p < k; p++) s += (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]); want[i * n + j] = s; }
    check(C, want, tol * Math.sqrt(k));
  }
  const z = rf.randomNormal([50, 7], { seed: 3, dtype }), y = rf.tensor(Int32Array.from({ length: 50 }, (_, i) => i % 7));
  const ce = rf.kernels.softmaxXentLoss(z, y).toArray(), zz = z.toArray();
  check(ce, Array.from({ length: 50 }, (_, i) => { const row = Array.from(zz.subarray(i * 7, i * 7 + 7)); const mx = Math.max(...row); return mx + Math.log(row.reduce((s, v) => s + Math.exp(v - mx), 0)) - row[i % 7]; }), tol);
  const x = rf.randomNormal([1000], { seed: 4, dtype });
  check([rf.sum(x).item()], [Array.from(x.toArray()).reduce((s, v) => s + v, 0)], tol * 30);
}
console.log(JSON.stringify({ ...rf.availableDevices(), worst }));
`;

function probe(env: NodeJS.ProcessEnv): { cpu: string; blas: string; worst: number } {
  const r = spawnSync(process.execPath, ['-e', PROBE], { encoding: 'utf8', env: { ...process.env, ...env } });
  assert.equal(r.status, 0, `${JSON.stringify(env)}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

describe('portable builds', function () {
  this.timeout(300_000);
  const levels = fs.existsSync(release) ? fs.readdirSync(release).map((f) => /^rfho_native-(x86-64-v\d)\.node$/.exec(f)?.[1]).filter((l): l is string => !!l).sort() : [];

  it('on x86-64, one addon per level is built (v2, v3, v4) and the best this CPU runs is loaded', function () {
    if (process.arch !== 'x64' || fs.existsSync(path.join(release, 'rfho_native.node'))) this.skip(); // not x86-64, or a -march=native build
    assert.deepEqual(levels, ['x86-64-v2', 'x86-64-v3', 'x86-64-v4']);
    const flags = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)![1];
    const best = /\bavx512f\b/.test(flags) && /\bavx512vl\b/.test(flags) ? 'x86-64-v4' : /\bavx2\b/.test(flags) ? 'x86-64-v3' : 'x86-64-v2';
    assert.equal(rf.availableDevices().cpu, best);
  });

  it('every level this CPU runs computes the same numbers as JavaScript — the AVX-512 kernels off included (RFHO_CPU)', function () {
    if (levels.length === 0) this.skip();
    const runnable = levels.filter((l) => l <= rf.availableDevices().cpu);
    assert.ok(runnable.includes('x86-64-v2'), 'the baseline runs everywhere');
    for (const level of runnable) {
      const r = probe({ RFHO_CPU: level });
      assert.equal(r.cpu, level);
      assert.ok(r.worst <= 1, `${level}: ${r.worst} times the tolerance`);
    }
  });

  it('without OpenBLAS (RFHO_BLAS=built-in) the products are right; no addon links a BLAS', () => {
    const r = probe({ RFHO_BLAS: 'built-in', RFHO_CPU: levels[0] ?? '' });
    assert.equal(r.blas, 'built-in');
    assert.ok(r.worst <= 1, `${r.worst} times the tolerance`);
    for (const f of fs.readdirSync(release).filter((x) => x.endsWith('.node'))) {
      const elf = spawnSync('readelf', ['-d', path.join(release, f)], { encoding: 'utf8' });
      if (elf.status !== 0) continue; // no binutils: the loader test above is the check
      assert.doesNotMatch(elf.stdout, /NEEDED.*(openblas|cblas|libblas)/, `${f} links no BLAS`);
    }
  });
});
