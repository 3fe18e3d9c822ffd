// The dashboard as its users would use it: the marketer watches the journey map count a
// new session without reloading; the customer-success manager sees a new alert arrive on
// the open inbox, acknowledges and assigns it. Every page is screenshotted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { startWayline, launchBrowser, openPage, openRuleEditor, screenshot, track } from './support.mjs';

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
    headers: { 'content-type': 'application/json', ...wayline.authorization },
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
  // The list counts as the card does, and the card it lists is marked.
  assert.equal(await list.getByTestId('stage-range').innerText(), `1–1 of ${await discovery.innerText()}`);
  assert.equal(await page.locator('.stage-card[data-stage=Discovery]').getAttribute('aria-current'), 'true');
  assert.equal(await page.locator('.stage-card[data-stage=Engagement]').getAttribute('aria-current'), null);
  await screenshot(page, 'journey-map-stage');

  // A visitor from the newsletter: with the channel filter on "email" the map counts only her.
  const fromNewsletter = { campaign: { source: 'newsletter', medium: 'email', name: 'weekly' } };
  await track(wayline.url, { messageId: 'map-4', userId: 'ema', event: 'Home', context: fromNewsletter });
  await page.goto(`${wayline.url}/`);
  await page.locator('[data-testid=channel-filter][data-hydrated=true]').waitFor({ timeout: 15_000 });
  await page.getByTestId('channel').selectOption('email');
  await page.waitForURL(/channel=email/);
  await page.getByTestId('connection').filter({ hasText: 'live' }).waitFor({ timeout: 15_000 });
  await discovery.filter({ hasText: /^1$/ }).waitFor({ timeout: 5_000 });
  assert.equal(await engagement.innerText(), '0', 'noa came direct');
  // Live counts keep to the channel: a direct visitor does not move them, a second one from
  // the newsletter does.
  await track(wayline.url, { messageId: 'map-5', userId: 'dex', event: 'Home' });
  await track(wayline.url, { messageId: 'map-6', userId: 'eli', event: 'Home', context: fromNewsletter });
  await discovery.filter({ hasText: /^2$/ }).waitFor({ timeout: 5_000 });
  await screenshot(page, 'journey-map-channel');
  assert.deepEqual(problems, []);
  await page.close();
});

