/**
 * Every differentiable op: JVP and VJP against central finite differences in float64, the adjoint
 * identity ⟨u, J v⟩ = ⟨Jᵀ u, v⟩, second derivatives (hvp of ⟨u, op(x)⟩ against finite differences
 * of its gradient), and a batch of k tangents against k single-tangent calls.
 */
import * as assert from 'node:assert/strict';
import * as rf from '../lib';
import * as KI from '../lib/kernels';
import * as ops from '../lib/ops';
import { Tensor } from '../lib';
import { assertClose, assertScalarClose, finiteDiff, jsDot, rand } from './helpers';

type Op = (...xs: Tensor[]) => Tensor;
interface Case {
  name: string;
  f: Op;
  inputs: () => Tensor[];
  /** skip the second-order check (op is piecewise linear at the test point, or third order needed) */
  noSecond?: boolean;
}

const f64 = 'float64';
const pos = (shape: number[], seed: number) => rand(shape, seed, f64, 0.5, 2);
const r = (shape: number[], seed: number) => rand(shape, seed, f64);
const labels = () => rf.tensor([0, 2, 1, 2, 0], undefined, { dtype: 'int32' });
const idx = () => rf.tensor([2, 0, 2, 1], undefined, { dtype: 'int32' });
// Inputs kept away from kinks (relu, abs, max) so finite differences are valid.
const awayFromZero = (shape: number[], seed: number) => rf.tidy(() => {
  const x = r(shape, seed);
  return KI.binary('add', x, KI.binaryScalar('mul', KI.unary('sign', x), 0.3));
});

