/**
 * The npm package as a user gets it: `npm pack` (which ships the prebuilt addons), unpacked into a
 * clean project with no compiler, no cmake and no make on the PATH, its install script run, then
 * npm start's experiment — with the built-in BLAS, as on a machine without OpenBLAS, and without
 * the optional plotting packages.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
const OPTIONAL = new Set(['vega', 'vega-lite', 'vega-embed', '@resvg']);

describe('the npm package', function () {
  this.timeout(600_000);

  it('installs from its tarball on a machine with no compiler and runs npm start\'s experiment', function () {
    if (process.platform !== 'linux') this.skip();
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rfho-pack-'));
    // npm pack's prepack copies the built addons into prebuilds/, which the loader tries first: left
    // behind in a working tree, they would shadow every later build there
    const prebuilds = path.join(root, 'prebuilds'), hadPrebuilds = fs.existsSync(prebuilds);
    const pack = spawnSync('npm', ['pack', '--pack-destination', work, '--json'], { cwd: root, encoding: 'utf8' });
    if (!hadPrebuilds) fs.rmSync(prebuilds, { recursive: true, force: true });
    assert.equal(pack.status, 0, pack.stderr);
    const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('[')));
    const files = (info.files as { path: string }[]).map((f) => f.path);
    assert.ok(files.some((f) => /^prebuilds\/linux-x64\/rfho_native-x86-64-v2\.node$/.test(f)), 'the baseline addon is in the tarball');
    assert.ok(files.includes('LICENSE') && files.includes('data/digits-images-idx3-ubyte.gz'));
    assert.ok(!files.some((f) => f.endsWith('.map')), 'no source maps to sources that are not shipped');
    assert.ok(info.size < 8 * 2 ** 20, `${info.size} bytes packed`);

    // a clean project: the tarball unpacked where npm would put it, its dependencies beside it
    const project = path.join(work, 'project'), pkg = path.join(project, 'node_modules', 'rfho');
    fs.mkdirSync(pkg, { recursive: true });
    const untar = spawnSync('tar', ['-xzf', path.join(work, info.filename), '-C', pkg, '--strip-components=1']);
    assert.equal(untar.status, 0);
    for (const dep of fs.readdirSync(path.join(root, 'node_modules'))) {
      if (dep.startsWith('.') || OPTIONAL.has(dep)) continue;
      fs.symlinkSync(path.join(root, 'node_modules', dep), path.join(project, 'node_modules', dep));
    }
    // a PATH with node and nothing else: no cc, c++, cmake or make
    const bin = path.join(work, 'bin');
    fs.mkdirSync(bin);
    fs.symlinkSync(process.execPath, path.join(bin, 'node'));
    const env = { ...process.env, PATH: bin, RFHO_BLAS: 'built-in' };
    const install = spawnSync(process.execPath, [path.join(pkg, 'scripts', 'install.js')], { cwd: pkg, env, encoding: 'utf8' });
    assert.equal(install.status, 0, install.stdout + install.stderr);
    assert.match(install.stdout, /using the prebuilt addon for linux-x64/);
    assert.ok(!fs.existsSync(path.join(pkg, 'build')), 'nothing was compiled');

    // npm start: `rfho hyper-cleaning` with its defaults (150 hyper-iterations on the embedded digits)
    const run = spawnSync(process.execPath, [path.join(pkg, 'dist', 'lib', 'cli', 'main.js'), 'hyper-cleaning', '--json', '--out', path.join(work, 'run')], { cwd: project, env, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const summary = JSON.parse(run.stdout.trim().split('\n').pop()!);
    assert.equal(summary.iterations, 150);
    assert.ok(summary.testAccuracy > 0.85 && summary.f1 > 0.85, `test accuracy ${summary.testAccuracy}, F1 ${summary.f1} (docs/RESULTS.md: 87.00 %, 0.908)`);
    assert.match(run.stderr, /plots skipped: the optional packages vega and vega-lite are not installed \(npm install vega vega-lite @resvg\/resvg-js\)/);
    assert.ok(fs.existsSync(path.join(work, 'run', 'log.csv')) && !fs.existsSync(path.join(work, 'run', 'headline.svg')));
    const devices = spawnSync(process.execPath, [path.join(pkg, 'dist', 'lib', 'cli', 'main.js'), 'devices'], { cwd: project, env, encoding: 'utf8' });
    const d = JSON.parse(devices.stdout);
    assert.equal(d.blas, 'built-in');
    assert.match(d.cpu, /^x86-64-v[234]$/);
    // the two entry points resolve through the package's exports; deep paths do not
    const entry = spawnSync(process.execPath, ['-e', `
      const rf = require('rfho'), internal = require('rfho/internal');
      let deep = 'resolved';
      try { require('rfho/dist/lib/kernels/dispatch'); } catch (e) { deep = e.code; }
      process.stdout.write(JSON.stringify([typeof rf.reverseHG, typeof internal.runToEnd, typeof rf.runToEnd, deep]));`], { cwd: project, env, encoding: 'utf8' });
    assert.equal(entry.status, 0, entry.stderr);
    assert.deepEqual(JSON.parse(entry.stdout), ['function', 'function', 'undefined', 'ERR_PACKAGE_PATH_NOT_EXPORTED']);
  });
});
