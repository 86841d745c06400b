/**
 * Kernel benchmark: gemm GFLOP/s of rfho against OpenBLAS called from numpy, interleaved A/B in one
 * run, the cost of a tiny op call from JavaScript, and the memory bandwidth.
 *   node dist/bench/kernels.js [--reps N]
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import * as rf from '../lib';
import * as KI from '../lib/kernels';
import { emit, machine, median, nowSeconds, timeMedian } from './common';

const reps = Number(process.argv[process.argv.indexOf('--reps') + 1]) || 7;
const rounds = 3;

function numpyPeer() {
  const proc = spawn(process.env.PYTHON ?? 'python3', [path.join(__dirname, '..', '..', 'bench', 'peers', 'numpy_gemm.py')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: proc.stdout });
  const pending: ((v: number) => void)[] = [];
  lines.on('line', (l) => pending.shift()?.(JSON.parse(l).median_s));
  let dead = false;
  proc.on('error', () => (dead = true));
  proc.on('exit', () => {
    dead = true;
    while (pending.length) pending.shift()!(NaN);
  });
  return {
    time(m: number, n: number, k: number, dtype: string): Promise<number> {
      if (dead) return Promise.resolve(NaN);
      return new Promise((resolve) => {
        pending.push(resolve);
        proc.stdin.write(JSON.stringify({ m, n, k, dtype, reps }) + '\n');
      });
    },
    close: () => proc.stdin.end(),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main() {
  console.log(`# kernels benchmark on ${machine()}`);
  const peer = numpyPeer();
  const shapes: [string, number, number, number][] = [
    ['1024^3', 1024, 1024, 1024],
    ['HC 5000x784x10', 5000, 10, 784],
    ['HC 5000x784x80 (k=8)', 5000, 80, 784],
    ['HC 5000x784x640 (k=64)', 5000, 640, 784],
  ];
  for (const dtype of ['float32', 'float64'] as const) {
    for (const [name, m, n, k] of shapes) {
      const a = rf.randomNormal([m, k], { seed: 1, dtype });
      const b = rf.randomNormal([k, n], { seed: 2, dtype });
      const c = rf.zeros([m, n], { dtype });
      const ours: number[] = [], theirs: number[] = [];
      for (let r = 0; r < rounds; r++) {
        // Idle BLAS threads of the other process spin for a while after each call: wait them out.
        await sleep(500);
        ours.push(timeMedian(() => KI.gemm(a, b, { out: c }), reps));
        theirs.push(await peer.time(m, n, k, dtype));
      }
      const flops = 2 * m * n * k;
      const gOurs = flops / median(ours) / 1e9, gPeer = flops / median(theirs) / 1e9;
      emit({ bench: 'gemm', shape: name, dtype, rfho_gflops: +gOurs.toFixed(1), numpy_gflops: +gPeer.toFixed(1), ratio: +(gOurs / gPeer).toFixed(3) });
      a.dispose(); b.dispose(); c.dispose();
    }
  }
  peer.close();
  // The cost of one tiny op from JavaScript: an add of two 4-element tensors, output disposed.
  const x = rf.ones([4]), y = rf.ones([4]);
  const n = 200_000;
  const perCall: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = nowSeconds();
    for (let i = 0; i < n; i++) KI.binary('add', x, y).dispose();
    perCall.push(((nowSeconds() - t0) / n) * 1e6);
  }
  const outBuf = rf.ones([4]);
  const { native } = await import('../lib/native/binding');
  const raw: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = nowSeconds();
    for (let i = 0; i < n; i++) native.binary(0, x.handle, x.shape, y.handle, y.shape, outBuf.handle);
    raw.push(((nowSeconds() - t0) / n) * 1e6);
  }
  const opAd: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = nowSeconds();
    for (let i = 0; i < n; i++) rf.add(x, y).dispose();
    opAd.push(((nowSeconds() - t0) / n) * 1e6);
  }
  emit({ bench: 'tiny-op', what: 'kernels.binary add [4] incl. alloc+dispose', us_per_call: +median(perCall).toFixed(3) });
  emit({ bench: 'tiny-op', what: 'native binary add [4] into existing output', us_per_call: +median(raw).toFixed(3) });
  emit({ bench: 'tiny-op', what: 'differentiable rf.add [4] incl. alloc+dispose', us_per_call: +median(opAd).toFixed(3) });
  bandwidth();
}

/**
 * The machine's memory bandwidth as the STREAM "add" kernel measures it (c = a + b, two reads and
 * a write, on every core), with operands that stay in cache and ones that do not, and the floor it
 * sets under a hyper-cleaning Reverse-HG step on dense data: the step's two fused passes read the
 * data matrix's row panels once each (Fashion-MNIST's 5000×784 in float32: 2 × 15.7 MB).
 */
function bandwidth(): void {
  const hcStepBytes = 2 * 5000 * 784 * 4;
  for (const mb of [4, 256]) {
    const n = (mb * 2 ** 20) / 4;
    const a = rf.ones([n]), b = rf.ones([n]), c = rf.ones([n]);
    const { native } = require('../lib/native/binding') as typeof import('../lib/native/binding');
    const s = timeMedian(() => native.binary(0, a.handle, a.shape, b.handle, b.shape, c.handle), mb > 64 ? 7 : 51);
    const gbs = (3 * mb * 2 ** 20) / s / 1e9;
    emit({ bench: 'bandwidth', what: `STREAM add, ${mb} MB per operand${mb > 64 ? ' (from memory)' : ' (in cache)'}`, gb_per_s: +gbs.toFixed(1), hc_dense_step_floor_ms: +((hcStepBytes / (gbs * 1e9)) * 1e3).toFixed(2) });
    [a, b, c].forEach((t) => t.dispose());
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
