/** Every native kernel against a plain-JavaScript reference, float64 (1e-12) and float32 (1e-5). */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as rf from '../lib';
import * as KI from '../lib/kernels';
import { native } from '../lib/native/binding';
import { arr, assertClose, rand, randomArray, rng, size, strides, tolFor, unravel } from './helpers';

const K = KI;
const DTYPES = ['float64', 'float32'] as const;

/** op(X) op(B) in float64 for a [rows, k] data matrix x: the reference of the sparse products. */
function dataProduct(x: ArrayLike<number>, rows: number, k: number, b: ArrayLike<number>, n: number, ta: boolean, tb: boolean): number[] {
  const m = ta ? k : rows, inner = ta ? rows : k, out: number[] = [];
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let acc = 0;
    for (let p = 0; p < inner; p++) acc += (ta ? x[p * k + i] : x[i * k + p]) * (tb ? b[j * inner + p] : b[p * n + j]);
    out.push(acc);
  }
  return out;
}

function refBroadcast(a: number[], sa: number[], b: number[], sb: number[], f: (x: number, y: number) => number) {
  const n = Math.max(sa.length, sb.length);
  const pa = [...new Array(n - sa.length).fill(1), ...sa], pb = [...new Array(n - sb.length).fill(1), ...sb];
  const so = pa.map((d, i) => (d === 1 ? pb[i] : d));
  const ta = strides(pa), tb = strides(pb);
  const out: number[] = [];
  for (let i = 0; i < size(so); i++) {
    const idx = unravel(i, so);
    let ia = 0, ib = 0;
    idx.forEach((v, d) => {
      ia += (pa[d] === 1 ? 0 : v) * ta[d];
      ib += (pb[d] === 1 ? 0 : v) * tb[d];
    });
    out.push(f(a[ia], b[ib]));
  }
  return { out, shape: so };
}
/**
 * Row `row` of C = X·W where that row of X was just overwritten with 2s: each entry must be
 * 2 Σ_p W[p, j] (the product saw the write, not a layout derived before it).
 */
function assertRowOfTwos(C: rf.Tensor, W: rf.Tensor, row: number, tol: number): void {
  const [k, n] = W.shape, w = arr(W), got = arr(C).slice(row * n, (row + 1) * n);
  for (let j = 0; j < n; j++) {
    let acc = 0;
    for (let p = 0; p < k; p++) acc += 2 * w[p * n + j];
    assert.ok(Math.abs(got[j] - acc) < tol * Math.max(1, Math.abs(acc)), `row ${row} after the write: ${got[j]} vs ${acc}`);
  }
}

const round = (dtype: string) => (v: number) => (dtype === 'float32' ? Math.fround(v) : v);

// The same suite on every available backend: the default device is switched per block.
const devices = rf.availableDevices();
if (!devices.cuda) {
  describe('kernels on CUDA', () => {
    it(`skipped: no GPU backend here (${devices.cudaStatus})`, function () {
      console.log(`      GPU tests skipped: ${devices.cudaStatus}`);
      this.skip();
    });
  });
}

