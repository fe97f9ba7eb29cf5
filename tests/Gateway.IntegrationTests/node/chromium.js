'use strict';
// What every browser runner here shares: Debian's Chromium (CHROMIUM_PATH, default /usr/bin/chromium)
// driven by playwright-core with a fresh profile per run, the page's console and errors on stderr, and
// one JSON line on stdout as the runner's answer.
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

// Prints `line` as the answer, closes the browser, removes the profile and exits with `code`.
function finish(line, code, context, profile) {
  process.stdout.write(JSON.stringify(line) + '\n');
  const close = context ? context.close().catch(() => {}) : Promise.resolve();
  close.finally(() => {
    if (profile) {
      fs.rmSync(profile, { recursive: true, force: true });
    }

    process.exit(code);
  });
}

// Launches headless Chromium on a fresh profile (no cookies, cache or service workers from an earlier
// run) and returns { context, page, profile }; `context` is set on the result as soon as it exists, so
// a caller's catch can still close it. Exits with {"error":…} when there is no browser at all.
async function launch(prefix, timeout, options = {}) {
  if (!fs.existsSync(executablePath)) {
    finish({ error: `no browser at ${executablePath}` }, 1);
    return new Promise(() => {});
  }

  const profile = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout,
    ...options,
  });
  const page = context.pages()[0] || await context.newPage();
  page.on('console', (message) => process.stderr.write(`console.${message.type()}: ${message.text()}\n`));
  page.on('pageerror', (error) => process.stderr.write(`pageerror: ${error.message}\n`));
  return { context, page, profile };
}

module.exports = { finish, launch };
