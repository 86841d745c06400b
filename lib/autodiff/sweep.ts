/**
 * The reverse sweep: from an output and its cotangent, each node's VJP rule in reverse topological
 * order, summing the cotangents of each tensor when its turn comes, until the targets'. A class
 * with one node per `next()`, so that the synchronous transformations run it in a loop and the
 * stepwise ones yield between nodes (`backward`, `backwardSteps`), one implementation for both.
 */
import { RfhoError } from '../errors/errors';
import { GradNode, Tensor, shapeToString } from '../tensor/tensor';
import { sameShape } from '../tensor/validate';
import { LONG_NEXT, Stepwise, yieldPoint } from '../util/stepwise';
import { engine } from './engine';
import { CotangentRelease, IntermediateRelease, worthReleasing } from './release';
import { add } from '../ops/elementwise';
import { assembleSlices, padSlice } from '../ops/shape';

/**
 * Reverse sweep from `out` with cotangent `seed`; gives the cotangents of `targets`.
 * `keepGraph`: an enclosing reverse transformation will differentiate this sweep, so it is recorded
 * and nothing is freed during it. `tangentsOnly` (an HVP's sweep, whose caller reads only the
 * targets' tangents): a node whose inputs' cotangent primals nobody reads is told so
 * (the rule's `primalUnused` argument), and a product then computes only its tangent (its primal is zeros):
 * in a linear layer that is Xᵀ·dG without Xᵀ·G. `firstOwnId`: the first tensor id the
 * transformation made (what the sweep may free).
 *
 * While it runs (from construction to `close`) reverse recording is paused unless keepGraph;
 * `close` restores it and must run, also on a throw.
 */
export class ReverseSweep {
  private readonly targetSet: Set<Tensor>;
  private readonly order: Tensor[] = [];
  private readonly primalRead = new Map<Tensor, boolean>();
  /** Cotangent contributions per tensor, summed when the tensor's turn comes (sumCotangents). */
  private readonly grads = new Map<Tensor, Contribution[]>();
  private readonly release: CotangentRelease | null;
  private readonly forward: IntermediateRelease | null;
  private readonly prevPaused: boolean;
  private idx: number;

  constructor(out: Tensor, private readonly seed: Tensor, private readonly targets: Tensor[], private readonly keepGraph: boolean, private readonly tangentsOnly = false, firstOwnId = Infinity) {
    const targetSet = (this.targetSet = new Set(targets));
    const order = this.order;
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
    if (tangentsOnly) {
      for (const t of order) {
        const node = t.node;
        this.primalRead.set(t, !targetSet.has(t) && (!node || tangentsReadPrimal(node)
          || node.inputs.some((x) => x.requiresGrad && this.primalRead.get(x) !== false)));
      }
    }
    // A slice's contribution stays its unpadded cotangent until its tensor's turn.
    this.grads.set(out, [seed]);
    this.release = keepGraph || !worthReleasing(order) ? null : new CotangentRelease(seed);
    this.release?.add(seed);
    this.forward = this.release ? new IntermediateRelease(order, targetSet, out, firstOwnId) : null;
    this.idx = order.length - 1;
    this.prevPaused = engine.reversePaused;
    // Record the backward pass only when an enclosing reverse transformation will differentiate it.
    engine.reversePaused = !keepGraph;
  }

  private push(x: Tensor, c: Contribution): void {
    this.release?.add(c instanceof Tensor ? c : c.part);
    const prev = this.grads.get(x);
    if (prev) prev.push(c);
    else this.grads.set(x, [c]);
  }

