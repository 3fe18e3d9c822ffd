// Starts the real `wayline` binary on a temporary DuckDB file and a free port, and
// launches Debian's Chromium through playwright-core.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const screenshotDir = path.join(here, '..', 'screenshots');

/// Debian's libfaketime, which moves a program's wall clock (its monotonic clock, which
/// timers run on, is left alone).
function libfaketime() {
  const found = execFileSync('dpkg', ['-L', 'libfaketime']).toString().split('\n').find((f) => f.endsWith('/libfaketimeMT.so.1'));
  if (!found) throw new Error('libfaketime not found; run scripts/setup.sh --test (Debian package faketime)');
  return found;
}

/// `fresh: true` starts with no user at all (the one-time setup page is open); otherwise an
/// admin and a viewer exist and both are signed in. `fakeClock: true` runs the server under
/// libfaketime with its clock at the real time until `moveClock` moves it on.
export async function startWayline({ fresh = false, fakeClock = false } = {}) {
  const bin = process.env.WAYLINE_BIN;
  const siteRoot = process.env.WAYLINE_SITE_ROOT;
  if (!bin || !siteRoot) {
    throw new Error('set WAYLINE_BIN and WAYLINE_SITE_ROOT (scripts/test.sh does)');
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'wayline-e2e-'));
  const db = path.join(dir, 'wayline.duckdb');
  // As an installer would: an admin, a source with its write key and an API token, each
  // printed on the last line of its command (the public demo key works only with --demo).
  const lastLine = (args) => execFileSync(bin, [...args, '--db', db], { env: { ...process.env, RUST_LOG: 'warn' } })
    .toString().trim().split('\n').pop().trim();
  const email = 'e2e-admin@example.com';
  const viewerEmail = 'e2e-viewer@example.com';
  const password = fresh ? null : lastLine(['user', 'add', email, '--role', 'admin']);
  const viewerPassword = fresh ? null : lastLine(['user', 'add', viewerEmail, '--role', 'viewer']);
  const writeKey = lastLine(['source', 'add', 'End-to-end tests']);
  const token = lastLine(['token', 'add', 'end-to-end tests', '--role', 'admin']);
  // The fake clock reads its offset from a file on every call, so a test can move it on.
  const clockFile = path.join(dir, 'clock-offset');
  const faked = fakeClock
    ? { LD_PRELOAD: libfaketime(), FAKETIME_TIMESTAMP_FILE: clockFile, FAKETIME_NO_CACHE: '1', DONT_FAKE_MONOTONIC: '1' }
    : {};
  if (fakeClock) writeFileSync(clockFile, '+0\n');
  const child = spawn(bin, ['serve', '--db', path.join(dir, 'wayline.duckdb'), '--addr', '127.0.0.1:0', '--site-root', siteRoot], {
    env: { ...process.env, RUST_LOG: 'info', NO_COLOR: '1', ...faked },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`wayline did not start:\n${output}`)), 20_000);
    const onData = (chunk) => {
      output += chunk.toString();
      const match = output.match(/open (http:\/\/127\.0\.0\.1:\d+)\//);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`wayline exited with ${code}:\n${output}`)));
  });
  // Ingestion answers at once; the pages' questions once the event index has loaded.
  for (let tries = 0; (await fetch(`${url}/readyz`)).status !== 200; tries++) {
    if (tries > 200) throw new Error(`wayline did not get ready:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // The session cookies of the admin and the viewer, for the pages the tests open.
  const signIn = async (who, secret) => {
    const signedIn = await fetch(`${url}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: url },
      body: new URLSearchParams({ email: who, password: secret }),
    });
    const cookie = (signedIn.headers.get('set-cookie') ?? '').split(';')[0];
    if (!cookie.startsWith('wayline_session=')) throw new Error(`signing in ${who} failed: ${signedIn.status}`);
    return cookie;
  };
  const cookie = fresh ? null : await signIn(email, password);
  const viewerCookie = fresh ? null : await signIn(viewerEmail, viewerPassword);
  current = { url, writeKey, token, cookie, viewerCookie };
  return {
    url,
    dir,
    writeKey,
    token,
    email,
    password,
    /// Headers of a script calling the JSON API with the admin token.
    authorization: { authorization: `Bearer ${token}` },
    output: () => output,
    /// Moves the fake clock (`fakeClock: true`) to `hours` after the real time.
    moveClock(hours) {
      if (!fakeClock) throw new Error('start with { fakeClock: true } to move the clock');
      writeFileSync(clockFile, `+${hours}h\n`);
    },
    /// Stops with SIGTERM, as a service manager would, and checks that the shutdown was
    /// clean: exit code 0 and the write-ahead log folded into the database file.
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      const code = await exited;
      const walLeft = existsSync(path.join(dir, 'wayline.duckdb.wal'));
      rmSync(dir, { recursive: true, force: true });
      if (code !== 0) throw new Error(`wayline exited with ${code} on SIGTERM:\n${output}`);
      if (walLeft) throw new Error('the write-ahead log was not checkpointed at shutdown');
    },
  };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/// The server the tests talk to: its address, write key, admin token and session cookie.
