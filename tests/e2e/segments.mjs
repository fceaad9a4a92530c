#!/usr/bin/env node
// Segments in a real browser (issue 22): two visitors arrive on the SB Admin 2 pages from
// different referrers and campaigns (real Chromium, the real snippet), then the dashboard,
// filtered by one visitor's segment, shows only that visitor's numbers.
//
//   SIGHTLINE_URL=… SIGHTLINE_TOKEN=… SIGHTLINE_SITE=<key> PAGE_PORT=… node tests/e2e/segments.mjs
//
// 1. Visitor A comes from a newsletter (referrer http://mail.google.com/, utm email/spring,
//    language de-DE) and views index.html then charts.html; visitor B from a Google ad
//    (referrer http://www.google.com/, utm cpc/brand, language fr-FR) and views index.html,
//    tables.html and cards.html.
// 2. Once rolled up, /segments lists each visitor's channel, campaign and language with one
//    session each.
// 3. The dashboard's Journeys view with `channel=email` in its link shows 1 session and A's
//    pages only (index.html and charts.html, one page view each), the filter bar showing the
//    filter; choosing campaign `brand` in the filter bar instead shows B's 1 session and 3
//    pages; the numbers equal the query API's for the same filters. Screenshots in
//    $E2E_ARTIFACTS/segments/ (default test-artifacts/segments/).
// 4. Problems split by channel lists both channels with one session each.
// Prints `segments e2e: N passed, 0 failed` and exits 0 on success.
import fs from 'node:fs';
import path from 'node:path';
import { launchChromium } from './browser.mjs';
import { startPageServer } from './pageserver.mjs';
import { api, SL } from './sightline-api.mjs';
import { apiRange, dashRange } from './days.mjs';

