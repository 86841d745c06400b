/**
 * Function transformations: grad, valueAndGrad, vjp, jvp (batched), hvp.
 *
 * Inputs may be one tensor, several tensors, or one named record of tensors; results have the same
 * structure. Derivatives with respect to an input the function does not use are zeros (not an
 * error): that is what the mathematics says, and hypergradient code relies on it.
 *
 * Memory: each transformation runs in its own scope and frees every intermediate it created,
 * unless an enclosing reverse transformation still needs them to differentiate through this one.
 *
 * The reverse sweep itself is in sweep.ts, what it frees on the way in release.ts. The `…Steps`
 * forms (vjpSteps, gradSteps, hvpPartialSteps, gradientWithTangentSteps) are the same
 * transformations as stepwise computations that, run in slices, yield after the forward pass and
 * between the sweep's nodes. Run to the end (`yieldPoint()` false) they call the plain forms, which
 * stay plain functions: generators all the way down cost a small gradient 60 % of its time, and a
 * hyper-cleaning run three times the JS heap (V8 grew its young generation to 48 MB).
 */
import * as K from '../kernels';
import { ArgumentError, RfhoError, ShapeError } from '../errors/errors';
import { show } from '../errors/show';
import { tidy, tidySteps } from '../tensor/scope';
import { LONG_NEXT, Stepwise, yieldPoint } from '../util/stepwise';
import { backward, backwardSteps } from './sweep';
import { Tensor, nextTensorId, shapeToString } from '../tensor/tensor';
import { assertTensor, sameShape } from '../tensor/validate';
import { engine, makeNode } from './engine';
import { reshape } from '../ops/shape';

export type TensorRecord = { [name: string]: Tensor };
export type Args = Tensor | Tensor[] | TensorRecord;

interface Flat {
  tensors: Tensor[];
  rebuild: (ts: Tensor[]) => Args;
}

function flatten(args: Args, what: string): Flat {
  if (args instanceof Tensor) {
    assertTensor(args, what);
    return { tensors: [args], rebuild: (ts) => ts[0] };
  }
  if (Array.isArray(args)) {
    args.forEach((t, i) => assertTensor(t, `${what}[${i}]`));
    return { tensors: args.slice(), rebuild: (ts) => ts };
  }
  if (args && typeof args === 'object') {
    const keys = Object.keys(args);
    keys.forEach((key) => assertTensor(args[key], `${what}.${key}`));
    return {
      tensors: keys.map((key) => args[key]),
      rebuild: (ts) => Object.fromEntries(keys.map((key, i) => [key, ts[i]])),
    };
  }
  throw new ArgumentError(`argument '${what}' must be a Tensor, an array of tensors or a record of tensors`);
}

function call(f: (...a: any[]) => Tensor, args: Args): Tensor {
  const out = Array.isArray(args) ? f(...args) : f(args);
  if (!(out instanceof Tensor)) throw new ArgumentError(`the differentiated function must return a Tensor, got ${typeof out}`);
  return out;
}

/** A fresh leaf sharing x's memory: the point where a reverse transformation stops. */
function watch(x: Tensor): Tensor {
  const leaf = new Tensor(x.storage, x.shape);
  leaf.requiresGrad = true;
  leaf.tangent = x.tangent;
  if (x.requiresGrad && engine.reverseDepth > 0) {
    // Keep the path to an enclosing transformation (higher-order reverse).
    leaf.node = makeNode('watch', [x], (g) => [g]);
  }
  return leaf;
}

function zerosFor(x: Tensor): Tensor {
  return K.fullLike(x, 0);
}

export interface ValueAndGrad<A extends Args> {
  value: Tensor;
  grads: A;
}

/** value and cotangent-weighted gradient of f at args: vjp(f)(args, cotangent). */
/** The function argument of a transform. */
function assertFunction(f: unknown): void {
  if (typeof f !== 'function') throw new ArgumentError(`argument 'f' must be a function of tensors returning a scalar tensor, got ${show(f)}`);
}

export function vjp<A extends Args>(f: (...a: any[]) => Tensor, args: A, cotangent?: Tensor): ValueAndGrad<A> {
  assertFunction(f);
  return vjpWith(f, args, cotangent, false);
}