test('the customer-success manager sees a new alert arrive and acknowledges and assigns it', async () => {
  const { page, problems } = await openPage(browser);
  // The rule, written in the rules editor.
  const fill = await openRuleEditor(page, wayline.url);
  await fill('Id', 'e2e-hot');
  await fill('Name', 'Two product views in a minute');
  await fill('Event', 'product_viewed');
  await fill('Count', '2');
  await fill('Within', '1 min');
  await fill('Cooldown', '0');
  await page.getByTestId('save-rule').click();
  const row = page.locator('[data-testid=rules] tr[data-rule=e2e-hot]');
  await row.waitFor({ timeout: 5_000 });
  assert.match(await row.innerText(), /2 × product_viewed within 1 min/);
  assert.equal(await row.getByTestId('toggle').innerText(), 'On');
  const savedRule = (await api("GET", "/api/v1/rules/e2e-hot")).body;
  assert.deepEqual(savedRule.condition, { type: "count", event: "product_viewed", count: 2, within_seconds: 60 });
  assert.equal(savedRule.cooldown_seconds, 0);
  // Deleting a rule asks again, then takes its row away (the list is read again after each
  // change, this save included).
  const quiet = page.locator('[data-testid=rules] tr[data-rule=gone-quiet]');
  await quiet.getByRole('button', { name: 'Delete' }).click();
  assert.equal(await quiet.count(), 1, 'one click does not delete');
  await quiet.getByRole('button', { name: 'Confirm delete' }).click();
  await quiet.waitFor({ state: 'detached', timeout: 5_000 });
  await screenshot(page, 'rules');

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
  // The assignee is picked from the users, not typed.
  await page.locator('[data-testid=alert][data-state] select[data-testid=assignee] option', { hasText: wayline.email }).first().waitFor({ state: 'attached' });
  await again.getByTestId('assignee').selectOption(wayline.email);
  await again.getByTestId('note').fill('called her');
  await again.getByRole('button', { name: 'Save' }).click();
  const stored = async (want) => {
    const deadline = Date.now() + 5_000;
    let alert;
    do {
      alert = (await api('GET', `/api/v1/alerts/${id}`)).body;
    } while (!want(alert) && Date.now() < deadline && (await new Promise((r) => setTimeout(r, 100)), true));
    return alert;
  };
  let saved = await stored((a) => a.assignee === wayline.email);
  assert.equal(saved.assignee, wayline.email);
  assert.equal(saved.note, 'called her');
  await page.locator(`[data-alert-id="${id}"] [data-testid=assignee-badge]`, { hasText: wayline.email }).waitFor();
  // The change can be undone from the notice that names it.
  assert.match(await page.getByTestId('change-notice').innerText(), new RegExp(`Assigned 1 alert to ${wayline.email}`));
  await page.getByTestId('undo').click();
  saved = await stored((a) => a.assignee === null);
  assert.equal(saved.assignee, null, 'undo takes the assignee away again');
  assert.equal(saved.note, null);
  await page.locator(`[data-alert-id="${id}"][data-state=acknowledged]`).waitFor();
  // Select the page and resolve it in one go.
  await page.getByTestId('select-page').check();
  assert.equal(await page.getByTestId('selected-count').innerText(), '1 selected');
  await page.getByTestId('bulk-resolve').click();
  saved = await stored((a) => a.state === 'resolved');
  assert.equal(saved.state, 'resolved');
  await page.locator(`[data-alert-id="${id}"][data-state=resolved]`).waitFor();
  assert.match(await page.getByTestId('page-range').first().innerText(), /^1–1 of 1$/);
  assert.match(await page.getByTestId('groups-by-rule').innerText(), /Two product views in a minute\s+1/);
  await screenshot(page, 'alerts-all');

  // The alert leads to the customer: her timeline by session, with stages, and the alert.
  await again.getByRole('link', { name: 'cs-ann' }).click();
  await page.waitForURL(/\/customers\/cs-ann$/);
  await page.getByTestId('session').first().waitFor({ timeout: 5_000 });
  assert.match(await page.getByTestId('customer-summary').innerText(), /^2 events in 1 session ·/);
  assert.equal(await page.locator('.session .stage-badge', { hasText: 'Engagement' }).count(), 2);
  await page.getByTestId('customer-alert').filter({ hasText: 'Two product views in a minute' }).waitFor();
  await screenshot(page, 'customer');

  // An unknown customer is an empty state that says what to check, not an error.
  await page.goto(`${wayline.url}/customers/nobody-at-all`);
  await page.getByTestId('no-events').waitFor();
  assert.deepEqual(problems, []);
  await page.close();
});

