#!/usr/bin/env node
// npm install hook: use the prebuilt addons shipped in prebuilds/<platform>-<arch> when one loads
// on this machine, else build from source (scripts/build-native.js; needs cmake, make and a C++
// compiler). RFHO_BUILD_FROM_SOURCE=1 always builds.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const prebuilt = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);

function prebuiltLoads() {
  if (!fs.existsSync(prebuilt)) return false;
  // the package's own loader picks the addon for this CPU; a child process, so that a crash cannot stop the install
  const check = `const b = require(${JSON.stringify(path.join(root, 'dist', 'lib', 'native', 'binding.js'))}); if (!b.addonInfo.file.startsWith(${JSON.stringify(prebuilt)})) process.exit(3);`;
  return spawnSync(process.execPath, ['-e', check], { stdio: 'ignore' }).status === 0;
}

if (!process.env.RFHO_BUILD_FROM_SOURCE && prebuiltLoads()) {
  console.log(`rfho: using the prebuilt addon for ${process.platform}-${process.arch}`);
  process.exit(0);
}
const r = spawnSync(process.execPath, [path.join(__dirname, 'build-native.js')], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