/** vjp; `tangentsOnly`: the caller reads only the gradients' tangents (see `ReverseSweep`). */
function vjpWith<A extends Args>(f: (...a: any[]) => Tensor, args: A, cotangent: Tensor | undefined, tangentsOnly: boolean): ValueAndGrad<A> {
  const flat = flatten(args, 'args');
  const outer = engine.reverseDepth > 0 && !engine.reversePaused;
  const run = () => {
    const fw = recordForward(f, flat);
    const seed = seedOf(fw.out, cotangent);
    const gs = fw.out.requiresGrad ? backward(fw.out, seed, fw.leaves, outer, tangentsOnly, fw.firstOwnId) : fw.leaves.map(() => null);
    return { value: fw.out, grads: gradsOf(flat, fw.leaves, gs, seed) as A };
  };
  // Inside an enclosing grad, intermediates stay alive: the outer backward pass needs them.
  return outer ? run() : tidy(run);
}

/**
 * vjpWith as a stepwise computation: run in slices, it yields between the forward pass (f, one
 * synchronous call) and the sweep, and between the sweep's nodes.
 */
function* vjpWithSteps<A extends Args>(f: (...a: any[]) => Tensor, args: A, cotangent: Tensor | undefined, tangentsOnly: boolean): Stepwise<ValueAndGrad<A>> {
  // Run to its end, it is the plain form (no generators inside: see the header)
  if (!yieldPoint()) return vjpWith(f, args, cotangent, tangentsOnly);
  const flat = flatten(args, 'args');
  const outer = engine.reverseDepth > 0 && !engine.reversePaused;
  const run = function* (): Stepwise<ValueAndGrad<A>> {
    // the forward pass is one synchronous call of user code, often the longest unit of a step
    if (yieldPoint()) yield LONG_NEXT;
    const fw = recordForward(f, flat);
    if (yieldPoint()) yield;
    const seed = seedOf(fw.out, cotangent);
    const gs = fw.out.requiresGrad ? yield* backwardSteps(fw.out, seed, fw.leaves, outer, tangentsOnly, fw.firstOwnId) : fw.leaves.map(() => null);
    return { value: fw.out, grads: gradsOf(flat, fw.leaves, gs, seed) as A };
  };
  return outer ? yield* run() : yield* tidySteps(run());
}

/** A reverse transformation's forward pass: f at fresh leaves of the arguments, recorded. */
function recordForward(f: (...a: any[]) => Tensor, flat: Flat): { out: Tensor; leaves: Tensor[]; firstOwnId: number } {
  const firstOwnId = nextTensorId();
  engine.reverseDepth++;
  try {
    const leaves = flat.tensors.map(watch);
    return { out: call(f, flat.rebuild(leaves)), leaves, firstOwnId };
  } finally {
    engine.reverseDepth--;
  }
}

/** The sweep's seed: 1 for a scalar output (grad), else the cotangent, checked against the output. */
function seedOf(out: Tensor, cotangent: Tensor | undefined): Tensor {
  if (cotangent === undefined) {
    if (out.size !== 1) {
      throw new ShapeError(`grad: the function must return a scalar (one element), got shape ${shapeToString(out.shape)}; use vjp with a cotangent for non-scalar outputs`);
    }
    return K.fullLike(out, 1);
  }
  assertTensor(cotangent, 'cotangent');
  if (!sameShape(cotangent.shape, out.shape)) {
    throw new ShapeError(`vjp: argument 'cotangent' has shape ${shapeToString(cotangent.shape)} but the function returns ${shapeToString(out.shape)}`);
  }
  return cotangent;
}

/** The arguments' gradients in their structure: zeros where none reached, never an alias of the seed or an input. */
function gradsOf(flat: Flat, leaves: Tensor[], gs: (Tensor | null)[], seed: Tensor): Args {
  return flat.rebuild(gs.map((g, i) => {
    if (!g) return zerosFor(flat.tensors[i]);
    return g === seed || g === leaves[i] ? K.clone(g) : g;
  }));
}

/** `vjp` as a stepwise computation (see stepwise.ts): yields between the forward pass and the sweep's nodes. */
export function vjpSteps<A extends Args>(f: (...a: any[]) => Tensor, args: A, cotangent?: Tensor): Stepwise<ValueAndGrad<A>> {
  assertFunction(f);
  return vjpWithSteps(f, args, cotangent, false);
}

/** Returns a function computing { value, grads } of a scalar-valued f. */
// The returned function is generic in its argument: grad(f)(x) has x's type (a Tensor, an array or a record).
export function valueAndGrad(f: (...a: any[]) => Tensor): <A extends Args>(args: A) => ValueAndGrad<A> {
  assertFunction(f);
  return <A extends Args>(args: A) => vjp(f, args);
}

