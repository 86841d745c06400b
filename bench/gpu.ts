/**
 * GPU benchmarks (run on a lent GPU machine by bench/gpu/run.sh): HC Reverse-HG hypergradient
 * (T = 1000) on the GPU against this machine's CPU backend in the same run, strided-batched gemm
 * throughput, and the fused softmax cross-entropy's achieved memory bandwidth.
 */
import * as rf from '../lib';
import * as KI from '../lib/kernels';
import { native } from '../lib/native/binding';
import { hcProblem } from './problems';
import { emit, median, nowSeconds } from './common';
import * as os from 'node:os';
import * as path from 'node:path';

/** Whether the package's embedded digits are there (a copy of the tree without data/ falls back to synthetic data). */
function timeDevice(fn: () => void, reps: number): number {
  fn();
  native.synchronize();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = nowSeconds();
    fn();
    native.synchronize();
    ts.push(nowSeconds() - t0);
  }
  return median(ts);
}

function main() {
  const info = rf.availableDevices();
  console.log(`# GPU benchmark: ${info.cudaStatus}`);
  if (!info.cuda) process.exit(2);
  const folder = path.join(os.tmpdir(), 'rfho-gpu-hc');
  for (const T of [100, 1000]) {
    const secs: Record<string, number> = {};
    for (const device of ['cuda', 'cpu'] as const) {
      if (device === 'cpu' && T > 100 && process.env.RFHO_GPU_SKIP_CPU_1000) continue;
      rf.setDefaultDevice(device);
      const p = hcProblem(folder, 'float32', 5000, 'digits');
      const t0 = nowSeconds();
      const r = rf.reverseHG(p.problem, { T });
      native.synchronize();
      secs[device] = nowSeconds() - t0;
      secs[`${device}_value`] = r.value;
      rf.setDefaultDevice('cpu');
    }
    emit({ bench: 'gpu-hc', T, cuda_s: +secs.cuda.toFixed(3), cpu_s: secs.cpu ? +secs.cpu.toFixed(3) : null, speedup: secs.cpu ? +(secs.cpu / secs.cuda).toFixed(1) : null, value_cuda: secs.cuda_value, value_cpu: secs.cpu_value });
  }
  rf.setDefaultDevice('cuda');
  for (const [batch, m, n, k] of [[64, 512, 512, 512], [8, 5000, 80, 784], [128, 256, 256, 256]]) {
    for (const dtype of ['float32', 'float64'] as const) {
      const a = rf.randomNormal([batch, m, k], { seed: 1, dtype }), b = rf.randomNormal([batch, k, n], { seed: 2, dtype });
      const s = timeDevice(() => KI.matmul(a, b).dispose(), 20);
      emit({ bench: 'gpu-batched-gemm', shape: `${batch}x${m}x${n}x${k}`, dtype, tflops: +((2 * batch * m * n * k) / s / 1e12).toFixed(2) });
    }
  }
  for (const [n, c] of [[1_000_000, 10], [200_000, 100]]) {
    const z = rf.randomNormal([n, c], { seed: 3 }), y = rf.tensor(Int32Array.from({ length: n }, (_, i) => i % c), undefined, { dtype: 'int32' });
    const s = timeDevice(() => KI.softmaxXentGrad(z, y).dispose(), 20);
    const bytes = n * c * 4 * 2 + n * 4; // logits in, gradient out, labels
    emit({ bench: 'gpu-softmax-xent-grad', shape: `${n}x${c}`, gbps: +(bytes / s / 1e9).toFixed(1) });
  }
}

main();
