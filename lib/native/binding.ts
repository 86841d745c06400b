/**
 * Loads the native addon and describes its functions. Everything here is unchecked at the type
 * level beyond this interface: callers (lib/kernels) validate shapes first, and the addon checks
 * again before touching memory.
 */
import { ArgumentError, NativeError, OutOfMemoryError, RfhoError } from '../errors/errors';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { settings } from '../config/config';

/** Opaque handle to native memory. */
export type Handle = { readonly __rfhoHandle: unique symbol };

export interface NativeAddon {
  version: string;
  alloc(numel: number, dtype: number, device: number): Handle;
  free(h: Handle): void;
  stats(): { bytes: number; buffers: number };
  write(h: Handle, src: Float32Array | Float64Array | Int32Array, offset?: number): void;
  read(h: Handle): Float32Array | Float64Array | Int32Array;
  readScalar(h: Handle, index?: number): number;
  fill(h: Handle, value: number): void;
  randomUniform(h: Handle, seed: number, lo: number, hi: number): void;
  randomNormal(h: Handle, seed: number, mean: number, std: number): void;
  cast(x: Handle, out: Handle): void;
  copy(src: Handle, dst: Handle): void;
  countNonFinite(x: Handle): number;
  deviceInfo(): { cuda: boolean; cudaStatus: string; blas: string };
  /** the fused kernels the device's backend provides (null: its backend has not started) */
  fusedKernels(device: string): string[] | null;
  synchronize(): void;
  /** the calling thread's kernel thread budget (OpenMP, per calling thread) */
  setThreads(n: number): void;
  getThreads(): number;
  /** processors this process may run on */
  cores(): number;
  gemm(
    transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
    A: Handle, offA: number, lda: number, strideA: number,
    B: Handle, offB: number, ldb: number, strideB: number,
    beta: number, C: Handle, offC: number, ldc: number, strideC: number, batch: number,
  ): void;
  unary(op: number, x: Handle, out: Handle): void;
  binary(op: number, a: Handle, shapeA: readonly number[], b: Handle, shapeB: readonly number[], out: Handle): void;
  expand(x: Handle, shapeX: readonly number[], out: Handle, shapeOut: readonly number[]): void;
  binaryScalar(op: number, a: Handle, s: number, scalarFirst: boolean, out: Handle): void;
  axpby(alpha: number, x: Handle, beta: number, y: Handle | null, out: Handle): void;
  reduce(op: number, x: Handle, shape: readonly number[], axes: readonly number[], out: Handle): void;
  argmax(x: Handle, shape: readonly number[], axis: number, out: Handle): void;
  dot(a: Handle, b: Handle): number;
  softmaxXent(z: Handle, labels: Handle, w: Handle | null, loss: Handle | null, grad: Handle | null, n: number, c: number): void;
  softmaxXentJvp(z: Handle, labels: Handle, w: Handle | null, dz: Handle | null, dw: Handle | null, out: Handle, n: number, c: number, k: number): void;
  copy2d(src: Handle, srcOff: number, srcStride: number, dst: Handle, dstOff: number, dstStride: number, rows: number, cols: number): void;
  permute(x: Handle, shape: readonly number[], perm: readonly number[], out: Handle): void;
  packRowPanels(x: Handle, rows: number, cols: number, out: Handle): void;
  gemmRowPanels(panels: Handle, m: number, k: number, B: Handle, ldb: number, transB: boolean, n: number, alpha: number, C: Handle, ldc: number): void;
  /** the sparse layout (CSR + CSC) of a CPU [rows, cols] matrix, or null above maxDensity non-zeros */
  packSparse(x: Handle, rows: number, cols: number, maxDensity: number, denseFrom?: number): Handle | null;
  sparseInfo(S: Handle): { rows: number; cols: number; nnz: number; denseCols: number };
  /** Products at least this wide take a sparse layout's dense columns through the dense gemm. */
  readonly sparseDenseColumnsMinWidth: number;
  /** C[q] = alpha op(S) op(B[q]) + beta C[q] for every operand q, in one pass over the sparse layout S */
  sparseGemm(S: Handle, transS: boolean, B: Handle[], offB: number[], ldb: number, transB: boolean, n: number, alpha: number, beta: number, C: Handle[], offC: number[], ldc: number): void;
  /** true where the fused linear softmax cross-entropy passes are built (AVX-512) */
  /** the fused pass over a sparse layout S: [loss, dLoss_1, ..., dLoss_k] */
  sparseLinearXent(S: Handle, W: Handle, b: Handle, k: number, dW: Handle | null, db: Handle | null, labels: Handle, weights: Handle | null, scale: number, ce: Handle, gW: Handle, gb: Handle, r: Handle | null, c: number, logitsIn?: null, logitsOut?: null, dWeights?: Handle | null): number[];
  /** the same over a dense float32 matrix X [n, d] (d = W's rows), with X's row panels if given */
  denseLinearXent(X: Handle, W: Handle, b: Handle, k: number, dW: Handle | null, db: Handle | null, labels: Handle, weights: Handle | null, scale: number, ce: Handle, gW: Handle, gb: Handle, r: Handle | null, c: number, panels: Handle | null, logitsIn?: Handle | null, logitsOut?: Handle | null, dWeights?: Handle | null): number[];
  tanhGrad(y: Handle, g: Handle, out: Handle, n: number, k: number, bias?: Handle | null, h?: number): void;
  tanhGradJvp(y: Handle, g: Handle, ty: Handle, tg: Handle | null, out: Handle, n: number, k: number): void;
  /** the state tangent after one gradient-descent (slots 1) or momentum (slots 2) step, see kernels/fused.ts; returns the count of NaN/Inf written */
  dynamicsTangent(
    slots: number, nesterov: boolean, d: number, k: number, mu: number, eta: number, ts: Handle, tg: Handle,
    tmu: Handle | null, teta: Handle | null, v: Handle | null, v2: Handle | null, dir: Handle, out: Handle,
  ): number;
  gatherRows(x: Handle, idx: Handle, out: Handle, rowLen: number): void;
  scatterAddRows(x: Handle, idx: Handle, out: Handle, rowLen: number): void;
}

