/**
 * rfho's settings, in one typed object (`rf.config`): every setting with its default, its meaning,
 * the environment variable that sets its initial value, and when it takes effect. Environment
 * variables are read here and nowhere else in the TypeScript layers; the modules that use a
 * setting read `settings` when they need it, so a live setting changed at run time applies to the
 * next operation that reads it.
 *
 * Three kinds of settings:
 *   - live: read at each use; `rf.config.x = v` (or `rf.config.set({...})`) changes it, checked.
 *   - load: read once when the native addon loads (which CPU level to load); set by the
 *     environment variable before the process starts, read-only here.
 *   - native: read by the addon's C++ itself, all in native/src/settings.h (BLAS library, GEMM
 *     kernel, huge pages, CUDA); listed here with their defaults and meaning, read-only, set by
 *     the environment variable.
 * An environment variable with a value a setting cannot take is ignored with a warning that names
 * it, and the default applies.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { ArgumentError } from '../errors/errors';
import { show } from '../errors/show';

type Kind = 'live' | 'load' | 'native';

interface Spec<T> {
  env: string;
  kind: Kind;
  meaning: string;
  /** the default, as a value and as said in the docs */
  initial: () => T;
  /** parses an environment variable's text; undefined: not a value this setting takes */
  parse: (raw: string) => T | undefined;
  /** checks a value set at run time; returns it (normalised) or throws an ArgumentError */
  check: (v: unknown, name: string) => T;
}

const nonNegative = (v: unknown, name: string): number => {
  if (typeof v !== 'number' || !(v >= 0) || Number.isNaN(v)) throw new ArgumentError(`config: '${name}' must be a number ≥ 0, got ${show(v)}`);
  return v;
};
const fraction = (v: unknown, name: string): number => {
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new ArgumentError(`config: '${name}' must be a number in [0, 1], got ${show(v)}`);
  return v;
};
const boolean = (v: unknown, name: string): boolean => {
  if (typeof v !== 'boolean') throw new ArgumentError(`config: '${name}' must be true or false, got ${show(v)}`);
  return v;
};
const text = (v: unknown, name: string): string => {
  if (typeof v !== 'string' || v === '') throw new ArgumentError(`config: '${name}' must be a non-empty string, got ${show(v)}`);
  return v;
};
const optionalText = (v: unknown, name: string): string | undefined => (v === undefined ? undefined : text(v, name));
const readOnly = (v: unknown, name: string): never => {
  throw new ArgumentError(`config: '${name}' is read ${SPECS[name as SettingName].kind === 'load' ? 'when the native addon loads' : 'by the native addon'}; set ${SPECS[name as SettingName].env} before the process starts`);
};
const number = (raw: string): number | undefined => (raw.trim() === '' || !Number.isFinite(Number(raw)) ? undefined : Number(raw));
const flag = (raw: string): boolean | undefined => (raw === '1' || raw === 'true' ? true : raw === '0' || raw === 'false' ? false : undefined);
const presence = (raw: string): boolean => raw !== '' && raw !== '0';

