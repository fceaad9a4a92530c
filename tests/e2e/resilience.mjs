#!/usr/bin/env node
// The snippet under refusal and without consent, in a real browser (issue 10):
//
//   SIGHTLINE_URL=… SIGHTLINE_TOKEN=… SIGHTLINE_SITE=<write key> PAGE_PORT=… CONSENT_PORT=… node tests/e2e/resilience.mjs
//
// SIGHTLINE_SITE must be a fresh site allowing both page origins (tests/hardening.rs).
//
// 1. Quota: the site's own quota is set to 1 event a minute and used up, so the server answers 429
//    + Retry-After. A visit to one page and then a second page is refused throughout: what
//    the first page could not deliver is kept in localStorage and re-sent by the second.
//    Then the quota is lifted; a third page sends everything kept. Every event id the
//    browser ever tried to send is stored exactly once (stored = used-up + distinct ids).
// 2. Consent: with `data-require-consent`, nothing is sent or stored in the browser until
//    `sightline.consent(true)`; `consent(false)` stops sending and forgets the stored ids.
// Prints `resilience e2e: N passed, 0 failed` and exits 0 on success.
import { chromiumMajor, desktopUserAgent, launchChromium } from './browser.mjs';
import { startPageServer } from './pageserver.mjs';
import { SL, TOKEN, api } from './sightline-api.mjs';

const SITE = process.env.SIGHTLINE_SITE || '';
const PAGE_PORT = +process.env.PAGE_PORT;
const CONSENT_PORT = +process.env.CONSENT_PORT;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const checks = { passed: 0, failed: [] };
function check(name, ok, detail) {
  if (ok) checks.passed++;
  else checks.failed.push(detail ? `${name}: ${detail}` : name);
}
async function stored() {
  return (await api('GET', `/v1/sites/${SITE}/stats`)).json.events;
}
async function waitStored(n, ms = 60_000) {
  const end = Date.now() + ms;
  let got = await stored();
  while (got < n && Date.now() < end) { await sleep(250); got = await stored(); }
  return got;
}

function watch(page, ids, statuses) {
  page.on('request', (req) => {
    if (!req.url().startsWith(`${SL}/v1/events`) || req.method() !== 'POST') return;
    try { for (const e of JSON.parse(req.postData()).events) ids.add(e.id); } catch { /* not ours */ }
  });
  page.on('response', (res) => {
    if (res.url().startsWith(`${SL}/v1/events`) && res.request().method() === 'POST') statuses.push(res.status());
  });
}

