/** rf.save / rf.load in the safetensors format: the bytes against the format's definition, round trips bit for bit, damage refused. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as rf from '../lib';
import { rand } from './helpers';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rfho-weights-'));
const bits = (t: rf.Tensor) => Array.from(new Uint8Array(t.toArray().buffer));

describe('rf.save / rf.load (safetensors)', () => {
  const model = rf.mlp([5, 4, 3]);
  const w = rand([model.layout.size], 7, 'float64', -1, 1);
  const lam = rf.hyperparameter('lam', rand([6], 8, 'float64', 0, 1));
  const lr = rf.hyperparameter('lr', 0.125, { dtype: 'float64' });

  it('writes what the format specifies: header length, JSON header with dtypes, shapes and offsets, row-major little-endian data', () => {
    const file = path.join(dir, 'spec.safetensors');
    rf.save(file, { params: w, layout: model, hyperparameters: [lam, lr], metadata: { note: 'test' } });
    const raw = fs.readFileSync(file);
    const n = Number(raw.readBigUInt64LE(0));
    assert.equal((8 + n) % 8, 0, 'data 8-byte aligned');
    const header = JSON.parse(raw.subarray(8, 8 + n).toString('utf8'));
    assert.equal(header.__metadata__.note, 'test');
    const data = raw.subarray(8 + n);
    const wArr = w.toArray() as Float64Array;
    // each layout block, read from the bytes by its offsets, is the slice of w the layout gives it
    for (const e of model.layout.entries) {
      const h = header[e.name];
      assert.equal(h.dtype, 'F64');
      assert.deepEqual(h.shape, e.shape);
      const [b, end] = h.data_offsets;
      assert.equal(end - b, e.size * 8);
      for (let i = 0; i < e.size; i++) assert.equal(data.readDoubleLE(b + 8 * i), wArr[e.offset + i], `${e.name}[${i}]`);
    }
    assert.deepEqual(header['hyperparameters.lr'].shape, []);
    assert.equal(data.readDoubleLE(header['hyperparameters.lr'].data_offsets[0]), 0.125);
  });

  it('reads a file made by hand from the format\'s definition (another writer, no rfho metadata)', () => {
    const values = [1.5, -2, 3.25, 4, 0.5, -0.75];
    const labels = [3, 1];
    const body = Buffer.alloc(6 * 4 + 2 * 4);
    values.forEach((v, i) => body.writeFloatLE(v, 4 * i));
    labels.forEach((v, i) => body.writeInt32LE(v, 24 + 4 * i));
    const json = JSON.stringify({ 'layer.weight': { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] }, y: { dtype: 'I32', shape: [2], data_offsets: [24, 32] } });
    const head = Buffer.alloc(8);
    head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
    const file = path.join(dir, 'foreign.safetensors');
    fs.writeFileSync(file, Buffer.concat([head, Buffer.from(json), body]));
    const r = rf.load(file);
    assert.equal(r.params, null, 'no layout: no flat vector');
    assert.deepEqual(r.blocks['layer.weight'].shape, [2, 3]);
    assert.deepEqual(Array.from(r.blocks['layer.weight'].toArray()), values);
    assert.equal(r.blocks.y.dtype, 'int32');
    assert.deepEqual(Array.from(r.blocks.y.toArray()), labels);
  });

  it('round trips bit for bit, with the stored layout or a given one, and converts on request', () => {
    const file = path.join(dir, 'round.safetensors');
    rf.save(file, { params: w, layout: model.layout, hyperparameters: [lam, lr] });
    const a = rf.load(file);
    assert.deepEqual(bits(a.params!), bits(w));
    assert.deepEqual(a.layout!.entries, model.layout.entries);
    assert.deepEqual(bits(a.hyperparameters.lam), bits(lam.value));
    assert.deepEqual(bits(a.hyperparameters.lr), bits(lr.value));
    const b = rf.load(file, { layout: model });
    assert.deepEqual(bits(b.params!), bits(w));
    const c = rf.load(file, { dtype: 'float32' });
    assert.equal(c.params!.dtype, 'float32');
    assert.deepEqual(Array.from(c.params!.toArray()), Array.from(w.toArray(), Math.fround));
    // hyperparameters go back into a problem's with set()
    const lam2 = rf.hyperparameter('lam', rf.zeros([6], { dtype: 'float64' }));
    lam2.set(a.hyperparameters.lam);
    assert.deepEqual(bits(lam2.value), bits(lam.value));
  });

  it('a damaged or mismatched file is a StateFileError naming the file and the reason; bad arguments name themselves', () => {
    const file = path.join(dir, 'good.safetensors');
    rf.save(file, { params: w, layout: model, hyperparameters: [lam] });
    const good = fs.readFileSync(file);
    const n = Number(good.readBigUInt64LE(0));
    const variants: [string, Buffer, RegExp][] = [
      ['truncated', good.subarray(0, good.length - 5), /offsets .* outside|bytes after|expected/],
      ['a bit flipped in the data', Buffer.from(good.map((v, i) => (i === good.length - 3 ? v ^ 0x10 : v))), /checksum/],
      ['a header length past the end', Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0]), good.subarray(8)]), /header claims/],
      ['a header that is not JSON', Buffer.from(good.map((v, i) => (i === 9 ? 0x7b : v))), /not JSON/],
      ['seven bytes', good.subarray(0, 7), /shorter than the header length/],
    ];
    for (const [what, bytes, reason] of variants) {
      const bad = path.join(dir, `bad-${what.replace(/\W+/g, '-')}.safetensors`);
      fs.writeFileSync(bad, bytes);
      assert.throws(() => rf.load(bad), (e: Error) => e instanceof rf.StateFileError && e.message.startsWith(bad) && reason.test(e.message), what);
    }
    void n;
    const other = rf.mlp([5, 2, 3]);
    assert.throws(() => rf.load(file, { layout: other }), (e: Error) => e instanceof rf.StateFileError && /'W1' is \[5, 4\], the layout says \[5, 2\]/.test(e.message));
    assert.throws(() => rf.load(path.join(dir, 'missing.safetensors')), (e: Error) => e instanceof rf.StateFileError && /cannot be read \(ENOENT\)/.test(e.message));
    assert.throws(() => rf.save(path.join(dir, 'no', 'such', 'dir.safetensors'), { params: w, layout: model }), (e: Error) => e instanceof rf.StateFileError && /cannot be written/.test(e.message));
    assert.throws(() => rf.save(file, { params: w }), (e: Error) => e instanceof rf.ArgumentError && /'layout'/.test(e.message));
    assert.throws(() => rf.save(file, { params: rf.zeros([3]), layout: model }), (e: Error) => e instanceof rf.ArgumentError && /'params' must be a flat vector/.test(e.message));
    assert.throws(() => rf.load(file, { dtype: 'int32' as never }), (e: Error) => e instanceof rf.ArgumentError && /'dtype'/.test(e.message));
    // the good file is untouched by the refused writes
    assert.deepEqual(fs.readFileSync(file), good);
  });
});
