/**
 * Backend parity: on every non-CPU backend, ops, autodiff and a hypergradient must match the CPU
 * (float64 to ~1e-12, float32 to the usual tolerance). Skipped, loudly, where no GPU is found.
 */
import * as rf from '../lib';
import { Tensor } from '../lib';
import { assertClose, rand } from './helpers';

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
    for (const dtype of ['float64', 'float32'] as const) {
      const tol = dtype === 'float64' ? 1e-12 : 2e-5;
      it(`${device} ${dtype}: ops, gradients, HVPs and a Reverse-HG hypergradient match the CPU`, () => {
        const onDev = (t: Tensor) => rf.toDevice(t, device);
        const x = rand([64, 33], 1, dtype), w = rand([33, 10], 2, dtype), v = rand([4, 33, 10], 3, dtype);
        const labels = rf.tensor(Array.from({ length: 64 }, (_, i) => i % 10), undefined, { dtype: 'int32' });
        const f = (X: Tensor, y: Tensor) => (W: Tensor) => rf.mean(rf.softmaxCrossEntropy(rf.tanh(rf.matmul(X, W)), y));
        const cpu = rf.tidy(() => ({
          g: (rf.grad(f(x, labels))(w) as Tensor).toArray(),
          h: (rf.hvp(f(x, labels), w, v, { batched: true }) as Tensor).toArray(),
          s: rf.sum(rf.exp(rf.sub(x, rf.max(x, 1, true))), 0).toArray(),
        }));
        const gpu = rf.tidy(() => {
          const X = onDev(x), W = onDev(w), V = onDev(v), Y = onDev(labels);
          return {
            g: (rf.grad(f(X, Y))(W) as Tensor).toArray(),
            h: (rf.hvp(f(X, Y), W, V, { batched: true }) as Tensor).toArray(),
            s: rf.sum(rf.exp(rf.sub(X, rf.max(X, 1, true))), 0).toArray(),
          };
        });
        assertClose(gpu.g, cpu.g, tol, 'gradient');
        assertClose(gpu.h, cpu.h, tol, 'hvp');
        assertClose(gpu.s, cpu.s, tol, 'reductions');
        const hg = (dev: 'cpu' | 'cuda') => {
          rf.setDefaultDevice(dev);
          try {
            const X = rf.toDevice(x, dev), Y = rf.toDevice(labels, dev);
            const model = rf.linear(33, 10);
            const lam = rf.hyperparameter('lam', rf.full([64], 0.5, { dtype, device: dev }));
            const p = rf.bilevel({
              params: model, hyperparameters: [lam], init: rf.toDevice(model.initialize({ seed: 0, dtype }), dev),
              train: (ww, h) => rf.crossEntropy(model.apply(ww, X), Y, { weights: h.lam }),
              valid: (ww) => rf.crossEntropy(model.apply(ww, X), Y),
              dynamics: rf.dynamics.gradientDescent({ lr: 0.5 }),
            });
            return rf.reverseHG(p, { T: 20 }).grads.lam.toArray();
          } finally {
            rf.setDefaultDevice('cpu');
          }
        };
        assertClose(hg(device), hg('cpu'), dtype === 'float64' ? 1e-10 : 1e-4, 'hypergradient');
      });
    }
  }
});