test('the product owner builds a funnel whose numbers equal a hand-computed fixture', async () => {
  // Sequential funnel f_view → f_cart → f_buy, worked out by hand:
  //   po-1 view, cart, buy  → all three steps
  //   po-2 view, cart       → steps 1–2
  //   po-3 view             → step 1
  //   po-4 cart, buy        → never entered (no view)
  //   po-5 view, buy        → step 1 (skipped the cart)
  // Step 1: 4 customers; step 2: 2 (50 %); step 3: 1 (25 %). Dropped after step 1: po-3, po-5.
  const base = Date.now() - 10 * 60_000;
  const plan = [
    ['po-1', ['f_view', 'f_cart', 'f_buy']],
    ['po-2', ['f_view', 'f_cart']],
    ['po-3', ['f_view']],
    ['po-4', ['f_cart', 'f_buy']],
    ['po-5', ['f_view', 'f_buy']],
  ];
  for (const [user, events] of plan) {
    for (const [i, event] of events.entries()) {
      const at = new Date(base + i * 60_000).toISOString();
      const answer = await track(wayline.url, { messageId: `${user}-${i}`, userId: user, event, timestamp: at });
      assert.equal(answer.status, 200);
    }
  }

  const { page, problems } = await openPage(browser);
  // A first visit shows the shop funnel, and warns about its steps nobody sent here.
  await page.goto(`${wayline.url}/funnels`);
  const stepFields = page.getByTestId('step-input');
  const values = async () => Promise.all((await stepFields.all()).map((field) => field.inputValue()));
  assert.deepEqual(await values(), ['product_viewed', 'added_to_cart', 'checkout_started', 'purchase_completed']);
  const unseen = page.getByTestId('unseen-steps');
  await unseen.waitFor({ timeout: 10_000 });
  assert.match(await unseen.innerText(), /Never seen: “added_to_cart”, “checkout_started”, “purchase_completed”/);
  // Submitting before the page hydrated would cut its wasm download short.
  await page.locator('[data-testid=builder][data-hydrated=true]').waitFor({ timeout: 15_000 });
  // One field per step, each offering the names seen: the fourth goes, three are typed.
  await page.getByRole('button', { name: 'Remove step 4' }).click();
  assert.equal(await stepFields.count(), 3);
  assert.equal(await stepFields.first().getAttribute('list'), 'seen-events');
  for (const [i, name] of ['f_view', 'f_cart', 'f_buy'].entries()) await stepFields.nth(i).fill(name);
  // Typing keeps the fields as they are: Tab goes on from the field just typed in.
  await stepFields.nth(0).focus();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Remove step 1');
  await page.getByTestId('run').click();
  await page.waitForURL(/step=f_view&step=f_cart&step=f_buy/);
  const cells = page.locator('[data-testid=funnel-steps] [data-testid=step-customers]');
  await cells.first().waitFor({ timeout: 10_000 });
  assert.deepEqual(await cells.allInnerTexts(), ['4', '2', '1']);
  const rows = await page.locator('[data-testid=funnel-steps] tbody tr').allInnerTexts();
  assert.match(rows[1], /50%/);
  assert.match(rows[2], /25%/);
  // The step bars are a plotters SVG naming each step.
  const chart = page.getByTestId('chart-steps').locator('svg');
  await chart.waitFor();
  assert.match(await chart.innerHTML(), /1\. f_view/);
  assert.match(await page.getByTestId('export-csv').getAttribute('href'), /^data:text\/csv/);
  // The chart as PNG: drawn by the browser's canvas and downloaded.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-png').click()]);
  assert.equal(download.suggestedFilename(), 'funnel.png');
  const png = await readFile(await download.path());
  assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], 'a PNG file');
  assert.ok(png.length > 2_000, `a drawn chart, not an empty image (${png.length} bytes)`);
  // Saved under a name, it is listed above the builder and marked as the one on screen.
  await page.locator('[data-testid=save-funnel][data-hydrated=true]').waitFor({ timeout: 15_000 });
  await page.getByTestId('save-name').fill('PO checkout');
  await page.getByRole('button', { name: 'Save funnel' }).click();
  await page.getByText('Saved as “PO checkout”').waitFor({ timeout: 5_000 });
  const saved = page.getByTestId('saved-funnels').getByRole('link', { name: 'PO checkout' });
  await saved.waitFor({ timeout: 5_000 });
  assert.equal(await saved.getAttribute('aria-current'), 'page');
  await screenshot(page, 'funnels');

  // Days picked on the calendar, compared with the period before (nobody then).
  const firstDay = new Date(base).toISOString().slice(0, 10);
  const lastDay = new Date(base + 3 * 60_000).toISOString().slice(0, 10);
  await page.getByTestId('range-from').fill(firstDay);
  await page.getByTestId('range-to').fill(lastDay);
  await page.getByTestId('range-compare').check();
  await page.getByTestId('run').click();
  await page.waitForURL(/compare=1/);
  await page.getByTestId('funnel-range').filter({ hasText: 'compared with' }).waitFor({ timeout: 10_000 });
  assert.deepEqual(await cells.allInnerTexts(), ['4', '2', '1'], 'the picked days hold every event');
  const before = await page.locator('[data-testid=funnel-steps] [data-testid=step-before]').allInnerTexts();
  assert.deepEqual(before, ['0 (none before)', '0 · 0% (+50.0 pts)', '0 · 0% (+25.0 pts)']);
  // The journey map compares its range the same way.
  await page.goto(`${wayline.url}/?days=7&compare=1`);
  await page.locator('.map-legend').filter({ hasText: 'compared with' }).first().waitFor({ timeout: 10_000 });
  await page.goto(`${wayline.url}/funnels?steps=f_view%2Cf_cart%2Cf_buy`);
  await page.getByRole('link', { name: 'PO checkout' }).waitFor({ timeout: 10_000 });

  // The drop-off after step 1 leads to the customers.
  await page.getByRole('link', { name: 'Who reached step 1 and not step 2: 2' }).click();
  await page.waitForURL(/dropped=1/);
  const dropped = page.getByTestId('dropped');
  await dropped.getByRole('link', { name: 'po-3' }).waitFor({ timeout: 10_000 });
  await dropped.getByRole('link', { name: 'po-5' }).waitFor();
  assert.equal(await dropped.locator('tbody tr').count(), 2);
  assert.equal(await dropped.getByTestId('dropped-range').innerText(), '1–2 of 2');
  assert.equal(await dropped.getByTestId('dropped-next').count(), 0, 'one page holds both');
  const droppedCsv = decodeURIComponent((await dropped.getByTestId('dropped-csv').getAttribute('href')).split(',').slice(1).join(','));
  assert.match(droppedCsv, /^customer,next_event,window\n/);
  // The default window is a day: both may still go on, and the list says so.
  assert.match(await dropped.getByTestId('dropped-split').innerText(), /2 customers: 0 dropped .*, 2 still inside their window/);
  assert.match(droppedCsv, /"po-3"/);
  await screenshot(page, 'funnels-dropped');

  // The saved funnel opens again from an empty builder with the same numbers, and can go.
  await page.goto(`${wayline.url}/funnels`);
  await page.getByTestId('saved-funnels').getByRole('link', { name: 'PO checkout' }).click();
  await page.waitForURL(/steps=f_view%2Cf_cart%2Cf_buy/);
  await cells.first().waitFor({ timeout: 10_000 });
  assert.deepEqual(await cells.allInnerTexts(), ['4', '2', '1']);
  await page.locator('[data-testid=save-funnel][data-hydrated=true]').waitFor({ timeout: 15_000 });
  await page.getByRole('button', { name: 'Delete the saved funnel “PO checkout”' }).click();
  await page.getByTestId('saved-funnels-empty').waitFor({ timeout: 5_000 });

  // Paths after f_view over the same customers: po-1 and po-2 went on to f_cart, po-5 to
  // f_buy, po-3 stopped; after f_cart, po-1 bought.
  await page.goto(`${wayline.url}/paths`);
  await page.getByTestId('paths-empty').waitFor();
  await page.locator('[data-testid=paths-form][data-hydrated=true]').waitFor({ timeout: 15_000 });
  await page.getByTestId('path-event').fill('f_view');
  await page.getByTestId('path-run').click();
  await page.waitForURL(/event=f_view/);
  const sankey = page.getByTestId('sankey');
  await sankey.waitFor({ timeout: 10_000 });
  const node = (level, event) => sankey.locator(`g[data-level="${level}"][data-event="${event}"]`);
  const said = async (level, event) => node(level, event).getAttribute('aria-label');
  assert.match(await said(0, 'f_view'), /^f_view at step 1: 4 customers/);
  assert.match(await said(1, 'f_cart'), /^f_cart at step 2: 2 customers/);
  assert.match(await said(1, 'f_buy'), /^f_buy at step 2: 1 customer /);
  assert.match(await said(2, 'f_buy'), /^f_buy at step 3: 1 customer /);
  await screenshot(page, 'paths');

  // A node opens its customers, and the paths follow on from there.
  await node(1, 'f_cart').click();
  await page.waitForURL(/at=1&node=f_cart/);
  const atNode = page.getByTestId('path-node-customers');
  await atNode.getByRole('link', { name: 'po-1' }).waitFor({ timeout: 10_000 });
  await atNode.getByRole('link', { name: 'po-2' }).waitFor();
  assert.equal(await atNode.getByTestId('path-node-total').innerText(), '1–2 of 2 customers');
  assert.equal(await node(1, 'f_cart').getAttribute('aria-pressed'), 'true');
  await screenshot(page, 'paths-node');
  await atNode.getByTestId('path-follow').click();
  await page.waitForURL(/event=f_cart/);
  await node(1, 'f_buy').waitFor({ timeout: 10_000 });
  // After f_cart (po-1, po-2, po-4): po-1 and po-4 bought, 2 of 3.
  assert.match(await said(0, 'f_cart'), /^f_cart at step 1: 3 customers/);
  assert.match(await said(1, 'f_buy'), /^f_buy at step 2: 2 customers \(67%\)/);
  assert.deepEqual(problems, []);
  await page.close();
});

