/** Models over a flat parameter vector, written with the public ops (so any user model works too). */
import { ArgumentError } from '../errors/errors';
import { show } from '../errors/show';
import { FloatDType } from '../tensor/dtype';
import { Tensor } from '../tensor/tensor';
import { add, relu, sigmoid, softplus, tanh } from '../ops/elementwise';
import { denseTanh, matmul } from '../ops/linalg';
import { Initializer, ParamLayout, init, params } from './params';
import { Reduction, linearCrossEntropy } from './losses';

export type Activation = 'relu' | 'tanh' | 'sigmoid' | 'softplus' | 'identity';

const ACTIVATIONS: Record<Activation, (x: Tensor) => Tensor> = {
  relu, tanh, sigmoid, softplus, identity: (x) => x,
};

export interface Model {
  readonly layout: ParamLayout;
  /** outputs (logits) for inputs x [n, inputDim] and flat parameters w */
  apply(w: Tensor, x: Tensor): Tensor;
  /** a seeded initial parameter vector */
  initialize(opts: { seed: number; dtype?: FloatDType }): Tensor;
}

export interface LinearModel extends Model {
  /**
   * crossEntropy(apply(w, x), labels, opts), with its gradient and its Hessian-vector products
   * fused over sparse data (see linearCrossEntropy): the way to write softmax regression's loss.
   */
  crossEntropy(w: Tensor, x: Tensor, labels: Tensor, opts?: { weights?: Tensor | null; reduction?: Reduction }): Tensor;
}

/** Softmax regression / linear layer: x W + b. */
export function linear(inputDim: number, outputs: number, opts: { init?: Initializer } = {}): LinearModel {
  if (typeof inputDim !== 'number' || !Number.isSafeInteger(inputDim) || inputDim < 1) throw new ArgumentError(`linear: argument 'inputDim' must be a positive integer, got ${show(inputDim)}`);
  if (typeof outputs !== 'number' || !Number.isSafeInteger(outputs) || outputs < 1) throw new ArgumentError(`linear: argument 'outputs' must be a positive integer, got ${show(outputs)}`);
  if (opts === null || typeof opts !== 'object' || (opts.init !== undefined && typeof opts.init !== 'function')) throw new ArgumentError(`linear: argument 'opts' must be { init?: initializer }, got ${show(opts)}`);
  const layout = params({ W: [inputDim, outputs], b: [outputs] });
  return {
    layout,
    apply(w, x) {
      const p = layout.views(w);
      return add(matmul(x, p.W), p.b);
    },
    crossEntropy(w, x, labels, o = {}) {
      const p = layout.views(w);
      return linearCrossEntropy(x, p.W, p.b, labels, o);
    },
    initialize(o) {
      return layout.initialize({ W: opts.init ?? init.zeros(), b: init.zeros() }, o);
    },
  };
}

export interface MlpOptions {
  /** hidden activation (default tanh) */
  activation?: Activation;
  /** weight initializer (default Glorot normal); biases start at zero */
  init?: Initializer;
}

/** Multi-layer perceptron with widths [in, h1, ..., out]; parameters W1, b1, W2, b2, ... */
export function mlp(widths: readonly number[], opts: MlpOptions = {}): Model {
  if (!Array.isArray(widths) || widths.length < 2 || widths.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new ArgumentError(`mlp: argument 'widths' must list at least two positive layer widths, got ${show(widths)}`);
  }
  if (opts === null || typeof opts !== 'object') throw new ArgumentError(`mlp: argument 'opts' must be an options object, got ${show(opts)}`);
  const activation = opts.activation ?? 'tanh';
  if (typeof activation !== 'string' || !Object.hasOwn(ACTIVATIONS, activation)) throw new ArgumentError(`mlp: argument 'activation' is ${show(opts.activation)}; use ${Object.keys(ACTIVATIONS).join(', ')}`);
  if (opts.init !== undefined && typeof opts.init !== 'function') throw new ArgumentError(`mlp: argument 'init' must be an initializer (rf.init), got ${show(opts.init)}`);
  const act = ACTIVATIONS[activation];
  const spec: { [name: string]: number[] } = {};
  for (let i = 1; i < widths.length; i++) {
    spec[`W${i}`] = [widths[i - 1], widths[i]];
    spec[`b${i}`] = [widths[i]];
  }
  const layout = params(spec);
  const layers = widths.length - 1;
  return {
    layout,
    apply(w, x) {
      const p = layout.views(w);
      let h = x;
      for (let i = 1; i <= layers; i++) {
        if (i < layers && activation === 'tanh') h = denseTanh(h, p[`W${i}`], p[`b${i}`]);
        else {
          h = add(matmul(h, p[`W${i}`]), p[`b${i}`]);
          if (i < layers) h = act(h);
        }
      }
      return h;
    },
    initialize(o) {
      const inits: { [name: string]: Initializer } = {};
      for (let i = 1; i <= layers; i++) {
        inits[`W${i}`] = opts.init ?? init.glorotNormal();
        inits[`b${i}`] = init.zeros();
      }
      return layout.initialize(inits, o);
    },
  };
}
