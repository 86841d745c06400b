/** Resolving a dataset name or folder for the experiments. */
import * as fs from 'node:fs';
import { Dataset, split, splitSteps } from '../data/dataset';
import { runInSlices } from '../util/stepwise';
import { loadEmbeddedDigits, loadEmbeddedDigitsAsync } from '../data/embedded';
import { DatasetError, FASHION_MNIST_DEBIAN, loadIdxFolder } from '../data/idx';
import { defaultCacheDir } from '../data/download';
import * as path from 'node:path';

/**
 * 'embedded' (the 10k MNIST digits shipped with the package, split into a training pool and a test
 * set), 'fashion-mnist' (Debian's dataset-fashion-mnist), 'mnist' (the download cache), or a folder
 * of MNIST-format IDX files (MNIST, Fashion-MNIST, KMNIST).
 */
export function resolveDataset(name: string, seed: number, embeddedTest = 2000): ResolvedDataset {
  return name === 'embedded' ? splitEmbedded(loadEmbeddedDigits(), seed, embeddedTest) : resolveFolder(name);
}

/**
 * resolveDataset for servers: the embedded digits are parsed in slices that leave the event loop
 * free. (IDX folders are read at once: gunzip and conversion of Fashion-MNIST take ~0.3 s.)
 */
export async function resolveDatasetAsync(name: string, seed: number, embeddedTest = 2000): Promise<ResolvedDataset> {
  if (name !== 'embedded') return resolveFolder(name);
  const all = await loadEmbeddedDigitsAsync();
  const [pool, test] = await runInSlices(splitSteps(all, [all.count - embeddedTest, embeddedTest], seed));
  return embeddedDescribed(pool, test);
}

export interface ResolvedDataset {
  train: Dataset;
  test: Dataset;
  description: string;
}

function splitEmbedded(all: Dataset, seed: number, embeddedTest: number): ResolvedDataset {
  const [pool, test] = split(all, [all.count - embeddedTest, embeddedTest], seed);
  return embeddedDescribed(pool, test);
}

function embeddedDescribed(pool: Dataset, test: Dataset): ResolvedDataset {
  return { train: pool, test, description: `embedded MNIST digits: ${pool.count} pool + ${test.count} test` };
}

function resolveFolder(name: string): ResolvedDataset {
  let folder = name;
  if (name === 'fashion-mnist') folder = FASHION_MNIST_DEBIAN;
  else if (name === 'mnist') folder = path.join(defaultCacheDir(), 'mnist');
  if (!fs.existsSync(folder)) {
    const hint = name === 'fashion-mnist' ? ' (install it with: sudo apt-get install dataset-fashion-mnist)'
      : name === 'mnist' ? ' (run `rfho download-mnist` where a network is available)' : '';
    throw new DatasetError(`dataset '${name}': folder ${folder} not found${hint}`);
  }
  const d = loadIdxFolder(folder, name);
  return { train: d.train, test: d.test, description: `${name} IDX files from ${folder}` };
}