test('the product owner reads a retention grid whose numbers equal a hand-computed fixture', async () => {
  // Daily cohorts of r_signup, coming back with r_buy. All three sign up at the same instant
  // three days ago (one cohort, whatever the hour now): ret-ann buys a day later (period 1),
  // ret-cat two days later (period 2), ret-bob never. Period 3 is today, still running.
  // ret-ann and ret-bob sign up on the pro plan, ret-cat on the free one (ret-ann's purchase
  // names the free plan, which does not move her: the starting event's plan counts).
  const day = 24 * 3_600_000;
  const signedUp = Date.now() - 3 * day;
  const at = (ms) => new Date(ms).toISOString();
  for (const [id, user, event, when, plan] of [
    ['ret-1', 'ret-ann', 'r_signup', signedUp, 'pro'], ['ret-2', 'ret-bob', 'r_signup', signedUp, 'pro'],
    ['ret-3', 'ret-cat', 'r_signup', signedUp, 'free'], ['ret-4', 'ret-ann', 'r_buy', signedUp + day, 'free'],
    ['ret-5', 'ret-cat', 'r_buy', signedUp + 2 * day],
  ]) {
    const properties = plan ? { plan } : {};
    const answer = await track(wayline.url, { messageId: id, userId: user, event, timestamp: at(when), properties });
    assert.equal(answer.status, 200);
  }
  const { page, problems } = await openPage(browser);
  await page.goto(`${wayline.url}/retention`);
  await page.locator('[data-testid=retention-form][data-hydrated=true]').waitFor({ timeout: 15_000 });
  await page.getByTestId('retention-start').fill('r_signup');
  await page.getByTestId('retention-return').fill('r_buy');
  await page.locator('select[name=period]').selectOption('day');
  await page.locator('select[name=periods]').selectOption('4');
  await page.getByTestId('retention-run').click();
  await page.waitForURL(/start=r_signup/);
  const grid = page.getByTestId('retention-grid');
  await grid.waitFor({ timeout: 10_000 });
  const rows = grid.locator('tbody tr');
  assert.equal(await rows.count(), 1, 'one cohort');
  assert.deepEqual(await rows.first().locator('td').allInnerTexts(), ['3', '33%', '33%', '0%', '0%']);
  assert.equal(await rows.first().locator('td.running').count(), 2, 'today and tomorrow have not ended');
  assert.deepEqual(await page.getByTestId('retention-average').locator('td').allInnerTexts(), ['3', '33%', '33%', '—', '—']);
  await page.locator('div[role=img] svg').waitFor();
  // A curve per plan chosen at sign-up: pro (ann back on day 1, bob never), free (cat on day 2).
  await page.getByTestId('retention-breakdown').fill('plan');
  await page.getByTestId('retention-run').click();
  await page.waitForURL(/breakdown=plan/);
  const byPlan = page.getByTestId('retention-breakdown-table');
  await byPlan.waitFor({ timeout: 10_000 });
  assert.deepEqual(await byPlan.locator('tbody th').allTextContents(), ['pro', 'free']);
  assert.deepEqual(await byPlan.locator('tbody tr').nth(0).locator('td').allInnerTexts(), ['2', '50%', '0%', '—', '—']);
  assert.deepEqual(await byPlan.locator('tbody tr').nth(1).locator('td').allInnerTexts(), ['1', '0%', '100%', '—', '—']);
  await screenshot(page, 'retention');
  assert.deepEqual(problems, []);
  await page.close();
});

