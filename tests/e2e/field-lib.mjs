// Shared harness of the field-case browser scenarios (`tests/e2e/field-*.mjs`, run by
// `tests/field_cases.rs`): environment, checks and the final report, the query API, the
// page server and Chromium, screenshots, and the events a page sends.
//
// Every scenario gets SIGHTLINE_URL, SIGHTLINE_TOKEN, SIGHTLINE_SITE (a site whose origins
// include http://127.0.0.1:PAGE_PORT, no data yet) and PAGE_PORT; screenshots go to
// $E2E_ARTIFACTS/field/ (default test-artifacts/field/). Expected numbers are derived from
// what the browser did, then polled for on the query API.
import fs from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { desktopUserAgent, launchChromium } from './browser.mjs';
import { startPageServer } from './pageserver.mjs';

export { SL, TOKEN, api } from './sightline-api.mjs';
import { SL, TOKEN, api } from './sightline-api.mjs';
import { apiRange } from './days.mjs';
export const SITE = process.env.SIGHTLINE_SITE || '';
export const PAGE_PORT = +(process.env.PAGE_PORT || 18081);
export const ORIGIN = `http://127.0.0.1:${PAGE_PORT}`;
export const ARTIFACTS = path.resolve(process.env.E2E_ARTIFACTS || 'test-artifacts', 'field');
// Computed at load: yesterday to the day after tomorrow covers a run that crosses midnight.
export const RANGE = apiRange();
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const started = Date.now();
let NAME = 'field';
const failed = [];
let passed = 0;
export const log = (...a) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${NAME}:`, ...a);

/** Record one check (printed as FAIL with `detail` when it does not hold). */
export function check(name, ok, detail) {
  if (ok) passed++;
  else failed.push(detail === undefined ? name : `${name}: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`);
  return ok;
}

/** `check` that `actual` deep-equals `expected`. */
export function checkEq(name, actual, expected) {
  return check(name, isDeepStrictEqual(actual, expected), `expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

/** `expected` when `actual` is within `tol` of it, else `actual`: lets a deep-equal
 * comparison accept measured fractions (positions in an element) that round differently. */
export function approx(actual, expected, tol = 0.02) {
  return typeof actual === 'number' && Math.abs(actual - expected) <= tol ? expected : actual;
}


/** GET a query endpoint of `site` (default SITE), e.g. get('heatmap', {url}); throws unless 200. */
export async function get(what, params = {}, site = SITE) {
  const q = new URLSearchParams(params).toString();
  const r = await api('GET', `/v1/sites/${site}/${what}?${q ? q + '&' : ''}${RANGE}`);
  if (r.status !== 200) throw new Error(`GET ${what} → ${r.status} ${r.text.slice(0, 300)}`);
  return r.json;
}

/** A signed overlay link for the page `url` of SITE (POST /v1/sites/{key}/overlay). */
export async function overlayLink(url) {
  const r = await api('POST', `/v1/sites/${SITE}/overlay`, { url });
  if (r.status !== 201) throw new Error(`overlay grant → ${r.status} ${r.text}`);
  return r.json.link;
}

/** Run the rollups and call `read()` until `expected(result)` deep-equals it or 60 s pass;
 * `expected` is a value or a function of nothing. Returns the last result. */
export async function pollUntil(name, read, expected) {
  let act;
  for (const until = Date.now() + 60_000; ;) {
    await api('POST', '/v1/admin/rollup/run');
    act = await read().catch((e) => ({ error: e.message }));
    if (isDeepStrictEqual(act, expected) || Date.now() > until) break;
    await sleep(1000);
  }
  checkEq(name, act, expected);
  return act;
}

/** What `page` (and its frames) sends to /v1/events: `log`, one entry per request in the order
 * they started ({ ids, status, t }: its events' ids, the answer's status, 0 for a network
 * error, and the start time), and `events`, the events of requests answered 2xx as the
 * snippet sent them. `await rec.idle()` waits until every request seen so far has finished
 * and been recorded. */