/**
 * libgomp's idle threads spin for 300 000 iterations (tenths of a millisecond) after each parallel
 * region before they sleep. Alone that is harmless; two rfho processes (or any other busy process)
 * on the same cores then spend their time slices spinning against each other: two `npm start` runs
 * at once took 2.3× as long as the same two one after the other. 10 000 spins keep a lone run as
 * fast and remove the collapse (1.1×). Set before the addon, and libgomp with it, is loaded;
 * OMP_WAIT_POLICY or GOMP_SPINCOUNT in the environment take precedence.
 */
function applyThreadWaitDefault(): void {
  if (process.env.OMP_WAIT_POLICY === undefined && process.env.GOMP_SPINCOUNT === undefined) process.env.GOMP_SPINCOUNT = '10000';
}

/**
 * The x86-64 instruction-set levels this CPU runs (Linux: /proc/cpuinfo's flags), best first. An
 * addon built for a level the CPU lacks would die of an illegal instruction, so it is never loaded.
 */
function cpuLevels(): string[] {
  if (process.arch !== 'x64') return [];
  let flags: Set<string>;
  try {
    const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
    flags = new Set((info.match(/^flags\s*:(.*)$/m)?.[1] ?? '').trim().split(/\s+/));
  } catch {
    return ['x86-64-v2']; // no /proc (another OS): the baseline
  }
  const has = (...f: string[]) => f.every((x) => flags.has(x));
  const levels: string[] = [];
  if (has('avx512f', 'avx512bw', 'avx512cd', 'avx512dq', 'avx512vl', 'avx2', 'fma', 'bmi2')) levels.push('x86-64-v4');
  if (has('avx2', 'fma', 'bmi1', 'bmi2', 'movbe', 'f16c')) levels.push('x86-64-v3');
  if (has('sse4_2', 'popcnt', 'ssse3')) levels.push('x86-64-v2');
  return levels;
}

/** Which addon file was loaded, and for which instruction-set level ('native' or 'generic' for single builds). */
export const addonInfo: { file: string; cpu: string } = { file: '', cpu: '' };

function load(): NativeAddon {
  applyThreadWaitDefault();
  const root = path.resolve(__dirname, '..', '..', '..');
  // Prebuilt binaries shipped in the package first, then a build from source.
  const dirs = [path.join(root, 'prebuilds', `${process.platform}-${process.arch}`), path.join(root, 'build', 'Release'), path.join(root, 'build', 'Debug')];
  // RFHO_CPU picks a level (e.g. x86-64-v2, to run without AVX-512 on a machine that has it).
  const forced = settings.cpuLevel;
  const levels = forced ? [forced] : cpuLevels();
  const names = [...(forced ? [] : [['rfho_native.node', 'native']]), ...levels.map((l) => [`rfho_native-${l}.node`, l])];
  const errors: string[] = [];
  for (const dir of dirs) {
    for (const [name, cpu] of names) {
      const file = path.join(dir, name);
      if (!fs.existsSync(file)) continue;
      try {
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        const addon = require(file) as NativeAddon;
        addonInfo.file = file;
        addonInfo.cpu = cpu === 'native' && process.arch !== 'x64' ? 'generic' : cpu;
        return addon;
      } catch (e) {
        errors.push(`${file}: ${(e as Error).message.split('\n')[0]}`);
      }
    }
  }
  throw new Error(
    'rfho: the native addon could not be loaded' + (forced ? ` for RFHO_CPU=${forced}` : '') + '. Build it with `npm rebuild rfho` (in this repository: `npm run build:native`) ' +
      '(prerequisites on Debian/Ubuntu: sudo apt-get install -y cmake g++ make).\n' +
      (errors.length ? errors.join('\n') : `no addon for this machine (${process.platform}-${process.arch}, CPU levels ${levels.join(', ') || 'unknown'}) in ${dirs.join(', ')}`),
  );
}

/**
 * Every native function behind a guard that turns the addon's errors into rfho's: its argument
 * checks (a TypeError naming the argument) into a NativeError, allocation failure into an
 * OutOfMemoryError. Callers then see one error family, whichever layer caught the problem.
 */
function guardErrors(addon: NativeAddon): NativeAddon {
  const wrapped: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(addon)) {
    if (typeof value !== 'function') {
      wrapped[key] = value;
      continue;
    }
    const fn = value as (...a: unknown[]) => unknown;
    wrapped[key] = function guarded(): unknown {
      try {
        // eslint-disable-next-line prefer-rest-params
        return fn.apply(addon, arguments as unknown as unknown[]);
      } catch (e) {
        throw translateNativeError(e, key);
      }
    };
  }
  return wrapped as unknown as NativeAddon;
}

function translateNativeError(e: unknown, fn: string): unknown {
  if (e instanceof RfhoError || !(e instanceof Error)) return e;
  if (e instanceof RangeError && /out of memory/.test(e.message)) return new OutOfMemoryError(`${fn}: ${e.message}`);
  // a tensor's contents out of range (labels, indices): checked where the kernel reads them
  if (e instanceof RangeError) return new ArgumentError(`${fn}: ${e.message}`);
  return new NativeError(`${fn}: ${e.message}`);
}

export const native: NativeAddon = guardErrors(load());
