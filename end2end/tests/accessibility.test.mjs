// Every page, signed out and signed in, in the light and the dark colour scheme: axe-core finds
// no serious or critical WCAG 2 A/AA violation, and each is screenshotted at a laptop width
// (1366 px) and a tablet width (768 px) as `<page>-<scheme>-<width>.png`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import AxeBuilder from '@axe-core/playwright';
import { startWayline, launchBrowser, screenshot, track } from './support.mjs';

let wayline;
let browser;
let session;

const schemes = ['light', 'dark'];
const widths = [[1366, 900], [768, 1024]];

// [name, path, signed in]
const pages = [
  ['map', '/', true],
  ['live', '/live', true],
  ['funnels', '/funnels?steps=a_view%2Ca_cart%2Ca_buy', true],
  ['paths', '/paths?event=a_view', true],
  ['retention', '/retention', true],
  ['customers', '/customers', true],
  ['customer', '/customers/a11y-ann', true],
  ['alerts', '/alerts', true],
  ['rules', '/rules', true],
  ['rule-editor', '/rules?edit=new', true],
  ['health', '/health', true],
  ['settings', '/settings', true],
  ['login', '/login', false],
];

async function api(method, path, body) {
  const response = await fetch(`${wayline.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...wayline.authorization },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, body: await response.json().catch(() => null) };
}

/// A page in its own context (axe-core's Playwright runner opens a second page in it), signed
/// in as the admin unless `signedIn` is false, in the given colour scheme.
async function openPage({ signedIn = true, colorScheme = 'light' } = {}) {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, colorScheme });
  if (signedIn) {
    const [name, value] = session.split('=');
    await context.addCookies([{ name, value, url: wayline.url, httpOnly: true, sameSite: 'Lax' }]);
  }
  const page = await context.newPage();
  const problems = [];
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console on ${page.url()}: ${msg.text()}`); });
  page.on('pageerror', (err) => problems.push(`page error on ${page.url()}: ${err.message}`));
  return { page, problems, close: () => context.close() };
}

before(async () => {
  wayline = await startWayline();
  browser = await launchBrowser();
  const signedIn = await fetch(`${wayline.url}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: wayline.url },
    body: new URLSearchParams({ email: wayline.email, password: wayline.password }),
  });
  session = (signedIn.headers.get('set-cookie') ?? '').split(';')[0];
  assert.match(session, /^wayline_session=/);
  // A rule that fires on two product views, so the inbox has an alert.
  const rule = await api('PUT', '/api/v1/rules/a11y-hot', {
    name: 'Two product views in a minute',
    condition: { type: 'count', event: 'product_viewed', count: 2, within_seconds: 60 },
    cooldown_seconds: 0,
  });
  assert.equal(rule.status, 200, JSON.stringify(rule.body));
  // Customers along the journey map and through a small funnel (a_view → a_cart → a_buy).
  const base = Date.now() - 10 * 60_000;
  const plan = [
    ['a11y-ann', ['Home', 'product_viewed', 'product_viewed', 'a_view', 'a_cart', 'a_buy']],
    ['a11y-bob', ['Home', 'a_view', 'a_cart']],
    ['a11y-cat', ['Home', 'a_view']],
    ['a11y-dan', ['a_view', 'a_buy']],
  ];
  for (const [user, events] of plan) {
    for (const [i, event] of events.entries()) {
      const at = new Date(base + i * 60_000).toISOString();
      const answer = await track(wayline.url, { messageId: `${user}-${i}`, userId: user, event, timestamp: at });
      assert.equal(answer.status, 200);
    }
  }
  // A live one, so the rule's window holds and the inbox shows an alert.
  await track(wayline.url, { messageId: 'live-1', userId: 'a11y-eve', event: 'product_viewed' });
  await track(wayline.url, { messageId: 'live-2', userId: 'a11y-eve', event: 'product_viewed' });
  // A refused event and one no stage knows, for the data-health page.
  await track(wayline.url, { messageId: 'bad-1', event: 'Home' });
  await track(wayline.url, { messageId: 'odd-1', userId: 'a11y-bob', event: 'mystery_event' });
  await fetch(`${wayline.url}/v1/identify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${wayline.writeKey}:`).toString('base64')}` },
    body: JSON.stringify({ userId: 'a11y-ann', traits: { email: 'ann@example.test', plan: 'pro' } }),
  });
  // Alerts are raised as the events are evaluated; wait for the one expected.
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    const alerts = await api('GET', '/api/v1/alerts');
    if (JSON.stringify(alerts.body ?? '').includes('a11y-')) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
});

