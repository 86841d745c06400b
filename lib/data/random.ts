/** Seeded randomness for data handling (splits, corruption, minibatches): JS-side, reproducible. */
import { ArgumentError } from '../errors/errors';
import { show } from '../errors/show';

/** Mulberry32: small, fast, good enough for shuffling; the same seed gives the same sequence. */
export function seededRandom(seed: number): () => number {
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) throw new ArgumentError(`seededRandom: argument 'seed' must be an integer, got ${show(seed)}`);
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded permutation of 0..n−1 (Fisher–Yates). */
export function permutation(n: number, seed: number): Int32Array {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 2 ** 31 - 1) throw new ArgumentError(`permutation: argument 'n' must be an integer in [0, 2^31), got ${show(n)}`);
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) throw new ArgumentError(`permutation: argument 'seed' must be an integer, got ${show(seed)}`);
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  const r = seededRandom(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}
