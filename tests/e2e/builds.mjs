#!/usr/bin/env node
// Stable element identity across builds (issue 21) in a real browser: real Chromium, the
// real snippet, the SB Admin 2 dashboard page, a running Sightline server.
//
//   SIGHTLINE_URL=… SIGHTLINE_TOKEN=… SIGHTLINE_SITE=<write key> PAGE_PORT=… node tests/e2e/builds.mjs
//
// Two "builds" of index.html are served (a proxy on PAGE_PORT rewrites the page on its way
// to the browser):
// each gives the "Generate Report" button a CSS-module class with its own generated hash
// (`Report_cta__Ab3dE`, then `Report_cta__x9Q2b`), as a bundler does on every build. The
// button is clicked once in each build. The snippet sends two different selectors; the
// heatmap of the page must list ONE element for the button, with 2 clicks, whose selector
// (`[class*="Report_cta__"]` in place of the hashed class) still finds the button in either
// build, as the overlay resolves it.
//
// Layout versions (issue 21): both builds send the same layout version (classes are not
// part of the skeleton), and the element shows its visible text. Then two more variants mark
// two cards as zones (`monthly`, `annual`) and put an "Export" button in the first (A) or the
// second (B): a moved element gives two more layout versions, `/layouts` lists them, and
// `/heatmap?layout=` of each gives that version's clicks (A: 1 on #export in monthly, B: 2
// in annual; the builds' version: the report button, no #export).
// Prints `builds e2e: N passed, 0 failed` and exits 0 on success.
import http from 'node:http';
import { desktopUserAgent, launchChromium } from './browser.mjs';
import { startPageServer } from './pageserver.mjs';
import { SL, TOKEN, api } from './sightline-api.mjs';

const SITE = process.env.SIGHTLINE_SITE || '';
const PAGE_PORT = +(process.env.PAGE_PORT || 18081);
const ORIGIN = `http://127.0.0.1:${PAGE_PORT}`;
const PAGE = 'index.html';
const PAGE_KEY = `127.0.0.1:${PAGE_PORT}/${PAGE}`;
const BUTTON_CLASS = 'class="d-none d-sm-inline-block btn btn-sm btn-primary shadow-sm"';
const BUILDS = ['Ab3dE', 'x9Q2b'];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const checks = { passed: 0, failed: [] };
function check(name, ok, detail) {
  if (ok) checks.passed++;
  else checks.failed.push(detail ? `${name}: ${detail}` : name);
}

/** The build the proxy serves: the hash of the button's CSS-module class. */
let build = '';
/** '' (the page as is), or 'A' / 'B': two cards are zones and the Export button is in the
 * first (A) or the second (B). */
let moved = '';
const MONTHLY = '<div class="card border-left-primary shadow h-100 py-2">';
const ANNUAL = '<div class="card border-left-success shadow h-100 py-2">';
const EXPORT = '<button id="export" type="button" class="btn btn-sm btn-light">Export</button>';
function move(html) {
  if (!moved) return html;
  return html
    .replace(MONTHLY, MONTHLY.replace('>', ' data-sl-zone="monthly">') + (moved === 'A' ? EXPORT : ''))
    .replace(ANNUAL, ANNUAL.replace('>', ' data-sl-zone="annual">') + (moved === 'B' ? EXPORT : ''));
}

/** A proxy on PAGE_PORT in front of the page server: serves `index.html` as build `build`
 * (the button gets the class `Report_cta__<build>` first), everything else unchanged. Served
 * from 127.0.0.1 like the pages themselves, so the snippet loads as on any page. */