after(async () => {
  await browser?.close();
  await wayline?.stop();
});

/// The serious and critical violations on the page as it is now, one line each.
async function seriousViolations(page, where, t) {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  // The lesser ones are reported, not failed on.
  for (const v of results.violations.filter((v) => v.impact !== 'serious' && v.impact !== 'critical')) {
    t.diagnostic(`${where}: [${v.impact}] ${v.id} — ${v.help}: ${v.nodes.slice(0, 4).map((n) => n.target.join(' ')).join(' | ')}`);
  }
  assert.ok(results.passes.length > 0, 'axe ran its checks');
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => {
      const targets = v.nodes.slice(0, 4).map((n) => n.target.join(' ')).join(' | ');
      const more = v.nodes.length > 4 ? ` (+${v.nodes.length - 4} more)` : '';
      return `${where}: [${v.impact}] ${v.id} — ${v.help}: ${targets}${more}`;
    });
}

for (const [name, path, signedIn] of pages) {
  for (const scheme of schemes) {
    test(`${name} (${path}) in the ${scheme} scheme has no serious or critical violation`, async (t) => {
      const { page, problems, close } = await openPage({ signedIn, colorScheme: scheme });
      const found = [];
      for (const [width, height] of widths) {
        await page.setViewportSize({ width, height });
        await page.goto(`${wayline.url}${path}`);
        await page.locator('main[data-hydrated=true] h1').waitFor({ timeout: 15_000 });
        // The live pages keep a stream open, so the network never goes quiet for long.
        await page.waitForLoadState('networkidle', { timeout: 3_000 }).catch(() => {});
        // Let highlight animations (new rows, new alerts) finish before colours are measured.
        await page.waitForTimeout(2_000);
        assert.equal(await page.evaluate(() => matchMedia('(prefers-color-scheme: dark)').matches), scheme === 'dark');
        await screenshot(page, `${name}-${scheme}-${width}`);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        if (overflow > 0) found.push(`${name} ${path} ${scheme} ${width}px: the page is ${overflow}px wider than the window`);
        found.push(...await seriousViolations(page, `${name} ${path} ${scheme} ${width}px`, t));
      }
      if (problems.length) console.log(`${name} ${scheme}: ${problems.join('\n')}`);
      await close();
      assert.deepEqual(found, [], `\n${found.join('\n')}`);
    });
  }
}

