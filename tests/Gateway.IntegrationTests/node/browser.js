'use strict';
// Loads one page in Debian's headless Chromium (driven by playwright-core; no browser is ever
// downloaded) and prints what the page concluded.
//   node browser.js <url> [timeout-ms]
// The page signals that it is done by setting `window.__result` to any JSON value. The runner then
// prints one line `{"result":<that value>}` on stdout and exits 0. If the page does not finish in
// time, or the browser cannot start, it prints `{"error":"<why>"}` and exits 1. The page's console
// messages and errors go to stderr, one line each, for the test's failure report.
// Environment: CHROMIUM_PATH (default /usr/bin/chromium).
const { finish, launch } = require('./chromium');

const url = process.argv[2];
const timeout = Number(process.argv[3] || 20000);

async function main() {
  if (!url) {
    process.stdout.write(JSON.stringify({ error: 'usage: node browser.js <url> [timeout-ms]' }) + '\n');
    process.exit(2);
  }

  let browser;
  try {
    browser = await launch('gateway-browser-', timeout);
    const { page } = browser;
    await page.goto(url, { timeout });
    await page.waitForFunction(() => window.__result !== undefined, null, { timeout, polling: 50 });
    finish({ result: await page.evaluate(() => window.__result) }, 0, browser.context, browser.profile);
  } catch (error) {
    finish({ error: error.message.split('\n')[0] }, 1, browser?.context, browser?.profile);
  }
}

main();
