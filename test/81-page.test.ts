/**
 * The service's page end to end in headless Chromium (Debian's `chromium`, driven by
 * playwright-core): start a job from the form, watch records and charts arrive, cancel it, see the
 * state change. Writes a screenshot. Skips, saying so, where no Chromium is installed.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Service, startService } from '../lib/serve/server';

const CHROMIUM = process.env.RFHO_CHROMIUM ?? '/usr/bin/chromium';

describe('rfho serve: the page in a browser', function () {
  this.timeout(300000);
  let service: Service;

  before(async function () {
    if (!fs.existsSync(CHROMIUM)) {
      console.log(`      page tests skipped: no Chromium at ${CHROMIUM} (sudo apt-get install chromium, or set RFHO_CHROMIUM)`);
      this.skip();
    }
    service = await startService({ port: 0, dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'rfho-page-')), jobs: 1, threads: 2, token: 'page-test-token' });
  });
  after(async () => service?.close());

  it('start a job from the form, watch a record and its charts arrive, cancel it, see it cancelled; a screenshot is written', async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      // the token travels in the fragment, which the browser never sends to the server
      await page.goto(`${service.url}/#token=page-test-token`);
      await page.selectOption('#kind', 'hyper-cleaning');
      for (const [name, value] of Object.entries({ trainSize: '300', validSize: '300', testSize: '300', corrupted: '80', R: '200', T: '400', hyperIterations: '500', evalEvery: '1' })) {
        await page.fill(`#fields input[name="${name}"]`, value);
      }
      await page.click('#submit');
      // a record arrives: the counter moves and the charts are drawn as SVG by vega-embed
      await page.waitForFunction("Number(document.getElementById('records').textContent) >= 2", undefined, { timeout: 120000 });
      await page.waitForSelector('#charts .chart-validation svg', { timeout: 60000 });
      await page.waitForSelector('#charts .chart-lambda_histogram svg', { timeout: 60000 });
      assert.match(await page.textContent('#latest') ?? '', /validation \d\.\d{4} · F1 \d\.\d{3}/);
      assert.equal(await page.textContent('#status'), 'running');
      const rows = await page.locator('#jobs tr').count();
      assert.ok(rows >= 1);
      const shot = path.join(os.tmpdir(), 'rfho-serve-page.png');
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok(fs.statSync(shot).size > 10_000, `screenshot at ${shot}`);
      console.log(`      screenshot: ${shot}`);
      await page.click('#cancel');
      await page.waitForFunction("document.getElementById('status').textContent === 'cancelled'", undefined, { timeout: 60000 });
      await page.waitForFunction("[...document.querySelectorAll('#jobs td')].some((td) => td.textContent === 'cancelled')", undefined, { timeout: 10000 });
      const [job] = service.runner.list();
      assert.equal(job.status, 'cancelled');
      assert.deepEqual(errors, [], 'no script errors on the page');
    } finally {
      await browser.close();
    }
  });
});
