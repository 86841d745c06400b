/**
 * Function transformations: grad, valueAndGrad, vjp, jvp (batched), hvp.
 *
 * Inputs may be one tensor, several tensors, or one named record of tensors; results have the same
 * structure. Derivatives with respect to an input the function does not use are zeros (not an
 * error): that is what the mathematics says, and hypergradient code relies on it.
 *
 * Memory: each transformation runs in its own scope and frees every intermediate it created,
 * unless an enclosing reverse transformation still needs them to differentiate through this one.
 */
import * as K from '../kernels';
import { ArgumentError, RfhoError, ShapeError } from '../errors/errors';
import { show } from '../errors/show';
import { tidy, tidySteps } from '../tensor/scope';
import { Stepwise, runToEnd } from '../util/stepwise';
import { GradNode, Tensor, nextTensorId, shapeToString } from '../tensor/tensor';
import { assertTensor, sameShape } from '../tensor/validate';
import { engine, makeNode } from './engine';
import { add } from '../ops/elementwise';
import { assembleSlices, padSlice, reshape } from '../ops/shape';

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

/**
 * Reverse sweep from `out` with cotangent `seed`; returns the cotangents of `targets`.
 * `tangentsOnly` (an HVP's sweep, whose caller reads only the targets' tangents): a node whose
 * inputs' cotangent primals nobody reads is told so (`engine.vjpPrimalUnused`), and a product then
 * computes only its tangent (its primal is zeros): in a linear layer that is Xᵀ·dG without Xᵀ·G.
 */
function* backwardSteps(out: Tensor, seed: Tensor, targets: Tensor[], keepGraph: boolean, tangentsOnly = false, firstOwnId = Infinity): Stepwise<(Tensor | null)[]> {
  const targetSet = new Set(targets);
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  // Iterative post-order DFS: deep graphs (long unrolls) must not overflow the JS stack.
  const stack: [Tensor, number][] = [[out, 0]];
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    if (i === 0) {
      if (visited.has(t) || !t.requiresGrad) {
        stack.pop();
        continue;
      }
      visited.add(t);
    }
    const inputs = !targetSet.has(t) && t.node ? t.node.inputs : [];
    if (i < inputs.length) {
      top[1] = i + 1;
      const next = inputs[i];
      if (!visited.has(next) && next.requiresGrad) stack.push([next, 0]);
    } else {
      stack.pop();
      order.push(t);
    }
  }
  // Whose cotangent primal is read (tangentsOnly): not the targets'; a node's when its VJP's
  // tangents read it or one of its inputs' is read. `order` has inputs before their consumers.
  const primalRead = new Map<Tensor, boolean>();
  if (tangentsOnly) {
    for (const t of order) {
      const node = t.node;
      primalRead.set(t, !targetSet.has(t) && (!node || tangentsReadPrimal(node)
        || node.inputs.some((x) => x.requiresGrad && primalRead.get(x) !== false)));
    }
  }
  // Cotangent contributions per tensor, summed when the tensor's turn comes (sumCotangents); a
  // slice's contribution stays its unpadded cotangent until then.
  const grads = new Map<Tensor, Contribution[]>();
  grads.set(out, [seed]);
  const release = keepGraph || !worthReleasing(order) ? null : new CotangentRelease(seed);
  release?.add(seed);
  const push = (x: Tensor, c: Contribution) => {
    release?.add(c instanceof Tensor ? c : c.part);
    const prev = grads.get(x);
    if (prev) prev.push(c);
    else grads.set(x, [c]);
  };
  const forward = release ? new IntermediateRelease(order, targetSet, out, firstOwnId) : null;
  const prevPaused = engine.reversePaused;
  // Record the backward pass only when an enclosing reverse transformation will differentiate it.
  engine.reversePaused = !keepGraph;
  try {
    for (let idx = order.length - 1; idx >= 0; idx--) {
      const t = order[idx];
      forward?.passed(order[idx + 1]);
      const parts = grads.get(t);
      if (!parts || targetSet.has(t) || !t.node) continue;
      const g = sumCotangents(parts);
      const node = t.node;
      if (node.slice) {
        const x = node.inputs[0];
        if (x.requiresGrad) push(x, { part: g, ...node.slice });
        if (!keepGraph && g !== seed && !targetSet.has(t)) grads.delete(t);
        release?.consumed(parts, g);
        continue;
      }
      engine.vjpPrimalUnused = tangentsOnly ? node.inputs.map((x) => x.requiresGrad && primalRead.get(x) === false) : null;
      let gin: (Tensor | null)[];
      try {
        gin = node.vjp(g);
      } finally {
        engine.vjpPrimalUnused = null;
      }
      for (let j = 0; j < node.inputs.length; j++) {
        const x = node.inputs[j];
        const gx = gin[j];
        if (!gx || !x.requiresGrad) continue;
        if (!sameShape(gx.shape, x.shape)) {
          throw new RfhoError(`internal: vjp of '${node.name}' returned ${shapeToString(gx.shape)} for an input of shape ${shapeToString(x.shape)}`);
        }
        push(x, gx);
      }
      if (!keepGraph && g !== seed && !targetSet.has(t)) grads.delete(t);
      release?.consumed(parts, g);
      // between two nodes: a stepwise caller may give the event loop back here (one node of a
      // large model's sweep is milliseconds of native work; the whole sweep, tens of them)
      yield;
    }
  } finally {
    engine.reversePaused = prevPaused;
  }
  return targets.map((t) => {
    const parts = grads.get(t);
    return parts ? sumCotangents(parts) : null;
  });
}

