/**
 * The reverse sweep's memory policy: which cotangents and forward intermediates may be freed while
 * the sweep runs, instead of when the transformation's scope ends (sweep.ts asks; nothing here
 * computes a derivative).
 */
import type { Contribution } from './sweep';
import { Tensor, nextTensorId } from '../tensor/tensor';
import { settings } from '../config/config';

/**
 * Freeing during the sweep (CotangentRelease, IntermediateRelease) applies to graphs whose values
 * and tangents hold at least this many bytes (`rf.config.releaseMinBytes`, RFHO_RELEASE_MIN_BYTES, default 16 MiB): below, the
 * bookkeeping costs more than the memory is worth (a linear model's step, ~30 nodes of kilobytes,
 * paid ~2 % of its time). The tests run the sweeps with it at 0 too.
 */

export function worthReleasing(order: readonly Tensor[]): boolean {
  let bytes = 0;
  for (const t of order) bytes += (t.size + (t.tangent ? t.tangent.size : 0)) * (t.dtype === 'float64' ? 8 : 4);
  return bytes >= settings.releaseMinBytes;
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
export class CotangentRelease {
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
export class IntermediateRelease {
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

