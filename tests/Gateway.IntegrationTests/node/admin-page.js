'use strict';
// Drives the gateway's admin page (/admin/) in Debian's headless Chromium, as an operator would:
//   node admin-page.js <page-url> <conn-id> <user> <payload-json> <screenshot-path> [timeout-ms]
// 1. waits for the live figures to show at least one connection;
// 2. waits for the connection's row, filters the table by its user;
// 3. sends <payload-json> to the connection from the row's "send" button and the send form;
// 4. saves a screenshot of the page;
// 5. closes the connection from its row (accepting the confirmation) and waits for the row to go.
// Prints one line {"result":{...}} and exits 0, or {"error":"<why>"} and exits 1. Console messages
// and page errors go to stderr. Environment: CHROMIUM_PATH (default /usr/bin/chromium).
const { finish, launch } = require('./chromium');

const [url, connId, user, payload, screenshot] = process.argv.slice(2, 7);
const timeout = Number(process.argv[7] || 20000);

async function main() {
  if (!screenshot) {
    process.stdout.write(JSON.stringify({ error: 'usage: node admin-page.js <url> <conn-id> <user> <payload> <screenshot> [timeout-ms]' }) + '\n');
    process.exit(2);
  }

  let browser;
  try {
    browser = await launch('gateway-admin-', timeout, { viewport: { width: 1280, height: 1000 } });
    const { page } = browser;
    page.setDefaultTimeout(timeout);
    page.on('dialog', (dialog) => dialog.accept());
    await page.goto(url);

    // 1. Live figures from the feed.
    await page.waitForFunction(() => {
      const text = document.querySelector('[data-figure="connections"]').textContent;
      return /^[0-9,]+$/.test(text) && Number(text.replace(/,/g, '')) >= 1;
    }, null, { polling: 100 });
    const connections = await page.textContent('[data-figure="connections"]');
    const feedState = await page.textContent('#feed-state');

    // 2. The connection's row, and the table filtered down to its user.
    const row = `tr[data-conn-id="${connId}"]`;
    await page.waitForSelector(row);
    await page.fill('#filter-user', user);
    await page.waitForFunction((u) => [...document.querySelectorAll('#connections tbody tr')].every((r) => r.dataset.user === u), user, { polling: 100 });
    const rowsAfterFilter = await page.locator('#connections tbody tr').count();

    // 3. Send from the row.
    await page.click(`${row} button[data-action="send"]`);
    const target = await page.inputValue('#send-to');
    await page.fill('#send-payload', payload);
    await page.click('#send-button');
    await page.waitForFunction(() => document.querySelector('#send-result').textContent.includes('"code"'), null, { polling: 100 });
    const sendResult = await page.textContent('#send-result');

    // 4. The picture, with the connection still listed.
    await page.screenshot({ path: screenshot, fullPage: true });

    // 5. Close from the row; the table no longer lists it.
    await page.click(`${row} button[data-action="close"]`);
    await page.waitForFunction(() => document.querySelector('#close-result').textContent.includes('"code"'), null, { polling: 100 });
    const closeResult = await page.textContent('#close-result');
    await page.waitForSelector(row, { state: 'detached' });

    finish({ result: { connections, feedState, rowsAfterFilter, target, sendResult, closeResult } }, 0, browser.context, browser.profile);
  } catch (error) {
    finish({ error: error.message.split('\n')[0] }, 1, browser?.context, browser?.profile);
  }
}

main();