for (const device of devices.devices) describe(`kernels against plain-JavaScript references (${device})`, () => {
  before(() => rf.setDefaultDevice(device));
  after(() => rf.setDefaultDevice('cpu'));
  for (const dtype of DTYPES) {
    const tol = tolFor(dtype);
    describe(dtype, () => {
      it('gemm with every transpose combination, alpha and beta, including size-1 and empty k', () => {
        const cases: [number, number, number][] = [[3, 4, 5], [1, 1, 1], [7, 1, 3], [1, 6, 2], [4, 3, 0], [33, 17, 65]];
        let seed = 1;
        for (const [m, n, k] of cases) {
          for (const ta of [false, true]) for (const tb of [false, true]) {
            const A = rand(ta ? [k, m] : [m, k], seed++, dtype);
            const B = rand(tb ? [n, k] : [k, n], seed++, dtype);
            const C0 = rand([m, n], seed++, dtype);
            const a = arr(A), b = arr(B), c0 = arr(C0);
            const C = rf.clone(C0);
            K.gemm(A, B, { transA: ta, transB: tb, alpha: 0.7, beta: -1.3, out: C });
            const ref: number[] = [];
            for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
              let s = 0;
              for (let p = 0; p < k; p++) s += (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
              ref.push(0.7 * s - 1.3 * c0[i * n + j]);
            }
            assertClose(arr(C), ref, tol * 10, `gemm ${m}x${n}x${k} ta=${ta} tb=${tb}`);
          }
        }
      });

      it('gemm on the threaded paths: skinny products split by rows, batches of small products', () => {
        const jsGemm = (a: number[], b: number[], m: number, n: number, k: number, ta: boolean) => {
          const out: number[] = [];
          for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
            let s = 0;
            for (let p = 0; p < k; p++) s += (ta ? a[p * m + i] : a[i * k + p]) * b[p * n + j];
            out.push(s);
          }
          return out;
        };
        for (const ta of [false, true]) {
          const [m, n, k] = [700, 10, 600];
          const A = rand(ta ? [k, m] : [m, k], 500, dtype), B = rand([k, n], 501, dtype);
          assertClose(arr(K.gemm(A, B, { transA: ta })), jsGemm(arr(A), arr(B), m, n, k, ta), tol * 50, `skinny transA=${ta}`);
        }
        const A = rand([64, 40, 30], 502, dtype), B = rand([64, 30, 20], 503, dtype);
        const C = arr(K.matmul(A, B));
        const a = arr(A), b = arr(B);
        for (let i = 0; i < 64; i += 9) {
          const ref = jsGemm(a.slice(i * 1200, (i + 1) * 1200), b.slice(i * 600, (i + 1) * 600), 40, 20, 30, false);
          assertClose(C.slice(i * 800, (i + 1) * 800), ref, tol * 10, `batch entry ${i}`);
        }
      });

      it('narrow products: outputs of ≤ 16 columns (broadcast form), batched transposed reductions, short shared dimensions; shared operands, alpha/beta, strided C, beta = 0 over NaN', () => {
        // [transA, transB, m, n, k, batch, A shared by the batch, B shared, extra columns of C]
        const cases: [boolean, boolean, number, number, number, number, boolean, boolean, number][] = [
          [false, true, 130, 45, 10, 3, true, false, 0], // δ Vᵀ (k = 10): one A for every entry
          [false, false, 41, 256, 7, 2, false, true, 0],
          [false, true, 97, 17, 16, 1, false, false, 3],
          [false, false, 301, 10, 256, 3, false, true, 0], // h W: ≤ 16 columns, rows not a multiple of 16
          [false, true, 300, 16, 100, 2, false, false, 0],
          [false, false, 280, 13, 257, 1, false, false, 5],
          [true, false, 40, 10, 2000, 3, false, true, 0], // hᵀ δ batched: the outer-product form
          [true, true, 33, 7, 300, 2, false, false, 2],
        ];
        let seed = 800;
        for (const [ta, tb, m, n, k, batch, shareA, shareB, pad] of cases) {
          const sa = m * k, sb = k * n, ldc = n + pad, sc = m * ldc;
          const A = rand([shareA ? 1 : batch, sa], seed++, dtype), B = rand([shareB ? 1 : batch, sb], seed++, dtype);
          const a = arr(A), b = arr(B);
          for (const [alpha, beta] of [[0.7, -1.3], [1, 0]]) {
            const C0 = rand([batch, sc], seed++, dtype);
            const C = beta === 0 ? K.full([batch, sc], NaN, { dtype }) : rf.clone(C0);
            const c0 = arr(C0);
            native.gemm(ta, tb, m, n, k, alpha, A.handle, 0, ta ? m : k, shareA ? 0 : sa, B.handle, 0, tb ? k : n, shareB ? 0 : sb,
              beta, C.handle, 0, ldc, sc, batch);
            const c = arr(C);
            for (let q = 0; q < batch; q++) {
              const oa = shareA ? 0 : q * sa, ob = shareB ? 0 : q * sb;
              const got: number[] = [], ref: number[] = [];
              for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
                let acc = 0;
                for (let p = 0; p < k; p++) acc += a[oa + (ta ? p * m + i : i * k + p)] * b[ob + (tb ? j * k + p : p * n + j)];
                ref.push(alpha * acc + (beta === 0 ? 0 : beta * c0[q * sc + i * ldc + j]));
                got.push(c[q * sc + i * ldc + j]);
              }
              const label = `${ta ? 'T' : 'N'}${tb ? 'T' : 'N'} ${m}x${n}x${k} entry ${q} of ${batch}, beta ${beta}`;
              assertClose(got, ref, tol * 30, label);
              // the columns between rows of a strided C are not touched
              for (let i = 0; i < m && pad > 0; i++) for (let j = n; j < ldc; j++) {
                const was = beta === 0 ? NaN : c0[q * sc + i * ldc + j];
                assert.ok(Object.is(c[q * sc + i * ldc + j], was), `${label}: padding column ${j} of row ${i} was written`);
              }
            }
          }
        }
      });

      if (dtype === 'float32') it('narrow float32 products keep their rounding near BLAS\'s over a long shared dimension (blocked sums, not one running sum)', () => {
        // 64 × 4096 · 4096 × 16 against float64: one running float32 sum per output errs by 1.4e-6 of
        // the largest entry here, BLAS and the blocked sums by 3–5e-7
        const [m, n, k] = [64, 16, 4096];
        const A = rf.randomNormal([m, k], { seed: 31, dtype }), B = rf.randomNormal([k, n], { seed: 32, dtype });
        const a = arr(A), b = arr(B), c = arr(K.gemm(A, B));
        let err = 0, top = 0;
        for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) s += a[i * k + p] * b[p * n + j];
          err = Math.max(err, Math.abs(c[i * n + j] - s));
          top = Math.max(top, Math.abs(s));
        }
        assert.ok(err / top < 1e-6, `max error ${(err / top).toExponential(2)} of the largest entry`);
      });

      it('gemm large enough for the packed AVX-512 kernel: ragged edges, transposes, alpha/beta, batches; beta = 0 ignores NaN in C', () => {
        // sizes that are not multiples of the 8 × 32 (float64: 8 × 16) tile or of the 256-deep
        // blocks, split across threads by rows (m ≥ n) and by columns (m < n)
        const cases: [number, number, number][] = [[133, 77, 301], [40, 260, 70], [257, 33, 520]];
        let seed = 600;
        for (const [m, n, k] of cases) {
          for (const ta of [false, true]) for (const tb of [false, true]) {
            const A = rand(ta ? [k, m] : [m, k], seed++, dtype), B = rand(tb ? [n, k] : [k, n], seed++, dtype);
            const C0 = rand([m, n], seed++, dtype);
            const a = arr(A), b = arr(B), c0 = arr(C0);
            const ref: number[] = [], plain: number[] = [];
            for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
              let acc = 0;
              for (let p = 0; p < k; p++) acc += (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
              ref.push(0.7 * acc - 1.3 * c0[i * n + j]);
              plain.push(acc);
            }
            const C = rf.clone(C0);
            K.gemm(A, B, { transA: ta, transB: tb, alpha: 0.7, beta: -1.3, out: C });
            assertClose(arr(C), ref, tol * 30, `gemm ${m}x${n}x${k} ta=${ta} tb=${tb}`);
            const nan = K.full([m, n], NaN, { dtype });
            K.gemm(A, B, { transA: ta, transB: tb, out: nan });
            assertClose(arr(nan), plain, tol * 30, `beta = 0 over NaN ${m}x${n}x${k} ta=${ta} tb=${tb}`);
          }
        }
        const A = rand([3, 70, 90], 700, dtype), B = rand([3, 90, 110], 701, dtype);
        const C = arr(K.matmul(A, B)), a = arr(A), b = arr(B);
        for (let q = 0; q < 3; q++) {
          const ref: number[] = [];
          for (let i = 0; i < 70; i++) for (let j = 0; j < 110; j++) {
            let acc = 0;
            for (let p = 0; p < 90; p++) acc += a[q * 6300 + i * 90 + p] * b[q * 9900 + p * 110 + j];
            ref.push(acc);
          }
          assertClose(C.slice(q * 7700, (q + 1) * 7700), ref, tol * 30, `batch entry ${q}`);
        }
        // batches that do not divide by the thread count cut one entry between threads: by rows
        // (m ≥ n) here, transposed A, accumulating into an existing C
        for (const batch of [3, 5]) {
          const At = rand([batch, 90, 130], 710 + batch, dtype), Bq = rand([batch, 90, 60], 720 + batch, dtype);
          const C0 = rand([batch, 130, 60], 730 + batch, dtype);
          const Cq = arr(K.matmul(At, Bq, true, false, rf.clone(C0)));
          const at = arr(At), bq = arr(Bq), c0 = arr(C0);
          for (let q = 0; q < batch; q++) {
            const ref: number[] = [];
            for (let i = 0; i < 130; i++) for (let j = 0; j < 60; j++) {
              let acc = c0[q * 7800 + i * 60 + j];
              for (let p = 0; p < 90; p++) acc += at[q * 11700 + p * 130 + i] * bq[q * 5400 + p * 60 + j];
              ref.push(acc);
            }
            assertClose(Cq.slice(q * 7800, (q + 1) * 7800), ref, tol * 30, `transposed batch ${q} of ${batch}`);
          }
        }
      });

      it('batched matmul: tall fold, wide fold, strided batch and broadcast batch dims', () => {
        const ref = (a: number[], sa: number[], b: number[], sb: number[]) => {
          const [m, k] = sa.slice(-2), n = sb[sb.length - 1];
          const ba = sa.slice(0, -2), bb = sb.slice(0, -2);
          const nb = Math.max(size(ba), size(bb));
          const out: number[] = [];
          for (let q = 0; q < nb; q++) {
            const oa = ba.length ? (q % size(ba)) * m * k : 0;
            const ob = bb.length ? (q % size(bb)) * k * n : 0;
            for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
              let s = 0;
              for (let p = 0; p < k; p++) s += a[oa + i * k + p] * b[ob + p * n + j];
              out.push(s);
            }
          }
          return out;
        };
        const cases: [number[], number[]][] = [
          [[4, 3, 5], [5, 2]], [[3, 5], [4, 5, 2]], [[3, 5], [4, 5, 200]], [[4, 3, 5], [4, 5, 2]], [[2, 3, 5], [3, 5, 2]].slice(0, 0) as any,
          [[1, 3, 5], [6, 5, 2]], [[2, 2, 3, 5], [2, 5, 4]],
        ].filter((c) => c.length) as [number[], number[]][];
        let seed = 100;
        for (const [sa, sb] of cases) {
          const A = rand(sa, seed++, dtype), B = rand(sb, seed++, dtype);
          const C = K.matmul(A, B);
          let expected: number[];
          if (sa.length === 4) {
            // [2,2,3,5] @ [2,5,4]: batch [2,2] broadcast against [2] (last batch dim)
            const a = arr(A), b = arr(B);
            expected = [];
            for (let i0 = 0; i0 < 2; i0++) for (let i1 = 0; i1 < 2; i1++) {
              expected.push(...ref(a.slice((i0 * 2 + i1) * 15, (i0 * 2 + i1 + 1) * 15), [3, 5], b.slice(i1 * 20, (i1 + 1) * 20), [5, 4]));
            }
          } else {
            expected = ref(arr(A), sa, arr(B), sb);
          }
          assertClose(arr(C), expected, tol * 10, `matmul ${sa} @ ${sb}`);
        }
        // transposed operands through the batched path
        const A = rand([3, 5], 7, dtype), B = rand([4, 2, 5], 8, dtype);
        const C = K.matmul(A, B, false, true); // [4, 3, 2]
        const Bt = K.permute(B, [0, 2, 1]);
        assertClose(arr(C), arr(K.matmul(A, Bt)), tol * 10, 'matmul transB batched');
      });

      it('unary ops', () => {
        const x = rand([5, 7], 11, dtype, -3, 3);
        const pos = rand([5, 7], 12, dtype, 0.1, 4);
        const refs: [KI.UnaryName, (v: number) => number, boolean][] = [
          ['neg', (v) => -v, false], ['exp', Math.exp, false], ['log', Math.log, true], ['tanh', Math.tanh, false],
          ['sigmoid', (v) => 1 / (1 + Math.exp(-v)), false], ['relu', (v) => Math.max(v, 0), false],
          ['square', (v) => v * v, false], ['sqrt', Math.sqrt, true], ['abs', Math.abs, false],
          ['reciprocal', (v) => 1 / v, true], ['step', (v) => (v > 0 ? 1 : 0), false], ['sign', Math.sign, false],
          ['softplus', (v) => Math.log1p(Math.exp(v)), false],
        ];
        for (const [name, f, needsPos] of refs) {
          const input = needsPos ? pos : x;
          assertClose(arr(K.unary(name, input)), arr(input).map(f), tol, name);
        }
        // extreme inputs stay finite where the mathematics is finite
        const big = rf.tensor([-800, 800, 0], undefined, { dtype });
        assertClose(arr(K.unary('sigmoid', big)), [0, 1, 0.5], tol, 'sigmoid extremes');
        assertClose(arr(K.unary('softplus', big)), [0, 800, Math.log(2)], tol, 'softplus extremes');
        // empty tensors
        assert.deepEqual(K.unary('exp', rf.zeros([0, 3], { dtype })).shape, [0, 3]);
      });

      it('binary ops with NumPy broadcasting, and scalar variants', () => {
        const shapes: [number[], number[]][] = [
          [[4, 5], [4, 5]], [[4, 5], [5]], [[4, 1], [1, 5]], [[3, 1, 5], [4, 1]], [[1], [2, 3]], [[], [3]], [[2, 3, 4], [2, 1, 4]],
          [[6, 7, 1], [7, 9]], [[0, 3], [3]],
        ];
        const fns: [KI.BinaryName, (a: number, b: number) => number][] = [
          ['add', (a, b) => a + b], ['sub', (a, b) => a - b], ['mul', (a, b) => a * b], ['div', (a, b) => a / b],
          ['maximum', (a, b) => (a > b ? a : b)], ['minimum', (a, b) => (a < b ? a : b)],
        ];
        let seed = 20;
        for (const [sa, sb] of shapes) {
          const A = rand(sa, seed++, dtype, 0.5, 2), B = rand(sb, seed++, dtype, 0.5, 2);
          for (const [name, f] of fns) {
            const out = K.binary(name, A, B);
            const r = refBroadcast(arr(A), sa, arr(B), sb, f);
            assert.deepEqual(out.shape, r.shape, `${name} ${sa} ${sb} shape`);
            assertClose(arr(out), r.out.map(round(dtype)), tol, `${name} ${sa} ${sb}`);
          }
        }
        const X = rand([3, 4], 50, dtype, 0.5, 2);
        const x = arr(X);
        assertClose(arr(K.binaryScalar('sub', X, 2, true)), x.map((v) => 2 - v), tol, 'rsub');
        assertClose(arr(K.binaryScalar('div', X, 2, true)), x.map((v) => 2 / v), tol, 'rdiv');
        assertClose(arr(K.binaryScalar('pow', X, 1.5)), x.map((v) => v ** 1.5), tol, 'pow');
        assertClose(arr(K.binaryScalar('mul', X, -3)), x.map((v) => -3 * v), tol, 'mul scalar');
        const Y = rand([3, 4], 51, dtype);
        assertClose(arr(K.axpby(0.5, X, -2, Y)), x.map((v, i) => 0.5 * v - 2 * arr(Y)[i]), tol, 'axpby');
        assertClose(arr(K.axpby(0.5, X)), x.map((v) => 0.5 * v), tol, 'axpby without y');
        assertClose(arr(K.expand(rand([3, 1], 52, dtype), [2, 3, 4])), refBroadcast(arr(rand([3, 1], 52, dtype)), [3, 1], new Array(24).fill(0), [2, 3, 4], (a) => a).out, tol, 'expand');
      });

      it('reductions over all or given axes, max, argmax, dot', () => {
        const shape = [3, 4, 5];
        const X = rand(shape, 60, dtype);
        const x = arr(X);
        const st = strides(shape);
        const axesList = [[0], [1], [2], [0, 2], [1, 2], [0, 1, 2]];
        for (const axes of axesList) {
          for (const op of ['sum', 'max'] as const) {
            const out = K.reduce(op, X, axes);
            const kept = shape.map((d, i) => (axes.includes(i) ? 1 : d));
            const ref = new Array(size(kept)).fill(op === 'sum' ? 0 : -Infinity);
            const ks = strides(kept);
            for (let i = 0; i < x.length; i++) {
              const idx = unravel(i, shape);
              let o = 0;
              idx.forEach((v, d) => (o += (axes.includes(d) ? 0 : v) * ks[d]));
              ref[o] = op === 'sum' ? ref[o] + x[i] : Math.max(ref[o], x[i]);
            }
            assertClose(arr(out), ref, tol, `${op} over ${axes}`);
          }
        }
        void st;
        assert.deepEqual(K.reduce('sum', X, [1], true).shape, [3, 1, 5]);
        assertClose(arr(K.reduce('sum', X)), [x.reduce((a, b) => a + b, 0)], tol, 'sum all');
        const am = arr(K.argmax(X, 1));
        for (let i = 0; i < 3; i++) for (let j = 0; j < 5; j++) {
          let best = 0;
          for (let q = 1; q < 4; q++) if (x[i * 20 + q * 5 + j] > x[i * 20 + best * 5 + j]) best = q;
          assert.equal(am[i * 5 + j], best);
        }
        const Y = rand(shape, 61, dtype);
        assertClose([K.dot(X, Y)], [arr(X).reduce((s, v, i) => s + v * arr(Y)[i], 0)], tol, 'dot');
        assertClose(arr(K.reduce('sum', rf.zeros([0, 3], { dtype }), [0])), [0, 0, 0], tol, 'sum of empty');
      });

      it('copy, reshape, permute, slice, concat, gather and scatter-add', () => {
        const X = rand([3, 4, 5], 70, dtype);
        const x = arr(X);
        const P = K.permute(X, [2, 0, 1]);
        assert.deepEqual(P.shape, [5, 3, 4]);
        const p = arr(P);
        for (let i = 0; i < 3; i++) for (let j = 0; j < 4; j++) for (let k = 0; k < 5; k++) {
          assert.equal(p[k * 12 + i * 4 + j], x[i * 20 + j * 5 + k]);
        }
        const S = K.slice(X, 1, 1, 3);
        assert.deepEqual(S.shape, [3, 2, 5]);
        const s = arr(S);
        for (let i = 0; i < 3; i++) for (let j = 0; j < 2; j++) for (let k = 0; k < 5; k++) {
          assert.equal(s[i * 10 + j * 5 + k], x[i * 20 + (j + 1) * 5 + k]);
        }
        const C = K.concat([K.slice(X, 1, 0, 1), K.slice(X, 1, 1, 4)], 1);
        assert.deepEqual(arr(C), x);
        assert.deepEqual(K.slice(X, 0, 2, 2).shape, [0, 4, 5]);
        const idx = rf.tensor([2, 0, 2, 1], undefined, { dtype: 'int32' });
        const G = K.gatherRows(X, idx);
        assert.deepEqual(arr(G), [...x.slice(40, 60), ...x.slice(0, 20), ...x.slice(40, 60), ...x.slice(20, 40)]);
        const SA = K.scatterAddRows(G, idx, 3);
        const expected = x.map((v, i) => (i >= 40 ? 2 * v : v));
        assertClose(arr(SA), expected, tol, 'scatterAdd');
        const c = rf.clone(X);
        assert.deepEqual(arr(c), x);
        const f = K.full([2, 2], 3.5, { dtype });
        assert.deepEqual(arr(f), [3.5, 3.5, 3.5, 3.5]);
      });

      it('fused softmax cross-entropy: loss, weighted gradient, second derivative (JVP) for k tangents, narrow and wide rows', () => {
        // (n, c): tiny; a classifier's 10 classes over several blocks and threads; 16 and 1
        // classes (one vector per row, and a single lane); 37 classes (the general path)
        for (const [n, c, k] of [[6, 4, 3], [1100, 10, 2], [300, 16, 1], [50, 1, 2], [90, 37, 2]]) {
          const Z = rand([n, c], 80 + c, dtype, -3, 3);
          const labels = Array.from({ length: n }, (_, i) => (i * 7) % c);
          const Y = rf.tensor(labels, undefined, { dtype: 'int32' });
          const W = rand([n], 81, dtype, 0, 2);
          const DZ = rand([k, n, c], 82, dtype);
          const DW = rand([k, n], 83, dtype);
          const z = arr(Z), w = arr(W), dz = arr(DZ), dw = arr(DW);
          const P: number[][] = [];
          const loss: number[] = [];
          for (let i = 0; i < n; i++) {
            const row = z.slice(i * c, i * c + c);
            const m = Math.max(...row);
            const e = row.map((v) => Math.exp(v - m));
            const s = e.reduce((a, b) => a + b, 0);
            P.push(e.map((v) => v / s));
            loss.push(m + Math.log(s) - row[labels[i]]);
          }
          assertClose(arr(K.softmaxXentLoss(Z, Y)), loss, tol, 'loss');
          const both = K.softmaxXentLossAndGrad(Z, Y);
          assertClose(arr(both.loss), loss, tol, 'loss (with the gradient)');
          assertClose(arr(both.grad), P.flatMap((p, i) => p.map((v, j) => v - (j === labels[i] ? 1 : 0))), tol, 'unweighted gradient');
          const grad: number[] = [];
          for (let i = 0; i < n; i++) for (let j = 0; j < c; j++) grad.push(w[i] * (P[i][j] - (j === labels[i] ? 1 : 0)));
          assertClose(arr(K.softmaxXentGrad(Z, Y, W)), grad, tol, 'grad');
          const jvp: number[] = [];
          for (let t = 0; t < k; t++) for (let i = 0; i < n; i++) {
            const d = dz.slice((t * n + i) * c, (t * n + i + 1) * c);
            const sd = d.reduce((a, v, j) => a + v * P[i][j], 0);
            for (let j = 0; j < c; j++) {
              jvp.push(w[i] * P[i][j] * (d[j] - sd) + dw[t * n + i] * (P[i][j] - (j === labels[i] ? 1 : 0)));
            }
          }
          // float32: each output sums terms of size ~|w p d| rounded to float32, and where they cancel
          // its error is float32 rounding of those terms, a few times 1e-5 of a small result
          assertClose(arr(K.softmaxXentGradJvp(Z, Y, W, DZ, DW, k)), jvp, dtype === 'float32' ? 5 * tol : tol, `jvp n=${n} c=${c}`);
        }
      });
    });
  }

  it('narrow products of a data matrix run from its row panels: same values, every width and transpose, kept until written or freed', () => {
    for (const dtype of DTYPES) {
      const tol = tolFor(dtype);
      const rows = 1037, k = 97; // not multiples of the 16 (float64: 8) rows of a panel
      const ds = rf.data.makeDataset('t', Float32Array.from(randomArray(rows * k, 900), (v) => Math.fround(v)), new Int32Array(rows), k, 10);
      const X = rf.data.toTensors(ds, dtype).X;
      const x = arr(X);
      for (const n of [1, 7, 10, 16, 20, 32]) for (const tb of [false, true]) {
        const B = rand(tb ? [n, k] : [k, n], 901 + n, dtype);
        const b = arr(B);
        const ref: number[] = [];
        for (let i = 0; i < rows; i++) for (let j = 0; j < n; j++) {
          let acc = 0;
          for (let p = 0; p < k; p++) acc += x[i * k + p] * (tb ? b[j * k + p] : b[p * n + j]);
          ref.push(acc);
        }
        const C1 = K.matmul(X, B, false, tb), C2 = K.matmul(X, B, false, tb);
        assertClose(arr(C1), ref, tol * 30, `panels n=${n} transB=${tb} ${dtype}`);
        assert.deepEqual(arr(C1), arr(C2), 'the first product takes the same path as the later ones');
      }
      assert.ok(X.storage.derived, 'the panels are kept with the data');
      // written in place: the next product sees the new values
      const W = rand([k, 10], 950, dtype);
      K.sliceAssign(X, K.full([1, k], 2, { dtype }), 0, 5);
      assert.equal(X.storage.derived, null, 'an in-place write drops the panels');
      assertRowOfTwos(K.matmul(X, W), W, 5, tol * 30);
      const panels = (X.storage as { derived: { panels: { freed: boolean } | null } | null }).derived!.panels!; // rebuilt by the product above
      const lanes = dtype === 'float64' ? 8 : 16, es = dtype === 'float64' ? 8 : 4;
      const held = rf.memory().bytes;
      X.dispose();
      rf.releaseCachedMemory();
      assert.ok(panels.freed, 'the panels go with the data');
      const dropped = held - rf.memory().bytes;
      assert.ok(dropped >= (rows * k + Math.ceil(rows / lanes) * lanes * k) * es, `disposing the data freed ${dropped} bytes`);
    }
    // the native guard
    const P = K.zeros([64 * 16]), B = K.zeros([64, 40]), C = K.zeros([16, 40]);
    assert.throws(() => native.gemmRowPanels(P.handle, 16, 64, B.handle, 40, false, 40, 1, C.handle, 40), /'n' must be in \[1, 32\]/);
  });

  it('products of a mostly-zero data matrix run from its sparse layout: every width, both transposes, batches, tangents, alpha/beta; kept until written or freed; refused by other kernels', () => {
    const rows = 1100, k = 97; // transposed: 1100 rows of B, past the L2 budget that cuts 256-column blocks to 64
    // 75 % zeros at random positions, one NaN (a non-zero that must propagate) in row 7
    const r = rng(990);
    const x0 = Float32Array.from({ length: rows * k }, () => (r() < 0.75 ? 0 : Math.fround(r() * 2 - 1)));
    for (let p = 0; p < k; p++) x0[5 * k + p] = 0; // an all-zero row
    for (const dtype of DTYPES) {
      const tol = tolFor(dtype) * 30;
      const X = rf.data.toTensors(rf.data.makeDataset('t', x0, new Int32Array(rows), k, 10), dtype).X;
      const x = arr(X);
      const ref = (b: number[], n: number, ta: boolean, tb: boolean) => dataProduct(x, rows, k, b, n, ta, tb);
      for (const n of [1, 7, 10, 16, 20, 33, 70, 300]) for (const ta of [false, true]) for (const tb of [false, true]) { // 300: several column blocks
        const inner = ta ? rows : k;
        const B = rand(tb ? [n, inner] : [inner, n], 1000 + n, dtype);
        const C1 = K.matmul(X, B, ta, tb);
        assertClose(arr(C1), ref(arr(B), n, ta, tb), tol, `sparse n=${n} transA=${ta} transB=${tb} ${dtype}`);
        assert.deepEqual(arr(K.matmul(X, B, ta, tb)), arr(C1), 'every product takes the same path');
        assert.ok(arr(C1).slice(ta ? 0 : 5 * n, ta ? 0 : 6 * n).every((v) => v === 0), 'the all-zero row gives zeros');
      }
      const d = X.storage.derived!;
      assert.ok(d.sparse && !d.panels, 'a sparse layout, no row panels');
      // batches of right-hand sides share one pass; transA too
      const B3 = rand([3, k, 12], 1100, dtype), b3 = arr(B3);
      const C3 = arr(K.matmul(X, B3));
      for (let q = 0; q < 3; q++) assertClose(C3.slice(q * rows * 12, (q + 1) * rows * 12), ref(b3.slice(q * k * 12, (q + 1) * k * 12), 12, false, false), tol, `batch ${q}`);
      const B300 = rand([300, k, 2], 1106, dtype), b300 = arr(B300); // more operands than one native call takes
      const C300 = arr(K.matmul(X, B300));
      for (const q of [0, 255, 256, 299]) assertClose(C300.slice(q * rows * 2, (q + 1) * rows * 2), ref(b300.slice(q * k * 2, (q + 1) * k * 2), 2, false, false), tol, `batch ${q} of 300`);
      const G3 = rand([2, rows, 5], 1101, dtype), g3 = arr(G3);
      const CT = arr(K.matmul(X, G3, true, false));
      for (let q = 0; q < 2; q++) assertClose(CT.slice(q * k * 5, (q + 1) * k * 5), ref(g3.slice(q * rows * 5, (q + 1) * rows * 5), 5, true, false), tol, `transposed batch ${q}`);
      // a primal and its tangents in one pass
      const b = rand([k, 10], 1102, dtype), tb = rand([3, k, 10], 1103, dtype);
      const { out, tangent } = K.matmulWithTangents(X, b, tb, false);
      assertClose(arr(out), ref(arr(b), 10, false, false), tol, 'primal');
      for (let q = 0; q < 3; q++) assertClose(arr(tangent).slice(q * rows * 10, (q + 1) * rows * 10), ref(arr(tb).slice(q * k * 10, (q + 1) * k * 10), 10, false, false), tol, `tangent ${q}`);
      // gemm with alpha, beta and out
      const W = rand([k, 4], 1104, dtype), C0 = rand([rows, 4], 1105, dtype), c0 = arr(C0);
      const XW = ref(arr(W), 4, false, false);
      K.gemm(X, W, { alpha: 2, beta: 0.5, out: C0 });
      assertClose(arr(C0), XW.map((v, i) => 2 * v + 0.5 * c0[i]), tol, 'gemm alpha/beta/out');
      // written in place: the layout is dropped and the next product sees the new values
      K.sliceAssign(X, K.full([1, k], 2, { dtype }), 0, 5);
      assert.equal(X.storage.derived, null, 'an in-place write drops the layout');
      assertRowOfTwos(K.matmul(X, W), W, 5, tol);
      // NaN in the data propagates to its row
      const xn = Float32Array.from(x0);
      xn[7 * k + 3] = NaN;
      const XN = rf.data.toTensors(rf.data.makeDataset('n', xn, new Int32Array(rows), k, 10), dtype).X;
      const yn = arr(K.matmul(XN, W));
      assert.ok(yn.slice(28, 32).every(Number.isNaN) && yn.slice(24, 28).every(Number.isFinite), 'NaN stays in row 7');
      assert.ok(XN.storage.derived!.sparse);
      // freed with the data
      const held = rf.memory().bytes;
      X.dispose();
      XN.dispose();
      rf.releaseCachedMemory();
      assert.ok(held - rf.memory().bytes >= 2 * rows * k * (dtype === 'float64' ? 8 : 4), 'disposing the data freed its layouts');
    }
    // dense data keeps the dense path
    const D = rf.data.toTensors(rf.data.makeDataset('d', Float32Array.from(randomArray(rows * k, 991)), new Int32Array(rows), k, 10), 'float32').X;
    K.matmul(D, rand([k, 3], 992, 'float32'));
    assert.equal(D.storage.derived!.sparse, null, 'a dense matrix gets no sparse layout');
    D.dispose();
    // the native guards: a layout is not a tensor, a tensor is not a layout, extents and overlaps checked
    const S = native.packSparse(K.zeros([64, 64]).handle, 64, 64, 0.5)!;
    assert.ok(S, 'an all-zero matrix is sparse');
    const T = K.zeros([64, 4]), C = K.zeros([64, 4]);
    assert.throws(() => native.binary(0, S, [4], T.handle, [4], C.handle), /sparse data layout, not a tensor/);
    assert.throws(() => native.sparseGemm(T.handle, false, [T.handle], [0], 4, false, 4, 1, 0, [C.handle], [0], 4), /is a tensor, not a sparse layout/);
    assert.throws(() => native.sparseGemm(S, false, [T.handle], [8], 4, false, 4, 1, 0, [C.handle], [0], 4), /'B' has 256 elements, the call reads 264/);
    assert.throws(() => native.sparseGemm(S, false, [T.handle], [0], 4, false, 4, 1, 0, [C.handle], [4], 4), /'C' has 256 elements/);
    assert.throws(() => native.sparseGemm(S, false, [T.handle], [0], 4, false, 4, 1, 0, [T.handle], [0], 4), /must not overlap 'B'/);
    assert.throws(() => native.sparseGemm(S, false, [T.handle, T.handle], [0], 4, false, 4, 1, 0, [C.handle], [0], 4), /same length/);
    assert.throws(() => native.packSparse(T.handle, 64, 5, 0.5), /'x' has 256 elements, expected 320/);
    assert.equal(native.packSparse(K.ones([64, 4]).handle, 64, 4, 0.5), null, 'too dense: no layout');
    assert.throws(() => native.packSparse(T.handle, 64, 4, 0.5, NaN), /'denseFrom' must be a number ≥ 0/);
    assert.throws(() => native.packSparse(T.handle, 64, 4, 0.5, -1), /'denseFrom' must be a number ≥ 0/);
    native.free(S);
    assert.throws(() => native.sparseGemm(S, false, [T.handle], [0], 4, false, 4, 1, 0, [C.handle], [0], 4), /has been freed/);
  });

  it('a sparse data matrix with dense columns: wide products take those through the dense gemm, the rest through the gathers, and agree with float64', () => {
    // 33 of 97 columns 70 % non-zero (every third), the others 10 %: 30 % non-zero in all, under
    // the sparse threshold, with the dense columns over the 0.3 that keeps them apart
    const rows = 1100, k = 97;
    const r = rng(1990);
    const x0 = Float32Array.from({ length: rows * k }, (_, i) => (r() < (i % k % 3 === 0 ? 0.7 : 0.1) ? Math.fround(r() * 2 - 1) : 0));
    for (const dtype of DTYPES) {
      const tol = tolFor(dtype) * 30;
      const X = rf.data.toTensors(rf.data.makeDataset('h', x0, new Int32Array(rows), k, 10), dtype).X;
      const x = arr(X);
      // the layout keeps the 33 dense columns apart (none with denseFrom above 1: then it is CSR +
      // CSC and a 64-byte header, nothing more)
      const nnz = x.filter((v) => v !== 0).length, size = dtype === 'float64' ? 8 : 4;
      const b0 = rf.memory().bytes;
      const plain = native.packSparse(X.handle, rows, k, 0.5, 2)!;
      const plainBytes = rf.memory().bytes - b0;
      const withDense = native.packSparse(X.handle, rows, k, 0.5, 0.3)!;
      const denseBytes = rf.memory().bytes - b0 - plainBytes;
      const bothWays = 2 * nnz * size + (rows + 1 + k + 1 + 2 * nnz) * 4;
      assert.ok(plainBytes >= bothWays && plainBytes <= bothWays + 128, `a layout without dense columns: ${plainBytes} bytes, CSR + CSC ${bothWays}`);
      assert.ok(denseBytes >= plainBytes + rows * 33 * size, `with them: ${denseBytes} bytes`);
      assert.deepEqual(native.sparseInfo(plain), { rows, cols: k, nnz, denseCols: 0 });
      assert.equal(native.sparseInfo(withDense).denseCols, 33);
      native.free(plain);
      native.free(withDense);
      const ref = (b: number[], n: number, ta: boolean, tb: boolean) => dataProduct(x, rows, k, b, n, ta, tb);
      // narrow products first: the data's layout holds no dense columns until a wide one comes
      const narrowB = rand([k, 10], 1999, dtype), narrowBefore = arr(K.matmul(X, narrowB));
      assert.equal(native.sparseInfo(X.storage.derived!.sparse!).denseCols, 0, 'narrow products only: no dense copy');
      for (const n of [10, 31, 32, 45, 256, 300]) for (const ta of [false, true]) for (const tb of [false, true]) { // ≥ 32: the dense columns' path
        const inner = ta ? rows : k;
        const B = rand(tb ? [n, inner] : [inner, n], 2000 + n, dtype);
        const C1 = K.matmul(X, B, ta, tb);
        assertClose(arr(C1), ref(arr(B), n, ta, tb), tol, `n=${n} transA=${ta} transB=${tb} ${dtype}`);
        assert.deepEqual(arr(K.matmul(X, B, ta, tb)), arr(C1), 'every product takes the same path');
      }
      assert.equal(native.sparseInfo(X.storage.derived!.sparse!).denseCols, 33, 'the first wide product rebuilt the layout with them');
      assert.deepEqual(arr(K.matmul(X, narrowB)), narrowBefore, 'narrow products: the same bits from either layout');
      // batches, both ways
      const B3 = rand([3, k, 40], 2100, dtype), b3 = arr(B3);
      const C3 = arr(K.matmul(X, B3));
      for (let q = 0; q < 3; q++) assertClose(C3.slice(q * rows * 40, (q + 1) * rows * 40), ref(b3.slice(q * k * 40, (q + 1) * k * 40), 40, false, false), tol, `batch ${q}`);
      const G3 = rand([2, rows, 48], 2101, dtype), g3 = arr(G3);
      const CT = arr(K.matmul(X, G3, true, false));
      for (let q = 0; q < 2; q++) assertClose(CT.slice(q * k * 48, (q + 1) * k * 48), ref(g3.slice(q * rows * 48, (q + 1) * rows * 48), 48, true, false), tol, `transposed batch ${q}`);
      // alpha and beta, both ways (the gathers take beta, the dense columns' share is added)
      for (const ta of [false, true]) {
        const m = ta ? k : rows, inner = ta ? rows : k;
        const W = rand([inner, 40], 2102, dtype), C0 = rand([m, 40], 2103, dtype), c0 = arr(C0);
        const XW = ref(arr(W), 40, ta, false);
        K.gemm(X, W, { transA: ta, alpha: 2, beta: 0.5, out: C0 });
        assertClose(arr(C0), XW.map((v, i) => 2 * v + 0.5 * c0[i]), tol, `gemm alpha/beta/out transA=${ta}`);
      }
      // NaN in a dense column (row 7, column 0) and in a sparse one (row 9, column 1) stays in its row (its column of Xᵀ)
      const xn = Float32Array.from(x0);
      xn[7 * k] = NaN;
      xn[9 * k + 1] = NaN;
      const XN = rf.data.toTensors(rf.data.makeDataset('hn', xn, new Int32Array(rows), k, 10), dtype).X;
      const W = rand([k, 40], 2104, dtype), G = rand([rows, 40], 2105, dtype);
      const yn = arr(K.matmul(XN, W)), tn = arr(K.matmul(XN, G, true, false));
      for (let i = 0; i < 12; i++) {
        const nan = i === 7 || i === 9;
        assert.ok(yn.slice(i * 40, (i + 1) * 40).every((v) => Number.isNaN(v) === nan), `XW row ${i}: NaN only in rows 7 and 9`);
      }
      for (let c = 0; c < 4; c++) {
        const nan = c === 0 || c === 1;
        assert.ok(tn.slice(c * 40, (c + 1) * 40).every((v) => Number.isNaN(v) === nan), `XᵀG row ${c}: NaN only in rows 0 and 1`);
      }
      X.dispose();
      XN.dispose();
    }
  });

  it('sparse products never read past their right-hand side: B ending at a guard page, every width, transpose, stride and operand count (native harness)', function () {
    // built with the addon (CMakeLists.txt, native/test/sparse_guard.cc); a read past B faults
    const exe = path.resolve(__dirname, '..', '..', 'build', 'Release', 'rfho_sparse_guard');
    assert.ok(fs.existsSync(exe), `the native harness ${exe} is built with the addon`);
    // it is compiled for the most capable level built (x86-64-v4): a CPU without AVX-512 cannot run it
    if (['x86-64-v2', 'x86-64-v3'].includes(rf.availableDevices().cpu) && !process.env.RFHO_CPU) this.skip();
    const run = spawnSync(exe, { encoding: 'utf8', timeout: 60000 });
    assert.equal(run.signal, null, `the harness was killed by ${run.signal} (a read past B?)`);
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /float32: 1344 products \(96 with dense columns\), none read past B/);
    assert.match(run.stdout, /float64: 1344 products \(96 with dense columns\), none read past B/);
  });

  it('tanh backward kernels: g (1 − y²) with y broadcast over leading dims (and a bias per leading row), and its tangent tg (1 − y²) − 2 g y ty', () => {
    for (const dtype of DTYPES) {
      const tol = tolFor(dtype);
      const n = 3001, k = 3; // several threads' ranges
      const Y = rand([n], 70, dtype, -0.99, 0.99), G = rand([n], 71, dtype), GK = rand([k, n], 72, dtype);
      const TY = rand([k, n], 73, dtype), TG = rand([k, n], 74, dtype);
      const y = arr(Y), g = arr(G), gk = arr(GK), ty = arr(TY), tg = arr(TG);
      assertClose(arr(K.tanhGrad(Y, G)), g.map((v, i) => v * (1 - y[i] * y[i])), tol, 'tanhGrad');
      assertClose(arr(K.tanhGrad(Y, GK)), gk.map((v, i) => v * (1 - y[i % n] ** 2)), tol, 'tanhGrad over k');
      // two terms of size ~1 that may cancel: float32 keeps their rounding, a few 1e-5 of the result
      const tolJ = dtype === 'float32' ? 5 * tol : tol;
      assertClose(arr(K.tanhGradJvp(Y, G, TY, TG)), tg.map((v, j) => v * (1 - y[j % n] ** 2) - 2 * g[j % n] * y[j % n] * ty[j]), tolJ, 'tanhGradJvp');
      assertClose(arr(K.tanhGradJvp(Y, G, TY, null)), ty.map((v, j) => -2 * g[j % n] * y[j % n] * v), tol, 'tanhGradJvp without tg');
      // a bias per row of the k, along y's last axis (a layer's tangent: rows of 37, ranges cut mid-row),
      // written in place over g
      const rows = 401, h = 37; // 3 × 14837 values: two threads, the second starting mid-row
      const Y2 = rand([rows, h], 75, dtype, -0.99, 0.99), G2 = rand([k, rows, h], 76, dtype), B2 = rand([k, h], 77, dtype);
      const y2 = arr(Y2), g2 = arr(G2), b2 = arr(B2);
      const ref = g2.map((v, j) => (v + b2[Math.floor(j / (rows * h)) * h + (j % h)]) * (1 - y2[j % (rows * h)] ** 2));
      assertClose(arr(K.tanhGrad(Y2, G2, G2, B2)), ref, tol, 'tanhGrad with a bias, in place');
    }
    const Y = K.zeros([4]);
    assert.throws(() => K.tanhGrad(K.zeros([2, 4]), K.zeros([3, 2, 4]), undefined, K.zeros([3, 2])), /'bias' \[3, 2\] must hold 3 rows of y's last dimension 4/);
    assert.throws(() => native.tanhGrad(Y.handle, Y.handle, Y.handle, 4, 1, K.zeros([3]).handle, 3), /'h' must divide 'n'/);
    assert.throws(() => native.tanhGrad(Y.handle, Y.handle, Y.handle, 4, 1, K.zeros([3]).handle, 2), /'bias' has 3 elements, expected 2/);
    assert.throws(() => K.tanhGrad(Y, K.zeros([5])), /'g' \[5\] must be 'y' \[4\]/);
    assert.throws(() => K.tanhGradJvp(Y, K.zeros([4]), K.zeros([2, 3]), null), /'ty' \[2, 3\] must be \[k, \.\.\.\[4\]\]/);
    assert.throws(() => native.tanhGrad(Y.handle, Y.handle, K.zeros([3]).handle, 4, 1), /'out' has 3 elements, expected 4/);
  });

  it('large reductions split across threads: sums and maxima over any axes equal the serial references, NaN propagating from any part', () => {
    const shape = [6, 1999, 37];
    const x = Array.from(randomArray(6 * 1999 * 37, 80));
    x[5 * 1999 * 37 + 1500 * 37 + 3] = NaN; // late in the rows: another thread's part
    const X = rf.tensor(x, shape, { dtype: 'float64' });
    const same = (got: number[], want: number[], what: string) => {
      assert.deepEqual(got.map(Number.isNaN), want.map(Number.isNaN), `${what}: NaN where expected`);
      assertClose(got.filter((v) => !Number.isNaN(v)), want.filter((v) => !Number.isNaN(v)), 1e-12, what);
    };
    for (const axes of [[1], [0, 1], [2], [0, 2]]) {
      const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
      const sums = new Array(size(outShape)).fill(0), maxs = new Array(size(outShape)).fill(-Infinity);
      for (let i = 0; i < x.length; i++) {
        const idx = unravel(i, shape).map((v, d) => (axes.includes(d) ? 0 : v));
        const o = idx.reduce((acc, v, d) => acc * outShape[d] + v, 0);
        sums[o] += x[i];
        maxs[o] = Number.isNaN(maxs[o]) || x[i] <= maxs[o] ? maxs[o] : x[i];
      }
      same(arr(K.reduce('sum', X, axes)), sums, `sum over ${axes}`);
      same(arr(K.reduce('max', X, axes)), maxs, `max over ${axes}`);
    }
  });

  it('float32 exp (vectorised polynomial) is within 2 ulp of exp over its whole range, with IEEE edges', () => {
    const n = 200001;
    const xs = new Float32Array(n);
    for (let i = 0; i < n; i++) xs[i] = -87.3 + (176 * i) / (n - 1); // [−87.3, 88.7]
    const got = arr(K.unary('exp', rf.tensor(xs, [n], { dtype: 'float32' })));
    let worst = 0;
    for (let i = 0; i < n; i++) {
      const e = Math.exp(xs[i]);
      worst = Math.max(worst, Math.abs(got[i] - e) / e);
    }
    assert.ok(worst < 2.4e-7, `largest relative error ${worst}`); // 2 ulp = 2.4e-7 at the top of a binade
    const edges = arr(K.unary('exp', rf.tensor([-100, -Infinity, 100, Infinity, NaN, 0, 88.72], undefined, { dtype: 'float32' })));
    assert.deepEqual(edges.slice(0, 6), [0, 0, Infinity, Infinity, NaN, 1]);
    assert.ok(Number.isFinite(edges[6]) && Math.abs(edges[6] / Math.exp(Math.fround(88.72)) - 1) < 3e-7, `exp(88.72) = ${edges[6]}`);
  });

  it('float32 softmax cross-entropy over many row blocks and both threads = a float64 reference', () => {
    const n = 3001, c = 10;
    const Z = rand([n, c], 90, 'float32', -8, 8);
    const labels = Array.from({ length: n }, (_, i) => (i * 7) % c);
    const Y = rf.tensor(labels, undefined, { dtype: 'int32' });
    const z = arr(Z);
    const loss: number[] = [], grad: number[] = [];
    for (let i = 0; i < n; i++) {
      const row = z.slice(i * c, i * c + c);
      const m = Math.max(...row);
      const s = row.reduce((a, v) => a + Math.exp(v - m), 0);
      loss.push(m + Math.log(s) - row[labels[i]]);
      row.forEach((v, j) => grad.push(Math.exp(v - m) / s - (j === labels[i] ? 1 : 0)));
    }
    const both = K.softmaxXentLossAndGrad(Z, Y);
    assertClose(arr(both.loss), loss, 2e-6, 'loss');
    assertClose(arr(both.grad), grad, 2e-6, 'grad');
    // the fused call equals the separate ones bit for bit
    assert.deepEqual(arr(both.loss), arr(K.softmaxXentLoss(Z, Y)));
    assert.deepEqual(arr(both.grad), arr(K.softmaxXentGrad(Z, Y)));
    // a confident row keeps its tiny loss: log(1 + 2 e^-30) ≈ 1.87e-13, not 0
    const conf = arr(K.softmaxXentLoss(rf.tensor([[30, 0, 0]], undefined, { dtype: 'float32' }), rf.tensor([0], undefined, { dtype: 'int32' })))[0];
    assert.ok(Math.abs(conf / (2 * Math.exp(-30)) - 1) < 1e-6, `confident loss ${conf}`);
    // NaN in a row propagates to that row only
    const bad = K.softmaxXentLoss(rf.tensor([[0, NaN, 1], [0, 1, 2]], undefined, { dtype: 'float32' }), rf.tensor([0, 2], undefined, { dtype: 'int32' }));
    const b = arr(bad);
    assert.ok(Number.isNaN(b[0]) && Math.abs(b[1] - (Math.log(1 + Math.exp(-1) + Math.exp(-2)))) < 1e-6, `losses ${b}`);
  });

  it('float32 large-magnitude logits give finite losses (stable logsumexp)', () => {
    const Z = rf.tensor([[1000, -1000, 0], [-1e4, 1e4, 5]], undefined, { dtype: 'float32' });
    const Y = rf.tensor([1, 0], undefined, { dtype: 'int32' });
    assertClose(arr(K.softmaxXentLoss(Z, Y)), [2000, 2e4], 1e-6, 'loss');
  });

  it('random data of many shapes through the broadcast kernel (fuzz against the reference)', () => {
    const r = rng(5);
    for (let trial = 0; trial < 60; trial++) {
      const rank = 1 + Math.floor(r() * 4);
      const so = Array.from({ length: rank }, () => 1 + Math.floor(r() * 4));
      const sa = so.map((d) => (r() < 0.3 ? 1 : d)).slice(Math.floor(r() * rank));
      const sb = so.map((d) => (r() < 0.3 ? 1 : d));
      const A = rf.tensor(randomArray(size(sa), trial), sa, { dtype: 'float64' });
      const B = rf.tensor(randomArray(size(sb), trial + 1000), sb, { dtype: 'float64' });
      const out = K.binary('mul', A, B);
      const ref = refBroadcast(arr(A), sa, arr(B), sb, (a, b) => a * b);
      assert.deepEqual(out.shape, ref.shape);
      assertClose(arr(out), ref.out, 1e-15, `mul ${sa} ${sb}`);
    }
  });

  it('asDataMatrix: a matrix marked as data gets its sparse layout at its first product, same values to rounding; bad input named', () => {
    const rows = 2048, k = 64, n = 8;
    const xs = new Float32Array(rows * k);
    for (let i = 0; i < xs.length; i++) if ((i * 2654435761) % 97 < 9) xs[i] = ((i % 13) - 6) / 7; // ~9 % non-zero
    const X = rf.tensor(xs, [rows, k]), B = rf.randomNormal([k, n], { seed: 2 });
    const plain = rf.kernels.matmul(X, B);
    assert.equal(rf.kernels.isDataMatrix(X), false);
    assert.equal(X.storage.derived, null, 'an unmarked matrix gets no derived layout');
    assert.equal(rf.data.asDataMatrix(X), X);
    assert.equal(rf.kernels.isDataMatrix(X), true);
    const viaLayout = rf.kernels.matmul(X, B);
    assert.ok((X.storage as { derived: { sparse: unknown } | null }).derived?.sparse, 'the marked matrix got its sparse layout');
    const a = plain.toArray(), b = viaLayout.toArray();
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= 1e-5 * (1 + Math.abs(a[i])), `${i}: ${a[i]} vs ${b[i]}`);
    assert.throws(() => rf.data.asDataMatrix([1, 2] as never), /argument 'x' must be a Tensor/);
    assert.throws(() => rf.kernels.asDataMatrix(rf.tensor([1, 2], undefined, { dtype: 'int32' })), /'x'/);
    [X, B, plain, viaLayout].forEach((t) => t.dispose());
  });
});
