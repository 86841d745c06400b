#!/usr/bin/env node
// Builds the native addon with cmake-js, after checking the prerequisites so that a missing one
// fails with the command that installs it rather than with a compiler error.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const PREREQS = 'sudo apt-get install -y cmake g++ make';

function have(cmd, args = ['--version']) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.status === 0;
}

for (const tool of ['cmake', 'make', 'c++']) {
  if (!have(tool)) {
    console.error(`rfho: '${tool}' was not found; it is needed to build the native addon.\n` +
      `On Debian/Ubuntu: ${PREREQS}`);
    process.exit(1);
  }
}

const args = [process.argv.includes('--force') ? 'rebuild' : 'compile', '--out', 'build'];
const cudaFlag = process.env.RFHO_CUDA;
if (cudaFlag) args.push(`--CDRFHO_CUDA=${cudaFlag}`);
if (process.env.RFHO_NATIVE_ARCH) args.push(`--CDRFHO_NATIVE_ARCH=${process.env.RFHO_NATIVE_ARCH}`);
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const r = spawnSync(process.execPath, [cmakeJs, ...args], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  console.error(`rfho: the native build failed. Prerequisites on Debian/Ubuntu: ${PREREQS}`);
  process.exit(r.status || 1);
}
