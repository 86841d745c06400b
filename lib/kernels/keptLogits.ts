/**
 * The logits X W + b of the fused linear softmax cross-entropy (K.linearXent), kept from a gradient
 * pass for a later pass at the same W and b. A Reverse-HG reverse step t takes a Hessian-vector
 * product of the training loss at the very weights at which forward step t took the gradient, and
 * the product's pass otherwise computes X W + b again beside X dW + db: on dense data, a fifth of a
 * step's arithmetic.
 *
 * Logits are kept only while a computation has opened a store (`keepingLogitsSteps`), up to its
 * byte budget — for the last forward steps, the ones the budget can hold until the sweep, which
 * starts from the last step, reaches them (`setKeptLogitsHorizon`) — and each is used once. A pass
 * finds them by its data matrix and the exact bits of W and b, so a pass that takes them computes
 * what it would have computed (the logits of a matrix's row panels do not depend on how many
 * directions ride along). Dense data matrices with row panels only: the passes that can skip the
 * product. The store is the running computation's (registered as suspendable state), so
 * computations run in slices side by side never see each other's.
 */
import { Storage, Tensor } from '../tensor/tensor';
import { Stepwise, registerSuspendableState } from '../util/stepwise';

type Bits = Uint32Array;

interface Kept {
  /** the data matrix's row panels the logits were computed from (new ones if it is ever rewritten) */
  panels: Storage;
  W: Bits;
  b: Bits;
  logits: Storage;
  bytes: number;
}

/** What a computation's store did: for its statistics. */
export interface KeptLogitsStats {
  /** passes that took kept logits instead of computing X W + b */
  reused: number;
  /** the most bytes of logits held at once */
  peakBytes: number;
}

class KeptLogitsStore {
  private readonly byKey = new Map<number, Kept[]>();
  private readonly oldestFirst: Kept[] = [];
  private bytes = 0;
  /** forward steps, this one included, before the reverse sweep reaches the present step (setKeptLogitsHorizon) */
  stepsLeft = 1;
  readonly stats: KeptLogitsStats = { reused: 0, peakBytes: 0 };
  constructor(readonly budget: number) {}

  /** Adds an entry (logitsToKeep makes none larger than the budget), dropping the oldest past it. */
  add(entry: Kept): void {
    const key = keyOf(entry.W, entry.b);
    let list = this.byKey.get(key);
    if (!list) this.byKey.set(key, (list = []));
    list.push(entry);
    this.oldestFirst.push(entry);
    this.bytes += entry.bytes;
    while (this.bytes > this.budget) this.drop(this.oldestFirst[0]);
    this.stats.peakBytes = Math.max(this.stats.peakBytes, this.bytes);
  }

  /** The entry for (x, W, b), taken out of the store (the caller releases its logits), or null. */
  take(panels: Storage, W: Bits, b: Bits): Kept | null {
    const list = this.byKey.get(keyOf(W, b));
    const entry = list?.find((e) => e.panels === panels && sameBits(e.W, W) && sameBits(e.b, b));
    if (!entry) return null;
    this.remove(entry);
    this.stats.reused++;
    return entry;
  }

  get empty(): boolean {
    return this.oldestFirst.length === 0;
  }

  clear(): void {
    while (this.oldestFirst.length) this.drop(this.oldestFirst[0]);
  }

  private drop(entry: Kept): void {
    this.remove(entry);
    entry.logits.release();
  }

  private remove(entry: Kept): void {
    const key = keyOf(entry.W, entry.b), list = this.byKey.get(key)!;
    list.splice(list.indexOf(entry), 1);
    if (!list.length) this.byKey.delete(key);
    this.oldestFirst.splice(this.oldestFirst.indexOf(entry), 1);
    this.bytes -= entry.bytes;
  }
}

/** A cheap key from a sample of the bits (every 16th word); equality is then checked in full. */
function keyOf(W: Bits, b: Bits): number {
  let h = 0x811c9dc5 ^ W.length;
  for (let i = 0; i < W.length; i += 16) h = Math.imul(h ^ W[i], 0x01000193);
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return h >>> 0;
}

function sameBits(a: Bits, b: Bits): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const bitsOf = (t: Tensor): Bits => {
  const v = t.toArray();
  return new Uint32Array(v.buffer, v.byteOffset, v.byteLength / 4);
};

let open: KeptLogitsStore | null = null;
registerSuspendableState<KeptLogitsStore | null>({
  name: 'kept logits',
  suspend: () => {
    const s = open;
    open = null;
    return s;
  },
  resume: (s) => {
    open = s;
  },
});

/**
 * Runs a stepwise computation with a store of kept logits of at most `budgetBytes` (0: none kept),
 * freed when it ends; `stats` is filled in as it runs.
 */
export function* keepingLogitsSteps<R>(budgetBytes: number, steps: Stepwise<R>, stats?: KeptLogitsStats): Stepwise<R> {
  const store = new KeptLogitsStore(budgetBytes), outer = open;
  open = store;
  try {
    return yield* steps;
  } finally {
    open = outer;
    store.clear();
    if (stats) Object.assign(stats, store.stats);
  }
}

/**
 * Tells the running computation's store how many forward steps, the coming one included, remain
 * before its reverse sweep would take their logits (1 where unknown or during the sweep; Infinity
 * for a step the sweep will not reach). A step's logits are kept only where the budget holds them
 * and all the steps after it, so a long run spends nothing on the logits of its early steps, which
 * the newest would push out before the sweep got to them.
 */
export function setKeptLogitsHorizon(stepsLeft: number): void {
  if (open) open.stepsLeft = stepsLeft;
}

/**
 * Where a gradient pass over the data matrix x by its row panels at (W, b) should write its logits
 * [n, c] to keep them: a buffer, and `commit` to call once the pass has filled it (else `abandon`).
 * Null where no store is open or none would be kept.
 */
export function logitsToKeep(x: Tensor, panels: Storage, W: Tensor, b: Tensor): { logits: Storage; commit(): void; abandon(): void } | null {
  const store = open;
  const n = x.shape[0], c = W.shape[1], bytes = n * c * (x.dtype === 'float64' ? 8 : 4);
  if (!store || store.stepsLeft * bytes > store.budget) return null;
  const logits = Storage.allocate(n * c, x.dtype, x.device);
  logits.refs = 1;
  return {
    logits,
    commit: () => store.add({ panels, W: bitsOf(W), b: bitsOf(b), logits, bytes }),
    abandon: () => logits.release(),
  };
}

/** The logits [n, c] kept for a pass over these row panels at exactly (W, b), taken from the store (release them after), or null. */
export function takeKeptLogits(panels: Storage, W: Tensor, b: Tensor): Storage | null {
  const store = open;
  if (!store || store.empty) return null;
  return store.take(panels, bitsOf(W), bitsOf(b))?.logits ?? null;
}