export function recordEvents(page) {
  const rec = {
    log: [], events: [],
    async idle() { for (const until = Date.now() + 5000; rec.log.some((r) => r.status === null) && Date.now() < until;) await sleep(50); },
  };
  const entries = new Map();
  const body = (req) => { try { return JSON.parse(req.postData() || '{}').events || []; } catch { return []; } };
  page.on('request', (req) => {
    if (!req.url().startsWith(`${SL}/v1/events`)) return;
    const e = { ids: body(req).map((x) => x.id), status: null, t: Date.now() };
    entries.set(req, e);
    rec.log.push(e);
  });
  page.on('requestfailed', (req) => { const e = entries.get(req); if (e) e.status = 0; });
  page.on('requestfinished', async (req) => {
    const e = entries.get(req);
    if (!e) return;
    const res = await req.response().catch(() => null);
    if (res && res.ok()) rec.events.push(...body(req));
    e.status = res ? res.status() : 0;
  });
  return rec;
}

/** Content-Security-Policy violations and console errors of `page` (call before goto). */
export async function watchCsp(page) {
  const out = { violations: [], consoleErrors: [], pageErrors: [] };
  page.on('console', (m) => { if (m.type() === 'error') out.consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => out.pageErrors.push(e.message));
  await page.exposeFunction('__slCspViolation', (v) => out.violations.push(v));
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => window.__slCspViolation({
      directive: e.effectiveDirective, blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber, sample: e.sample,
    }));
  });
  return out;
}

let shotN = 0;
/** Screenshot of `page` to ARTIFACTS/<scenario>-NN-<label>.png. Caret left as it is: hiding
 * it sets style attributes on the page's inputs, a DOM change the snippet would take for a
 * reaction to a pending click. */
export async function shot(page, label) {
  const file = path.join(ARTIFACTS, `${NAME}-${String(++shotN).padStart(2, '0')}-${label.replace(/[^a-z0-9.]+/gi, '_')}.png`);
  await page.screenshot({ path: file, caret: 'initial' });
  return file;
}

/** Wait until the snippet on `page` has its page view and applied the site config. */
export async function snippetReady(page, config = true) {
  await page.waitForFunction((c) => window.sightline && window.sightline.pageviewId && (!c || window.sightline._debug.config),
    config, { timeout: 10_000 });
}

/** Deliver everything the snippet on `page` has (sightline.flush()); checks it said so. */
export async function flush(page, what = 'flush') {
  const ok = await Promise.race([page.evaluate(() => window.sightline.flush()), sleep(20_000).then(() => 'timeout')]);
  check(`${what}: sightline.flush() delivered everything`, ok === true, `flush() → ${ok}`);
}

/** Run `scenario({ browser, ctx, pages, userAgent })` as scenario `name`: starts the page
 * server (options of startPageServer) and Chromium, prints `field <name>: N passed, M failed`
 * and exits 1 on any failure or error. */
export async function run(name, scenario, serverOpts = {}) {
  NAME = name;
  setTimeout(() => { console.error(`${name}: gave up after 170 s`); process.exit(1); }, 170_000).unref();
  let code = 1;
  try {
    if (!TOKEN || !SITE) throw new Error('SIGHTLINE_TOKEN and SIGHTLINE_SITE must be set');
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const pages = await startPageServer({ port: PAGE_PORT, sightlineUrl: SL, site: SITE, ...serverOpts });
    const userAgent = desktopUserAgent();
    const browser = await launchChromium(userAgent);
    try {
      const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 }, userAgent, locale: 'en-US' });
      try { await scenario({ browser, ctx, pages, userAgent }); } finally { await ctx.close(); }
    } finally {
      await browser.close();
      await pages.close();
    }
    code = failed.length ? 1 : 0;
  } catch (e) {
    failed.push(`error: ${e.stack || e.message}`);
  }
  for (const f of failed) console.log(`  FAIL ${f}`);
  console.log(`field ${name}: ${passed} passed, ${failed.length} failed (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  process.exit(failed.length ? 1 : code);
}
