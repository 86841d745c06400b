/**
 * A bilevel problem: parameters, hyperparameters, a training loss per step (minibatches indexed by
 * step, so replays are exact), training dynamics, and one or more validation errors.
 *
 *   s_0 = Φ_0(λ) = dynamics.initialState(init(λ))
 *   s_t = Φ_t(s_{t−1}, λ) = dynamics.step(s_{t−1}, ∇_w train(w, λ, t), λ, t)
 *   E(λ) = Σ_k c_k valid_k(w_T, λ)
 */
import * as K from '../kernels';
import { grad, gradSteps } from '../autodiff/transforms';
import { Stepwise } from '../util/stepwise';
import { ArgumentError, ShapeError } from '../errors/errors';
import { show } from '../errors/show';
import { Tensor, shapeToString } from '../tensor/tensor';
import { add, mul } from '../ops/elementwise';
import { reshape } from '../ops/shape';
import { Dynamics, assertDynamics, weightsOf } from '../dynamics/dynamics';
import { ParamLayout } from '../models/params';
import { Model } from '../models/models';
import { HyperRecord, Hyperparameter } from '../hyperparameters/hyperparameter';

export type ValidationErrors = Tensor | { [name: string]: Tensor };

export interface BilevelSpec {
  /** the parameter layout (or a model, whose layout is used) */
  params: ParamLayout | Model;
  /** hyperparameters used by train/valid/init; those of the dynamics are added automatically */
  hyperparameters?: readonly Hyperparameter[] | { [name: string]: Hyperparameter };
  /** initial weights w_0: a tensor, or a function of the hyperparameters (learned initialisation) */
  init: Tensor | ((h: HyperRecord) => Tensor);
  /** training loss at step t (1-based); read the minibatch of step t from t alone */
  train: (w: Tensor, h: HyperRecord, t: number) => Tensor;
  /** validation error(s) at the final weights: a scalar or a record of scalars */
  valid: (w: Tensor, h: HyperRecord) => ValidationErrors;
  /** weights of the validation errors in the objective (default 1 each) */
  validWeights?: { [name: string]: number };
  dynamics: Dynamics;
  /** called with warnings, such as a declared hyperparameter that nothing reads (default: process.emitWarning) */
  onWarning?: (message: string) => void;
}

export class Problem {
  readonly layout: ParamLayout;
  readonly hyperparameters: readonly Hyperparameter[];
  readonly dynamics: Dynamics;
  private readonly spec: BilevelSpec;
  /** names of the hyperparameters that init, train or valid have read */
  private readonly read = new Set<string>();
  private readonly declared: readonly string[];
  private readonly warned = new Set<string>();

  constructor(spec: BilevelSpec) {
    if (!spec || typeof spec !== 'object') throw new ArgumentError(`bilevel: the problem specification must be an object`);
    for (const key of ['params', 'init', 'train', 'valid', 'dynamics'] as const) {
      if (spec[key] === undefined) throw new ArgumentError(`bilevel: '${key}' is required`);
    }
    if (typeof spec.train !== 'function') throw new ArgumentError(`bilevel: 'train' must be a function (w, h, t) => scalar tensor`);
    if (!(spec.init instanceof Tensor) && typeof spec.init !== 'function') {
      throw new ArgumentError(`bilevel: argument 'init' must be a flat parameter vector or a function (h) => vector, got ${show(spec.init)}`);
    }
    if (typeof spec.valid !== 'function') throw new ArgumentError(`bilevel: 'valid' must be a function (w, h) => scalar tensor or record`);
    this.spec = spec;
    this.layout = spec.params instanceof ParamLayout ? spec.params : (spec.params as Model).layout;
    if (!(this.layout instanceof ParamLayout)) throw new ArgumentError(`bilevel: 'params' must be a ParamLayout (rf.params) or a model`);
    assertDynamics(spec.dynamics);
    this.dynamics = spec.dynamics;
    const declared = spec.hyperparameters ? (Array.isArray(spec.hyperparameters) ? spec.hyperparameters : Object.values(spec.hyperparameters)) : [];
    const all: Hyperparameter[] = [];
    for (const h of [...declared, ...spec.dynamics.hyperparameters]) {
      if (!(h instanceof Hyperparameter)) throw new ArgumentError(`bilevel: 'hyperparameters' must contain Hyperparameter objects (rf.hyperparameter)`);
      const same = all.find((x) => x.name === h.name);
      if (same && same !== h) throw new ArgumentError(`bilevel: two different hyperparameters are named '${h.name}'`);
      if (!same) all.push(h);
    }
    if (all.length === 0) throw new ArgumentError(`bilevel: the problem has no hyperparameters`);
    this.hyperparameters = all;
    const ofDynamics = new Set(spec.dynamics.hyperparameters.map((h) => h.name));
    this.declared = declared.map((h) => h.name).filter((n) => !ofDynamics.has(n));
    if (spec.onWarning !== undefined && typeof spec.onWarning !== 'function') throw new ArgumentError(`bilevel: 'onWarning' must be a function (message) => void`);
    if (spec.validWeights !== undefined) {
      if (spec.validWeights === null || typeof spec.validWeights !== 'object') throw new ArgumentError(`bilevel: 'validWeights' must be a record of numbers`);
      for (const [k, c] of Object.entries(spec.validWeights)) {
        if (typeof c !== 'number' || !Number.isFinite(c)) throw new ArgumentError(`bilevel: 'validWeights.${k}' must be a finite number, got ${show(c)}`);
      }
    }
    if (spec.init instanceof Tensor && (spec.init.rank !== 1 || spec.init.size !== this.layout.size)) {
      throw new ShapeError(`bilevel: 'init' must be a flat vector of ${this.layout.size} parameters, got ${shapeToString(spec.init.shape)}`);
    }
  }