/** Whether the tangents of a node's input cotangents read the primal of its own (see GradNode). */
function tangentsReadPrimal(node: GradNode): boolean {
  if (node.slice) return false; // linear
  return node.tangentReadsPrimal ? node.tangentReadsPrimal() : node.inputs.some((x) => !!x.tangent);
}

/**
 * Freeing during the sweep (CotangentRelease, IntermediateRelease) applies to graphs whose values
 * and tangents hold at least this many bytes (RFHO_RELEASE_MIN_BYTES, default 16 MiB): below, the
 * bookkeeping costs more than the memory is worth (a linear model's step, ~30 nodes of kilobytes,
 * paid ~2 % of its time). The tests run the sweeps with it at 0 too.
 */
let releaseMinBytes = (() => {
  const v = Number(process.env.RFHO_RELEASE_MIN_BYTES);
  return process.env.RFHO_RELEASE_MIN_BYTES !== undefined && Number.isFinite(v) && v >= 0 ? v : 16 * 2 ** 20;
})();

/** @internal Sets the threshold above (tests); returns the previous one. */
export function setReleaseMinBytes(bytes: number): number {
  const prev = releaseMinBytes;
  releaseMinBytes = bytes;
  return prev;
}

function worthReleasing(order: readonly Tensor[]): boolean {
  let bytes = 0;
  for (const t of order) bytes += (t.size + (t.tangent ? t.tangent.size : 0)) * (t.dtype === 'float64' ? 8 : 4);
  return bytes >= releaseMinBytes;
}

/**
 * Frees the cotangents of a backward pass as soon as no pending contribution holds them, instead
 * of at the end of the enclosing scope: under forward-mode tangents each carries a k-fold tangent
 * (Forward-HG's [k, 2000, 256] activations), and keeping every one of them to the end of the sweep
 * set the peak memory. Only tensors this pass created (ids above the first one's) are freed, never
 * the seed or anything the forward pass made, and only when no contribution still waiting to be
 * summed is that tensor or shares its tangent. A backward pass that an enclosing reverse
 * transformation records (keepGraph) frees nothing: its cotangents are that one's graph.
 */
class CotangentRelease {
  private readonly firstId = nextTensorId();
  private readonly uses = new Map<Tensor, number>();
  private readonly tangentUses = new Map<Tensor, number>();

  constructor(private readonly seed: Tensor) {}

  /** t is a contribution waiting to be summed (once more). */
  add(t: Tensor): void {
    bump(this.uses, t, 1);
    if (t.tangent) bump(this.tangentUses, t.tangent, 1);
  }

  /** The contributions `parts` were summed into g and g was used: free what nothing else holds. */
  consumed(parts: readonly Contribution[], g: Tensor): void {
    const ts = parts.map((c) => (c instanceof Tensor ? c : c.part));
    for (const t of ts) {
      bump(this.uses, t, -1);
      if (t.tangent) bump(this.tangentUses, t.tangent, -1);
    }
    for (const t of ts) this.free(t);
    this.free(g);
  }