const CASES: Case[] = [
  { name: 'neg', f: (x) => rf.neg(x), inputs: () => [r([3, 4], 1)] },
  { name: 'exp', f: (x) => rf.exp(x), inputs: () => [r([3, 4], 2)] },
  { name: 'log', f: (x) => rf.log(x), inputs: () => [pos([3, 4], 3)] },
  { name: 'tanh', f: (x) => rf.tanh(x), inputs: () => [r([3, 4], 4)] },
  { name: 'sigmoid', f: (x) => rf.sigmoid(x), inputs: () => [r([3, 4], 5)] },
  { name: 'relu', f: (x) => rf.relu(x), inputs: () => [awayFromZero([3, 4], 6)] },
  { name: 'square', f: (x) => rf.square(x), inputs: () => [r([3, 4], 7)] },
  { name: 'sqrt', f: (x) => rf.sqrt(x), inputs: () => [pos([3, 4], 8)] },
  { name: 'abs', f: (x) => rf.abs(x), inputs: () => [awayFromZero([3, 4], 9)] },
  { name: 'reciprocal', f: (x) => rf.reciprocal(x), inputs: () => [pos([3, 4], 10)] },
  { name: 'softplus', f: (x) => rf.softplus(x), inputs: () => [r([3, 4], 11)] },
  { name: 'pow 3', f: (x) => rf.pow(x, 3), inputs: () => [r([3, 4], 12)] },
  { name: 'pow 1.5', f: (x) => rf.pow(x, 1.5), inputs: () => [pos([3, 4], 13)] },
  { name: 'add broadcast', f: (a, b) => rf.add(a, b), inputs: () => [r([3, 4], 14), r([4], 15)] },
  { name: 'sub broadcast', f: (a, b) => rf.sub(a, b), inputs: () => [r([3, 1], 16), r([1, 4], 17)] },
  { name: 'mul broadcast', f: (a, b) => rf.mul(a, b), inputs: () => [r([2, 3, 4], 18), r([3, 1], 19)] },
  { name: 'div broadcast', f: (a, b) => rf.div(a, b), inputs: () => [r([3, 4], 20), pos([4], 21)] },
  { name: 'maximum', f: (a, b) => rf.maximum(a, b), inputs: () => [r([3, 4], 22), r([3, 4], 23)], noSecond: true },
  { name: 'minimum', f: (a, b) => rf.minimum(a, b), inputs: () => [r([3, 4], 24), r([4], 25)], noSecond: true },
  { name: 'scalar add/mul/rsub/rdiv', f: (x) => rf.div(2, rf.sub(3, rf.mul(rf.add(x, 1), 0.5))), inputs: () => [r([5], 26)] },
  { name: 'matmul', f: (a, b) => rf.matmul(a, b), inputs: () => [r([3, 4], 27), r([4, 5], 28)] },
  { name: 'matmul transA', f: (a, b) => rf.matmul(a, b, { transA: true }), inputs: () => [r([4, 3], 29), r([4, 5], 30)] },
  { name: 'matmul transB', f: (a, b) => rf.matmul(a, b, { transB: true }), inputs: () => [r([3, 4], 31), r([5, 4], 32)] },
  { name: 'matmul transA transB', f: (a, b) => rf.matmul(a, b, { transA: true, transB: true }), inputs: () => [r([4, 3], 33), r([5, 4], 34)] },
  { name: 'matmul batched left', f: (a, b) => rf.matmul(a, b), inputs: () => [r([2, 3, 4], 35), r([4, 5], 36)] },
  { name: 'matmul batched right', f: (a, b) => rf.matmul(a, b), inputs: () => [r([3, 4], 37), r([2, 4, 5], 38)] },
  { name: 'matmul batched both', f: (a, b) => rf.matmul(a, b), inputs: () => [r([2, 3, 4], 39), r([2, 4, 5], 40)] },
  { name: 'sum axes keepDims', f: (x) => rf.sum(x, [0, 2], true), inputs: () => [r([2, 3, 4], 41)] },
  { name: 'sum all', f: (x) => rf.sum(x), inputs: () => [r([2, 3], 42)] },
  { name: 'mean', f: (x) => rf.mean(x, 1), inputs: () => [r([3, 4], 43)] },
  { name: 'max', f: (x) => rf.max(x, -1), inputs: () => [r([3, 4], 44)], noSecond: true },
  { name: 'logSumExp', f: (x) => rf.logSumExp(x, 1), inputs: () => [r([3, 4], 45)] },
  { name: 'softmax', f: (x) => rf.softmax(x, -1), inputs: () => [r([3, 4], 46)] },
  { name: 'vdot', f: (a, b) => rf.vdot(a, b), inputs: () => [r([3, 4], 47), r([3, 4], 48)] },
  { name: 'reshape', f: (x) => rf.reshape(rf.square(x), [4, 3]), inputs: () => [r([3, 4], 49)] },
  { name: 'permute', f: (x) => rf.permute(rf.square(x), [2, 0, 1]), inputs: () => [r([2, 3, 4], 50)] },
  { name: 'transpose', f: (x) => rf.transpose(rf.square(x)), inputs: () => [r([3, 4], 51)] },
  { name: 'slice', f: (x) => rf.slice(rf.square(x), 1, 1, 3), inputs: () => [r([3, 4], 52)] },
  { name: 'padSlice', f: (x) => ops.padSlice(rf.square(x), 0, 2, 6), inputs: () => [r([3, 4], 53)] },
  { name: 'concat', f: (a, b) => rf.concat([rf.square(a), b], 1), inputs: () => [r([3, 2], 54), r([3, 4], 55)] },
  { name: 'stack', f: (a, b) => rf.stack([rf.square(a), b]), inputs: () => [r([3, 2], 56), r([3, 2], 57)] },
  { name: 'gatherRows', f: (x) => rf.gatherRows(rf.square(x), idx()), inputs: () => [r([3, 4], 58)] },
  { name: 'scatterAddRows', f: (x) => rf.scatterAddRows(rf.square(x), idx(), 5), inputs: () => [r([4, 3], 59)] },
  { name: 'broadcastTo', f: (x) => rf.broadcastTo(rf.square(x), [2, 3, 4]), inputs: () => [r([3, 1], 60)] },
  { name: 'softmax cross-entropy', f: (z) => rf.softmaxCrossEntropy(z, labels()), inputs: () => [rand([5, 3], 61, f64, -2, 2)] },
  { name: 'weighted softmax cross-entropy', f: (z, w) => rf.softmaxCrossEntropy(z, labels(), w), inputs: () => [rand([5, 3], 62, f64, -2, 2), pos([5], 63)] },
  { name: 'xentGrad (first derivative as an op)', f: (z, s) => ops.xentGrad(z, labels(), s), inputs: () => [rand([5, 3], 64, f64, -2, 2), pos([5], 65)], noSecond: true },
];