  /**
   * The record handed to init, train and valid: reading a name the problem does not have throws
   * (a typo such as h.lamda for h.lam would otherwise read undefined and run unweighted), and
   * each name read is noted for warnUnreadHyperparameters.
   */
  guard(h: HyperRecord): HyperRecord {
    const names = this.names;
    const read = this.read;
    return new Proxy(h, {
      get(target, key, receiver) {
        if (typeof key === 'string') {
          if (Object.prototype.hasOwnProperty.call(target, key)) read.add(key);
          else if (!(key in Object.prototype) && key !== 'then' && key !== 'toJSON') {
            throw new ArgumentError(`the problem has no hyperparameter '${key}'; it has ${names.join(', ')} (declare it in 'hyperparameters')`);
          }
        }
        return Reflect.get(target, key, receiver);
      },
    });
  }

  /**
   * Warns, once per name, of a declared hyperparameter that init, train and valid never read: its
   * hypergradient is zero and it would never change. Called by every method once the functions ran.
   */
  warnUnreadHyperparameters(): void {
    for (const name of this.declared) {
      if (this.read.has(name) || this.warned.has(name)) continue;
      this.warned.add(name);
      const message = `hyperparameter '${name}' is declared but init, train and valid never read it (through h.${name}): its hypergradient is zero`;
      if (this.spec.onWarning) this.spec.onWarning(message);
      else process.emitWarning(message, { code: 'RFHO_UNREAD_HYPERPARAMETER' });
    }
  }

  get names(): string[] {
    return this.hyperparameters.map((h) => h.name);
  }
  /** the current hyperparameter values as a record */
  current(): HyperRecord {
    return Object.fromEntries(this.hyperparameters.map((h) => [h.name, h.value]));
  }
  /** total number of scalar hyperparameters */
  get hyperSize(): number {
    return this.hyperparameters.reduce((s, h) => s + h.size, 0);
  }
  get initDependsOnHyper(): boolean {
    return typeof this.spec.init === 'function';
  }

  /** Φ_0(λ) */
  initialState(h: HyperRecord): Tensor {
    const w0 = typeof this.spec.init === 'function' ? this.spec.init(this.guard(h)) : this.spec.init;
    if (!(w0 instanceof Tensor) || w0.size !== this.layout.size) {
      throw new ShapeError(`bilevel: 'init' must give a flat vector of ${this.layout.size} parameters, got ${w0 instanceof Tensor ? shapeToString(w0.shape) : typeof w0}`);
    }
    const w = w0.rank === 1 ? w0 : K.reshapeView(w0, [this.layout.size]);
    return this.dynamics.initialState(w);
  }

  /** Φ_t(s, λ) */
  step(s: Tensor, h: HyperRecord, t: number): Tensor {
    return this.dynamics.step(s, this.gradient(s, h, t), h, t);
  }

  /** g_t = ∇_w L_t(w, λ) at the weights of state s */
  gradient(s: Tensor, h: HyperRecord, t: number): Tensor {
    const w = weightsOf(s, this.dynamics.slots);
    return grad((x: Tensor) => this.trainLoss(x, h, t))(w) as Tensor;
  }

  /** `gradient` as a stepwise computation: yields between the forward pass and the sweep's nodes. */
  *gradientSteps(s: Tensor, h: HyperRecord, t: number): Stepwise<Tensor> {
    const w = weightsOf(s, this.dynamics.slots);
    return (yield* gradSteps((x: Tensor) => this.trainLoss(x, h, t), w)) as Tensor;
  }

  /** The training loss at step t as a function of the weights (used by the implicit method). */
  trainLoss(w: Tensor, h: HyperRecord, t: number): Tensor {
    const l = this.spec.train(w, this.guard(h), t);
    if (!(l instanceof Tensor) || l.size !== 1) {
      throw new ShapeError(`bilevel: 'train' must return a scalar tensor, got ${l instanceof Tensor ? shapeToString(l.shape) : typeof l}`);
    }
    return l;
  }

  /** Each validation error at state s (scalars). */
  validationErrors(s: Tensor, h: HyperRecord): { [name: string]: Tensor } {
    return this.validationErrorsAtWeights(weightsOf(s, this.dynamics.slots), h);
  }

  validationErrorsAtWeights(w: Tensor, h: HyperRecord): { [name: string]: Tensor } {
    const v = this.spec.valid(w, this.guard(h));
    const rec = v instanceof Tensor ? { valid: v } : v;
    if (!rec || typeof rec !== 'object') throw new ArgumentError(`bilevel: 'valid' must return a scalar tensor or a record of them`);
    for (const [k, t] of Object.entries(rec)) {
      if (!(t instanceof Tensor) || t.size !== 1) throw new ShapeError(`bilevel: validation error '${k}' must be a scalar tensor`);
    }
    return rec;
  }

  /** E(s, λ) = Σ_k c_k valid_k */
  objective(s: Tensor, h: HyperRecord): Tensor {
    return this.objectiveAtWeights(weightsOf(s, this.dynamics.slots), h);
  }

  objectiveAtWeights(w: Tensor, h: HyperRecord): Tensor {
    const errs = this.validationErrorsAtWeights(w, h);
    let total: Tensor | null = null;
    for (const [k, e] of Object.entries(errs)) {
      const c = this.spec.validWeights?.[k] ?? 1;
      const term = c === 1 ? e : mul(e, c);
      total = total ? add(total, term) : term;
    }
    return total!.rank === 0 ? total! : reshape(total!, []);
  }
}

export function bilevel(spec: BilevelSpec): Problem {
  return new Problem(spec);
}
