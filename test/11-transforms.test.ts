/** grad / vjp / jvp / hvp against closed forms and finite differences; error behaviour. */
import * as assert from 'node:assert/strict';
import * as rf from '../lib';
import * as KI from '../lib/kernels';
import * as internal from '../lib/internal';
import { Tensor } from '../lib';
import { arr, assertClose, assertScalarClose, finiteDiff, jsDot, rand, randomArray } from './helpers';

const f64 = { dtype: 'float64' as const };

describe('transformations', () => {
  it('hvp of a quadratic form ½ xᵀAx + bᵀx is ((A + Aᵀ)/2) v, and never depends on x', () => {
    rf.tidy(() => {
      const n = 6;
      const A = rand([n, n], 1), b = rand([n], 2), x = rand([n], 3), v = rand([n], 4);
      const f = (x: Tensor) => rf.add(rf.mul(rf.vdot(x, rf.reshape(rf.matmul(A, rf.reshape(x, [n, 1])), [n])), 0.5), rf.vdot(b, x));
      const hv = rf.hvp(f, x, v) as Tensor;
      const a = arr(A), vv = arr(v);
      const expected = Array.from({ length: n }, (_, i) => {
        let s = 0;
        for (let j = 0; j < n; j++) s += 0.5 * (a[i * n + j] + a[j * n + i]) * vv[j];
        return s;
      });
      assertClose(hv.toArray(), expected, 1e-12, 'quadratic hvp');
      const g = rf.grad(f)(x) as Tensor;
      const xs = arr(x);
      const gExp = Array.from({ length: n }, (_, i) => {
        let s = arr(b)[i];
        for (let j = 0; j < n; j++) s += 0.5 * (a[i * n + j] + a[j * n + i]) * xs[j];
        return s;
      });
      assertClose(g.toArray(), gExp, 1e-12, 'quadratic grad');
    });
  });

  it('slices of one vector send their cotangents back placed in one buffer: covering, with gaps, overlapping; gradients and Hessian-vector products exact', () => {
    rf.tidy(() => {
      const n = 12;
      const x = rand([n], 40), v = rand([n], 41);
      const sl = (t: Tensor, a: number, b: number) => rf.slice(t, 0, a, b);
      // blocks as a flat parameter vector is cut: [0,3) [3,8) [8,12) (they cover it: one concatenation)
      const cover = (t: Tensor) => rf.add(rf.add(rf.sum(rf.pow(sl(t, 0, 3), 3)), rf.sum(rf.mul(rf.exp(sl(t, 3, 8)), sl(t, 3, 8)))), rf.sum(rf.tanh(sl(t, 8, 12))));
      // a gap [3,5) and a block used through two paths [5,9) (a slice and the whole vector)
      const gaps = (t: Tensor) => rf.add(rf.add(rf.sum(rf.pow(sl(t, 0, 3), 3)), rf.sum(rf.tanh(sl(t, 5, 9)))), rf.mul(rf.vdot(t, t), 0.25));
      // overlapping slices [0,6) and [4,10): padded and added
      const overlap = (t: Tensor) => rf.add(rf.sum(rf.pow(sl(t, 0, 6), 3)), rf.sum(rf.exp(sl(t, 4, 10))));
      for (const [name, f] of [['cover', cover], ['gaps', gaps], ['overlap', overlap]] as const) {
        const g = rf.grad(f)(x) as Tensor;
        const basis = Array.from({ length: n }, (_, i) => rf.tensor(Float64Array.from({ length: n }, (_, j) => (j === i ? 1 : 0)), [n], f64));
        const fd = basis.map((e) => finiteDiff(f, [x], [e])[0]);
        assertClose(g.toArray(), fd, 1e-8, `${name}: gradient`);
        const hv = rf.hvp(f, x, v) as Tensor;
        const fdH = finiteDiff((t: Tensor) => rf.grad(f)(t) as Tensor, [x], [v], 1e-5);
        assertClose(hv.toArray(), fdH, 1e-7, `${name}: Hessian-vector product`);
      }
    });
  });

  it('Σ x³: gradient 3x², Hessian diag(6x)', () => {
    rf.tidy(() => {
      const x = rand([10], 5), v = rand([10], 6);
      const f = (x: Tensor) => rf.sum(rf.pow(x, 3));
      assertClose((rf.grad(f)(x) as Tensor).toArray(), arr(x).map((t) => 3 * t * t), 1e-12, 'grad');
      assertClose((rf.hvp(f, x, v) as Tensor).toArray(), arr(x).map((t, i) => 6 * t * arr(v)[i]), 1e-12, 'hvp');
    });
  });

  it('logistic regression: Hessian Xᵀ diag(p(1−p)) X / n in closed form', () => {
    rf.tidy(() => {
      const n = 20, d = 5;
      const X = rand([n, d], 7), y = rf.tensor(randomArray(n, 8, 0, 1).map((t) => (t > 0.5 ? 1 : 0)), [n, 1], f64);
      const w = rand([d, 1], 9), v = rand([d, 1], 10);
      // mean binary cross-entropy with logits: softplus(z) − y z
      const f = (w: Tensor) => { const z = rf.matmul(X, w); return rf.mean(rf.sub(rf.softplus(z), rf.mul(y, z))); };
      const x = arr(X), ww = arr(w), vv = arr(v);
      const H = new Array(d * d).fill(0);
      for (let i = 0; i < n; i++) {
        let z = 0;
        for (let j = 0; j < d; j++) z += x[i * d + j] * ww[j];
        const p = 1 / (1 + Math.exp(-z));
        for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) H[a * d + b] += (p * (1 - p) * x[i * d + a] * x[i * d + b]) / n;
      }
      const expected = Array.from({ length: d }, (_, a) => jsDot(H.slice(a * d, a * d + d), vv));
      assertClose((rf.hvp(f, w, v) as Tensor).toArray(), expected, 1e-12, 'logistic hvp');
    });
  });

  it('Hessian symmetry ⟨u, H v⟩ = ⟨H u, v⟩ and batched hvp = k single hvps (2-hidden-layer MLP with softmax CE)', () => {
    rf.tidy(() => {
      const n = 8, d = 6, h1 = 5, h2 = 4, c = 3;
      const X = rand([n, d], 11);
      const labels = rf.tensor([0, 1, 2, 0, 1, 2, 2, 1], undefined, { dtype: 'int32' });
      const params = { W1: rand([d, h1], 12), b1: rand([h1], 13), W2: rand([h1, h2], 14), b2: rand([h2], 15), W3: rand([h2, c], 16) };
      const loss = (p: rf.TensorRecord) => {
        const a1 = rf.tanh(rf.add(rf.matmul(X, p.W1), p.b1));
        const a2 = rf.sigmoid(rf.add(rf.matmul(a1, p.W2), p.b2));
        return rf.mean(rf.softmaxCrossEntropy(rf.matmul(a2, p.W3), labels));
      };
      const dir = (seed: number) => Object.fromEntries(Object.entries(params).map(([k, t], i) => [k, rand(t.shape as number[], seed + i)]));
      const u = dir(100), v = dir(200);
      const Hu = rf.hvp(loss, params, u) as rf.TensorRecord;
      const Hv = rf.hvp(loss, params, v) as rf.TensorRecord;
      const dotRec = (a: rf.TensorRecord, b: rf.TensorRecord) => Object.keys(a).reduce((s, k) => s + jsDot(a[k].toArray(), b[k].toArray()), 0);
      assertScalarClose(dotRec(u, Hv), dotRec(Hu, v), 1e-12, 'symmetry');
      // against finite differences of the gradient
      const keys = Object.keys(params);
      const gradFlat = (...ts: Tensor[]) => {
        const g = rf.grad(loss)(Object.fromEntries(keys.map((k, i) => [k, ts[i]]))) as rf.TensorRecord;
        return rf.concat(keys.map((k) => rf.reshape(g[k], [-1])), 0);
      };
      const fd = finiteDiff(gradFlat, keys.map((k) => params[k as keyof typeof params]), keys.map((k) => v[k]), 1e-5);
      assertClose(Float64Array.from(keys.flatMap((k) => Array.from(Hv[k].toArray()))), fd, 1e-6, 'MLP hvp vs FD');
      // batch of k = 4 directions in one pass
      const k = 4;
      const dirs = Object.fromEntries(keys.map((key, i) => [key, rand([k, ...params[key as keyof typeof params].shape], 300 + i)]));
      const Hk = rf.hvp(loss, params, dirs, { batched: true }) as rf.TensorRecord;
      for (let t = 0; t < k; t++) {
        const single = rf.hvp(loss, params, Object.fromEntries(keys.map((key) => [key, rf.reshape(rf.slice(dirs[key], 0, t, t + 1), params[key as keyof typeof params].shape)]))) as rf.TensorRecord;
        for (const key of keys) {
          assertClose(rf.slice(Hk[key], 0, t, t + 1).toArray(), single[key].toArray(), 1e-12, `batched ${key} ${t}`);
        }
      }
    });
  });

  it('softmax cross-entropy gradient and second derivative (weights included) against finite differences', () => {
    rf.tidy(() => {
      const n = 7, c = 5;
      const labels = rf.tensor([0, 4, 2, 2, 1, 3, 0], undefined, { dtype: 'int32' });
      const z = rand([n, c], 20, 'float64', -3, 3), w = rand([n], 21, 'float64', 0.2, 1.5);
      const f = (z: Tensor, w: Tensor) => rf.sum(rf.softmaxCrossEntropy(z, labels, w));
      const vz = rand([n, c], 22), vw = rand([n], 23);
      const g = rf.grad(f)([z, w]) as Tensor[];
      const fdDir = finiteDiff(f, [z, w], [vz, vw]);
      assertScalarClose(jsDot(g[0].toArray(), vz.toArray()) + jsDot(g[1].toArray(), vw.toArray()), fdDir[0], 1e-8, 'gradient');
      const hv = rf.hvp(f, [z, w], [vz, vw]) as Tensor[];
      const gf = (z: Tensor, w: Tensor) => { const gg = rf.grad(f)([z, w]) as Tensor[]; return rf.concat([rf.reshape(gg[0], [-1]), gg[1]], 0); };
      const fd = finiteDiff(gf, [z, w], [vz, vw], 1e-5);
      assertClose(Float64Array.from([...hv[0].toArray(), ...hv[1].toArray()]), fd, 1e-7, 'second derivative');
    });
  });

  it('jvp returns the value too; unused inputs give zero derivatives (documented)', () => {
    rf.tidy(() => {
      const x = rand([3], 30), y = rand([3], 31);
      const f = (x: Tensor, _y: Tensor) => rf.sum(rf.exp(x));
      const g = rf.grad(f)([x, y]) as Tensor[];
      assert.deepEqual(arr(g[1]), [0, 0, 0]);
      const { value, tangent } = rf.jvp((y: Tensor) => rf.exp(x), [y], [rf.ones([3], f64)]);
      assertClose(value.toArray(), arr(x).map(Math.exp), 1e-15);
      assert.deepEqual(arr(tangent), [0, 0, 0]);
      const constOut = rf.grad((_x: Tensor) => rf.sum(y))(x) as Tensor;
      assert.deepEqual(arr(constOut), [0, 0, 0]);
    });
  });

  it('errors: non-scalar output to grad, mismatched tangent shapes, nested jvp', () => {
    const x = rand([3], 40);
    assert.throws(() => rf.grad((x: Tensor) => rf.exp(x))(x), /must return a scalar.*\[3\]/);
    assert.throws(() => rf.jvp((x: Tensor) => rf.exp(x), [x], [rf.ones([4], f64)]), /tangent 0 has shape \[4\] but its primal has shape \[3\]/);
    assert.throws(() => rf.jvp((x: Tensor) => rf.exp(x), [x], [rf.ones([2, 4], f64)], { batched: true }), /\[2, 4\].*\[3\]/);
    assert.throws(() => rf.vjp((x: Tensor) => rf.exp(x), [x], rf.ones([2], f64)), /cotangent.*\[2\].*\[3\]/);
    assert.throws(() => rf.jvp((x: Tensor) => rf.jvp((y: Tensor) => y, [x], [x]).tangent, [x], [x]), /jvp inside jvp/);
    assert.throws(() => rf.grad((x: Tensor) => 3 as never)(x), /must return a Tensor/);
    x.dispose();
  });

  it('tanh through its fused backward kernels: gradient, batched Hessian-vector products and their third-order gradient of an MLP layer match finite differences', () => {
    rf.tidy(() => {
      const X = rand([7, 5], 60), W = rand([5, 4], 61), C = rand([7, 4], 62);
      // a tanh layer inside a nonlinear loss: the backward pass multiplies by 1 − y² (tanhGrad),
      // its tangent needs tanhGradJvp, and the third order the VJP of both
      const f = (w: Tensor) => rf.sum(rf.mul(rf.square(rf.tanh(rf.matmul(X, w))), C));
      const g = rf.grad(f)(W) as Tensor;
      const e = rand([5, 4], 63);
      assertScalarClose(jsDot(g.toArray(), e.toArray()), finiteDiff(f, [W], [e])[0], 1e-7, 'gradient');
      const V = rand([3, 5, 4], 64);
      const hv = rf.hvp(f, W, V, { batched: true }) as Tensor;
      for (let t = 0; t < 3; t++) {
        const vt = KI.reshapeView(KI.slice(V, 0, t, t + 1), [5, 4]);
        const fd = finiteDiff((w: Tensor) => rf.grad(f)(w) as Tensor, [W], [vt], 1e-5);
        assertClose(hv.toArray().slice(t * 20, (t + 1) * 20), fd, 1e-6, `hvp direction ${t}`);
      }
      const u = rand([5, 4], 65), v = rand([5, 4], 66);
      const third = (w: Tensor) => rf.vdot(rf.reshape(u, [20]), rf.reshape(rf.hvp(f, w, v) as Tensor, [20]));
      const gr = rf.grad(third)(W) as Tensor;
      assertScalarClose(jsDot(gr.toArray(), e.toArray()), finiteDiff(third, [W], [e], 1e-5)[0], 1e-6, 'third order');
    });
  });

  it('an HVP skips the products whose primal it discards (Xᵀ·dG without Xᵀ·G), exactly; under an enclosing grad it keeps them', () => {
    const { native } = require('../lib/native/binding');
    rf.tidy(() => {
      const rows = 600, k = 30, c = 4; // 18 000 entries: large enough for a sparse layout
      const r = randomArray(rows * k, 60, 0, 1);
      const x0 = Float32Array.from(r, (v, i) => (v < 0.75 ? 0 : ((i % 7) + 1) / 8)); // ~75 % zeros: a sparse layout
      const labels = Int32Array.from({ length: rows }, (_, i) => i % c);
      const data = rf.data.toTensors(rf.data.makeDataset('t', x0, labels, k, c), 'float64');
      const lam = rand([rows], 61, 'float64', 0, 1);
      const layout = rf.params({ W: [k, c], b: [c] });
      // softmax regression with per-example weights, parameters in one flat vector (slices + reshape)
      const f = (w: Tensor) => {
        const p = layout.views(w);
        return rf.crossEntropy(rf.add(rf.matmul(data.X, p.W), p.b), data.y, { weights: lam });
      };
      const w = rand([layout.size], 62, 'float64', -0.5, 0.5), v = rand([layout.size], 63);
      const calls: { trans: boolean; operands: number }[] = [];
      const real = native.sparseGemm;
      native.sparseGemm = (...a: any[]) => { calls.push({ trans: a[1], operands: a[2].length }); return real(...a); };
      let hv: Tensor;
      try {
        hv = rf.hvp(f, w, v) as Tensor;
      } finally {
        native.sparseGemm = real;
      }
      const transposed = calls.filter((x) => x.trans);
      assert.deepEqual(transposed.map((x) => x.operands), [1], 'the backward data pass carries the tangent only');
      assert.ok(calls.some((x) => !x.trans && x.operands === 2), 'the forward data pass carries primal and tangent');
      const fd = finiteDiff((x: Tensor) => rf.grad(f)(x) as Tensor, [w], [v], 1e-6);
      assertClose(hv.toArray(), fd, 1e-7, 'hvp vs FD of the gradient');
      // reverse over the HVP (a loss with third derivatives): the discarded primals are kept there
      const f3 = (w: Tensor) => {
        const p = layout.views(w);
        return rf.sum(rf.square(rf.tanh(rf.add(rf.matmul(data.X, p.W), p.b))));
      };
      const u = rand([layout.size], 64);
      const g = (x: Tensor) => rf.vdot(u, rf.hvp(f3, x, v) as Tensor);
      const gr = rf.grad(g)(w) as Tensor;
      const dir = rand([layout.size], 65);
      assertScalarClose(jsDot(gr.toArray(), dir.toArray()), finiteDiff(g, [w], [dir], 1e-5)[0], 1e-6, 'grad of hvp');
    });
  });

  it('third-order reverse through gradients of a smooth function (grad of hvp) matches finite differences', () => {
    rf.tidy(() => {
      const x = rand([4], 50), v = rand([4], 51), u = rand([4], 52);
      const f = (x: Tensor) => rf.sum(rf.mul(rf.tanh(x), rf.square(x)));
      // g(x) = ⟨u, H(x) v⟩; its gradient needs third derivatives (reverse over forward-over-reverse)
      const g = (x: Tensor) => rf.vdot(u, rf.hvp(f, x, v) as Tensor);
      const gr = rf.grad(g)(x) as Tensor;
      const w = rand([4], 53);
      const fd = finiteDiff(g, [x], [w], 1e-5);
      assertScalarClose(jsDot(gr.toArray(), w.toArray()), fd[0], 1e-6, 'third order');
    });
  });
});

