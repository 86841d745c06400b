/**
 * JSON Schemas of the service's requests. Every job option of a built-in kind has a type and, for
 * sizes and counts, a range that the service accepts: a client cannot ask for an hour-long job by
 * accident, nor name a folder on the server as a dataset. The kinds check again when they run.
 */
import { HC_DEFAULTS } from '../experiments/hyperCleaning';
import { TUNE_DEFAULTS } from '../experiments/tune';
import { JOB_ID_PATTERN } from '../jobs/protocol';

type Schema = Record<string, unknown>;

const int = (minimum: number, maximum: number): Schema => ({ type: 'integer', minimum, maximum });
const num = (exclusiveMinimum: number, maximum: number): Schema => ({ type: 'number', exclusiveMinimum, maximum });
const DATASETS = { type: 'string', enum: ['embedded', 'fashion-mnist', 'mnist'] };
const DTYPES = { type: 'string', enum: ['float32', 'float64'] };
const DEVICES = { type: 'string', enum: ['cpu', 'cuda'] };
const SEED = int(0, 2 ** 31 - 1);

const HYPER_CLEANING: Record<keyof typeof HC_DEFAULTS | 'innerLr' | 'K', Schema> = {
  dataset: DATASETS, trainSize: int(1, 60000), validSize: int(1, 60000), testSize: int(1, 10000), corrupted: int(0, 60000),
  R: num(0, 60000), T: int(1, 100000), hyperIterations: int(1, 100000), innerLr: num(0, 1e6), outerLr: num(0, 1e3),
  method: { type: 'string', enum: ['reverse', 'forward', 'rtho', 'truncated', 'implicit'] }, K: int(1, 100000), seed: SEED,
  dtype: DTYPES, device: DEVICES, threshold: num(0, 1), evalEvery: int(1, 100000),
};

const TUNE: Record<keyof typeof TUNE_DEFAULTS, Schema> = {
  dataset: DATASETS, trainSize: int(1, 60000), validSize: int(1, 60000), testSize: int(1, 10000),
  hidden: { type: 'array', minItems: 1, maxItems: 8, items: int(1, 4096) }, batchSize: int(1, 60000), K: int(1, 100000),
  hyperIterations: int(1, 100000), lr: num(0, 100), momentum: { type: 'number', minimum: 0, maximum: 0.99 }, l2: { type: 'number', minimum: 0, maximum: 1e3 },
  outerLr: num(0, 1e3), method: { type: 'string', enum: ['rtho', 'trho'] }, seed: SEED, dtype: DTYPES, device: DEVICES, evalEvery: int(1, 100000),
  searchTrials: int(1, 1000),
};

/** The schema of a kind's options: the built-in kinds' in full; a module kind's options are its own to check (any JSON object here). */
export function optionsSchema(kind: string): Schema {
  const properties = kind === 'hyper-cleaning' ? HYPER_CLEANING : kind === 'tune' ? TUNE : null;
  return properties ? { type: 'object', additionalProperties: false, properties } : { type: 'object' };
}

export const JOB_ID = { type: 'string', pattern: JOB_ID_PATTERN.source };
export const FILE_NAME = { type: 'string', pattern: '^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$' };

export function submitSchema(kinds: readonly string[]): Schema {
  return {
    type: 'object',
    required: ['kind'],
    additionalProperties: false,
    properties: { kind: { type: 'string', enum: kinds }, options: { type: 'object' }, id: JOB_ID },
  };
}
