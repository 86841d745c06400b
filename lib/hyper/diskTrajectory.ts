/**
 * A trajectory on disk: every state (and gradient) streamed to a file during the forward pass,
 * read back on the reverse pass.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as K from '../kernels';
import { ArgumentError } from '../errors/errors';
import { show } from '../errors/show';
import { Tensor } from '../tensor/tensor';
import { TrajectoryStore, bytesOf } from './trajectory';

/** Streams every state (and gradient) to a file; the reverse pass reads them back. */
export class DiskTrajectory implements TrajectoryStore {
  private fdStates = -1;
  private fdGrads = -1;
  private shape: readonly number[] = [];
  private gshape: readonly number[] = [];
  private last: Tensor | null = null;
  private files: string[] = [];
  private current: Tensor | null = null;
  readonly recomputed = 0;
  peakBytes = 0;

  constructor(private readonly dir: string = os.tmpdir()) {
    if (typeof dir !== 'string' || dir === '') throw new ArgumentError(`DiskTrajectory: argument 'dir' must be a folder path, got ${show(dir)}`);
  }

  private write(fd: number, t: Tensor, index: number): void {
    const a = t.toArray();
    fs.writeSync(fd, new Uint8Array(a.buffer, a.byteOffset, a.byteLength), 0, a.byteLength, index * a.byteLength);
  }
  private read(fd: number, like: Tensor | null, shape: readonly number[], dtype: 'float32' | 'float64', index: number): Tensor {
    const n = shape.reduce((x, y) => x * y, 1);
    const buf = dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
    fs.readSync(fd, new Uint8Array(buf.buffer), 0, buf.byteLength, index * buf.byteLength);
    void like;
    return K.tensor(buf, shape, { dtype });
  }

  private dtype: 'float32' | 'float64' = 'float32';

  begin(s0: Tensor): void {
    const base = fs.mkdtempSync(path.join(this.dir, 'rfho-trajectory-'));
    this.files = [path.join(base, 'states.bin'), path.join(base, 'grads.bin')];
    this.fdStates = fs.openSync(this.files[0], 'w+');
    this.fdGrads = fs.openSync(this.files[1], 'w+');
    this.shape = s0.shape;
    this.dtype = s0.dtype === 'float64' ? 'float64' : 'float32';
    this.write(this.fdStates, s0, 0);
    this.last = s0;
    this.peakBytes = bytesOf(s0);
  }
  push(t: number, s: Tensor): void {
    this.write(this.fdStates, s, t);
    this.last?.dispose();
    this.last = s;
  }
  pushGradient(t: number, g: Tensor): void {
    this.gshape = g.shape;
    this.write(this.fdGrads, g, t - 1);
    g.dispose();
  }
  get(t: number): Tensor {
    this.current?.dispose();
    this.current = this.read(this.fdStates, null, this.shape, this.dtype, t);
    return this.current;
  }
  private currentGrad: Tensor | null = null;
  gradient(t: number): Tensor | null {
    if (this.gshape.length === 0) return null;
    this.currentGrad?.dispose();
    this.currentGrad = this.read(this.fdGrads, null, this.gshape, this.dtype, t - 1);
    return this.currentGrad;
  }
  release(): void {
    this.current?.dispose();
    this.current = null;
    this.currentGrad?.dispose();
    this.currentGrad = null;
  }
  end(): void {
    this.release();
    this.last?.dispose();
    this.last = null;
    for (const fd of [this.fdStates, this.fdGrads]) if (fd >= 0) fs.closeSync(fd);
    this.fdStates = this.fdGrads = -1;
    for (const f of this.files) fs.rmSync(path.dirname(f), { recursive: true, force: true });
  }
}