describe('autodiff rules of every op (float64)', () => {
  for (const c of CASES) {
    it(c.name, () => {
      rf.tidy(() => {
        const xs = c.inputs();
        const vs = xs.map((x, i) => rand(x.shape as number[], 1000 + i, f64));
        const out = c.f(...xs);
        const u = rand(out.shape as number[], 2000, f64);
        // JVP against finite differences
        const { tangent } = rf.jvp(c.f, xs, vs);
        const fd = finiteDiff(c.f, xs, vs);
        assertClose(tangent.toArray(), fd, 1e-6, `${c.name}: jvp vs finite differences`);
        // VJP: adjoint identity and finite differences
        const { grads } = rf.vjp(c.f, xs, u);
        const gs = grads as Tensor[];
        const lhs = jsDot(u.toArray(), tangent.toArray());
        const rhs = gs.reduce((s, g, i) => s + jsDot(g.toArray(), vs[i].toArray()), 0);
        assertScalarClose(rhs, lhs, 1e-10, `${c.name}: ⟨u, J v⟩ = ⟨Jᵀu, v⟩`);
        assertScalarClose(rhs, jsDot(u.toArray(), fd), 1e-6, `${c.name}: vjp vs finite differences`);
        // Batched tangents: k = 3 directions in one call equal three single calls
        const k = 3;
        const vk = xs.map((x, i) => rand([k, ...x.shape], 3000 + i, f64));
        const batched = rf.jvp(c.f, xs, vk, { batched: true }).tangent;
        assert.deepEqual(batched.shape, [k, ...out.shape]);
        for (let t = 0; t < k; t++) {
          const single = rf.jvp(c.f, xs, vk.map((v) => KI.reshapeView(KI.slice(v, 0, t, t + 1), v.shape.slice(1)))).tangent;
          const part = KI.slice(batched, 0, t, t + 1);
          assertClose(part.toArray(), single.toArray(), 1e-12, `${c.name}: batched direction ${t}`);
        }
        // Second derivatives: hvp of ⟨u, f(x)⟩ against finite differences of its gradient
        if (!c.noSecond) {
          const h = (...ys: Tensor[]) => rf.vdot(u, c.f(...ys));
          const hv = rf.hvp(h, xs, vs) as Tensor[];
          const gradFlat = (...ys: Tensor[]) => {
            const g = rf.grad(h)(ys) as Tensor[];
            return rf.concat(g.map((t) => rf.reshape(t, [-1])), 0);
          };
          const fdg = finiteDiff(gradFlat, xs, vs, 1e-5);
          const hvFlat = Float64Array.from(hv.flatMap((t) => Array.from(t.toArray())));
          assertClose(hvFlat, fdg, 1e-5, `${c.name}: hvp vs finite differences of grad`);
          // reverse-over-reverse gives the same second derivative
          const ror = rf.vjp((...ys: Tensor[]) => gradFlat(...ys), xs, rf.concat(vs.map((v) => rf.reshape(v, [-1])), 0)).grads as Tensor[];
          const rorFlat = Float64Array.from(ror.flatMap((t) => Array.from(t.toArray())));
          assertClose(rorFlat, hvFlat, 1e-10, `${c.name}: reverse-over-reverse = forward-over-reverse (H symmetric)`);
        }
      });
    });
  }
});