async function quotaScenario(browser) {
  // Use the site's whole burst (1000 events) so that the browser is refused from its first event.
  const base = await stored();
  const r = await api('PATCH', `/v1/sites/${SITE}`, { settings: { events_per_minute: 1 } });
  check('site quota set', r.status === 200, JSON.stringify(r.json));
  const now = Date.now();
  const filler = Array.from({ length: 1000 }, (_, i) => ({
    id: crypto.randomUUID(), type: 'pageview', ts: now, session_id: `filler-${i}`, visitor_id: 'filler',
    url: 'https://filler.example/', viewport: { w: 1280, h: 720 },
  }));
  const f = await fetch(`${SL}/v1/events`, { method: 'POST', headers: { 'Content-Type': 'text/plain' },
    body: JSON.stringify({ site: SITE, sent_at: now, events: filler }) });
  check('filler accepted', f.status === 202, String(f.status));
  const before = await waitStored(base + 1000);
  check('filler stored', before === base + 1000, `${before} vs ${base} + 1000`);

  const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  // Unload beacons are not always reported as page requests: note every id the page puts in
  // a request body (fetch) or a beacon's Blob in sessionStorage, which survives navigations.
  await ctx.addInitScript(() => {
    const note = (body) => {
      try {
        const events = JSON.parse(body).events;
        if (!Array.isArray(events)) return;
        const seen = JSON.parse(sessionStorage.getItem('__sent') || '[]');
        for (const e of events) seen.push(e.id);
        sessionStorage.setItem('__sent', JSON.stringify(seen));
      } catch { /* not an envelope */ }
    };
    const NativeBlob = window.Blob;
    window.Blob = function (parts, opts) {
      if (Array.isArray(parts) && parts.every((p) => typeof p === 'string')) note(parts.join(''));
      return new NativeBlob(parts, opts);
    };
    window.Blob.prototype = NativeBlob.prototype;
    const nativeFetch = window.fetch.bind(window);
    window.fetch = (url, init) => {
      if (init && typeof init.body === 'string') note(init.body);
      return nativeFetch(url, init);
    };
  });
  const page = await ctx.newPage();
  const ids = new Set(), statuses = [];
  watch(page, ids, statuses);
  const origin = `http://127.0.0.1:${PAGE_PORT}`;
  await page.goto(`${origin}/index.html`, { waitUntil: 'load' });
  await page.waitForFunction(() => window.sightline && window.sightline._v, null, { timeout: 10_000 });
  await page.click('text=Earnings Overview');
  await page.evaluate(() => window.sightline.track('refused-one'));
  // Force the first batch out now, then wait for the 429.
  page.evaluate(() => window.sightline.flush()).catch(() => {}); // never resolves while refused
  const end = Date.now() + 15_000;
  while (!statuses.includes(429) && Date.now() < end) await sleep(100);
  check('the server refuses with 429', statuses.includes(429), JSON.stringify(statuses));
  const firstIds = new Set(ids);

  // Second page: the first page's undelivered events go with it (localStorage), refused again.
  await page.goto(`${origin}/tables.html`, { waitUntil: 'load' });
  await page.waitForFunction(() => window.sightline && window.sightline._v, null, { timeout: 10_000 });
  await sleep(500);
  const kept = [...firstIds].filter((id) => ids.has(id));
  check('first page events re-sent by the second page', kept.length === firstIds.size);
  const resent = await page.evaluate(() => window.sightline.pending.batches);
  check('second page holds batches for retry', resent >= 1, String(resent));

  // Lift the quota; a third page delivers everything kept so far.
  const lift = await api('PATCH', `/v1/sites/${SITE}`, { settings: { events_per_minute: 0 } });
  check('quota lifted', lift.status === 200);
  await sleep(300); // (this one process applies a PATCH at once; others within 5 s)
  await page.goto(`${origin}/charts.html`, { waitUntil: 'load' });
  await page.waitForFunction(() => window.sightline && window.sightline._v, null, { timeout: 10_000 });
  const delivered = await page.evaluate(() => window.sightline.flush());
  check('third page delivers everything', delivered === true);
  // Counted before the page closes: its unload beacon would add events of its own.
  for (const id of await page.evaluate(() => JSON.parse(sessionStorage.getItem('__sent') || '[]'))) ids.add(id);
  const want = base + 1000 + ids.size;
  const got = await waitStored(want);
  await sleep(1500);
  const final = await stored();
  await ctx.close();
  console.log(`resilience: ${ids.size} distinct ids tried by the browser, ${statuses.filter((s) => s === 429).length} answers 429, stored ${final - base - 1000}`);
  check('every tried event stored exactly once', got === want && final === want, `stored ${final}, want ${want}`);
}

async function consentScenario(browser) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const page = await ctx.newPage();
  const ids = new Set(), statuses = [];
  watch(page, ids, statuses);
  const origin = `http://127.0.0.1:${CONSENT_PORT}`;
  await page.goto(`${origin}/index.html`, { waitUntil: 'load' });
  await page.waitForFunction(() => window.sightline && window.sightline._v, null, { timeout: 10_000 });
  await page.click('text=Earnings Overview');
  await page.evaluate(() => window.sightline.flush());
  await sleep(300);
  check('nothing sent before consent', ids.size === 0, String(ids.size));
  const storage = () => page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('sl_')).sort());
  check('nothing stored before consent', (await storage()).length === 0, JSON.stringify(await storage()));
  await page.evaluate(() => window.sightline.consent(true));
  await page.click('text=Earnings Overview');
  const ok = await page.evaluate(() => window.sightline.flush());
  check('sent after consent', ok === true && ids.size >= 2, String(ids.size));
  check('ids stored after consent', (await storage()).includes('sl_vid'), JSON.stringify(await storage()));
  await page.evaluate(() => window.sightline.consent(false));
  const n = ids.size;
  await page.click('text=Earnings Overview');
  await page.evaluate(() => window.sightline.flush());
  await sleep(300);
  check('nothing sent after consent is withdrawn', ids.size === n, `${ids.size} vs ${n}`);
  check('ids forgotten', !(await storage()).includes('sl_vid'), JSON.stringify(await storage()));
  await ctx.close();
}

const pages = await startPageServer({ port: PAGE_PORT, sightlineUrl: SL, site: SITE });
const consentPages = await startPageServer({ port: CONSENT_PORT, sightlineUrl: SL, site: SITE, tagAttrs: 'data-require-consent' });
const major = chromiumMajor();
const ua = desktopUserAgent(major);
const browser = await launchChromium(ua);
try {
  await consentScenario(browser);
  await quotaScenario(browser);
} catch (e) {
  checks.failed.push(`exception: ${e && e.stack || e}`);
} finally {
  await browser.close();
  await pages.close();
  await consentPages.close();
}
for (const f of checks.failed) console.log(`FAILED ${f}`);
console.log(`resilience e2e: ${checks.passed} passed, ${checks.failed.length} failed`);
process.exit(checks.failed.length ? 1 : 0);