describe('which implementation of an op runs (autodiff/implementations)', () => {
  type Form = 'general' | 'whenDifferentiated' | 'kernelTangents' | 'fusedTangents' | 'fusedGradient' | 'fusedGradientTangents';
  /** The op x ↦ x³ whose forms all compute it with ops (so every transformation can run them), noting which ran. */
  function probe(forms: Form[], declined: Form[] = []) {
    const ran: Form[] = [];
    const op = (x: Tensor): Tensor => {
      const impls: Record<string, () => Tensor | null> = {};
      for (const name of forms) {
        impls[name] = () => {
          ran.push(name);
          return declined.includes(name) ? null : rf.mul(rf.mul(x, x), x);
        };
      }
      return internal.implement([x], {
        general: () => {
          ran.push('general');
          return rf.mul(rf.mul(x, x), x);
        },
        ...impls,
      });
    };
    return { op, ran };
  }
  const x = rf.tensor([0.5, -1.5, 2]), v = rf.tensor([1, 2, -1]);
  const under = {
    plain: (f: (t: Tensor) => Tensor) => f(x),
    grad: (f: (t: Tensor) => Tensor) => rf.grad((t: Tensor) => rf.sum(f(t)))(x),
    gradOfGrad: (f: (t: Tensor) => Tensor) => rf.grad((t: Tensor) => rf.vdot(v, rf.grad((u: Tensor) => rf.sum(f(u)))(t)))(x),
    jvp: (f: (t: Tensor) => Tensor) => rf.jvp(f, [x], [v]).tangent,
    hvp: (f: (t: Tensor) => Tensor) => rf.hvp((t: Tensor) => rf.sum(f(t)), x, v),
    reverseOverForward: (f: (t: Tensor) => Tensor) => rf.grad((t: Tensor) => rf.sum(rf.jvp(f, [t], [v]).tangent))(x),
  };
  type Where = keyof typeof under;
  // Σ over x of x³: gradient 3x², H v = 6 x v, jvp 3x² v, ∂/∂x Σ 3x² v = 6 x v
  const expected: Record<Where, number[]> = {
    plain: [0.125, -3.375, 8], grad: [0.75, 6.75, 12], gradOfGrad: [3, -18, -12],
    jvp: [0.75, 13.5, -12], hvp: [3, -18, -12], reverseOverForward: [3, -18, -12],
  };
  const cases: [Form, Record<Where, Form>][] = [
    ['fusedGradient', { plain: 'general', grad: 'fusedGradient', gradOfGrad: 'general', jvp: 'general', hvp: 'general', reverseOverForward: 'general' }],
    ['fusedGradientTangents', { plain: 'general', grad: 'general', gradOfGrad: 'general', jvp: 'general', hvp: 'fusedGradientTangents', reverseOverForward: 'general' }],
    ['fusedTangents', { plain: 'general', grad: 'general', gradOfGrad: 'general', jvp: 'fusedTangents', hvp: 'fusedTangents', reverseOverForward: 'general' }],
    ['kernelTangents', { plain: 'kernelTangents', grad: 'kernelTangents', gradOfGrad: 'kernelTangents', jvp: 'kernelTangents', hvp: 'kernelTangents', reverseOverForward: 'general' }],
    ['whenDifferentiated', { plain: 'general', grad: 'whenDifferentiated', gradOfGrad: 'whenDifferentiated', jvp: 'whenDifferentiated', hvp: 'whenDifferentiated', reverseOverForward: 'whenDifferentiated' }],
  ];
  for (const [form, want] of cases) {
    it(`${form}: chosen exactly where its transformation allows, and the results are the op's`, () => {
      for (const where of Object.keys(under) as Where[]) {
        const { op, ran } = probe([form]);
        const out = under[where](op);
        assert.deepEqual(ran, [want[where]], `${form} under ${where}`);
        assertClose(arr(out), expected[where], 1e-6, `${form} under ${where}`);
      }
    });
  }

  it('a form that declines (null) hands over to the next valid one, and general closes the list', () => {
    const { op, ran } = probe(['fusedTangents', 'kernelTangents'], ['fusedTangents']);
    assertClose(arr(rf.jvp(op, [x], [v]).tangent), expected.jvp, 1e-6, 'jvp');
    assert.deepEqual(ran, ['fusedTangents', 'kernelTangents']);
    const all = probe(['fusedGradient', 'kernelTangents', 'whenDifferentiated'], ['fusedGradient', 'kernelTangents', 'whenDifferentiated']);
    assertClose(arr(under.grad(all.op)), expected.grad, 1e-6, 'grad');
    assert.deepEqual(all.ran, ['fusedGradient', 'kernelTangents', 'whenDifferentiated', 'general']);
  });
});
