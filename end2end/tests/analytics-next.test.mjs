// Segment's own browser library (analytics-next, from npm) pointed at Wayline only by its
// cdnURL: it loads its settings from Wayline and sends its events here, unchanged.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createRequire } from 'node:module';
import { startWayline, launchBrowser, openPage, waitForEvents } from './support.mjs';

const require = createRequire(import.meta.url);
const umd = path.join(path.dirname(require.resolve('@segment/analytics-next/package.json')), 'dist', 'umd');

let wayline;
let browser;
let site;
let siteUrl;

before(async () => {
  wayline = await startWayline();
  browser = await launchBrowser();
  site = http.createServer(async (req, res) => {
    if (req.url.startsWith('/lib/')) {
      try {
        const file = await readFile(path.join(umd, path.basename(req.url)));
        res.setHeader('content-type', 'text/javascript');
        return res.end(file);
      } catch {
        res.statusCode = 404;
        return res.end();
      }
    }
    res.setHeader('content-type', 'text/html');
    res.end(`<!doctype html><html><head><title>Segment SDK page</title>
      <script src="/lib/index.js"></script></head><body>
      <script>
        AnalyticsNext.AnalyticsBrowser.load({ writeKey: '${wayline.writeKey}', cdnURL: '${wayline.url}' })
          .then(([analytics]) => {
            window.analytics = analytics;
            return analytics.identify('segment-user-1', { plan: 'pro' })
              .then(() => analytics.track('Order Completed', { revenue: 42 }));
          })
          .then(() => { document.title = 'sent'; })
          .catch((error) => { document.title = 'failed: ' + error; });
      </script></body></html>`);
  });
  await new Promise((resolve) => site.listen(0, '127.0.0.1', resolve));
  siteUrl = `http://127.0.0.1:${site.address().port}`;
});

after(async () => {
  await browser?.close();
  site?.close();
  await wayline?.stop();
});

test("Segment's analytics-next loads its settings from Wayline and sends here", async () => {
  const { page, problems } = await openPage(browser);
  await page.goto(`${siteUrl}/`);
  await page.waitForFunction(() => document.title !== 'Segment SDK page', null, { timeout: 15_000 });
  assert.equal(await page.title(), 'sent');

  const events = await waitForEvents(wayline.url, (list) => list.some((e) => e.name === 'Order Completed'));
  const order = events.find((e) => e.name === 'Order Completed');
  const identify = events.find((e) => e.kind === 'identify');
  assert.equal(order.user_id, 'segment-user-1');
  assert.deepEqual(order.properties, { revenue: 42 });
  assert.equal(identify.properties.plan, 'pro');
  assert.ok(order.anonymous_id, 'analytics-next sends its anonymous id');
  assert.deepEqual(problems, []);
  await page.close();
});