const SPECS = {
  device: {
    env: 'RFHO_DEVICE', kind: 'live', meaning: "where new tensors go when none is named: 'cpu' or 'cuda' (also rf.setDefaultDevice)",
    initial: () => 'cpu', parse: (raw) => (raw === 'cpu' || raw === 'cuda' ? raw : undefined),
    check: (v, name) => {
      if (v !== 'cpu' && v !== 'cuda') throw new ArgumentError(`config: '${name}' must be 'cpu' or 'cuda', got ${show(v)}`);
      return v;
    },
  } as Spec<'cpu' | 'cuda'>,
  cacheBytes: {
    env: 'RFHO_CACHE_BYTES', kind: 'live', meaning: 'bytes of disposed native buffers kept for reuse (a training loop then allocates nothing after its first step)',
    initial: () => Math.min(os.totalmem() / 4, 4 * 2 ** 30), parse: (raw) => { const n = number(raw); return n !== undefined && n >= 0 ? n : undefined; }, check: nonNegative,
  } as Spec<number>,
  releaseMinBytes: {
    env: 'RFHO_RELEASE_MIN_BYTES', kind: 'live', meaning: "a reverse sweep frees cotangents and intermediates as it goes when its graph holds at least this many bytes (below, the bookkeeping costs more than the memory)",
    initial: () => 16 * 2 ** 20, parse: (raw) => { const n = number(raw); return n !== undefined && n >= 0 ? n : undefined; }, check: nonNegative,
  } as Spec<number>,
  keptLogitsBytes: {
    env: 'RFHO_KEPT_LOGITS_BYTES', kind: 'live', meaning: "Reverse-HG (and its truncated form) keeps the fused linear cross-entropy's logits X W + b of its last forward steps on dense data, as many as this many bytes hold until the reverse sweep reaches them, so that those reverse steps' Hessian-vector products need not compute them again (0: never)",
    initial: () => 64 * 2 ** 20, parse: (raw) => { const n = number(raw); return n !== undefined && n >= 0 ? n : undefined; }, check: nonNegative,
  } as Spec<number>,
  sparseMaxDensity: {
    env: 'RFHO_SPARSE_DATA', kind: 'live', meaning: 'a data matrix with at most this fraction of non-zeros gets a sparse layout at its first product (0: never); applies to data first multiplied after a change',
    initial: () => 1 / 3, parse: (raw) => { const n = number(raw); return n !== undefined && n >= 0 && n <= 1 ? n : undefined; }, check: fraction,
  } as Spec<number>,
  sparseDenseColumns: {
    env: 'RFHO_SPARSE_DENSE_COLUMNS', kind: 'live', meaning: 'columns of a sparse data matrix with at least this fraction of non-zeros are also kept densely for wide products (above 1: none)',
    initial: () => 0.3, parse: (raw) => { const n = number(raw); return n !== undefined && n >= 0 ? n : undefined; }, check: nonNegative,
  } as Spec<number>,
  rowPanels: {
    env: 'RFHO_ROW_PANELS', kind: 'live', meaning: "dense data matrices get row panels (16 rows side by side) for the fused linear cross-entropy; they cost one more copy of the data",
    initial: () => true, parse: flag, check: boolean,
  } as Spec<boolean>,
  downloadCache: {
    env: 'RFHO_CACHE', kind: 'live', meaning: 'the folder downloaded datasets are kept in',
    initial: () => path.join(os.homedir(), '.cache', 'rfho'), parse: (raw) => raw || undefined, check: text,
  } as Spec<string>,
  mnistMirror: {
    env: 'RFHO_MNIST_MIRROR', kind: 'live', meaning: "where MNIST's files are downloaded from (their checksums are checked whatever the mirror)",
    initial: () => 'https://ossci-datasets.s3.amazonaws.com/mnist/', parse: (raw) => raw || undefined, check: text,
  } as Spec<string>,
  serveToken: {
    env: 'RFHO_TOKEN', kind: 'live', meaning: "`rfho serve` and `rfho worker`'s bearer token when --token is not given (none: no token asked)",
    initial: () => undefined, parse: (raw) => raw || undefined, check: optionalText,
  } as Spec<string | undefined>,
  faultKillInWrite: {
    env: 'RFHO_FAULT_KILL_IN_WRITE', kind: 'live', meaning: 'fault injection for the durability tests: the process kills itself halfway through writing the n-th state file (0: never)',
    initial: () => 0, parse: (raw) => { const n = number(raw); return n !== undefined && Number.isSafeInteger(n) && n >= 0 ? n : undefined; },
    check: (v, name) => {
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new ArgumentError(`config: '${name}' must be an integer ≥ 0, got ${show(v)}`);
      return v;
    },
  } as Spec<number>,
  cpuLevel: {
    env: 'RFHO_CPU', kind: 'load', meaning: "the addon's x86-64 level to load (x86-64-v2, -v3, -v4; none: the best the CPU runs)",
    initial: () => undefined, parse: (raw) => raw || undefined, check: readOnly,
  } as Spec<string | undefined>,
  blasLibrary: {
    env: 'RFHO_BLAS', kind: 'native', meaning: "the CBLAS library the addon dlopens on first use (none: OpenBLAS or another CBLAS from the system's library path; 'built-in': rfho's own loops)",
    initial: () => undefined, parse: (raw) => raw || undefined, check: readOnly,
  } as Spec<string | undefined>,
  gemmKernel: {
    env: 'RFHO_GEMM', kind: 'native', meaning: "large float products: 'packed' (rfho's AVX-512 micro-kernel, where built) or 'openblas' (every product to the BLAS library)",
    initial: () => 'packed', parse: (raw) => (raw === 'openblas' ? 'openblas' : undefined), check: readOnly,
  } as Spec<'packed' | 'openblas'>,
  hugePages: {
    env: 'RFHO_NO_HUGEPAGES', kind: 'native', meaning: 'large buffers ask for transparent huge pages (RFHO_NO_HUGEPAGES set, to anything: not)',
    initial: () => true, parse: () => false, check: readOnly,
  } as Spec<boolean>,
  cudaDisabled: {
    env: 'RFHO_DISABLE_CUDA', kind: 'native', meaning: 'never load the CUDA library, even where it is built and a GPU is present',
    initial: () => false, parse: presence, check: readOnly,
  } as Spec<boolean>,
  cudaSync: {
    env: 'RFHO_CUDA_SYNC', kind: 'native', meaning: 'synchronise after every CUDA kernel, so that a fault is reported by the call that made it (slow; for debugging); 1 to turn on',
    initial: () => false, parse: (raw) => (raw === '1' ? true : raw === '0' ? false : undefined), check: readOnly,
  } as Spec<boolean>,
  cudaTf32: {
    env: 'RFHO_CUDA_TF32', kind: 'native', meaning: "float32 products on CUDA may use TF32 tensor cores (faster, 10-bit mantissa inputs); 1 to allow",
    initial: () => false, parse: (raw) => (raw === '1' ? true : raw === '0' ? false : undefined), check: readOnly,
  } as Spec<boolean>,
} satisfies { [name: string]: Spec<any> };