test('the engineer sees refused events, duplicates and unknown names on data health, and every page loads cleanly', async () => {
  // A refused event (no identity), a duplicate, and an event no journey stage knows.
  const refused = await track(wayline.url, { messageId: 'bad-1', event: 'Home' });
  assert.equal(refused.status, 400);
  await track(wayline.url, { messageId: 'dup-1', userId: 'eng', event: 'mystery_event' });
  const again = await track(wayline.url, { messageId: 'dup-1', userId: 'eng', event: 'mystery_event' });
  assert.equal(again.body.duplicates, 1);

  const { page, problems } = await openPage(browser);
  await page.goto(`${wayline.url}/health`);
  const letters = page.getByTestId('dead-letters');
  await letters.waitFor({ timeout: 10_000 });
  assert.match(await letters.innerText(), /userId|anonymousId/);
  assert.notEqual(await page.getByTestId('duplicate-rate').innerText(), '—');
  await page.getByTestId('unknown-names').getByText('mystery_event').waitFor();
  await screenshot(page, 'health');

  // Customers are found by a trait they were identified with.
  const identified = await fetch(`${wayline.url}/v1/identify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${wayline.writeKey}:`).toString('base64')}` },
    body: JSON.stringify({ userId: 'eng', traits: { email: 'eng@acme.test' } }),
  });
  assert.equal(identified.status, 200);
  await page.goto(`${wayline.url}/customers?q=ACME`);
  await page.getByTestId('customers').getByRole('link', { name: 'eng' }).waitFor({ timeout: 5_000 });
  await screenshot(page, 'customers-search');

  for (const [path, name] of [['/', 'page-map'], ['/funnels', 'page-funnels'], ['/paths', 'page-paths'],
    ['/alerts', 'page-alerts'], ['/rules', 'page-rules'], ['/live', 'page-live'], ['/customers/eng', 'page-customer'], ['/settings', 'page-settings']]) {
    await page.goto(`${wayline.url}${path}`);
    await page.locator('main[data-hydrated=true] h1').waitFor({ timeout: 15_000 });
    await page.waitForLoadState('networkidle').catch(() => {});
    await screenshot(page, name);
  }
  // From tablet width up: no page is wider than the screen (wide parts scroll in place).
  await page.setViewportSize({ width: 768, height: 1024 });
  for (const [path, name] of [['/', 'tablet-map'], ['/funnels?steps=f_view,f_cart,f_buy', 'tablet-funnels'],
    ['/paths?event=f_view', 'tablet-paths'], ['/alerts', 'tablet-alerts'], ['/health', 'tablet-health'],
    ['/rules', 'tablet-rules'], ['/live', 'tablet-live'], ['/customers/eng', 'tablet-customer'], ['/settings', 'tablet-settings']]) {
    await page.goto(`${wayline.url}${path}`);
    await page.locator('main[data-hydrated=true] h1').waitFor({ timeout: 15_000 });
    await page.waitForLoadState('networkidle').catch(() => {});
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${path} is ${overflow}px wider than a 768px tablet`);
    await screenshot(page, name);
  }
  assert.deepEqual(problems, []);
  await page.close();
});

