/**
 * The safetensors format (https://huggingface.co/docs/safetensors), the format ML users share
 * weights in: an 8-byte little-endian header length N, N bytes of JSON
 * `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__?: { string: string } }`, then
 * the tensors' bytes, little-endian and row-major, offsets relative to the end of the header.
 * rfho adds the SHA-256 of the data to the metadata (`rfho.sha256`), so that a damaged file is
 * refused even where its structure still parses; other writers' files, without it, load too.
 *
 * Written by hand rather than with a package: the format is a page long, and the packages on npm
 * either pull in a tensor library or read whole files through other runtimes.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as K from '../kernels';
import { DType } from '../tensor/dtype';
import { ArgumentError, StateFileError } from '../errors/errors';
import { show } from '../errors/show';
import { Tensor } from '../tensor/tensor';
import { assertTensor } from '../tensor/validate';
import { writeBytesAtomic } from '../report/stateFile';

const DTYPES: Record<string, { dtype: DType; bytes: number }> = { F32: { dtype: 'float32', bytes: 4 }, F64: { dtype: 'float64', bytes: 8 }, I32: { dtype: 'int32', bytes: 4 } };
const CODES: Record<DType, string> = { float32: 'F32', float64: 'F64', int32: 'I32' };
/** A header larger than this is not a weight file's (the reference implementation's bound too). */
const MAX_HEADER_BYTES = 100 * 2 ** 20;
const CHECKSUM_KEY = 'rfho.sha256';

/** The format is little-endian; typed arrays use the machine's order. */
function checkEndianness(): void {
  if (os.endianness() !== 'LE') throw new ArgumentError('safetensors files are little-endian; reading them on a big-endian machine is not supported');
}

export interface SafetensorsContents {
  tensors: { [name: string]: Tensor };
  metadata: { [key: string]: string };
}

/** Writes tensors (and string metadata) as a safetensors file, atomically. */
export function writeSafetensors(file: string, tensors: { [name: string]: Tensor }, metadata: { [key: string]: string } = {}): void {
  checkEndianness();
  if (typeof file !== 'string' || file === '') throw new ArgumentError(`save: argument 'file' must be a file path, got ${show(file)}`);
  if (tensors === null || typeof tensors !== 'object') throw new ArgumentError(`save: argument 'tensors' must be a record of tensors, got ${show(tensors)}`);
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw new ArgumentError(`save: metadata '${k}' must be a string, got ${show(v)}`);
  }
  const names = Object.keys(tensors).sort(); // the reference writer's order: by name
  if (names.length === 0) throw new ArgumentError(`save: nothing to save`);
  const header: Record<string, unknown> = {};
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    if (name === '__metadata__' || name === '') throw new ArgumentError(`save: '${name}' cannot name a tensor`);
    const t = tensors[name];
    assertTensor(t, `tensors.${name}`);
    const a = t.toArray();
    const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    header[name] = { dtype: CODES[t.dtype], shape: t.shape.slice(), data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  const data = Buffer.concat(chunks);
  header.__metadata__ = { ...metadata, [CHECKSUM_KEY]: createHash('sha256').update(data).digest('hex') };
  // The data starts 8-byte aligned, as the reference writer pads it (with spaces, inside the JSON).
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  try {
    writeBytesAtomic(file, Buffer.concat([head, Buffer.from(json, 'utf8'), data]));
  } catch (e) {
    throw new StateFileError(`${file}: cannot be written (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, file);
  }
}

/** Reads a safetensors file, checking all of it before making any tensor. */
export function readSafetensors(file: string): SafetensorsContents {
  checkEndianness();
  if (typeof file !== 'string' || file === '') throw new ArgumentError(`load: argument 'file' must be a file path, got ${show(file)}`);
  const bad = (why: string) => new StateFileError(`${file}: not a usable safetensors file: ${why}`, file);
  let raw: Buffer;
  try {
    raw = fs.readFileSync(file);
  } catch (e) {
    throw new StateFileError(`${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, file);
  }
  if (raw.length < 8) throw bad(`${raw.length} bytes, shorter than the header length`);
  const n = raw.readBigUInt64LE(0);
  if (n > BigInt(Math.min(MAX_HEADER_BYTES, raw.length - 8))) throw bad(`the header claims ${n} bytes, the file has ${raw.length - 8} after the length`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(raw.subarray(8, 8 + Number(n)).toString('utf8'));
  } catch (e) {
    throw bad(`the header is not JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw bad('the header is not an object');
  const data = raw.subarray(8 + Number(n));
  const metadata: { [key: string]: string } = {};
  const meta = header.__metadata__;
  if (meta !== undefined) {
    if (meta === null || typeof meta !== 'object') throw bad('__metadata__ is not an object');
    for (const [k, v] of Object.entries(meta)) {
      if (typeof v !== 'string') throw bad(`metadata '${k}' is not a string`);
      metadata[k] = v;
    }
  }
  const entries: { name: string; dtype: DType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, e] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const x = e as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const kind = typeof x?.dtype === 'string' ? DTYPES[x.dtype] : undefined;
    if (!kind) throw bad(`tensor '${name}' has dtype ${show(x?.dtype)} (rfho reads F32, F64 and I32)`);
    if (!Array.isArray(x.shape) || x.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw bad(`tensor '${name}' has shape ${show(x.shape)}`);
    const off = x.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((v) => Number.isSafeInteger(v) && v >= 0) || off[0] > off[1] || off[1] > data.length) {
      throw bad(`tensor '${name}' has data offsets ${show(off)} outside the ${data.length} data bytes`);
    }
    const numel = (x.shape as number[]).reduce((p, d) => p * d, 1);
    if (off[1] - off[0] !== numel * kind.bytes) throw bad(`tensor '${name}' ${show(x.shape)} ${x.dtype} needs ${numel * kind.bytes} bytes, its offsets span ${off[1] - off[0]}`);
    entries.push({ name, dtype: kind.dtype, shape: x.shape as number[], begin: off[0], end: off[1] });
  }
  // The tensors tile the data exactly, without overlap (the format's rule).
  const sorted = entries.slice().sort((p, q) => p.begin - q.begin);
  let at = 0;
  for (const e of sorted) {
    if (e.begin !== at) throw bad(`tensor '${e.name}' starts at byte ${e.begin}, expected ${at} (overlap or gap)`);
    at = e.end;
  }
  if (at !== data.length) throw bad(`${data.length - at} bytes after the last tensor`);
  const sum = metadata[CHECKSUM_KEY];
  if (sum !== undefined && createHash('sha256').update(data).digest('hex') !== sum) throw bad('the data does not match its checksum (damaged)');
  const tensors: { [name: string]: Tensor } = {};
  for (const e of entries) {
    const bytes = data.subarray(e.begin, e.end);
    // a copy into an aligned buffer: the data of a Buffer may start anywhere
    const copy = new Uint8Array(bytes.length);
    copy.set(bytes);
    const view = e.dtype === 'float64' ? new Float64Array(copy.buffer) : e.dtype === 'float32' ? new Float32Array(copy.buffer) : new Int32Array(copy.buffer);
    tensors[e.name] = K.tensor(view, e.shape, { dtype: e.dtype });
  }
  delete metadata[CHECKSUM_KEY];
  return { tensors, metadata };
}