export type SettingName = keyof typeof SPECS;
type ValueOf<N extends SettingName> = (typeof SPECS)[N] extends Spec<infer T> ? T : never;
export type Settings = { [N in SettingName]: ValueOf<N> };

function fromEnvironment(): Settings {
  const out: { [name: string]: unknown } = {};
  for (const [name, spec] of Object.entries(SPECS) as [SettingName, Spec<unknown>][]) {
    const raw = process.env[spec.env];
    let value = spec.initial();
    if (raw !== undefined) {
      const parsed = spec.parse(raw);
      if (parsed === undefined && raw !== '') process.emitWarning(`${spec.env}=${JSON.stringify(raw)} is not a value '${name}' takes; the default applies`, { code: 'RFHO_CONFIG' });
      else if (parsed !== undefined) value = parsed;
    }
    out[name] = value;
  }
  return out as Settings;
}

/** The current values, read by the modules that use them (plain properties: reading one costs nothing). */
export const settings: Settings = fromEnvironment();

/** Checks run when a setting changes, registered by the module that owns its meaning (the device: whether CUDA runs here). */
const validators: { [N in SettingName]?: (v: ValueOf<N>) => void } = {};

export function registerValidator<N extends SettingName>(name: N, validate: (v: ValueOf<N>) => void): void {
  (validators as { [name: string]: unknown })[name] = validate;
}

export interface SettingDescription {
  name: SettingName;
  env: string;
  kind: Kind;
  value: unknown;
  default: unknown;
  meaning: string;
}

/** `rf.config`: each setting as a property (checked when set), plus `set`, `describe` and `reset`. */
export type Config = Settings & {
  /** Sets several settings at once, all checked before any changes. */
  set(values: Partial<Settings>): void;
  /** Every setting: name, environment variable, kind, value, default and meaning. */
  describe(): SettingDescription[];
  /** Back to what the environment set at start-up (or the defaults). */
  reset(): void;
};

function checked(name: string, value: unknown): unknown {
  if (!(name in SPECS)) throw new ArgumentError(`config: unknown setting '${name}'; the settings are ${Object.keys(SPECS).join(', ')}`);
  const v = (SPECS[name as SettingName] as Spec<unknown>).check(value, name);
  (validators[name as SettingName] as ((x: unknown) => void) | undefined)?.(v);
  return v;
}

function makeConfig(): Config {
  const config = {
    set(values: Partial<Settings>): void {
      if (values === null || typeof values !== 'object') throw new ArgumentError(`config.set: argument 'values' must be an object of settings, got ${show(values)}`);
      const next = Object.entries(values).map(([name, v]) => [name, checked(name, v)] as const);
      for (const [name, v] of next) (settings as { [name: string]: unknown })[name] = v;
    },
    describe(): SettingDescription[] {
      return (Object.entries(SPECS) as [SettingName, Spec<unknown>][]).map(([name, spec]) => ({
        name, env: spec.env, kind: spec.kind, value: settings[name], default: spec.initial(), meaning: spec.meaning,
      }));
    },
    reset(): void {
      Object.assign(settings, fromEnvironment());
    },
  } as Config;
  for (const name of Object.keys(SPECS)) {
    Object.defineProperty(config, name, {
      enumerable: true,
      get: () => settings[name as SettingName],
      set: (v: unknown) => {
        (settings as { [name: string]: unknown })[name] = checked(name, v);
      },
    });
  }
  return Object.freeze(config) as Config;
}

export const config: Config = makeConfig();