function startBuildProxy(target) {
  const server = http.createServer((req, res) => {
    http.get(target + req.url, (up) => {
      const chunks = [];
      up.on('data', (c) => chunks.push(c));
      up.on('end', () => {
        let body = Buffer.concat(chunks);
        const headers = { ...up.headers };
        delete headers['content-length'];
        if (req.url.split('?')[0] === `/${PAGE}`) {
          const html = body.toString('utf8');
          rewrites.push(html.includes(BUTTON_CLASS) && (!moved || (html.includes(MONTHLY) && html.includes(ANNUAL))));
          body = Buffer.from(move(html).replace(BUTTON_CLASS, `class="Report_cta__${build} d-none d-sm-inline-block btn btn-sm btn-primary shadow-sm"`), 'utf8');
        }
        res.writeHead(up.statusCode, headers);
        res.end(body);
      });
    }).on('error', (e) => { res.writeHead(502); res.end(String(e)); });
  });
  return new Promise((resolve) => server.listen(PAGE_PORT, '127.0.0.1', () => resolve({
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  })));
}
const rewrites = [];

/** Open build `hash` of the page. */
async function openBuild(browser, ua, hash, sent) {
  build = hash;
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 }, userAgent: ua, locale: 'en-US' });
  const page = await ctx.newPage();
  page.on('request', (req) => {
    if (!req.url().startsWith(`${SL}/v1/events`) || req.method() !== 'POST') return;
    try { sent.push(...JSON.parse(req.postData()).events); } catch { /* not ours */ }
  });
  await page.goto(`${ORIGIN}/${PAGE}`, { waitUntil: 'load' });
  await page.waitForFunction(() => window.sightline && window.sightline._selector, null, { timeout: 10_000 });
  check(`build ${hash}: the page has the button to rewrite`, rewrites[rewrites.length - 1] === true);
  return { ctx, page };
}

