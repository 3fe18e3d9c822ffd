// Did the alert help? The customer-success manager tries a rule on history, switches it on
// with a goal and a holdout, and reads its outcome once the goal windows have ended — on a
// server whose clock libfaketime moves on by hours, so nobody waits for them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWayline, launchBrowser, openPage, openRuleEditor, screenshot, track } from './support.mjs';

let wayline;
let browser;

before(async () => {
  wayline = await startWayline({ fakeClock: true });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await wayline?.stop();
});

async function api(method, path) {
  const response = await fetch(`${wayline.url}${path}`, { method, headers: wayline.authorization });
  return { status: response.status, body: await response.json() };
}

/// The rule's outcome once `done` holds for it (the engine raises alerts within milliseconds).
async function outcomeWhen(done) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const outcome = (await api('GET', '/api/v1/rules/bt-rule/outcomes')).body;
    if (done(outcome) || Date.now() > deadline) return outcome;
    await new Promise((r) => setTimeout(r, 250));
  }
}

test('the customer-success manager tries a rule on history, switches it on with a goal and a holdout, and reads its outcome', async () => {
  // History, a day ago: 40 customers view twice within 10 s; the even ones buy 1 s after
  // their second view (inside a 2-hour goal window), the odd ones never.
  const start = Date.now() - 24 * 3_600_000;
  const at = (ms) => new Date(ms).toISOString();
  for (let i = 0; i < 40; i += 1) {
    const user = `bt-${i}`;
    await track(wayline.url, { messageId: `${user}-1`, userId: user, event: 'bt_view', timestamp: at(start + i * 1000) });
    await track(wayline.url, { messageId: `${user}-2`, userId: user, event: 'bt_view', timestamp: at(start + i * 1000 + 10_000) });
    if (i % 2 === 0) {
      await track(wayline.url, { messageId: `${user}-3`, userId: user, event: 'bt_buy', timestamp: at(start + i * 1000 + 11_000) });
    }
  }
  const { page, problems } = await openPage(browser);
  const fill = await openRuleEditor(page, wayline.url);
  await fill('Id', 'bt-rule');
  await fill('Name', 'Viewed twice');
  await fill('Event', 'bt_view');
  await fill('Count', '2');
  await fill('Within', '1 min');
  await fill('Cooldown', '0');
  await fill('Goal', 'bt_buy');
  await fill('Goal within', '2 h');
  // Tried before it is saved: what it would have raised, and how often the goal followed.
  await page.getByTestId('try-rule').click();
  const tried = page.getByTestId('tried-summary');
  await tried.waitFor({ timeout: 15_000 });
  assert.match(await tried.innerText(), /^Would have raised 40 alerts for 40 customers over the last 30 days/);
  assert.match(await page.getByTestId('tried-goal').innerText(), /Of the 40 alerts whose goal window ended, 20 reached the goal \(50%\)/);
  assert.equal((await api('GET', '/api/v1/alerts?rule=bt-rule')).body.length, 0, 'trying raised nothing');
  await screenshot(page, 'rule-tried');

  await fill('Hold out (%)', '20');
  await page.getByTestId('save-rule').click();
  const row = page.locator('[data-testid=rules] tr[data-rule=bt-rule]');
  await row.waitFor({ timeout: 5_000 });
  assert.match(await row.innerText(), /goal: bt_buy within 2 h, 20 % held out/);

  // Live: ten customers meet it now.
  for (let i = 0; i < 10; i += 1) {
    const user = `bt-live-${i}`;
    await track(wayline.url, { messageId: `${user}-1`, userId: user, event: 'bt_view' });
    await track(wayline.url, { messageId: `${user}-2`, userId: user, event: 'bt_view' });
  }
  // Every alert is raised, its goal window open: nothing is judged yet.
  let outcome = await outcomeWhen((o) => o.pending === 10);
  assert.equal(outcome.pending, 10, JSON.stringify(outcome));
  assert.equal(outcome.treated.alerts + outcome.holdout.alerts, 0);
  // An hour later (on the server's clock) the first five buy, inside their window.
  wayline.moveClock(1);
  for (let i = 0; i < 5; i += 1) {
    await track(wayline.url, { messageId: `bt-live-${i}-3`, userId: `bt-live-${i}`, event: 'bt_buy' });
  }
  assert.equal((await outcomeWhen(() => true)).pending, 10, 'an hour in, every window is still open');
  // Three hours after the alerts every window has ended: the outcome counts all ten, split
  // as drawn, and the five who bought reached the goal.
  wayline.moveClock(3);
  outcome = await outcomeWhen((o) => o.pending === 0);
  assert.equal(outcome.treated.alerts + outcome.holdout.alerts, 10, JSON.stringify(outcome));
  assert.equal(outcome.treated.reached + outcome.holdout.reached, 5);
  assert.equal(outcome.verdict, 'too_few');
  const inbox = (await api('GET', '/api/v1/alerts?rule=bt-rule&limit=100')).body;
  assert.equal(inbox.length, outcome.treated.alerts, 'held-out customers stay out of the inbox');
  await page.goto(`${wayline.url}/rules`);
  const said = row.getByTestId('rule-outcome');
  await said.waitFor({ timeout: 10_000 });
  assert.match(await said.innerText(), new RegExp(`^Too few to judge: ${outcome.treated.alerts} treated and ${outcome.holdout.alerts} held-out alerts`));
  await screenshot(page, 'rule-outcome');
  // The inbox says, on each alert, whether its customer reached the goal (an hour after it).
  await page.goto(`${wayline.url}/alerts?rule=bt-rule`);
  const goals = page.getByTestId('goal');
  await goals.first().waitFor({ timeout: 10_000 });
  assert.equal(await goals.count(), outcome.treated.alerts);
  for (const text of await goals.allInnerTexts()) {
    assert.match(text, /^Goal (reached: bt_buy, 1\.0 h after the alert|missed: no bt_buy within 2\.0 h)$/);
  }
  assert.equal(
    (await goals.allInnerTexts()).filter((t) => t.startsWith('Goal reached')).length,
    outcome.treated.reached,
  );
  assert.deepEqual(problems, []);
  await page.close();
});