  private free(t: Tensor): void {
    if (this.uses.has(t) || t === this.seed || t.id < this.firstId || t.isDisposed) return;
    const tangent = t.tangent;
    t.dispose();
    if (tangent && tangent.id >= this.firstId && !this.tangentUses.has(tangent) && !tangent.isDisposed) tangent.dispose();
  }
}

function bump(counts: Map<Tensor, number>, t: Tensor, delta: number): void {
  const n = (counts.get(t) ?? 0) + delta;
  if (n > 0) counts.set(t, n);
  else counts.delete(t);
}

/**
 * Frees the forward pass's intermediates (with their k-fold tangents) during the backward sweep
 * instead of at the end of the transformation's scope, which would free them moments later:
 * nothing outside the transformation can read them (its scope disposes them all, but its output),
 * and under forward-mode tangents (Forward-HG, HVPs) each carries a k-fold tangent — they set the
 * peak memory. At the start, what no rule of the sweep reads goes (`GradNode.vjpReads`); then an
 * intermediate t goes once every node made after it (the only ones whose rules can have captured
 * it) and its own have had their turn — the sweep visits nodes in reverse topological order, not
 * creation order. Only tensors the transformation made (ids from `firstOwnId`) are freed, never
 * its output or the targets; a backward pass an enclosing reverse transformation records
 * (keepGraph) frees nothing.
 */
class IntermediateRelease {
  private readonly byIdDesc: Tensor[];
  private readonly passedSet = new Set<Tensor>();
  private next = 0;
  /** Tensors of the graph holding each tangent: ops pass a tangent on as it is (x + c, x − c). */
  private readonly tangentOwners = new Map<Tensor, number>();

  constructor(order: readonly Tensor[], targets: Set<Tensor>, private readonly out: Tensor, private readonly firstOwnId: number) {
    this.byIdDesc = order.filter((t) => t.node && !targets.has(t)).sort((a, b) => b.id - a.id);
    for (const t of order) if (t.tangent) bump(this.tangentOwners, t.tangent, 1);
    // What no rule of the sweep reads goes now (`GradNode.vjpReads`): in an MLP the products'
    // outputs and the pre-activations, which only the forward pass needed — with their tangents.
    const read = new Set<Tensor>();
    for (const t of this.byIdDesc) {
      const node = t.node!;
      if (node.slice) continue; // placed by the sweep itself, from shapes
      if (node.vjpReads?.output !== false) read.add(t);
      if (node.vjpReads?.inputs !== false) for (const x of node.inputs) read.add(x);
    }
    for (const t of this.byIdDesc) if (!read.has(t)) this.free(t, read);
  }

  /**
   * Frees u, and its tangent where no other tensor of the graph holds that tangent and no rule
   * reads it (reverse over forward mode differentiates through tangents).
   */
  private free(u: Tensor, read?: Set<Tensor>): void {
    if (u === this.out || u.id < this.firstOwnId || u.isDisposed) return;
    const { node, tangent } = u;
    u.dispose();
    u.node = node; // the sweep still walks through it (its rule reads no forward values)
    if (!tangent) return;
    bump(this.tangentOwners, tangent, -1);
    if (!this.tangentOwners.has(tangent) && tangent.id >= this.firstOwnId && !tangent.isDisposed && !read?.has(tangent)) tangent.dispose();
  }

  /** The sweep is done with t (undefined: nothing yet). */
  passed(t: Tensor | undefined): void {
    if (!t) return;
    this.passedSet.add(t);
    while (this.next < this.byIdDesc.length && this.passedSet.has(this.byIdDesc[this.next])) this.free(this.byIdDesc[this.next++]);
  }
}

/** A slice's cotangent not yet padded to its input's shape. */
interface SlicePart {
  part: Tensor;
  axis: number;
  start: number;
  length: number;
}
type Contribution = Tensor | SlicePart;

