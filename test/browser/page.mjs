// The status page (GET /) in a real browser: Debian's headless chromium,
// driven by playwright-core, against the real sidecar supervising real
// children. Run by test/browser/run (make browser-test, part of make test):
//
//   node page.mjs SIDECAR_BINARY HELPERS_DIR ARTIFACTS_DIR
//
// It checks what a person sees: every service and probe; no console error
// or warning, no failed request, no policy violation; a hostile reason shown
// as text; no horizontal scroll at 320 and 375 px; a killed service shown
// within 2 s; no button without the token; a wrong token refused in plain
// words and forgotten; the restart button with the token; a 409 with
// sidecar's message; none once a reload took the token away; the banner
// once sidecar is gone, and gone once it is back.
// Screenshots (light, dark, narrow, events) go to ARTIFACTS_DIR.
// Every wait has a deadline; the whole run is bounded by RUN_LIMIT_MS and
// ends the processes it started. Prints "browser: N passed, N failed".
import { spawn } from 'node:child_process';
import {
  mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';

const RUN_LIMIT_MS = 90e3;
const WAIT_MS = 10e3; // a deadline for what normally takes milliseconds
const KILL_SHOWN_MS = 2e3; // the promise

const [bin, helpers, outDir] = process.argv.slice(2).map((a) => resolve(a));
if (!outDir) {
  console.error('usage: node page.mjs SIDECAR HELPERS_DIR ARTIFACTS_DIR');
  process.exit(2);
}
const browserPath = process.env.CHROMIUM || '/usr/bin/chromium';

let passed = 0;
let failed = 0;
function check(ok, what, detail) {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${detail ? ': ' + detail : ''}`);
  return ok;
}

const dir = mkdtempSync(join(tmpdir(), 'sidecar-browser-'));
const token = randomBytes(16).toString('hex');
let sidecar = null;
let sidecarExited = null;
let browser = null;

async function cleanup() {
  if (browser) await browser.close().catch(() => {});
  browser = null;
  if (sidecar && sidecar.exitCode === null && sidecar.signalCode === null) {
    sidecar.kill('SIGKILL');
    await sidecarExited;
  }
  rmSync(dir, { recursive: true, force: true });
}

const limit = setTimeout(async () => {
  check(false, `the whole run within ${RUN_LIMIT_MS / 1e3} s`);
  await cleanup();
  console.log(`browser: ${passed} passed, ${failed} failed`);
  process.exit(1);
}, RUN_LIMIT_MS);

// Polls fn until it returns a truthy value, or null at the deadline.
async function until(fn, ms = WAIT_MS, every = 50) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => null);
    if (v) return v;
    if (Date.now() >= end) return null;
    await new Promise((r) => setTimeout(r, every));
  }
}

// A sidecar of real children on port 0; its port from "http listening".
function startSidecar() {
  const fakesvc = join(helpers, 'fakesvc');
  const cfg = join(dir, 'sidecar.yaml');
  writeFileSync(cfg, `name: shop
http:
  listen: 127.0.0.1:0
  token: ${token}
shutdown:
  drain: 0s
services:
  web:
    role: main
    command: ['sleep', '100000']
    backoff: { initial: 0s }
  api:
    command: ['${fakesvc}', 'notify', 'api', '${dir}/api.log',
              'READY=1|STATUS=serving, 42 requests a second']
    ready: notify
  migrate:
    role: task
    command: ['true']
probes:
  web-alive:
    type: exec
    service: web
    command: ['true']
    period: 1s
  cache:
    type: exec
    importance: low
    command: ['sh', '-c', 'test $$(( $$(date +%s) % 3 )) -ne 0']
    period: 1s
  batch:
    type: ttl
    importance: high
    ttl: 60s
`);
  return spawnSidecar(cfg);
}

// Runs sidecar on cfg: its port, from its "http listening" line.
function spawnSidecar(cfg) {
  sidecar = spawn(bin, ['run', '-c', cfg], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  sidecarExited = new Promise((r) => sidecar.once('exit', r));
  return new Promise((resolvePort, reject) => {
    const lines = createInterface({ input: sidecar.stdout });
    const timer = setTimeout(
      () => reject(new Error('no "http listening" line')), WAIT_MS);
    lines.on('line', (line) => {
      let j = null;
      try {
        j = JSON.parse(line);
      } catch (e) {
        return;
      }
      if (j.msg === 'http listening') {
        clearTimeout(timer);
        resolvePort(j.port);
      }
    });
    sidecar.once('exit', () => reject(new Error('sidecar exited')));
  });
}

async function main() {
  const port = await startSidecar();
  const base = `http://127.0.0.1:${port}`;
  const details = async () => (await fetch(base + '/health/details')).json();
  const post = (path, body) => fetch(base + path, {
    method: 'POST', body, headers: { Authorization: 'Bearer ' + token },
  });

  // Where /events is not served yet, EventSource's failed request is the
  // one console error the page cannot avoid (it then polls instead).
  const ac = new AbortController();
  const ev = await fetch(base + '/events', { signal: ac.signal });
  const noEvents = ev.status === 404;
  ac.abort();
  if (noEvents) console.log('note: this sidecar serves no /events: polling');

  browser = await chromium.launch({
    executablePath: browserPath,
    args: process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [],
  });

  const problems = [];
  let quiet = false; // once sidecar is stopped on purpose
  let refusal = null; // the browser logs the 401 or 409 the test asks for
  async function open(options) {
    const ctx = await browser.newContext(options);
    const page = await ctx.newPage();
    page.on('console', (m) => {
      if (quiet || !['error', 'warning'].includes(m.type())) return;
      const url = (m.location() || {}).url || '';
      if (noEvents && (url.endsWith('/events') || /EventSource/.test(m.text())))
        return;
      if (refusal && refusal.test(m.text())) return;
      problems.push(`console ${m.type()}: ${m.text()} (${url})`);
    });
    page.on('pageerror', (e) => problems.push('page error: ' + e.message));
    page.on('requestfailed', (r) => {
      if (quiet || (noEvents && r.url().endsWith('/events'))) return;
      problems.push(`request failed: ${r.url()} ${r.failure().errorText}`);
    });
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) =>
        console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));
    });
    const r = await page.goto(base + '/');
    check(r.status() === 200, 'GET / answers 200', String(r.status()));
    return page;
  }

  const page = await open({ viewport: { width: 1100, height: 900 },
    colorScheme: 'light' });
  const d = await details();
  const names = [...d.services.map((s) => `[data-service="${s.name}"]`),
    ...d.probes.map((p) => `[data-probe="${p.name}"]`)];
  const shown = await until(async () => {
    for (const sel of names) if (!(await page.locator(sel).count())) return false;
    return true;
  });
  check(shown, 'every service and probe is shown', names.join(' '));
  check(await until(async () =>
    /^(UP|DEGRADED|DOWN)$/.test(await page.textContent('#status'))),
  'the aggregate is shown');
  check(await until(async () => (await page.textContent(
    '[data-service="api"]')).includes('serving, 42 requests a second')),
  "a notify service's status text is shown");
  check(await page.locator('button.act').count() === 0 &&
    await page.locator('#reload').isHidden(), 'no button without a token');

  // A reason written by someone else is text, never markup.
  const hostile = '<img src=x onerror="window.pwned=1">';
  check((await post('/probes/batch/fail', hostile)).status === 200,
    'a ttl probe fails by a push');
  check(await until(async () => (await page.textContent(
    '[data-probe="batch"]')).includes(hostile)), 'its reason is shown as text');
  check(await page.locator('#probes img').count() === 0 &&
    !(await page.evaluate(() => window.pwned)), 'and no markup runs');
  check(await until(async () => (await page.locator(
    '[data-probe="web-alive"] .mark.pass').count()) > 0),
  "a probe's recent results are drawn");

  // A service killed from outside: on the page within 2 s.
  const web = (await details()).services.find((s) => s.name === 'web');
  const pidText = async () => page.textContent('[data-service="web"] dl');
  check((await pidText()).includes(String(web.pid)), 'the pid is shown');
  process.kill(web.pid, 'SIGKILL');
  const t0 = Date.now();
  const seen = await until(async () => !(await pidText())
    .includes(String(web.pid)), KILL_SHOWN_MS + 3e3, 20);
  const ms = Date.now() - t0;
  check(seen && ms <= KILL_SHOWN_MS, `a killed service shows within ${
    KILL_SHOWN_MS} ms`, `${ms} ms`);

  await page.screenshot({ path: join(outDir, 'page-light.png'),
    fullPage: true });

  // A wrong token: refused in plain words, forgotten, no buttons left.
  await page.fill('#token', 'not-the-token');
  await page.press('#token', 'Enter');
  check(await until(async () => (await page.locator(
    '[data-service="web"] button.act').count()) === 3),
  'buttons with a token and "control": true');
  refusal = / 401 /;
  await page.click('[data-service="web"] button.act >> text=restart');
  check(await until(async () => /token was refused/.test(
    await page.textContent('#answer'))), 'a wrong token is refused plainly',
  await page.textContent('#answer'));
  refusal = null;
  check(await until(async () => await page.evaluate(() =>
    sessionStorage.getItem('sidecar-token')) === null &&
    await page.locator('button.act').count() === 0),
  'and forgotten: no buttons');

  // The right one: restart works, the pid changes.
  await page.fill('#token', token);
  await page.press('#token', 'Enter');
  check(await until(async () => (await page.locator('button.act').count()) > 0),
    'the token gives the buttons back');
  check(await page.evaluate(() => location.href).then((u) => !u.includes(
    token)), 'the token is never in the URL');
  const before = (await details()).services.find((s) => s.name === 'web').pid;
  await page.click('[data-service="web"] button.act >> text=restart');
  check(await until(async () => /restart web \(202\)/.test(
    await page.textContent('#answer'))), 'restart answers 202',
  await page.textContent('#answer'));
  const after = await until(async () => {
    const s = (await details()).services.find((x) => x.name === 'web');
    return s.pid > 0 && s.pid !== before ? s.pid : null;
  });
  check(after, 'the restart button restarts: a new pid', `${before} -> ${after}`);
  check(await until(async () => (await pidText()).includes(String(after))),
    'the page shows the new pid');
  refusal = / 409 /;
  await page.click('[data-service="web"] button.act >> text="start"');
  check(await until(async () => /start web refused \(409\): .+/.test(
    await page.textContent('#answer'))), "a refusal shows sidecar's message",
  await page.textContent('#answer'));
  refusal = null;

  // Dark and narrow: screenshots, and no horizontal scroll on a phone.
  const dark = await open({ viewport: { width: 1100, height: 900 },
    colorScheme: 'dark' });
  await dark.waitForSelector('[data-service="web"]');
  check(await dark.evaluate(() => getComputedStyle(document.body)
    .backgroundColor) !== 'rgb(246, 247, 249)', 'dark scheme is dark');
  await dark.screenshot({ path: join(outDir, 'page-dark.png'),
    fullPage: true });
  for (const width of [375, 320]) {
    const narrow = await open({ viewport: { width, height: 800 },
      colorScheme: 'light', isMobile: true, hasTouch: true });
    await narrow.waitForSelector('[data-probe="batch"]');
    const sw = await narrow.evaluate(() =>
      document.documentElement.scrollWidth);
    check(sw <= width, `no horizontal scroll at ${width} px`, `${sw} px`);
    if (width === 375)
      await narrow.screenshot({ path: join(outDir, 'page-narrow.png'),
        fullPage: true });
  }

  // Events as the stream sends them (served here by the test, so that the
  // list is checked whatever this sidecar serves): newest first, as text.
  const e = (id, o) => `id: ${id}\ndata: ${JSON.stringify(o)}\n\n`;
  const ev2 = { ts: new Date(Date.now() - 2000).toISOString(), level: 'warn',
    msg: 'probe state changed', probe: 'batch', from: 'unknown',
    to: 'failing', reason: hostile };
  const evs = await browser.newContext({ viewport: { width: 1100,
    height: 900 } });
  let served = 0;
  await evs.route('**/events', (route) => {
    // The second time, as a reconnect gets it: 2 again (not listed twice)
    // and 4; then 204, which ends the stream for good.
    if (served === 1) {
      served++;
      return route.fulfill({ status: 200, contentType: 'text/event-stream',
        body: e(2, ev2) + e(4, { ts: new Date().toISOString(),
          level: 'info', msg: 'config reloaded', trigger: 'http' }) });
    }
    if (served++) return route.fulfill({ status: 204 });
    route.fulfill({ status: 200, contentType: 'text/event-stream',
      body: 'retry: 200\n' +
        e(1, { ts: new Date(Date.now() - 3000).toISOString(), level: 'warn',
          msg: 'service state changed', service: 'web', from: 'running',
          to: 'backoff', exit_code: 137 }) +
        e(2, ev2) +
        e(3, { ts: new Date().toISOString(), level: 'info',
          msg: 'health changed', from: 'DEGRADED', to: 'UP' }) });
  });
  const evPage = await evs.newPage();
  evPage.on('pageerror', (e) => problems.push('page error: ' + e.message));
  await evPage.goto(base + '/');
  const items = await until(async () => {
    const t = await evPage.locator('#events li').allTextContents();
    return t.length === 4 ? t : null;
  });
  check(items && /config reloaded/.test(items[0]) &&
    /health changed/.test(items[1]) &&
    /probe state changed/.test(items[2]) && items[2].includes(hostile) &&
    /service state changed/.test(items[3]),
  'events are listed newest first, as text, a replayed one once',
  JSON.stringify(items));
  check(await evPage.locator('#events img').count() === 0 &&
    !(await evPage.evaluate(() => window.pwned)), 'and no markup runs');
  // The fed list's picture (the README's is taken against the real stream).
  await post('/probes/batch/pass', 'nightly export finished');
  await until(async () => (await evPage.textContent('[data-probe="batch"]'))
    .includes('nightly export finished'));
  await evPage.screenshot({ path: join(outDir, 'page-events.png') });
  await evs.close();

  check(problems.length === 0, 'no console error or warning, no failed ' +
    'request, no policy violation', problems.join('\n    '));

  // A button held down while the page redraws (probes report every
  // second) still clicks when released.
  const pass = page.locator('[data-probe="batch"] button.act >> text=pass');
  // (null while a redraw replaces the card: asked again until it is there)
  const box = await until(() => pass.boundingBox());
  check(box, 'the pass button of a ttl probe is there');
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.waitForTimeout(1500); // the one fixed wait: the hold itself
  await page.mouse.up();
  check(await until(async () => /pass batch \(200\)/.test(
    await page.textContent('#answer'))), 'a button held 1.5 s still clicks',
  await page.textContent('#answer'));

  // A reload that takes the token away: the page says the write API is
  // off and shows no button, though it still holds a token.
  const cfg = join(dir, 'sidecar.yaml');
  // (A ttl probe needs the write API: batch goes too.)
  writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/^  token: .*\n/m, '')
    .replace(/^  batch:\n(    .*\n)*/m, ''));
  check((await post('/reload', '')).status === 200, 'a reload drops the token');
  check(await until(async () => /reloads1(?!\d)/.test(
    await page.textContent('#config'))), 'the page counts the reload',
  await page.textContent('#config'));
  check(await until(async () => /write API is off/.test(
    await page.textContent('#access-note')) &&
    (await page.locator('button.act').count()) === 0 &&
    await page.locator('#reload').isHidden()),
  'without "control": no button, and the page says why');

  // Sidecar gone: the banner says so.
  quiet = true;
  sidecar.kill('SIGTERM');
  await sidecarExited;
  const banner = await until(async () => {
    if (await page.locator('#banner').isHidden()) return null;
    return page.textContent('#banner');
  });
  check(banner && /cannot be reached/.test(banner),
    'the banner says sidecar cannot be reached', banner);

  // Back on the same port: the banner goes.
  writeFileSync(cfg, readFileSync(cfg, 'utf8')
    .replace('listen: 127.0.0.1:0', `listen: 127.0.0.1:${port}`));
  check(await spawnSidecar(cfg) === port, 'sidecar starts again');
  check(await until(() => page.locator('#banner').isHidden()),
    'the banner goes once sidecar answers again');
  // A new process: the page says so once, lists the new one's events
  // (its ids above the old one's), none twice, and is live again.
  check(await until(async () => /sidecar restarted/.test(
    await page.textContent('#events'))), 'the page says sidecar restarted');
  const said = await page.$$eval('#events li',
    (lis) => lis.filter((li) => /sidecar restarted/.test(li.textContent))
      .length);
  check(said === 1, 'it says so once', `${said} times`);
  const ids = await page.$$eval('#events li',
    (lis) => lis.map((li) => li.dataset.id).filter((r) => r));
  check(ids.length > 0 && new Set(ids).size === ids.length,
    'no event listed twice across the restart',
    `${ids.length} listed, ${new Set(ids).size} distinct`);
  check(await until(async () => / live$/.test(
    await page.textContent('#footer'))), 'the stream is live again',
  await page.textContent('#footer'));
}

mkdirSync(outDir, { recursive: true });
let status = 0;
try {
  await main();
} catch (e) {
  check(false, 'the run', e.stack || String(e));
}
clearTimeout(limit);
await cleanup();
console.log(`browser: ${passed} passed, ${failed} failed`);
status = failed ? 1 : 0;
process.exit(status);