/** Returns a function computing the gradient of a scalar-valued f (same structure as its input). */
export function grad(f: (...a: any[]) => Tensor): <A extends Args>(args: A) => A {
  assertFunction(f);
  return <A extends Args>(args: A) => {
    const r = vjp(f, args);
    if (!(engine.reverseDepth > 0 && !engine.reversePaused)) r.value.dispose();
    return r.grads;
  };
}

/** The gradient of a scalar-valued f at args as a stepwise computation (see `vjpSteps`). */
export function* gradSteps<A extends Args>(f: (...a: any[]) => Tensor, args: A): Stepwise<A> {
  if (!yieldPoint()) return grad(f)(args);
  const r = yield* vjpSteps(f, args);
  if (!(engine.reverseDepth > 0 && !engine.reversePaused)) r.value.dispose();
  return r.grads;
}

export interface JvpOptions {
  /**
   * When true, each tangent has a leading batch axis of k directions ([k, ...primal.shape]) and the
   * output tangent is [k, ...out.shape]. When false (default), tangents have the primals' shapes.
   */
  batched?: boolean;
}

export interface JvpResult {
  value: Tensor;
  tangent: Tensor;
}

/** Forward-mode derivative of f at primals along tangents (k directions at once when batched). */
export function jvp<A extends Args>(f: (...a: any[]) => Tensor, primals: A, tangents: A, opts: JvpOptions = {}): JvpResult {
  assertFunction(f);
  if (engine.forwardK > 0) {
    throw new RfhoError('jvp inside jvp is not supported; nest grad/vjp inside jvp (forward-over-reverse) instead');
  }
  const fp = flatten(primals, 'primals');
  const ft = flatten(tangents, 'tangents');
  if (fp.tensors.length !== ft.tensors.length) {
    throw new ArgumentError(`jvp: got ${fp.tensors.length} primals but ${ft.tensors.length} tangents`);
  }
  const batched = !!opts.batched;
  let k = 1;
  fp.tensors.forEach((p, i) => {
    const t = ft.tensors[i];
    const want = batched ? [t.shape[0], ...p.shape] : p.shape;
    if (!sameShape(t.shape, want) || (batched && t.rank < 1)) {
      throw new ShapeError(`jvp: tangent ${i} has shape ${shapeToString(t.shape)} but its primal has shape ${shapeToString(p.shape)}${batched ? ' (expected [k, ...primal shape])' : ''}`);
    }
    if (t.dtype !== p.dtype) throw new ShapeError(`jvp: tangent ${i} is ${t.dtype} but its primal is ${p.dtype}`);
    if (batched) {
      if (i === 0) k = t.shape[0];
      else if (t.shape[0] !== k) throw new ShapeError(`jvp: tangent ${i} has ${t.shape[0]} directions, tangent 0 has ${k}`);
    }
  });
  if (k < 1) throw new ShapeError('jvp: at least one tangent direction is needed');
  const outer = engine.reverseDepth > 0 && !engine.reversePaused;
  const run = () => {
    engine.forwardK = k;
    engine.forwardBaseDepth = engine.reverseDepth;
    let out: Tensor;
    try {
      const duals = fp.tensors.map((p, i) => {
        const d = new Tensor(p.storage, p.shape);
        d.requiresGrad = p.requiresGrad;
        if (p.requiresGrad) d.node = makeNode('dual', [p], (g) => [g]);
        const t = ft.tensors[i];
        d.tangent = batched ? t : reshape(t, [1, ...t.shape]);
        return d;
      });
      out = call(f, fp.rebuild(duals));
    } finally {
      engine.forwardK = 0;
    }
    let tangent = out.tangent ?? K.fullLike(out, 0, [k, ...out.shape]);
    if (!batched) tangent = reshape(tangent, out.shape);
    // A fresh view: the tangent may be one of the caller's own tangents (f = identity), and the
    // caller must be able to dispose the result without disposing its input.
    const own = new Tensor(tangent.storage, tangent.shape);
    own.node = tangent.node;
    own.requiresGrad = tangent.requiresGrad;
    tangent = own;
    const value = new Tensor(out.storage, out.shape);
    value.node = out.node;
    value.requiresGrad = out.requiresGrad;
    return { value, tangent };
  };
  return outer ? run() : tidy(run);
}

/**
 * Hessian of scalar f times directions, by forward-over-reverse (never forms the Hessian).
 * With several inputs, H is the joint Hessian and the result holds one block per input:
 * (H v)_i = Σ_j ∂²f/∂x_i∂x_j v_j.
 */
