// The dashboard as its users would use it: the marketer watches the journey map count a
// new session without reloading; the customer-success manager sees a new alert arrive on
// the open inbox, acknowledges and assigns it. Every page is screenshotted.
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

async function api(method, path, body) {
  const response = await fetch(`${wayline.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, body: await response.json() };
}

test('the marketer sees a stage count change on the journey map as events are posted', async () => {
  const { page, problems } = await openPage(browser);
  await page.goto(`${wayline.url}/`);
  await page.getByTestId('map-empty').waitFor();
  await page.getByTestId('connection').filter({ hasText: 'live' }).waitFor({ timeout: 15_000 });
  const discovery = page.locator('.stage-card[data-stage=Discovery] [data-testid=stage-count]');
  assert.equal(await discovery.innerText(), '0');

  const answer = await track(wayline.url, { messageId: 'map-1', userId: 'mia', event: 'Home' });
  assert.equal(answer.status, 200);
  await discovery.filter({ hasText: /^1$/ }).waitFor({ timeout: 5_000 });
  // The first customer is counted live, so the map no longer says it is empty.
  await page.getByTestId('map-empty').waitFor({ state: 'detached', timeout: 5_000 });
  // A second customer further along: Engagement counts her, Discovery still one.
  await track(wayline.url, { messageId: 'map-2', userId: 'noa', event: 'Home' });
  await track(wayline.url, { messageId: 'map-3', userId: 'noa', event: 'product_viewed' });
  const engagement = page.locator('.stage-card[data-stage=Engagement] [data-testid=stage-count]');
  await engagement.filter({ hasText: /^1$/ }).waitFor({ timeout: 5_000 });
  assert.equal(await discovery.innerText(), '1');
  await screenshot(page, 'journey-map');

  // Clicking a stage lists who is in it, and the URL keeps the choice.
  await page.locator('.stage-card[data-stage=Discovery]').click();
  await page.waitForURL(/stage=Discovery/);
  const list = page.getByTestId('stage-customers');
  await list.getByText('mia').waitFor({ timeout: 5_000 });
  assert.equal(await list.getByText('noa').count(), 0, 'noa moved on to Engagement');
  await screenshot(page, 'journey-map-stage');
  assert.deepEqual(problems, []);
  await page.close();
});

test('the customer-success manager sees a new alert arrive and acknowledges and assigns it', async () => {
  const rule = {
    id: 'e2e-hot', name: 'Two product views in a minute', cooldown_seconds: 0,
    condition: { type: 'count', event: 'product_viewed', count: 2, within_seconds: 60 },
  };
  assert.equal((await api('PUT', '/api/v1/rules/e2e-hot', rule)).status, 200);

  const { page, problems } = await openPage(browser);
  await page.goto(`${wayline.url}/alerts`);
  await page.getByTestId('no-alerts').waitFor();
  await page.getByTestId('connection').filter({ hasText: 'live' }).waitFor({ timeout: 15_000 });

  const posted = Date.now();
  await track(wayline.url, { messageId: 'cs-1', userId: 'cs-ann', event: 'product_viewed' });
  await track(wayline.url, { messageId: 'cs-2', userId: 'cs-ann', event: 'product_viewed' });
  const item = page.locator('[data-testid=alert]', { hasText: 'cs-ann' });
  await item.waitFor({ timeout: 5_000 });
  console.log(`alert visible on the inbox ${Date.now() - posted} ms after the POSTs`);
  assert.match(await item.getAttribute('class'), /fresh/, 'a new alert is highlighted');
  assert.equal(await page.getByTestId('new-alerts').innerText(), '1 new alert');
  assert.match(await item.innerText(), /2 × product_viewed within 1 min/);
  await screenshot(page, 'alerts');

  const id = await item.getAttribute('data-alert-id');
  await item.getByTestId('acknowledge').click();
  // Acknowledged alerts leave the Open list.
  await item.waitFor({ state: 'detached', timeout: 5_000 });
  assert.equal((await api('GET', `/api/v1/alerts/${id}`)).body.state, 'acknowledged');

  // Under All it is still there; assign it with a note.
  await page.getByRole('link', { name: 'All' }).click();
  await page.waitForURL(/state=&/);
  const again = page.locator(`[data-alert-id="${id}"]`);
  await again.waitFor();
  await again.getByTestId('assignee').fill('sam');
  await again.getByTestId('note').fill('called her');
  await again.getByRole('button', { name: 'Save' }).click();
  const deadline = Date.now() + 5_000;
  let stored;
  do {
    stored = (await api('GET', `/api/v1/alerts/${id}`)).body;
  } while (stored.assignee !== 'sam' && Date.now() < deadline && (await new Promise((r) => setTimeout(r, 100)), true));
  assert.equal(stored.assignee, 'sam');
  assert.equal(stored.note, 'called her');
  await page.locator(`[data-alert-id="${id}"][data-state=acknowledged]`).waitFor();
  await screenshot(page, 'alerts-all');

  // The alert leads to the customer: her timeline by session, with stages, and the alert.
  await again.getByRole('link', { name: 'cs-ann' }).click();
  await page.waitForURL(/\/customers\/cs-ann$/);
  await page.getByTestId('session').first().waitFor({ timeout: 5_000 });
  assert.match(await page.getByTestId('customer-summary').innerText(), /^2 events in 1 sessions/);
  assert.equal(await page.locator('.session .stage-badge', { hasText: 'Engagement' }).count(), 2);
  await page.getByTestId('customer-alert').filter({ hasText: 'Two product views in a minute' }).waitFor();
  await screenshot(page, 'customer');

  // An unknown customer is an empty state that says what to check, not an error.
  await page.goto(`${wayline.url}/customers/nobody-at-all`);
  await page.getByTestId('no-events').waitFor();
  assert.deepEqual(problems, []);
  await page.close();
});