let current = null;

/// Opens a page, signed in as the admin (or `as: 'viewer'`), that records console errors and
/// failed requests.
export async function openPage(browser, { signedIn = true, as = 'admin' } = {}) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const cookie = as === 'viewer' ? current?.viewerCookie : current?.cookie;
  if (signedIn && cookie) {
    const [name, value] = cookie.split('=');
    await page.context().addCookies([{ name, value, url: current.url, httpOnly: true, sameSite: 'Lax' }]);
  }
  const problems = [];
  // Where it happened, so a failure names the page.
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console on ${page.url()}: ${msg.text()}`); });
  page.on('pageerror', (err) => problems.push(`page error on ${page.url()}: ${err.message}`));
  page.on('requestfailed', (req) => {
    // The event stream is cut when the page closes, and a test that moves on cancels what the
    // page was still loading (ERR_ABORTED); neither is the app failing.
    const reason = req.failure()?.errorText ?? '';
    if (req.url().includes('/api/v1/stream/') || reason === 'net::ERR_ABORTED') return;
    problems.push(`request failed: ${req.url()} (${reason}) on ${page.url()}`);
  });
  return { page, problems };
}

export async function screenshot(page, name) {
  mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: path.join(screenshotDir, `${name}.png`), fullPage: true });
}

/// Opens a new rule in the rules editor once it has hydrated (typing reaches the form's state
/// only then); the function that fills one of its fields by label.
export async function openRuleEditor(page, baseUrl) {
  await page.goto(`${baseUrl}/rules?edit=new`);
  await page.locator('[data-testid=rule-editor][data-hydrated=true]').waitFor({ timeout: 15_000 });
  const editor = page.getByTestId('rule-editor');
  return (field, value) => editor.locator(`[data-field="${field}"]`).fill(value);
}

/// Sends one track call with the test source's write key (the HTTP Basic user name).
export async function track(baseUrl, message) {
  const response = await fetch(`${baseUrl}/v1/track`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Basic ${Buffer.from(`${current.writeKey}:`).toString('base64')}`,
    },
    body: JSON.stringify(message),
  });
  return { status: response.status, body: await response.json() };
}

/// The newest events as the live stream's first frame shows them (newest first).
export async function newestEvents(baseUrl) {
  const controller = new AbortController();
  const response = await fetch(`${baseUrl}/api/v1/stream/events`, {
    signal: controller.signal,
    headers: { authorization: `Bearer ${current.token}` },
  });
  const reader = response.body.getReader();
  let text = '';
  while (!text.includes('\n\n')) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  controller.abort();
  const data = text.split('\n').find((line) => line.startsWith('data:'));
  return JSON.parse(data.slice(5)).events;
}

/// Polls until `predicate(events)` holds or the time is up.
export async function waitForEvents(baseUrl, predicate, timeoutMs = 5000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const events = await newestEvents(baseUrl);
    if (predicate(events)) return events;
    if (Date.now() > until) throw new Error(`events never matched: ${JSON.stringify(events.map((e) => e.name ?? e.kind))}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