const SITE = process.env.SIGHTLINE_SITE || '';
const TOKEN = process.env.SIGHTLINE_TOKEN || '';
const PAGE_PORT = +(process.env.PAGE_PORT || 18081);
const ORIGIN = `http://127.0.0.1:${PAGE_PORT}`;
const SHOTS = path.join(process.env.E2E_ARTIFACTS || 'test-artifacts', 'segments');
const key = (p) => `127.0.0.1:${PAGE_PORT}/${p}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const checks = { passed: 0, failed: [] };
function check(name, ok, detail) {
  if (ok) checks.passed++;
  else checks.failed.push(detail ? `${name}: ${detail}` : name);
}
function same(name, actual, expected) {
  const a = JSON.stringify(actual), e = JSON.stringify(expected);
  check(name, a === e, `\n    expected ${e}\n    shown    ${a}`);
}

// Yesterday to the day after tomorrow: a run that crosses midnight keeps every event.
const RANGE = apiRange(), DASH = dashRange();

let sentEvents = 0; // events the snippet sent, from the pages' requests

async function visit(browser, { locale, referer, query, pages }) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale });
  const page = await ctx.newPage();
  page.on('request', (req) => {
    if (!req.url().startsWith(`${SL}/v1/events`) || req.method() !== 'POST') return;
    try { sentEvents += JSON.parse(req.postData()).events.length; } catch { /* not ours */ }
  });
  await page.goto(`${ORIGIN}/${pages[0]}?${query}`, { waitUntil: 'load', referer });
  await page.waitForFunction(() => window.sightline && window.sightline.flush, null, { timeout: 10_000 });
  for (const p of pages.slice(1)) {
    await sleep(300);
    check(`batches delivered before ${p}`, (await page.evaluate(() => window.sightline.flush())) === true);
    await page.goto(`${ORIGIN}/${p}`, { waitUntil: 'load', referer: page.url() });
    await page.waitForFunction(() => window.sightline && window.sightline.flush, null, { timeout: 10_000 });
  }
  await sleep(300);
  check('every batch delivered', (await page.evaluate(() => window.sightline.flush())) === true);
  // Leaving the page sends what is still queued (pagehide), as a visitor's last page does.
  await page.goto('about:blank');
  await sleep(500);
  await ctx.close();
}

/** Wait until the warehouse holds every event the pages sent, then run the rollups until a
 * pass finds nothing to do (the server's own job runs too); returns `/segments`. */
async function settled() {
  // Page hides send their last events by beacon: wait until the count holds still for 1.5 s.
  let last = -1;
  for (let same = 0, i = 0; i < 300 && !(same >= 5 && last >= sentEvents); i++) {
    const n = (await api('GET', `/v1/sites/${SITE}/stats`)).json.events;
    same = n === last ? same + 1 : 0;
    last = n;
    await sleep(300);
  }
  for (let idle = 0, i = 0; idle < 2 && i < 100; i++) {
    const r = await api('POST', '/v1/admin/rollup/run');
    idle = r.json && r.json.sessions === 0 ? idle + 1 : 0;
    await sleep(200);
  }
  return (await api('GET', `/v1/sites/${SITE}/segments?${RANGE}`)).json;
}
/** `[value, sessions]` of a `/segments` list. */
const pairs = (list) => list.map((v) => [v.value, v.sessions]);

const q = (path, extra) => api('GET', `/v1/sites/${SITE}/${path}${path.includes('?') ? '&' : '?'}${RANGE}${extra ? '&' + extra : ''}`).then((r) => r.json);

/** What the Journeys view shows: KPI sessions and the entry/exit tables' pages. */
async function shown(page) {
  await page.waitForFunction(() => document.body.dataset.state === 'ready' && document.body.dataset.view === 'journeys', null, { timeout: 20_000 });
  return page.evaluate(() => ({
    sessions: document.querySelector('[data-kpi=sessions]').textContent,
    channel: document.getElementById('f-channel').value,
    campaign: document.getElementById('f-utm_campaign').value,
    entries: [...document.querySelectorAll('[data-table=journeys-entries] tbody tr')].map((tr) => tr.cells[0].textContent),
  }));
}

async function main() {
  fs.mkdirSync(SHOTS, { recursive: true });
  const pages = await startPageServer({ port: PAGE_PORT, sightlineUrl: SL, site: SITE });
  const browser = await launchChromium();
  try {
    await visit(browser, {
      locale: 'de-DE', referer: 'http://mail.google.com/mail/u/0/',
      query: 'utm_source=newsletter&utm_medium=email&utm_campaign=spring', pages: ['index.html', 'charts.html'],
    });
    await visit(browser, {
      locale: 'fr-FR', referer: 'http://www.google.com/',
      query: 'utm_source=google&utm_medium=cpc&utm_campaign=brand', pages: ['index.html', 'tables.html', 'cards.html'],
    });
    const seg = await settled();
    check('events reached the warehouse', sentEvents > 0);
    same('channels of the two visitors', pairs(seg.dimensions.channel), [['email', 1], ['paid', 1]]);
    same('campaigns', pairs(seg.dimensions.utm_campaign), [['brand', 1], ['spring', 1]]);
    same('languages', pairs(seg.dimensions.language), [['de-de', 1], ['fr-fr', 1]]);
    same('referrers', pairs(seg.dimensions.referrer), [['google.com', 1], ['mail.google.com', 1]]);

    // The API by hand: A's pages with channel=email, B's with utm_campaign=brand.
    const pagesOf = (r) => r.pages.map((p) => [p.page, p.pageviews]);
    same('API pages, channel=email', pagesOf(await q('pages', 'channel=email')), [[key('charts.html'), 1], [key('index.html'), 1]]);
    same('API pages, utm_campaign=brand', pagesOf(await q('pages', 'utm_campaign=brand')),
      [[key('cards.html'), 1], [key('index.html'), 1], [key('tables.html'), 1]]);
    same('API journeys, unfiltered', (await q('journeys')).sessions, 2);

    const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await ctx.newPage();
    await page.goto(`${SL}/dashboard/#/journeys?site=${SITE}&${DASH}&channel=email`);
    await page.fill('#token', TOKEN);
    await page.click('#signin-form button[type=submit]');
    let s = await shown(page);
    const apiA = await q('journeys', 'channel=email');
    same('dashboard, channel=email: sessions', s.sessions, String(apiA.sessions));
    same('dashboard, channel=email: one session', apiA.sessions, 1);
    same('dashboard, channel=email: the filter bar', [s.channel, s.campaign], ['email', '']);
    same('dashboard, channel=email: entry page', s.entries, [key('index.html')]);
    const pageKeys = await page.evaluate(() => [...document.querySelectorAll('code')].map((c) => c.textContent));
    check('dashboard, channel=email: no page of B', !pageKeys.some((k) => k.endsWith('tables.html') || k.endsWith('cards.html')), pageKeys.join(' '));
    check('dashboard, channel=email: A\'s second page', pageKeys.some((k) => k.endsWith('charts.html')), pageKeys.join(' '));
    await sleep(900); // chart animations
    await page.screenshot({ path: path.join(SHOTS, 'journeys-channel-email.png'), fullPage: true });

    // The filter bar: clear the channel, pick campaign "brand".
    const stale = () => page.evaluate(() => document.body.setAttribute('data-state', 'navigating'));
    await stale();
    await page.selectOption('#f-channel', '');
    await page.waitForFunction(() => !location.hash.includes('channel=') && document.body.dataset.state === 'ready');
    s = await shown(page);
    same('dashboard, no segment: sessions', s.sessions, '2');
    await stale();
    await page.selectOption('#f-utm_campaign', 'brand');
    await page.waitForFunction(() => location.hash.includes('utm_campaign=brand'));
    s = await shown(page);
    same('dashboard, utm_campaign=brand: sessions', s.sessions, String((await q('journeys', 'utm_campaign=brand')).sessions));
    same('dashboard, utm_campaign=brand: the filter bar', [s.channel, s.campaign], ['', 'brand']);
    const keysB = await page.evaluate(() => [...document.querySelectorAll('code')].map((c) => c.textContent));
    check('dashboard, utm_campaign=brand: no page of A', !keysB.some((k) => k.endsWith('charts.html')), keysB.join(' '));
    await sleep(900); // chart animations
    await page.screenshot({ path: path.join(SHOTS, 'journeys-campaign-brand.png'), fullPage: true });

    // Problems split by channel.
    await stale();
    await page.goto(`${SL}/dashboard/#/problems?site=${SITE}&${DASH}&split=channel`);
    await page.waitForFunction(() => document.body.dataset.state === 'ready' && document.body.dataset.view === 'problems', null, { timeout: 20_000 });
    const rows = await page.$$eval('[data-table=problems-split] tbody tr', (trs) => trs.map((r) => [r.cells[0].textContent, r.cells[1].textContent]));
    same('problems split by channel', rows, [['email', '1'], ['paid', '1']]);
    await sleep(900); // chart animations
    await page.screenshot({ path: path.join(SHOTS, 'problems-split-channel.png'), fullPage: true });
    await ctx.close();
  } finally {
    await browser.close();
    await pages.close();
  }
  console.log(`segments e2e: ${checks.passed} passed, ${checks.failed.length} failed`);
  for (const f of checks.failed) console.log(`  FAILED ${f}`);
  process.exit(checks.failed.length ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