async function main() {
  if (!TOKEN || !SITE) throw new Error('SIGHTLINE_TOKEN and SIGHTLINE_SITE must be set');
  const pages = await startPageServer({ port: 0, sightlineUrl: SL, site: SITE });
  const proxy = await startBuildProxy(`http://127.0.0.1:${pages.server.address().port}`);
  const ua = desktopUserAgent();
  const browser = await launchChromium(ua);
  const sent = [];
  const selectors = [];
  let found;
  try {
    for (const hash of BUILDS) {
      const { ctx, page } = await openBuild(browser, ua, hash, sent);
      const button = page.locator(`a.Report_cta__${hash}`);
      selectors.push(await button.evaluate((el) => window.sightline._selector(el)));
      await button.click();
      await sleep(200);
      check(`build ${hash}: every batch delivered`, (await page.evaluate(() => window.sightline.flush())) === true);
      await ctx.close();
    }
    // The heatmap's selector finds the button in a build (the overlay resolves selectors
    // with the snippet's query()).
    const until = Date.now() + 60_000;
    let elements = [];
    for (;;) {
      await api('POST', '/v1/admin/rollup/run').catch(() => null);
      const h = await api('GET', `/v1/sites/${SITE}/heatmap?url=${encodeURIComponent(PAGE_KEY)}`);
      elements = (h.json?.elements || []).filter((e) => e.selector.includes('Report_cta'));
      if ((elements.length === 1 && elements[0].clicks === 2) || Date.now() > until) break;
      await sleep(500);
    }
    const sentSelectors = sent.filter((e) => e.type === 'click').map((e) => e.selector);
    check('the snippet sent one click per build', sentSelectors.length === 2, JSON.stringify(sentSelectors));
    check('the two builds give the snippet two different selectors', selectors.length === 2 && selectors[0] !== selectors[1]
      && selectors.every((s, i) => s.includes(`Report_cta__${BUILDS[i]}`)), JSON.stringify(selectors));
    check('the heatmap lists one element for the button, with 2 clicks', elements.length === 1 && elements[0].clicks === 2, JSON.stringify(elements));
    const shown = elements[0]?.selector || '';
    check('the element\'s selector names the class by its stable prefix', shown.includes('[class*="Report_cta__"]') && !/Report_cta__[A-Za-z0-9]/.test(shown), shown);
    const { ctx, page } = await openBuild(browser, ua, 'Zz7Yy', []);
    found = await page.evaluate((sel) => window.sightline._query(sel).map((el) => el.textContent.trim()), shown);
    await ctx.close();
    check('the selector finds the button in a third build', found.length === 1 && found[0] === 'Generate Report', JSON.stringify(found));
    console.log(`builds e2e: sent ${JSON.stringify(selectors)} → shown ${JSON.stringify(shown)} (clicks ${elements[0]?.clicks})`);

    // Layout versions: the class builds are one version; the element shows its text.
    const base = sent.filter((e) => e.type === 'pageview').map((e) => e.layout);
    check('both builds send one layout version (8 hex digits)', base.length === 2 && /^[0-9a-f]{8}$/.test(base[0]) && base[0] === base[1], JSON.stringify(base));
    check('the heatmap shows the button\'s visible text', elements[0]?.text === 'Generate Report', JSON.stringify(elements[0]));
    // The Export button in the monthly card (A, clicked once), then in the annual card (B, twice).
    const movedSent = [];
    for (const [variant, clicks] of [['A', 1], ['B', 2]]) {
      moved = variant;
      const { ctx, page } = await openBuild(browser, ua, BUILDS[0], movedSent);
      for (let i = 0; i < clicks; i++) { await page.click('#export'); await sleep(1200); }
      check(`variant ${variant}: every batch delivered`, (await page.evaluate(() => window.sightline.flush())) === true);
      await ctx.close();
    }
    moved = '';
    const [la, lb] = movedSent.filter((e) => e.type === 'pageview').map((e) => e.layout);
    check('a moved button gives two more layout versions', /^[0-9a-f]{8}$/.test(la || '') && /^[0-9a-f]{8}$/.test(lb || '') && new Set([base[0], la, lb]).size === 3, JSON.stringify([base[0], la, lb]));
    const exportIn = async (layout) => {
      const h = await api('GET', `/v1/sites/${SITE}/heatmap?url=${encodeURIComponent(PAGE_KEY)}&layout=${layout}`);
      return (h.json?.elements || []).filter((e) => e.selector === '#export').map((e) => [e.zone, e.clicks, e.text]);
    };
    let versions = [], inA = [], inB = [];
    for (const until = Date.now() + 60_000; ;) {
      await api('POST', '/v1/admin/rollup/run').catch(() => null);
      versions = ((await api('GET', `/v1/sites/${SITE}/layouts?url=${encodeURIComponent(PAGE_KEY)}`)).json?.layouts || []).map((v) => v.layout);
      inA = await exportIn(la);
      inB = await exportIn(lb);
      if ((versions.length === 3 && inA.length && inB[0]?.[1] === 2) || Date.now() > until) break;
      await sleep(500);
    }
    check('/layouts lists the three versions', JSON.stringify([...versions].sort()) === JSON.stringify([base[0], la, lb].sort()), JSON.stringify(versions));
    check('heatmap of version A: Export clicked once in the monthly card', JSON.stringify(inA) === JSON.stringify([['monthly', 1, 'Export']]), JSON.stringify(inA));
    check('heatmap of version B: Export clicked twice in the annual card', JSON.stringify(inB) === JSON.stringify([['annual', 2, 'Export']]), JSON.stringify(inB));
    const inBase = await api('GET', `/v1/sites/${SITE}/heatmap?url=${encodeURIComponent(PAGE_KEY)}&layout=${base[0]}`);
    const baseEls = (inBase.json?.elements || []).map((e) => [e.selector.includes('Report_cta') ? 'report' : e.selector, e.clicks]);
    check('heatmap of the builds\' version: the report button alone', JSON.stringify(baseEls) === JSON.stringify([['report', 2]]), JSON.stringify(baseEls));
    console.log(`builds e2e: layout versions ${JSON.stringify({ builds: base[0], A: la, B: lb })}`);
  } finally {
    await browser.close();
    await proxy.close();
    await pages.close();
  }
  for (const d of checks.failed) console.log('  FAIL ' + d);
  console.log(`builds e2e: ${checks.passed} passed, ${checks.failed.length} failed`);
  return checks.failed.length ? 1 : 0;
}

main().then((code) => process.exit(code), (e) => {
  console.error(`builds e2e: ${e.stack || e.message}`);
  process.exit(1);
});
