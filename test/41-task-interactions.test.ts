/** §5.2 task interactions and §5.3's baselines: the pieces against references, the commands end to end. */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as rf from '../lib';
import { interactionPenalty } from '../lib/experiments/taskInteractions';
import { assertClose, rand } from './helpers';

const dtype = 'float64' as const;
const cli = path.resolve(__dirname, '..', 'lib', 'cli', 'main.js');

/** Σ_{j,k} A_jk ‖w_j − w_k‖² by the definition, in plain JavaScript (W [d, n] row-major, columns w_j). */
function penaltyByDefinition(W: ArrayLike<number>, A: ArrayLike<number>, d: number, n: number): number {
  let s = 0;
  for (let j = 0; j < n; j++) {
    for (let k = 0; k < n; k++) {
      let dist = 0;
      for (let i = 0; i < d; i++) dist += (W[i * n + j] - W[i * n + k]) ** 2;
      s += A[j * n + k] * dist;
    }
  }
  return s;
}

function symmetricA(n: number, seed: number): rf.Tensor {
  const a = rand([n, n], seed, dtype, 0, 1).toArray();
  const s = Float64Array.from({ length: n * n }, (_, i) => (Math.floor(i / n) === i % n ? 0 : (a[i] + a[(i % n) * n + Math.floor(i / n)]) / 2));
  return rf.tensor(s, [n, n], { dtype });
}

describe('task interactions (paper §5.2)', function () {
  this.timeout(300_000);
  const d = 4, n = 3;

  it('the interaction penalty equals its definition; its gradient (W and A) and HVP match finite differences', () => {
    const W = rand([d, n], 1, dtype), A = symmetricA(n, 2);
    assert.ok(Math.abs(interactionPenalty(W, A).item() - penaltyByDefinition(W.toArray(), A.toArray(), d, n)) < 1e-12);
    const f = (w: rf.Tensor, a: rf.Tensor) => interactionPenalty(w, a);
    const [gW, gA] = rf.grad((w: rf.Tensor, a: rf.Tensor) => f(w, a))([W, A]);
    const h = 1e-6;
    const fd = (t: rf.Tensor, which: 0 | 1) => Array.from(t.toArray(), (_, i) => {
      const at = (e: number) => {
        const v = Float64Array.from(t.toArray());
        v[i] += e;
        const moved = rf.tensor(v, t.shape as number[], { dtype });
        return penaltyByDefinition(which === 0 ? moved.toArray() : W.toArray(), which === 1 ? moved.toArray() : A.toArray(), d, n);
      };
      return (at(h) - at(-h)) / (2 * h);
    });
    assertClose(Array.from(gW.toArray()), fd(W, 0), 1e-7, 'dW');
    assertClose(Array.from(gA.toArray()), fd(A, 1), 1e-7, 'dA');
    // H·v along W: the gradient's directional derivative, by differences of the gradient
    const V = rand([d, n], 3, dtype);
    const [Hv] = rf.hvp((w: rf.Tensor) => f(w, A), [W], [V]);
    const gradAt = (e: number) => Array.from((rf.grad((w: rf.Tensor) => f(w, A))(rf.add(W, rf.mul(V, e))) as rf.Tensor).toArray());
    const plus = gradAt(h), minus = gradAt(-h);
    assertClose(Array.from(Hv.toArray()), plus.map((p, i) => (p - minus[i]) / (2 * h)), 1e-6, 'HVP');
  });

  it('the projection onto symmetric, non-negative, zero-diagonal matrices is the nearest such matrix (brute force)', () => {
    const c = rf.constraints.interactionMatrix();
    let seed = 7;
    const r = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 4 - 2;
    for (let trial = 0; trial < 20; trial++) {
      const x = Float64Array.from({ length: 9 }, r);
      const y = c.projectArray(x);
      const dist = (z: ArrayLike<number>) => Array.from(z).reduce((s, v, i) => s + (v - x[i]) ** 2, 0);
      for (let j = 0; j < 3; j++) {
        assert.equal(y[j * 4], 0, 'zero diagonal');
        for (let k = 0; k < 3; k++) assert.ok(y[j * 3 + k] >= 0 && y[j * 3 + k] === y[k * 3 + j], 'symmetric, non-negative');
      }
      // every feasible matrix on a grid of the three free entries is no nearer
      const grid = [0, 0.25, 0.5, 0.75, 1, 1.5, 2];
      for (const a of grid) for (const b of grid) for (const e of grid) {
        const z = [0, a, b, a, 0, e, b, e, 0];
        assert.ok(dist(y) <= dist(z) + 1e-12, `trial ${trial}: a feasible point nearer than the projection`);
      }
    }
    assert.throws(() => c.projectArray(new Float64Array(5)), /square matrix/);
  });

  it('rfho task-interactions learns A and ρ and reports them against single-task and naive multi-task learning', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'rfho-ti-'));
    const r = spawnSync(process.execPath, [cli, 'task-interactions', '--train-size', '200', '--valid-size', '200', '--test-size', '300', '--T', '30', '--iterations', '4', '--projection-dim', '64', '--out', out, '--json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const s = JSON.parse(r.stdout.trim().split('\n').pop()!);
    for (const k of ['testAccuracy', 'singleTaskAccuracy', 'naiveMultiTaskAccuracy']) assert.ok(s[k] > 0.3 && s[k] <= 1, `${k} ${s[k]}`);
    const b = JSON.parse(fs.readFileSync(path.join(out, 'baselines.json'), 'utf8'));
    assert.equal(b.singleTask.grid.length, 5, 'ρ grid');
    assert.equal(b.naiveMultiTask.grid.length, 20, 'ρ × a grid');
    // the chosen baselines are the grid's best by validation error
    assert.equal(b.singleTask.validation, Math.min(...b.singleTask.grid.map((g: { validation: number }) => g.validation)));
    const A = JSON.parse(fs.readFileSync(path.join(out, 'hyperparameters.json'), 'utf8')).A as number[][];
    assert.equal(A.length, 10);
    A.forEach((row, j) => row.forEach((v, k) => assert.ok(v >= 0 && v === A[k][j] && (j !== k || v === 0))));
    for (const f of ['headline.svg', 'interactions.svg', 'validation.svg', 'log.csv']) assert.ok(fs.existsSync(path.join(out, f)), f);
  });
});

describe('rfho tune against its baselines (paper §5.3)', function () {
  this.timeout(300_000);
  it('reports the untuned model and a random search with the same training steps in total', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'rfho-tune-b-'));
    const r = spawnSync(process.execPath, [cli, 'tune', '--train-size', '500', '--valid-size', '300', '--test-size', '300', '--hidden', '16', '--batch-size', '50', '--K', '5', '--iterations', '6', '--search-trials', '3', '--out', out, '--json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const s = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.ok(s.untunedAccuracy > 0.3 && s.randomSearchAccuracy > 0.1, JSON.stringify(s));
    const b = JSON.parse(fs.readFileSync(path.join(out, 'baselines.json'), 'utf8'));
    assert.equal(b.untuned.steps, 30, 'the untuned model trains as long as RTHO (6 × 5 steps)');
    assert.equal(b.untuned.lr, 0.05);
    assert.equal(b.randomSearch.trials.length, 3);
    assert.equal(b.randomSearch.trials.reduce((t: number, x: { steps: number }) => t + x.steps, 0), 30, 'the same steps in total');
    assert.ok(fs.existsSync(path.join(out, 'headline.svg')));
  });
});
