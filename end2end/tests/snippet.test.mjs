// The first-party snippet on a shop served from another origin: page view on load, a click
// on a marked button, identify, and the queue sent with sendBeacon when the page goes away.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startWayline, launchBrowser, openPage, waitForEvents } from './support.mjs';

let wayline;
let browser;
let shop;
let shopUrl;

before(async () => {
  wayline = await startWayline();
  browser = await launchBrowser();
  shop = http.createServer((req, res) => {
    res.setHeader('content-type', 'text/html');
    if (req.url.startsWith('/bye')) return res.end('<!doctype html><title>Bye</title><p>bye</p>');
    res.end(`<!doctype html><html><head><title>Example shop</title>
      <script src="${wayline.url}/wayline.js" data-write-key="${wayline.writeKey}"></script></head>
      <body><button data-wayline-event="pricing_clicked" data-wayline-plan="pro">See pricing</button>
      <a id="leave" href="/bye">leave</a></body></html>`);
  });
  await new Promise((resolve) => shop.listen(0, '127.0.0.1', resolve));
  shopUrl = `http://127.0.0.1:${shop.address().port}`;
});

after(async () => {
  await browser?.close();
  shop?.close();
  await wayline?.stop();
});

test('the snippet sends page views, clicks and identify from another origin', async () => {
  const { page, problems } = await openPage(browser);
  await page.goto(`${shopUrl}/?utm_source=newsletter&utm_medium=email`);
  await page.getByText('See pricing').click();
  await page.evaluate(() => window.wayline.identify('user-7', { plan: 'pro' }));
  // Leaving the page sends the queue with sendBeacon, before the 2 s timer would.
  await page.click('#leave');
  await page.waitForURL('**/bye');

  const events = await waitForEvents(wayline.url, (list) => list.length >= 3);
  const page_view = events.find((e) => e.kind === 'page');
  const click = events.find((e) => e.name === 'pricing_clicked');
  const identify = events.find((e) => e.kind === 'identify');
  assert.equal(page_view.name, 'Example shop');
  assert.equal(page_view.came_from, 'newsletter');
  assert.deepEqual(click.properties, { plan: 'pro', text: 'See pricing' });
  assert.equal(identify.user_id, 'user-7');
  assert.equal(click.anonymous_id, page_view.anonymous_id);
  assert.ok(events.every((e) => e.source_id.startsWith('src_')), 'sent with the test source\'s key, not the demo key');
  assert.deepEqual(problems, []);
  await page.close();
});
