#!/usr/bin/env node
// Before `npm pack`/`npm publish`: copies the built addons (one per x86-64 level) into
// prebuilds/<platform>-<arch>, which the package ships and the loader tries first. The CUDA backend
// is left out: it needs the machine's cuBLAS, so GPU users build from source.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const release = path.join(root, 'build', 'Release');
const out = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const addons = fs.existsSync(release) ? fs.readdirSync(release).filter((f) => /^rfho_native(-x86-64-v\d)?\.node$/.test(f)) : [];
if (addons.includes('rfho_native.node') && process.arch === 'x64') {
  console.error('rfho: build/Release holds a -march=native addon, which would not run on other machines; rebuild without RFHO_NATIVE_ARCH before packing');
  process.exit(1);
}
if (addons.length === 0) {
  console.error('rfho: no addon in build/Release to ship; run npm run build:native first');
  process.exit(1);
}
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
for (const f of addons) fs.copyFileSync(path.join(release, f), path.join(out, f));
console.log(`rfho: ${addons.join(', ')} → ${path.relative(root, out)}`);
