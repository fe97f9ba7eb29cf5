'use strict';
// Loads one page in Debian's headless Chromium (driven by playwright-core; no browser is ever
// downloaded) and prints what the page concluded.
//   node browser.js <url> [timeout-ms]
// The page signals that it is done by setting `window.__result` to any JSON value. The runner then
// prints one line `{"result":<that value>}` on stdout and exits 0. If the page does not finish in
// time, or the browser cannot start, it prints `{"error":"<why>"}` and exits 1. The page's console
// messages and errors go to stderr, one line each, for the test's failure report.
// Environment: CHROMIUM_PATH (default /usr/bin/chromium).
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const url = process.argv[2];
const timeout = Number(process.argv[3] || 20000);
const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

function finish(line, code, context, profile) {
  process.stdout.write(JSON.stringify(line) + '\n');
  const close = context ? context.close().catch(() => {}) : Promise.resolve();
  close.finally(() => {
    fs.rmSync(profile, { recursive: true, force: true });
    process.exit(code);
  });
}

async function main() {
  if (!url) {
    process.stdout.write(JSON.stringify({ error: 'usage: node browser.js <url> [timeout-ms]' }) + '\n');
    process.exit(2);
  }

  if (!fs.existsSync(executablePath)) {
    process.stdout.write(JSON.stringify({ error: `no browser at ${executablePath}` }) + '\n');
    process.exit(1);
  }

  // A fresh profile per run: no cookies, cache or service workers from an earlier run.
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'gateway-browser-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      timeout,
    });
    const page = context.pages()[0] || await context.newPage();
    page.on('console', (message) => process.stderr.write(`console.${message.type()}: ${message.text()}\n`));
    page.on('pageerror', (error) => process.stderr.write(`pageerror: ${error.message}\n`));
    await page.goto(url, { timeout });
    await page.waitForFunction(() => window.__result !== undefined, null, { timeout, polling: 50 });
    finish({ result: await page.evaluate(() => window.__result) }, 0, context, profile);
  } catch (error) {
    finish({ error: error.message.split('\n')[0] }, 1, context, profile);
  }
}

main();