export function hvp<A extends Args>(f: (...a: any[]) => Tensor, primals: A, directions: A, opts: JvpOptions = {}): A {
  assertFunction(f);
  const fp = flatten(primals, 'primals');
  const fd = flatten(directions, 'directions');
  if (fp.tensors.length !== fd.tensors.length) {
    throw new ArgumentError(`hvp: got ${fp.tensors.length} primals but ${fd.tensors.length} directions`);
  }
  return hvpAll(f, fp, fd.tensors, opts) as A;
}

/**
 * hvp over several inputs where some directions are null (zero, and cheaper than a zero tensor:
 * no tangent is propagated from them). Returns one block per input.
 */
export function hvpPartial(f: (...a: Tensor[]) => Tensor, primals: Tensor[], directions: (Tensor | null)[], opts: JvpOptions = {}): Tensor[] {
  const fp = checkPartialDirections(primals, directions);
  return hvpAll(f, fp, directions, opts) as Tensor[];
}

/** `hvpPartial` as a stepwise computation (see stepwise.ts): yields between the forward pass and the sweep's nodes. */
export function hvpPartialSteps(f: (...a: Tensor[]) => Tensor, primals: Tensor[], directions: (Tensor | null)[], opts: JvpOptions = {}): Stepwise<Tensor[]> {
  const fp = checkPartialDirections(primals, directions);
  return hvpAllSteps(f, fp, directions, opts) as Stepwise<Tensor[]>;
}

function checkPartialDirections(primals: Tensor[], directions: (Tensor | null)[], where = 'hvp'): Flat {
  const fp = flatten(primals, 'primals');
  if (!Array.isArray(directions) || directions.length !== primals.length) throw new ArgumentError(`${where}: got ${primals.length} primals but ${Array.isArray(directions) ? directions.length : 'no array of'} directions`);
  if (directions.every((d) => d === null)) throw new ArgumentError(`${where}: at least one direction must be given`);
  return fp;
}

function hvpAll(f: (...a: any[]) => Tensor, fp: Flat, directions: (Tensor | null)[], opts: JvpOptions): Args {
  const outer = hvpOuter();
  const batched = !!opts.batched;
  const run = () => {
    const k = startHvp(fp, directions, batched);
    try {
      // Only the gradients' tangents are read below; an HVP whose tangents an enclosing reverse
      // pass differentiates keeps every primal.
      return gradientTangents(fp, vjpWith(f, fp.rebuild(dualsOf(fp, directions, batched)), undefined, !outer).grads, k, batched);
    } finally {
      engine.forwardK = 0;
    }
  };
  return fp.rebuild((outer ? run() : tidy(run)).slice(0, fp.tensors.length));
}

/** hvpAll as a stepwise computation (its sweep yields between nodes, see vjpWithSteps). */
function* hvpAllSteps(f: (...a: any[]) => Tensor, fp: Flat, directions: (Tensor | null)[], opts: JvpOptions): Stepwise<Args> {
  if (!yieldPoint()) return hvpAll(f, fp, directions, opts);
  const outer = hvpOuter();
  const batched = !!opts.batched;
  const run = function* (): Stepwise<Tensor[]> {
    const k = startHvp(fp, directions, batched);
    try {
      return gradientTangents(fp, (yield* vjpWithSteps(f, fp.rebuild(dualsOf(fp, directions, batched)), undefined, !outer)).grads, k, batched);
    } finally {
      engine.forwardK = 0;
    }
  };
  return fp.rebuild((outer ? yield* run() : yield* tidySteps(run())).slice(0, fp.tensors.length));
}

/** Whether an HVP runs inside an enclosing reverse transformation (which then differentiates it). */
function hvpOuter(): boolean {
  // jvp of the concatenated gradient would copy; instead run the gradient once under forward
  // mode and read each block's tangent.
  if (engine.forwardK > 0) throw new RfhoError('hvp inside jvp is not supported');
  return engine.reverseDepth > 0 && !engine.reversePaused;
}

/** Starts an HVP's forward mode (k directions, checked); the caller resets engine.forwardK. */
function startHvp(fp: Flat, directions: (Tensor | null)[], batched: boolean): number {
  const k = hvpDirections(fp, directions, batched);
  engine.forwardK = k;
  engine.forwardBaseDepth = engine.reverseDepth;
  return k;
}

/** The tangents of the gradients (zeros where none), shaped as their primals ([k, ...] when batched). */
function gradientTangents(fp: Flat, grads: Args, k: number, batched: boolean): Tensor[] {
  return flatten(grads, 'grads').tensors.map((g, i) => {
    const shape = batched ? [k, ...fp.tensors[i].shape] : fp.tensors[i].shape;
    const t = g.tangent ?? K.fullLike(g, 0, [k, ...g.shape]);
    return reshape(t, shape);
  });
}