  /** Runs the next node's rule; false when none is left. */
  next(): boolean {
    const { order, grads, targetSet, keepGraph, seed } = this;
    if (this.idx < 0) return false;
    const idx = this.idx--;
    const t = order[idx];
    this.forward?.passed(order[idx + 1]);
    const parts = grads.get(t);
    if (!parts || targetSet.has(t) || !t.node) return this.idx >= 0;
    const g = sumCotangents(parts);
    const node = t.node;
    if (node.slice) {
      const x = node.inputs[0];
      if (x.requiresGrad) this.push(x, { part: g, ...node.slice });
    } else {
      const gin = node.vjp(g, this.tangentsOnly ? node.inputs.map((x) => x.requiresGrad && this.primalRead.get(x) === false) : null);
      for (let j = 0; j < node.inputs.length; j++) {
        const x = node.inputs[j];
        const gx = gin[j];
        if (!gx || !x.requiresGrad) continue;
        if (!sameShape(gx.shape, x.shape)) {
          throw new RfhoError(`internal: vjp of '${node.name}' returned ${shapeToString(gx.shape)} for an input of shape ${shapeToString(x.shape)}`);
        }
        this.push(x, gx);
      }
    }
    if (!keepGraph && g !== seed && !targetSet.has(t)) grads.delete(t);
    this.release?.consumed(parts, g);
    return this.idx >= 0;
  }

  /**
   * Whether the next node's rule is likely a long unit: its inputs and output, with their
   * tangents, hold at least LARGE_NODE_ELEMENTS values (a wide product's VJP under k tangents).
   */
  nextIsLarge(): boolean {
    const t = this.order[this.idx];
    if (!t?.node) return false;
    let n = t.size + (t.tangent?.size ?? 0);
    for (const x of t.node.inputs) n += x.size + (x.tangent?.size ?? 0);
    return n >= LARGE_NODE_ELEMENTS;
  }

  /** Restores reverse recording as it was before the sweep (always, also after a throw). */
  close(): void {
    engine.reversePaused = this.prevPaused;
  }

  /** The targets' cotangents (null: none reached it), once the sweep is done. */
  result(): (Tensor | null)[] {
    return this.targets.map((t) => {
      const parts = this.grads.get(t);
      return parts ? sumCotangents(parts) : null;
    });
  }
}

/** A node whose values and tangents reach this many elements is announced as a long unit (about a millisecond of native work here). */
const LARGE_NODE_ELEMENTS = 1 << 20;

/** The reverse sweep, run to its end (see ReverseSweep). */
export function backward(out: Tensor, seed: Tensor, targets: Tensor[], keepGraph: boolean, tangentsOnly = false, firstOwnId = Infinity): (Tensor | null)[] {
  const sweep = new ReverseSweep(out, seed, targets, keepGraph, tangentsOnly, firstOwnId);
  try {
    while (sweep.next());
  } finally {
    sweep.close();
  }
  return sweep.result();
}

/**
 * The reverse sweep as a stepwise computation: where it is run in slices, it may give the event loop
 * back between two nodes (one node of a large model's sweep is milliseconds of native work; the
 * whole sweep, tens of them).
 */
export function* backwardSteps(out: Tensor, seed: Tensor, targets: Tensor[], keepGraph: boolean, tangentsOnly = false, firstOwnId = Infinity): Stepwise<(Tensor | null)[]> {
  const sweep = new ReverseSweep(out, seed, targets, keepGraph, tangentsOnly, firstOwnId);
  try {
    for (;;) {
      if (yieldPoint() && sweep.nextIsLarge()) yield LONG_NEXT;
      if (!sweep.next()) break;
      if (yieldPoint()) yield;
    }
  } finally {
    sweep.close();
  }
  return sweep.result();
}

/** Whether the tangents of a node's input cotangents read the primal of its own (see GradNode). */
function tangentsReadPrimal(node: GradNode): boolean {
  if (node.slice) return false; // linear
  return node.tangentReadsPrimal ? node.tangentReadsPrimal() : node.inputs.some((x) => !!x.tangent);
}


/** A slice's cotangent not yet padded to its input's shape. */
export interface SlicePart {
  part: Tensor;
  axis: number;
  start: number;
  length: number;
}
export type Contribution = Tensor | SlicePart;

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

