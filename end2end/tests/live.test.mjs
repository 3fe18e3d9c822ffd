// The Live page as an engineer trying Wayline would use it: open it, send events with
// plain HTTP, watch them arrive; pause and resume.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWayline, launchBrowser, openPage, screenshot, track } from './support.mjs';

let wayline;
let browser;

before(async () => {
  wayline = await startWayline();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await wayline?.stop();
});

test('an event posted over HTTP appears on the open Live page without reload', async () => {
  const { page, problems } = await openPage(browser);
  await page.goto(`${wayline.url}/live`);
  await page.getByTestId('empty').waitFor();
  // "live" only shows once the page hydrated and its EventSource is open.
  await page.getByTestId('connection').filter({ hasText: 'live' }).waitFor({ timeout: 15_000 });

  const posted = Date.now();
  const answer = await track(wayline.url, {
    messageId: 'e2e-1',
    anonymousId: 'visitor-e2e',
    event: 'Checkout Started',
    properties: { value: 129, currency: 'USD' },
    context: { campaign: { source: 'newsletter', medium: 'email' } },
  });
  assert.deepEqual(answer, { status: 200, body: { success: true, stored: 1, duplicates: 0 } });

  const row = page.locator('[data-testid=events] tbody tr', { hasText: 'Checkout Started' });
  await row.waitFor({ timeout: 5_000 });
  console.log(`event visible on the Live page ${Date.now() - posted} ms after the POST`);
  await assert.doesNotReject(row.getByText('visitor-e2e').waitFor());
  await assert.doesNotReject(row.getByText('newsletter').waitFor());
  assert.match(await row.locator('.props').innerText(), /value=129/);

  // Filtering narrows what is on screen; a filter nothing matches says so.
  await page.getByTestId('live-filter').fill('newsletter checkout');
  await row.waitFor();
  await page.getByTestId('live-filter').fill('no-such-thing');
  await page.getByTestId('no-match').waitFor();
  assert.equal(await row.count(), 0);
  await page.getByTestId('live-filter').fill('');
  await row.waitFor();

  await screenshot(page, 'live');
  assert.deepEqual(problems, []);
  await page.close();
});

test('pausing holds new events back and resuming shows them', async () => {
  const { page, problems } = await openPage(browser);
  await page.goto(`${wayline.url}/live`);
  await page.getByTestId('connection').filter({ hasText: 'live' }).waitFor({ timeout: 15_000 });

  const pause = page.getByTestId('pause');
  await pause.click();
  await page.getByTestId('connection').filter({ hasText: 'paused' }).waitFor();

  await track(wayline.url, { messageId: 'e2e-2', userId: 'customer-42', event: 'Payment Failed' });
  await pause.filter({ hasText: 'Resume · 1 new' }).waitFor({ timeout: 5_000 });
  assert.equal(await page.locator('[data-testid=events] tbody tr', { hasText: 'Payment Failed' }).count(), 0);

  await pause.press('Enter'); // keyboard works as well as the mouse
  const rows = page.locator('[data-testid=events] tbody tr');
  await rows.filter({ hasText: 'Payment Failed' }).waitFor({ timeout: 5_000 });
  assert.equal(await rows.first().locator('.event-name').innerText(), 'Payment Failed');
  await page.getByTestId('connection').filter({ hasText: 'live' }).waitFor();

  await screenshot(page, 'live-resumed');
  assert.deepEqual(problems, []);
  await page.close();
});
