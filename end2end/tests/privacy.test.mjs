// Privacy as its users meet it: a fresh install's one-time setup page creates the first
// admin; a viewer reads a customer with their email masked and meets no edit button; an
// admin erases that customer from the customer page.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWayline, launchBrowser, openPage, screenshot } from './support.mjs';

const servers = [];
let browser;

after(async () => {
  await browser?.close();
  for (const server of servers) await server.stop();
});

async function send(wayline, path, message) {
  const response = await fetch(`${wayline.url}/v1/${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Basic ${Buffer.from(`${wayline.writeKey}:`).toString('base64')}`,
    },
    body: JSON.stringify(message),
  });
  assert.equal(response.status, 200, await response.text());
}

test('the setup page of a fresh install creates the first admin, once', async () => {
  const wayline = await startWayline({ fresh: true });
  servers.push(wayline);
  browser ??= await launchBrowser();
  const { page, problems } = await openPage(browser, { signedIn: false });
  await page.goto(`${wayline.url}/`);
  assert.match(page.url(), /\/setup$/, 'a stranger on a fresh install is sent to setup');
  await page.locator('input[name=email]').fill('first-admin@example.com');
  await page.locator('input[name=password]').fill('a long enough password');
  await screenshot(page, 'setup');
  await Promise.all([page.waitForURL(`${wayline.url}/`), page.getByRole('button', { name: /Create the admin/ }).click()]);
  await page.getByTestId('signed-in-as').filter({ hasText: 'first-admin@example.com' }).waitFor();
  assert.equal(await page.getByTestId('signed-in-role').textContent(), 'admin');

  // Setup is closed for good: a second visit is sent to sign in, a second post refused.
  const { page: stranger } = await openPage(browser, { signedIn: false });
  await stranger.goto(`${wayline.url}/setup`);
  assert.match(stranger.url(), /\/login/);
  const again = await fetch(`${wayline.url}/setup`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: wayline.url },
    body: new URLSearchParams({ email: 'intruder@example.com', password: 'another long password' }),
  });
  assert.notEqual(again.headers.get('location'), '/', 'no second admin is created');
  assert.ok(!(again.headers.get('set-cookie') ?? '').includes('wayline_session='), 'and nobody is signed in');
  assert.deepEqual(problems, []);
});

test('a viewer reads the customer masked and meets no edit button; an admin erases them', async () => {
  const wayline = await startWayline();
  servers.push(wayline);
  browser ??= await launchBrowser();
  await send(wayline, 'identify', { userId: 'u-ada', traits: { email: 'ada@example.com', plan: 'pro' } });
  await send(wayline, 'track', {
    userId: 'u-ada',
    event: 'purchase_completed',
    properties: { comment: '<script>alert(1)</script>', email: 'ada@example.com' },
  });

  const { page, problems } = await openPage(browser, { as: 'viewer' });
  await page.goto(`${wayline.url}/customers/u-ada`);
  await page.getByTestId('customer-summary').waitFor();
  await page.locator('main[data-hydrated=true]').waitFor();
  const text = await page.locator('main').innerText();
  assert.ok(text.includes('a•••@example.com'), text);
  assert.ok(!text.includes('ada@example.com'), 'the viewer never sees the email');
  assert.ok(text.includes('<script>alert(1)</script>'), 'markup in a property is shown as text');
  assert.equal(await page.getByTestId('erase-customer').count(), 0, 'no erase button for a viewer');
  await screenshot(page, 'customer-viewer');

  await page.goto(`${wayline.url}/rules`);
  await page.locator('main[data-hydrated=true]').waitFor();
  await page.locator('tr[data-rule]').first().waitFor();
  assert.equal(await page.getByTestId('new-rule').count(), 0);
  assert.equal(await page.getByTestId('toggle').count(), 0);
  assert.equal(await page.getByRole('button', { name: 'Delete' }).count(), 0);
  await page.goto(`${wayline.url}/settings`);
  await page.locator('main[data-hydrated=true]').waitFor();
  await page.getByTestId('sources').waitFor();
  assert.equal(await page.getByTestId('save-journey').count(), 0);
  assert.equal(await page.getByTestId('create-source').count(), 0);
  assert.equal(await page.getByTestId('audit-log').count(), 0, 'the audit log is for admins');
  assert.deepEqual(problems, []);

  // The admin sees the email and erases the customer.
  const { page: admin, problems: adminProblems } = await openPage(browser);
  await admin.goto(`${wayline.url}/customers/u-ada`);
  await admin.locator('main[data-hydrated=true]').waitFor();
  assert.ok((await admin.locator('main').innerText()).includes('ada@example.com'));
  await admin.getByTestId('erase-customer').click();
  await admin.getByTestId('confirm-erase').click();
  await admin.getByTestId('erased').waitFor();
  await screenshot(admin, 'customer-erased');
  await admin.goto(`${wayline.url}/customers/u-ada`);
  await admin.getByTestId('no-events').waitFor();
  await admin.goto(`${wayline.url}/settings`);
  await admin.getByTestId('audit-log').filter({ hasText: 'dashboard: erase customer' }).waitFor();
  assert.ok(!(await admin.getByTestId('audit-log').innerText()).includes('u-ada'));
  assert.deepEqual(adminProblems, []);
});