test('the engineer adds a journey stage and a source, and the new key sends events', async () => {
  const { page, problems } = await openPage(browser);
  await page.goto(`${wayline.url}/settings`);
  await page.locator('[data-testid=journey-editor][data-hydrated=true]').waitFor({ timeout: 15_000 });
  await page.getByRole('button', { name: 'Add stage' }).click();
  await page.getByTestId('stage-name').last().fill('Support');
  await page.getByTestId('stage-events').last().fill('ticket_opened, chat_started');
  const path = page.getByTestId('expected-path');
  await path.fill(`${await path.inputValue()}\nRetention -> Support`);
  await page.getByTestId('save-journey').click();
  await page.getByText('Saved. The map and the rules use it now.').waitFor({ timeout: 5_000 });
  const journey = (await api('GET', '/api/v1/journeys/default')).body;
  assert.deepEqual(journey.stages.at(-1), { name: 'Support', events: ['ticket_opened', 'chat_started'] });
  assert.deepEqual(journey.expected_path.at(-1), ['Retention', 'Support']);

  // A path line without an arrow is refused on the page, naming the fix.
  await path.fill('Discovery, Engagement');
  await page.getByTestId('save-journey').click();
  await page.getByText('needs an arrow').waitFor();

  await page.getByTestId('source-name').fill('Web shop');
  await page.getByTestId('create-source').click();
  const key = await page.getByTestId('new-key').innerText({ timeout: 5_000 });
  assert.match(key, /^wl_[0-9a-f]{32}$/);
  await page.getByTestId('sources').getByText('Web shop').waitFor();
  assert.equal(await page.getByTestId('new-key').innerText(), key, 'the key stays on screen after the list reloads');
  await screenshot(page, 'settings');
  const sent = await fetch(`${wayline.url}/v1/track`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` },
    body: JSON.stringify({ userId: 'shop-1', event: 'ticket_opened' }),
  });
  assert.equal(sent.status, 200);

  // The map draws the new stage.
  await page.goto(`${wayline.url}/`);
  await page.locator('.stage-card[data-stage=Support]').waitFor();
  assert.deepEqual(problems, []);
  await page.close();
});