/** Checks an HVP's directions against its primals; returns k, the number of directions carried. */
function hvpDirections(fp: Flat, directions: (Tensor | null)[], batched: boolean): number {
  let k = 1;
  fp.tensors.forEach((p, i) => {
    const d = directions[i];
    if (d === null) return; // no direction along this input
    const want = batched ? [d.shape[0], ...p.shape] : p.shape;
    if (!d || !sameShape(d.shape, want)) {
      throw new ShapeError(`hvp: direction ${i} has shape ${d ? shapeToString(d.shape) : 'none'} but its primal has shape ${shapeToString(p.shape)}${batched ? ' (expected [k, ...primal shape])' : ''}`);
    }
    if (batched) k = d!.shape[0];
  });
  return k;
}

/** Forward-mode duals of the primals: leaves sharing their memory, carrying the directions as tangents. */
function dualsOf(fp: Flat, directions: (Tensor | null)[], batched: boolean): Tensor[] {
  return fp.tensors.map((p, i) => {
    const d = new Tensor(p.storage, p.shape);
    d.requiresGrad = p.requiresGrad;
    if (p.requiresGrad) d.node = makeNode('dual', [p], (g) => [g]);
    const t = directions[i];
    if (t) d.tangent = batched ? t : reshape(t, [1, ...t.shape]);
    return d;
  });
}

/**
 * The gradient of a scalar f with respect to its first argument, and that gradient's tangent
 * along k directions of all its arguments (forward over reverse, batched: directions
 * [k, ...primal shape], null for none). Both are the caller's. Forward-HG's step needs both: g_t
 * for the training step, ġ_t for Z.
 */
export function gradientWithTangent(f: (...a: Tensor[]) => Tensor, primals: Tensor[], directions: (Tensor | null)[]): GradientWithTangent {
  const { fp, k } = checkGradientWithTangent(f, primals, directions);
  return tidy(() => {
    const duals = startGradientWithTangent(fp, directions, k);
    try {
      return ownGradientAndTangent(vjpWith((x: Tensor) => f(x, ...duals.slice(1)), duals[0], undefined, false).grads, k);
    } finally {
      engine.forwardK = 0;
    }
  });
}

/** gradientWithTangent as a stepwise computation (its sweep yields between nodes, see vjpWithSteps). */
export function* gradientWithTangentSteps(f: (...a: Tensor[]) => Tensor, primals: Tensor[], directions: (Tensor | null)[]): Stepwise<GradientWithTangent> {
  if (!yieldPoint()) return gradientWithTangent(f, primals, directions);
  const { fp, k } = checkGradientWithTangent(f, primals, directions);
  return yield* tidySteps((function* () {
    const duals = startGradientWithTangent(fp, directions, k);
    try {
      return ownGradientAndTangent((yield* vjpWithSteps((x: Tensor) => f(x, ...duals.slice(1)), duals[0], undefined, false)).grads, k);
    } finally {
      engine.forwardK = 0;
    }
  })());
}

export interface GradientWithTangent {
  grad: Tensor;
  tangent: Tensor;
}

function checkGradientWithTangent(f: (...a: Tensor[]) => Tensor, primals: Tensor[], directions: (Tensor | null)[]): { fp: Flat; k: number } {
  assertFunction(f);
  const fp = checkPartialDirections(primals, directions, 'gradientWithTangent');
  if (engine.forwardK > 0 || engine.reverseDepth > 0) throw new RfhoError('gradientWithTangent inside another transformation is not supported');
  return { fp, k: hvpDirections(fp, directions, true) };
}

/** Starts forward mode for k directions; the duals of the primals. The caller resets engine.forwardK. */
function startGradientWithTangent(fp: Flat, directions: (Tensor | null)[], k: number): Tensor[] {
  engine.forwardK = k;
  engine.forwardBaseDepth = 0;
  return dualsOf(fp, directions, true);
}

/**
 * Fresh views, the caller's to dispose: the gradient without its tangent, and the tangent apart
 * (zeros where none reached it; it may be one of the caller's own directions, passed on by a linear f).
 */
function ownGradientAndTangent(grads: Args, k: number): GradientWithTangent {
  const g = grads as Tensor;
  const t = g.tangent ?? K.fullLike(g, 0, [k, ...g.shape]);
  return { grad: new Tensor(g.storage, g.shape), tangent: new Tensor(t.storage, t.shape) };
}
