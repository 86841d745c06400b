/**
 * MNIST-format IDX files (MNIST, Fashion-MNIST, KMNIST), gzip-compressed or raw. The header is
 * checked (magic number, unsigned-byte type, rank, sizes against the file length) so that a
 * truncated or foreign file is a clear error naming the file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { RfhoError } from '../errors/errors';
import { show } from '../errors/show';
import { Dataset, makeDataset } from './dataset';

export class DatasetError extends RfhoError {}

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** Parses IDX bytes (already decompressed). `what` names the source in errors. */
function assertPath(v: unknown, name: string, fn: string): string {
  if (typeof v !== 'string' || v === '') throw new DatasetError(`${fn}: argument '${name}' must be a file path, got ${show(v)}`);
  return v;
}

export function parseIdx(bytes: Uint8Array, what: string): IdxArray {
  if (!(bytes instanceof Uint8Array)) throw new DatasetError(`parseIdx: argument 'bytes' must be a Uint8Array (or a Buffer), got ${show(bytes)}`);
  if (typeof what !== 'string') throw new DatasetError(`parseIdx: argument 'what' must name the data for messages, got ${show(what)}`);
  if (bytes.length < 4) throw new DatasetError(`${what}: too short for an IDX header (${bytes.length} bytes)`);
  if (bytes[0] !== 0 || bytes[1] !== 0) throw new DatasetError(`${what}: not an IDX file (bad magic number ${Array.from(bytes.subarray(0, 4)).join(' ')})`);
  if (bytes[2] !== 0x08) throw new DatasetError(`${what}: IDX element type 0x${bytes[2].toString(16)} is not unsigned byte (0x08)`);
  const rank = bytes[3];
  if (rank < 1 || rank > 4) throw new DatasetError(`${what}: IDX rank ${rank} is not supported`);
  const headerLength = 4 + 4 * rank;
  if (bytes.length < headerLength) throw new DatasetError(`${what}: truncated IDX header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  if (bytes.length - headerLength < count) {
    throw new DatasetError(`${what}: truncated: the header promises ${count} values [${dims.join(' x ')}] but the file holds ${bytes.length - headerLength}`);
  }
  if (bytes.length - headerLength > count) {
    throw new DatasetError(`${what}: ${bytes.length - headerLength - count} unexpected bytes after the ${count} values`);
  }
  return { dims, data: bytes.subarray(headerLength, headerLength + count) };
}

/** Reads an IDX file, decompressing gzip when the file starts with the gzip magic. */
export function readIdx(file: string): IdxArray {
  assertPath(file, 'file', 'readIdx');
  let raw: Buffer;
  try {
    raw = fs.readFileSync(file);
  } catch (e) {
    throw new DatasetError(`${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let bytes: Uint8Array = raw;
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      bytes = zlib.gunzipSync(raw);
    } catch (e) {
      throw new DatasetError(`${file}: corrupt or truncated gzip data (${(e as Error).message})`);
    }
  }
  return parseIdx(bytes, file);
}

function findFile(folder: string, stem: string): string {
  for (const name of [stem, `${stem}.gz`, stem.replace('-idx', '.idx'), `${stem.replace('-idx', '.idx')}.gz`]) {
    const p = path.join(folder, name);
    if (fs.existsSync(p)) return p;
  }
  throw new DatasetError(`${folder}: no ${stem}[.gz] found (expected MNIST-format IDX files)`);
}

/** Images (scaled to [0, 1]) and labels from an image/label IDX pair. */
export function loadIdxPair(imagesFile: string, labelsFile: string, name: string): Dataset {
  assertPath(imagesFile, 'imagesFile', 'loadIdxPair');
  assertPath(labelsFile, 'labelsFile', 'loadIdxPair');
  if (typeof name !== 'string') throw new DatasetError(`loadIdxPair: argument 'name' must be a string, got ${show(name)}`);
  const img = readIdx(imagesFile);
  const lab = readIdx(labelsFile);
  if (img.dims.length !== 3) throw new DatasetError(`${imagesFile}: expected [count, rows, cols] images, got [${img.dims.join(', ')}]`);
  if (lab.dims.length !== 1) throw new DatasetError(`${labelsFile}: expected [count] labels, got [${lab.dims.join(', ')}]`);
  if (img.dims[0] !== lab.dims[0]) throw new DatasetError(`${imagesFile} has ${img.dims[0]} images but ${labelsFile} has ${lab.dims[0]} labels`);
  const dim = img.dims[1] * img.dims[2];
  const images = new Float32Array(img.data.length);
  for (let i = 0; i < images.length; i++) images[i] = img.data[i] / 255;
  const labels = Int32Array.from(lab.data);
  let classes = 1;
  for (const l of labels) if (l + 1 > classes) classes = l + 1; // (a spread would overflow the stack on large files)
  if (classes > 256) throw new DatasetError(`${labelsFile}: labels out of range`);
  return makeDataset(name, images, labels, dim, Math.max(classes, 2));
}

/** train-images/labels and t10k-images/labels from one folder. */
export function loadIdxFolder(folder: string, datasetName?: string): { train: Dataset; test: Dataset } {
  assertPath(folder, 'folder', 'loadIdxFolder');
  if (datasetName !== undefined && typeof datasetName !== 'string') throw new DatasetError(`loadIdxFolder: argument 'name' must be a string, got ${show(datasetName)}`);
  const name = datasetName ?? path.basename(folder);
  if (!fs.existsSync(folder)) throw new DatasetError(`${folder}: dataset folder does not exist`);
  const train = loadIdxPair(findFile(folder, 'train-images-idx3-ubyte'), findFile(folder, 'train-labels-idx1-ubyte'), `${name}-train`);
  const test = loadIdxPair(findFile(folder, 't10k-images-idx3-ubyte'), findFile(folder, 't10k-labels-idx1-ubyte'), `${name}-test`);
  return { train, test };
}

/** Where Debian's dataset-fashion-mnist package puts its files. */
export const FASHION_MNIST_DEBIAN = '/usr/share/datasets/fashion-mnist';