/**
 * The sum of a tensor's cotangent contributions. The slices' parts that lie along one axis at
 * disjoint offsets (the blocks of a flat parameter vector) are placed into one buffer — a
 * concatenation when they cover it — instead of each being padded to full size and added; the
 * rest are added in order. For p parameter blocks that saves p zero-filled full-size tensors and
 * p − 1 full-size additions, and as much again for each tangent in forward-over-reverse.
 */
function sumCotangents(parts: Contribution[]): Tensor {
  if (parts.length === 1 && parts[0] instanceof Tensor) return parts[0]; // the common case
  const slices = parts.filter((p): p is SlicePart => !(p instanceof Tensor));
  let sum: Tensor | null = null;
  if (slices.length) {
    const { axis, length } = slices[0];
    const spans = slices.map((s) => [s.start, s.start + s.part.shape[axis]]).sort((a, b) => a[0] - b[0]);
    const together = slices.every((s) => s.axis === axis && s.length === length) && spans.every((s, i) => i === 0 || s[0] >= spans[i - 1][1]);
    if (together) {
      sum = assembleSlices(slices.map((s) => ({ x: s.part, start: s.start })), axis, length);
    } else {
      for (const s of slices) {
        const padded = padSlice(s.part, s.axis, s.start, s.length);
        sum = sum ? add(sum, padded) : padded;
      }
    }
  }
  for (const p of parts) if (p instanceof Tensor) sum = sum ? add(sum, p) : p;
  return sum!;
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

/** vjp; `tangentsOnly`: the caller reads only the gradients' tangents (see `backward`). */
function vjpWith<A extends Args>(f: (...a: any[]) => Tensor, args: A, cotangent: Tensor | undefined, tangentsOnly: boolean): ValueAndGrad<A> {
  return runToEnd(vjpWithSteps(f, args, cotangent, tangentsOnly));
}

/**
 * vjpWith as a stepwise computation: it yields between the forward pass (f, one synchronous call)
 * and the sweep, and between the sweep's nodes.
 */
function* vjpWithSteps<A extends Args>(f: (...a: any[]) => Tensor, args: A, cotangent: Tensor | undefined, tangentsOnly: boolean): Stepwise<ValueAndGrad<A>> {
  const flat = flatten(args, 'args');
  const outer = engine.reverseDepth > 0 && !engine.reversePaused;
  const run = function* (): Stepwise<ValueAndGrad<A>> {
    const firstOwnId = nextTensorId();
    engine.reverseDepth++;
    let out: Tensor;
    let leaves: Tensor[];
    try {
      leaves = flat.tensors.map(watch);
      out = call(f, flat.rebuild(leaves));
    } finally {
      engine.reverseDepth--;
    }
    yield;
    let seed: Tensor;
    if (cotangent === undefined) {
      if (out.size !== 1) {
        throw new ShapeError(`grad: the function must return a scalar (one element), got shape ${shapeToString(out.shape)}; use vjp with a cotangent for non-scalar outputs`);
      }
      seed = K.fullLike(out, 1);
    } else {
      assertTensor(cotangent, 'cotangent');
      if (!sameShape(cotangent.shape, out.shape)) {
        throw new ShapeError(`vjp: argument 'cotangent' has shape ${shapeToString(cotangent.shape)} but the function returns ${shapeToString(out.shape)}`);
      }
      seed = cotangent;
    }
    const gs = out.requiresGrad ? yield* backwardSteps(out, seed, leaves, outer, tangentsOnly, firstOwnId) : leaves.map(() => null);
    const grads = gs.map((g, i) => {
      if (!g) return zerosFor(flat.tensors[i]);
      // A gradient that is the seed itself or a view of an input must not alias it.
      return g === seed || g === leaves[i] ? K.clone(g) : g;
    });
    return { value: out, grads: flat.rebuild(grads) as A };
  };
  // Inside an enclosing grad, intermediates stay alive: the outer backward pass needs them.
  return outer ? yield* run() : yield* tidySteps(run());
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
  return <A extends Args>(args: A) => runToEnd(gradSteps(f, args));
}

/** The gradient of a scalar-valued f at args as a stepwise computation (see `vjpSteps`). */
export function* gradSteps<A extends Args>(f: (...a: any[]) => Tensor, args: A): Stepwise<A> {
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
  return runToEnd(hvpPartialSteps(f, primals, directions, opts));
}

/** `hvpPartial` as a stepwise computation (see stepwise.ts): yields between the forward pass and the sweep's nodes. */
export function hvpPartialSteps(f: (...a: Tensor[]) => Tensor, primals: Tensor[], directions: (Tensor | null)[], opts: JvpOptions = {}): Stepwise<Tensor[]> {
  const fp = flatten(primals, 'primals');
  if (directions.length !== primals.length) throw new ArgumentError(`hvp: got ${primals.length} primals but ${directions.length} directions`);
  if (directions.every((d) => d === null)) throw new ArgumentError('hvp: at least one direction must be given');
  return hvpAllSteps(f, fp, directions, opts) as Stepwise<Tensor[]>;
}

function hvpAll(f: (...a: any[]) => Tensor, fp: Flat, directions: (Tensor | null)[], opts: JvpOptions): Args {
  return runToEnd(hvpAllSteps(f, fp, directions, opts));
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

function* hvpAllSteps(f: (...a: any[]) => Tensor, fp: Flat, directions: (Tensor | null)[], opts: JvpOptions): Stepwise<Args> {
  const n = fp.tensors.length;
  // jvp of the concatenated gradient would copy; instead run the gradient once under forward
  // mode and read each block's tangent.
  if (engine.forwardK > 0) throw new RfhoError('hvp inside jvp is not supported');
  const outer = engine.reverseDepth > 0 && !engine.reversePaused;
  const batched = !!opts.batched;
  const run = function* (): Stepwise<Tensor[]> {
    const k = hvpDirections(fp, directions, batched);
    engine.forwardK = k;
    engine.forwardBaseDepth = engine.reverseDepth;
    try {
      // Only the gradients' tangents are read below; an HVP whose tangents an enclosing reverse
      // pass differentiates keeps every primal.
      const r = yield* vjpWithSteps(f, fp.rebuild(dualsOf(fp, directions, batched)), undefined, !outer);
      return flatten(r.grads, 'grads').tensors.map((g, i) => {
        const shape = batched ? [k, ...fp.tensors[i].shape] : fp.tensors[i].shape;
        const t = g.tangent ?? K.fullLike(g, 0, [k, ...g.shape]);
        return reshape(t, shape);
      });
    } finally {
      engine.forwardK = 0;
    }
  };
  const out = outer ? yield* run() : yield* tidySteps(run());
  return fp.rebuild(out.slice(0, n));
}

/**
 * The gradient of a scalar f with respect to its first argument, and that gradient's tangent
 * along k directions of all its arguments (forward over reverse, batched: directions
 * [k, ...primal shape], null for none), as one stepwise computation. Both are the caller's.
 * Forward-HG's step needs both: g_t for the training step, ġ_t for Z.
 */
export function* gradientWithTangentSteps(f: (...a: Tensor[]) => Tensor, primals: Tensor[], directions: (Tensor | null)[]): Stepwise<{ grad: Tensor; tangent: Tensor }> {
  assertFunction(f);
  const fp = flatten(primals, 'primals');
  if (directions.length !== primals.length) throw new ArgumentError(`gradientWithTangent: got ${primals.length} primals but ${directions.length} directions`);
  if (directions.every((d) => d === null)) throw new ArgumentError('gradientWithTangent: at least one direction must be given');
  if (engine.forwardK > 0 || engine.reverseDepth > 0) throw new RfhoError('gradientWithTangent inside another transformation is not supported');
  const k = hvpDirections(fp, directions, true);
  return yield* tidySteps((function* () {
    engine.forwardK = k;
    engine.forwardBaseDepth = 0;
    try {
      const duals = dualsOf(fp, directions, true);
      const rest = duals.slice(1);
      const r = yield* vjpWithSteps((x: Tensor) => f(x, ...rest), duals[0], undefined, false);
      const g = r.grads as Tensor;
      const t = g.tangent ?? K.fullLike(g, 0, [k, ...g.shape]);
      // Fresh views, the caller's to dispose: the gradient without its tangent, and the tangent
      // apart (it may be one of the caller's own directions, passed on by a linear f).
      return { grad: new Tensor(g.storage, g.shape), tangent: new Tensor(t.storage, t.shape) };
    } finally {
      engine.forwardK = 0;
    }
  })());
}
