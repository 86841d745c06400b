/**
 * Standard MNIST, downloaded once into a cache folder and checked against known MD5 sums.
 * Needs a network; never used by the tests.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DatasetError } from './idx';
import { settings } from '../config/config';

const MNIST_FILES: [string, string][] = [
  ['train-images-idx3-ubyte.gz', 'f68b3c2dcbeaaa9fbdd348bbdeb94873'],
  ['train-labels-idx1-ubyte.gz', 'd53e105ee54ea40749a09fcbcd1e9432'],
  ['t10k-images-idx3-ubyte.gz', '9fb629c4189551a2d022fa330f9573f3'],
  ['t10k-labels-idx1-ubyte.gz', 'ec29112dd5afa0611ce80d1b7f02629c'],
];

export function defaultCacheDir(): string {
  return settings.downloadCache;
}

function md5(file: string): string {
  return crypto.createHash('md5').update(fs.readFileSync(file)).digest('hex');
}

/** Returns the folder holding verified MNIST files, downloading what is missing. */
export async function downloadMnist(cacheDir = defaultCacheDir()): Promise<string> {
  const folder = path.join(cacheDir, 'mnist');
  fs.mkdirSync(folder, { recursive: true });
  for (const [name, sum] of MNIST_FILES) {
    const file = path.join(folder, name);
    if (fs.existsSync(file) && md5(file) === sum) continue;
    let res: Response;
    try {
      res = await fetch(settings.mnistMirror + name);
    } catch (e) {
      throw new DatasetError(`MNIST download of ${name} failed (${(e as Error).message}); put the IDX files in ${folder} by hand or use --dataset embedded`);
    }
    if (!res.ok) throw new DatasetError(`MNIST download of ${name} failed with HTTP ${res.status}`);
    const tmp = `${file}.part`;
    fs.writeFileSync(tmp, Buffer.from(await res.arrayBuffer()));
    const got = md5(tmp);
    if (got !== sum) {
      fs.rmSync(tmp, { force: true });
      throw new DatasetError(`MNIST file ${name} has MD5 ${got}, expected ${sum}`);
    }
    fs.renameSync(tmp, file);
  }
  return folder;
}