/// The buttons on the page that share an accessible name with another, as "name ×count".
function duplicateButtonNames(page) {
  return page.evaluate(() => {
    const nameOf = (el) => {
      const labelledBy = el.getAttribute('aria-labelledby');
      if (labelledBy) return labelledBy.split(/\s+/).map((id) => document.getElementById(id)?.textContent ?? '').join(' ');
      return el.getAttribute('aria-label') || el.textContent || el.value || el.title || '';
    };
    const counts = new Map();
    for (const el of document.querySelectorAll('button, [role=button], input[type=submit], input[type=button]')) {
      if (!el.checkVisibility?.() || el.closest('[aria-hidden=true]')) continue;
      const name = nameOf(el).replace(/\s+/g, ' ').trim();
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    return [...counts].filter(([, n]) => n > 1).map(([name, n]) => `“${name}” ×${n}`);
  });
}

test('no two buttons on a page share an accessible name', async () => {
  const found = [];
  for (const [name, path, signedIn] of pages) {
    const { page, close } = await openPage({ signedIn });
    await page.goto(`${wayline.url}${path}`);
    await page.locator('main[data-hydrated=true] h1').waitFor({ timeout: 15_000 });
    await page.waitForLoadState('networkidle', { timeout: 3_000 }).catch(() => {});
    const same = await duplicateButtonNames(page);
    if (same.length) found.push(`${name} ${path}: ${same.join(', ')}`);
    await close();
  }
  assert.deepEqual(found, [], `\n${found.join('\n')}`);
});

test('the first Tab reaches a skip link that moves focus to the main content', async () => {
  const { page, close } = await openPage();
  await page.goto(`${wayline.url}/live`);
  await page.locator('main[data-hydrated=true] h1').waitFor({ timeout: 15_000 });
  await page.keyboard.press('Tab');
  const first = await page.evaluate(() => {
    const a = document.activeElement;
    const box = a.getBoundingClientRect();
    return { cls: a.className, href: a.getAttribute('href'), text: a.textContent.trim(), visible: box.width > 1 && box.height > 1 };
  });
  assert.match(first.cls, /skip-link/, `the first Tab stop is ${JSON.stringify(first)}`);
  assert.ok(first.visible, 'the skip link shows when focused');
  const target = first.href.slice(1);
  assert.equal(await page.locator(`main#${target}`).count(), 1, `the skip link points at main (#${target})`);
  await page.keyboard.press('Enter');
  await page.keyboard.press('Tab');
  assert.ok(await page.evaluate((id) => document.getElementById(id).contains(document.activeElement), target),
    'the next Tab stop after the skip link is inside main');
  await close();
});

test('charts are images (or labelled groups) whose labels state their figures', async () => {
  const { page, close } = await openPage();
  for (const path of ['/funnels?steps=a_view%2Ca_cart%2Ca_buy', '/paths?event=a_view', '/health']) {
    await page.goto(`${wayline.url}${path}`);
    await page.locator('main[data-hydrated=true] h1').waitFor({ timeout: 15_000 });
    const charts = page.locator('figure.chart');
    await charts.first().waitFor({ timeout: 10_000 });
    for (const chart of await charts.all()) {
      const labelled = await chart.evaluate((figure) => {
        // A drawing with buttons in it (the Sankey's nodes) is a labelled group, not an image.
        const img = figure.querySelector('[role=img], svg[role=group]');
        const label = img?.getAttribute('aria-label') ?? '';
        return { label, hasNumber: /\d/.test(label) };
      });
      assert.ok(labelled.hasNumber, `a chart on ${path} has no role="img" with figures in its label (${JSON.stringify(labelled)})`);
    }
  }
  await close();
});

test('the marketer sees who leaves at the biggest leak by first channel, adding up to the badge', async () => {
  const { page, problems, close } = await openPage();
  await page.goto(`${wayline.url}/`);
  // Asked for after the map, once it has named its biggest leak.
  const panel = page.getByTestId('leak-by-channel');
  await panel.waitFor({ timeout: 15_000 });
  const badge = await page.locator('.map-link.worst .link-left').innerText();
  const left = Number(badge.match(/−([\d,]+)/)[1].replace(/,/g, ''));
  assert.ok(left > 0, badge);
  const rows = await panel.getByTestId('leak-left').allInnerTexts();
  const sum = rows.reduce((total, text) => total + Number(text.replace(/,/g, '')), 0);
  assert.equal(sum, left, `the channels' left (${rows}) add up to the map's biggest leak (${badge})`);
  // These customers came with no campaign or referrer: direct.
  await panel.locator('tr[data-channel=direct]').waitFor();
  assert.deepEqual(problems, []);
  await close();
});
