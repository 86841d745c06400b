/** rf.config: every setting in one place, read from the environment there only, checked when set, live where it says so. */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as rf from '../lib';

const root = path.resolve(__dirname, '..', '..');

function sources(dir: string, exts: string[]): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p, exts) : exts.some((x) => e.name.endsWith(x)) ? [p] : [];
  });
}

/** A fresh process's view of rf.config with `env` set (the environment is read at load): its stdout and stderr. */
function configIn(env: { [k: string]: string }, expr: string): { out: string; err: string } {
  const code = `const rf = require(${JSON.stringify(path.join(root, 'dist', 'lib'))}); process.stdout.write(JSON.stringify(${expr}));`;
  const r = spawnSync(process.execPath, ['-e', code], { env: { ...process.env, ...env }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return { out: r.stdout, err: r.stderr };
}

describe('rf.config', function () {
  this.timeout(60000);

  it('lists every setting with its variable, kind, default and meaning; the README lists each one', () => {
    const all = rf.config.describe();
    assert.ok(all.length >= 17, `${all.length} settings`);
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
    for (const d of all) {
      assert.match(d.env, /^RFHO_[A-Z0-9_]+$/, d.name);
      assert.ok(['live', 'load', 'native'].includes(d.kind), d.name);
      assert.ok(d.meaning.length > 20, `${d.name} says what it means`);
      assert.ok(readme.includes(`| \`${d.name}\` | \`${d.env}\` | ${d.kind} |`), `README's configuration table has ${d.name}`);
    }
  });

  it('environment variables are read in lib/config and native/src/settings.h only, and every RFHO_ variable the addon reads is a setting', () => {
    const envs = new Set(rf.config.describe().map((d) => d.env));
    for (const file of sources(path.join(root, 'lib'), ['.ts'])) {
      if (file.includes(`${path.sep}config${path.sep}`)) continue;
      const text = fs.readFileSync(file, 'utf8');
      assert.ok(!/process\.env\.RFHO_|process\.env\[['"]RFHO_/.test(text), `${path.relative(root, file)} reads an RFHO_ variable itself`);
    }
    const nativeKind = new Set(rf.config.describe().filter((d) => d.kind === 'native').map((d) => d.env));
    const readNatively = new Set<string>();
    for (const file of sources(path.join(root, 'native', 'src'), ['.cc', '.cu', '.h'])) {
      const text = fs.readFileSync(file, 'utf8');
      if (path.basename(file) !== 'settings.h') {
        assert.ok(!/getenv\(/.test(text), `${path.relative(root, file)} reads the environment itself (native/src/settings.h is the place)`);
        continue;
      }
      for (const m of text.matchAll(/getenv\("(RFHO_[A-Z0-9_]+)"\)/g)) {
        assert.ok(envs.has(m[1]), `native/src/settings.h reads ${m[1]}, which rf.config does not list`);
        readNatively.add(m[1]);
      }
    }
    assert.deepEqual([...readNatively].sort(), [...nativeKind].sort(), "rf.config's native settings are those native/src/settings.h reads");
  });

  it('a bad value is an ArgumentError naming the setting and changes nothing; set() is all or nothing', () => {
    const before = { sparseMaxDensity: rf.config.sparseMaxDensity, rowPanels: rf.config.rowPanels };
    assert.throws(() => { rf.config.sparseMaxDensity = 2; }, (e: Error) => e instanceof rf.ArgumentError && /'sparseMaxDensity' must be a number in \[0, 1\], got 2/.test(e.message));
    assert.throws(() => { (rf.config as unknown as { rowPanels: unknown }).rowPanels = 'no'; }, /'rowPanels' must be true or false/);
    assert.throws(() => rf.config.set({ rowPanels: false, sparseMaxDensity: -1 }), /'sparseMaxDensity'/);
    assert.throws(() => rf.config.set({ rowPanels: false, nope: 1 } as never), /unknown setting 'nope'/);
    assert.deepEqual({ sparseMaxDensity: rf.config.sparseMaxDensity, rowPanels: rf.config.rowPanels }, before, 'nothing changed');
    assert.throws(() => { rf.config.cpuLevel = 'x86-64-v2'; }, /'cpuLevel' is read when the native addon loads; set RFHO_CPU before the process starts/);
    assert.throws(() => { rf.config.cudaSync = true; }, /'cudaSync' is read by the native addon; set RFHO_CUDA_SYNC/);
    assert.throws(() => { (rf.config as unknown as { device: unknown }).device = 'tpu'; }, /'device' must be 'cpu' or 'cuda'/);
  });

  it('live settings apply to the next operation: the buffer cache at 0 keeps nothing', () => {
    const prev = rf.config.cacheBytes;
    const odd = [12347]; // a size no other test pools
    try {
      rf.config.cacheBytes = 0;
      const before = rf.memory().cachedBytes;
      rf.zeros(odd).dispose();
      assert.equal(rf.memory().cachedBytes, before, 'a disposed buffer was kept with cacheBytes = 0');
      rf.config.cacheBytes = prev;
      rf.zeros(odd).dispose();
      assert.equal(rf.memory().cachedBytes, before + 4 * odd[0], 'the cache keeps a disposed buffer again');
    } finally {
      rf.config.cacheBytes = prev;
    }
  });

  it('the environment sets initial values; a value a setting cannot take warns, naming the variable, and the default applies', () => {
    const ok = configIn({ RFHO_SPARSE_DATA: '0.5', RFHO_ROW_PANELS: '0', RFHO_RELEASE_MIN_BYTES: '1024' }, '[rf.config.sparseMaxDensity, rf.config.rowPanels, rf.config.releaseMinBytes]');
    assert.deepEqual(JSON.parse(ok.out), [0.5, false, 1024]);
    const bad = configIn({ RFHO_SPARSE_DATA: 'lots' }, 'rf.config.sparseMaxDensity');
    assert.equal(JSON.parse(bad.out), 1 / 3);
    assert.match(bad.err, /RFHO_SPARSE_DATA="lots" is not a value 'sparseMaxDensity' takes; the default applies/);
  });

  it('reset() goes back to what the environment set', () => {
    const prev = rf.config.releaseMinBytes;
    rf.config.releaseMinBytes = 7;
    rf.config.reset();
    assert.equal(rf.config.releaseMinBytes, prev);
  });
});
