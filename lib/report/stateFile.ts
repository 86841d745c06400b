/**
 * State files: what a run needs to continue (checkpoints, job descriptions), written so that a
 * kill at any moment leaves either the old file or the new one, and read so that a damaged file
 * is refused before anything is touched.
 *
 * Format: one header line of JSON, `{"format":"rfho-state","kind":K,"version":V,"bytes":N,
 * "sha256":H}`, then the payload: N bytes of JSON whose SHA-256 is H. Written to a temporary file
 * in the same folder, fsync'ed, renamed over the old one, and the folder fsync'ed (so the rename
 * itself survives a power cut).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StateFileError } from '../errors/errors';
import { settings } from '../config/config';

export const STATE_FORMAT = 'rfho-state';

interface Header {
  format: string;
  kind: string;
  version: number;
  bytes: number;
  sha256: string;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

let writesSoFar = 0;
let temporaries = 0;

/** A temporary name beside `file`, unique within this process and across processes. */
function temporaryFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${++temporaries}.tmp`);
}

/**
 * Fault injection for the tests of durability: with RFHO_FAULT_KILL_IN_WRITE=n (`rf.config.faultKillInWrite`) the process kills
 * itself (SIGKILL, no cleanup) halfway through writing the n-th state file's temporary copy;
 * unset, it costs one counter increment per write.
 */
function killHalfwayThroughWrite(): boolean {
  writesSoFar++;
  const n = settings.faultKillInWrite;
  return n > 0 && n === writesSoFar;
}

/** Writes `payload` (JSON-serialisable) as a state file of this kind and version, atomically. */
export function writeStateFile(file: string, kind: string, version: number, payload: unknown): void {
  const body = Buffer.from(JSON.stringify(payload), 'utf8');
  const header: Header = { format: STATE_FORMAT, kind, version, bytes: body.length, sha256: sha256(body) };
  writeAtomic(file, Buffer.concat([Buffer.from(JSON.stringify(header) + '\n', 'utf8'), body]), killHalfwayThroughWrite());
}

/** Writes a text file atomically (temporary file, fsync, rename): logs rewritten on resume. */
export function writeFileAtomic(file: string, text: string): void {
  writeAtomic(file, Buffer.from(text, 'utf8'), false);
}

/** Writes bytes atomically (temporary file, fsync, rename): weight files. */
export function writeBytesAtomic(file: string, data: Uint8Array): void {
  writeAtomic(file, data, false);
}

/** Temporary file beside `file`, fsync, rename over it, fsync of the folder; `killHalfway`: the fault injection above. */
function writeAtomic(file: string, data: Uint8Array, killHalfway: boolean): void {
  const dir = path.dirname(file);
  const tmp = temporaryFor(file);
  const fd = fs.openSync(tmp, 'wx', 0o644);
  try {
    if (killHalfway) {
      fs.writeSync(fd, data, 0, Math.floor(data.length / 2));
      fs.fsyncSync(fd);
      process.kill(process.pid, 'SIGKILL');
    }
    // writeSync may write less than asked (large buffers): loop to the end
    for (let at = 0; at < data.length; ) at += fs.writeSync(fd, data, at, data.length - at);
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
  syncFolder(dir);
}

/** fsync of a folder, so that a rename in it is on disk (not supported everywhere: best effort). */
export function syncFolder(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some file systems refuse fsync on a folder; the rename is then as durable as they make it.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Reads and checks a state file: format, kind, version, length and checksum, then the payload's
 * JSON and `validate(payload)`. Any failure throws a StateFileError naming the file and the
 * reason; nothing is written.
 */
export function readStateFile<T>(file: string, kind: string, version: number, validate: (payload: unknown) => T): T {
  const bad = (why: string) => new StateFileError(`${file}: ${why}`, file);
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch (e) {
    throw bad(`cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const nl = data.indexOf(0x0a);
  if (nl < 0) throw bad('is not an rfho state file (no header line)');
  let header: Header;
  try {
    header = JSON.parse(data.subarray(0, nl).toString('utf8')) as Header;
  } catch {
    throw bad('is not an rfho state file (its header is not JSON)');
  }
  if (!header || header.format !== STATE_FORMAT) throw bad(`is not an rfho state file (format ${JSON.stringify(header?.format)?.slice(0, 40)})`);
  if (header.kind !== kind) throw bad(`holds a ${JSON.stringify(header.kind)?.slice(0, 40)}, not a ${kind}`);
  if (header.version !== version) throw bad(`has format version ${JSON.stringify(header.version)?.slice(0, 20)}; this rfho reads version ${version}`);
  const body = data.subarray(nl + 1);
  if (!Number.isInteger(header.bytes) || body.length !== header.bytes) {
    throw bad(`is truncated or extended: ${body.length} bytes of content, its header says ${String(header.bytes).slice(0, 20)}`);
  }
  if (typeof header.sha256 !== 'string' || sha256(body) !== header.sha256) throw bad('is damaged: its content does not match its SHA-256 checksum');
  let payload: unknown;
  try {
    payload = JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw bad(`has content that is not JSON (${(e as Error).message})`);
  }
  try {
    return validate(payload);
  } catch (e) {
    if (e instanceof StateFileError) throw bad(e.message);
    throw bad(`has content that does not fit: ${(e as Error).message}`);
  }
}
