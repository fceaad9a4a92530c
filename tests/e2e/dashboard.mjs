#!/usr/bin/env node
// The PM dashboard and the live overlay in a real browser (issue 8): real Chromium, the real
// dashboard served by Sightline, the real snippet on the real SB Admin 2 pages.
//
//   SIGHTLINE_URL=… SIGHTLINE_TOKEN=… SIGHTLINE_SITE=<key> PAGE_PORT=… HOT_SELECTOR=… \
//   FROM=YYYY-MM-DD TO=YYYY-MM-DD FROM2=… TO2=… node tests/e2e/dashboard.mjs
//
// The site must hold seeded data (tests/dashboard.rs seeds it through POST /v1/events and
// waits for the rollups). The script checks:
// 1. without a token the dashboard shows only the sign-in, and the data calls it makes (a
//    wrong token too) are refused with 401;
// 2. each view (problems, heatmap + compare, journeys + funnel, VoC + search, sessions) shows
//    exactly the numbers the query API gives for the same filters (read from the page's
//    tables, KPIs and chart options); a screenshot of each view goes to
//    $E2E_ARTIFACTS/dashboard/ (default test-artifacts/dashboard/);
// 3. issue 18: the range defaults to the API's (30 days); the heatmap opens the busiest page
//    (the first of /pages) and lists the pages in /pages order, framed at the device's width, its panel showing the inclusive last day; no sunburst labels
//    overlap; no legend overlaps its chart's axes; the NPS distribution has all 11 answers,
//    coloured by class; the funnel steps input fills its row; at 400 px wide no table runs off
//    the screen (they scroll in their card); a session's path is shown in order, as /sessions
//    gives it (`path`);
// 4. issue 22: every sessions-list row links to its session's timeline; s2's, opened from the
//    list, shows its events in order (offset, page, what, rage/dead flags; page views with
//    time on page, scroll depth and zones seen) as computed by hand, and matches
//    /sessions/{id} (screenshot session-timeline.png);
// 5. the overlay link opened on the live page (and the page framed in the heatmap view) draws
//    the heatmap, and its hottest element is HOT_SELECTOR, drawn over that element; the
//    overlay viewer sends no events.
// Prints `dashboard e2e: N passed, 0 failed` and exits 0 on success.
import fs from 'node:fs';
import path from 'node:path';
import { chromiumMajor, desktopUserAgent, launchChromium } from './browser.mjs';
import { startPageServer } from './pageserver.mjs';

const SL = (process.env.SIGHTLINE_URL || 'http://127.0.0.1:18080').replace(/\/$/, '');
const TOKEN = process.env.SIGHTLINE_TOKEN || '';
const SITE = process.env.SIGHTLINE_SITE || '';
const PAGE_PORT = +(process.env.PAGE_PORT || 18081);
const ORIGIN = `http://127.0.0.1:${PAGE_PORT}`;
const HOT = process.env.HOT_SELECTOR || '';
const { FROM, TO, FROM2, TO2 } = process.env;
const SHOTS = path.join(process.env.E2E_ARTIFACTS || 'test-artifacts', 'dashboard');
const PAGE_KEY = `127.0.0.1:${PAGE_PORT}/index.html`;
const pageKey = (p) => `127.0.0.1:${PAGE_PORT}/${p}`;
const STEPS = `${PAGE_KEY},${pageKey('charts.html')},event:signup`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();

const checks = { passed: 0, failed: [] };
function check(name, ok, detail) {
  if (ok) checks.passed++;
  else checks.failed.push(detail ? `${name}: ${detail}` : name);
}
function same(name, actual, expected) {
  const a = JSON.stringify(actual), e = JSON.stringify(expected);
  check(name, a === e, `\n    expected ${e}\n    shown    ${a}`);
}

function addDay(s, n) { const d = new Date(s + 'T00:00:00Z'); d.setUTCDate(d.getUTCDate() + n); return d.toISOString().slice(0, 10); }
/** The query API with the token, for the dashboard's filters (`to` inclusive → exclusive);
 * a parameter given as undefined is left out (the API's default). */
async function api(p, params = {}, init = {}) {
  const all = { from: FROM, to: addDay(TO, 1), ...params };
  const q = new URLSearchParams(Object.entries(all).filter(([, v]) => v !== undefined));
  const r = await fetch(`${SL}/v1/sites/${SITE}${p}?${q}`, { ...init, headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' } });
  if (!r.ok) throw new Error(`${p}: ${r.status} ${await r.text()}`);
  return r.json();
}
/** The site's time zone as the API gives it (`settings.rules.time_zone`, UTC by default):
 * the dashboard shows times in it and names it in the column. */
async function siteZone() {
  const site = await api('', { from: undefined, to: undefined });
  return (site.settings && site.settings.rules && site.settings.rules.time_zone) || 'UTC';
}
/** `ms` as `YYYY-MM-DD HH:MM:SS` (24-hour clock) in time zone `tz`. */
function zoneTime(ms, tz) {
  const p = {};
  new Intl.DateTimeFormat('en-CA', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit' }).formatToParts(new Date(ms)).forEach((x) => { p[x.type] = x.value; });
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}
/** The header cells of a table. */
async function headers(page, name) {
  return page.$$eval(`[data-table="${name}"] thead th`, (ths) => ths.map((th) => th.textContent));
}
// Expected rendering of API values (written here independently of the dashboard's code).
const n = (v) => (v === null || v === undefined ? '–' : Number.isInteger(v) ? String(v) : v.toFixed(1));
const pct = (v) => (v === null || v === undefined ? '–' : (v * 100).toFixed(1) + ' %');
const s = (v) => (v === null || v === undefined ? '–' : String(v));
/** A sessions row's elements: those with rage or dead clicks (else all), “text” selector each. */
const sessionElements = (els) => {
  const bad = els.filter((e) => e.rage_clicks + e.dead_clicks > 0);
  const shown = bad.length ? bad : els;
  return shown.length ? shown.map((e) => (e.text ? `“${e.text}” ` : '') + e.selector).join(' · ') : '–';
};
const pick = (rows, fields) => rows.map((r) => Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, f(r[k], r)])));

async function readTable(page, name) {
  return page.$$eval(`[data-table="${name}"] tbody tr`, (trs) => trs.map((tr) => {
    const o = {};
    tr.querySelectorAll('td[data-f]').forEach((td) => { o[td.dataset.f] = td.textContent; });
    return o;
  }));
}
async function kpis(page, scope = 'body') {
  return page.$$eval(`${scope} [data-kpi]`, (els) => Object.fromEntries(els.map((e) => [e.dataset.kpi, e.textContent])));
}
/** Series data of the chart whose first series has this id. */
async function chartData(page, id) {
  return page.evaluate((id) => {
    for (const div of document.querySelectorAll('.chart')) {
      const c = window.echarts.getInstanceByDom(div);
      const se = c && c.getOption().series;
      if (se && se[0] && se[0].id === id) return { data: se[0].data, links: se[0].links };
    }
    return null;
  }, id);
}
/** Runs `fn(chart, option)` in the page for the chart whose first series has this id. */
async function onChart(page, id, fn, arg) {
  return page.evaluate(({ id, fn, arg }) => {
    const f = new Function(`return (${fn})`)();
    for (const div of document.querySelectorAll('.chart')) {
      const c = window.echarts.getInstanceByDom(div);
      const se = c && c.getOption().series;
      if (se && se[0] && se[0].id === id) return f(c, c.getOption(), arg);
    }
    return null;
  }, { id, fn: fn.toString(), arg });
}
/** The corners of each visible label of a chart (the drawn text spans, in px, rotation included). */
function labelCorners(c) {
  return c.getZr().storage.getDisplayList(true)
    .filter((el) => el.type === 'tspan' && !el.ignore && !el.invisible && el.style && el.style.text && el.style.opacity !== 0)
    .map((el) => {
      const r = el.getBoundingRect(), m = el.getComputedTransform() || [1, 0, 0, 1, 0, 0];
      const pts = [[r.x, r.y], [r.x + r.width, r.y], [r.x + r.width, r.y + r.height], [r.x, r.y + r.height]];
      return { text: el.style.text, corners: pts.map(([x, y]) => [m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5]]) };
    });
}
/** Whether two convex polygons overlap (separating axis test; touching edges do not count). */
function overlap(a, b) {
  for (const poly of [a, b]) {
    for (let i = 0; i < poly.length; i++) {
      const [x1, y1] = poly[i], [x2, y2] = poly[(i + 1) % poly.length];
      const nx = y2 - y1, ny = x1 - x2;
      const proj = (p) => p.map(([x, y]) => x * nx + y * ny);
      const pa = proj(a), pb = proj(b), eps = 1e-6 * Math.hypot(nx, ny);
      if (Math.max(...pa) <= Math.min(...pb) + eps || Math.max(...pb) <= Math.min(...pa) + eps) return false;
    }
  }
  return true;
}
function overlappingLabels(labels) {
  const out = [];
  for (let i = 0; i < labels.length; i++) for (let j = i + 1; j < labels.length; j++) {
    if (overlap(labels[i].corners, labels[j].corners)) out.push(`${labels[i].text} × ${labels[j].text}`);
  }
  return out;
}
/** Every chart with a legend: its legend box and the boxes it must not touch (the plot area
 * and each axis with its labels), px in the chart. */
async function legendBoxes(page) {
  return page.evaluate(() => {
    const box = (r) => ({ x: r.x, y: r.y, w: r.width, h: r.height });
    const viewBox = (c, model) => {
      const view = c.getViewOfComponentModel(model);
      const r = view.group.getBoundingRect().clone();
      const m = view.group.getComputedTransform();
      if (m) r.applyTransform(m);
      return box(r);
    };
    const out = [];
    for (const div of document.querySelectorAll('.chart')) {
      const c = window.echarts.getInstanceByDom(div), model = c && c.getModel();
      const legend = model && model.getComponent('legend');
      if (!legend) continue;
      const grid = model.getComponent('grid');
      out.push({
        series: c.getOption().series.map((s) => s.name),
        legend: viewBox(c, legend),
        avoid: [box(grid.coordinateSystem.getRect()), viewBox(c, model.getComponent('xAxis')), viewBox(c, model.getComponent('yAxis'))],
      });
    }
    return out;
  });
}
const intersects = (a, b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
function legendClashes(charts) {
  return charts.filter((c) => c.avoid.some((b) => intersects(c.legend, b))).map((c) => JSON.stringify(c));
}
/** A dashboard link (a parameter given as undefined is left out). */
function hashFor(view, extra = {}) {
  const q = new URLSearchParams(Object.entries({ site: SITE, from: FROM, to: TO, ...extra }).filter(([, v]) => v !== undefined));
  return `${SL}/dashboard/#/${view}?${q}`;
}
async function open(page, view, extra, waitFor) {
  // Mark the shown view stale, so that only the new one's readiness counts (unless it is the same).
  const url = hashFor(view, extra);
  if (page.url() !== url) await page.evaluate(() => document.body.setAttribute('data-state', 'navigating'));
  await page.goto(url);
  await page.waitForFunction((v) => document.body.dataset.state === 'ready' && document.body.dataset.view === v, view, { timeout: 20_000 });
  if (waitFor) await page.waitForSelector(waitFor, { timeout: 20_000 });
}
async function shot(page, name) {
  await sleep(900); // chart animations
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

// ---- 1. without a token ----
async function noToken(browser) {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await ctx.newPage();
  const calls = [];
  page.on('response', (r) => { if (new URL(r.url()).pathname.startsWith('/v1/')) calls.push([new URL(r.url()).pathname, r.status()]); });
  await page.goto(hashFor('problems'));
  await page.waitForFunction(() => document.body.dataset.state === 'signin');
  check('no token: the sign-in is shown', await page.isVisible('#signin'));
  check('no token: the views and filters are hidden', !(await page.isVisible('#top')) && (await page.$$('[data-table]')).length === 0);
  same('no token: no data call is made', calls, []);
  // A wrong token: the API refuses it and the dashboard goes back to the sign-in.
  await page.fill('#token', 'not-the-token');
  await page.click('#signin-form button[type=submit]');
  await page.waitForFunction(() => document.body.dataset.state === 'signin' && document.getElementById('signin-error').textContent.includes('401'));
  check('wrong token: every data call was refused with 401', calls.length > 0 && calls.every(([, st]) => st === 401), JSON.stringify(calls));
  check('wrong token: no data is shown', (await page.$$('[data-table]')).length === 0);
  await page.screenshot({ path: path.join(SHOTS, 'signin.png') });
  // Straight from the page, without the token: every data call the views make is refused.
  const refused = await page.evaluate(async ({ site, key }) => {
    const paths = ['/v1/sites', `/v1/sites/${site}/problems`, `/v1/sites/${site}/heatmap?url=${key}`, `/v1/sites/${site}/zones?url=${key}`,
      `/v1/sites/${site}/pages`, `/v1/sites/${site}/journeys`, `/v1/sites/${site}/funnel?steps=${key}`, `/v1/sites/${site}/voc`, `/v1/sites/${site}/sessions`];
    const out = [];
    for (const p of paths) out.push((await fetch(p)).status);
    out.push((await fetch(`/v1/sites/${site}/overlay`, { method: 'POST', body: JSON.stringify({ url: location.origin }) })).status);
    return out;
  }, { site: SITE, key: PAGE_KEY });
  same('no token: the data endpoints answer 401', refused, refused.map(() => 401));
  await ctx.close();
}

// ---- 2. the views ----
async function views(browser) {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // The framed SB Admin page's own CDN fonts do not resolve here: only the dashboard's errors count.
  page.on('console', (m) => { if (m.type() === 'error' && (m.location().url || '').startsWith(SL)) errors.push(m.text()); });
  await page.goto(hashFor('problems'));
  await page.fill('#token', TOKEN);
  await page.click('#signin-form button[type=submit]');
  await page.waitForFunction(() => document.body.dataset.state === 'ready' && document.body.dataset.view === 'problems');

  // Problems (the first view).
  const p = await api('/problems', { limit: 50 });
  same('problems: KPI sessions', (await kpis(page)).sessions, n(p.sessions));
  same('problems: pages', await readTable(page, 'problems-pages'),
    pick(p.pages, { page: s, rage_clicks: n, dead_clicks: n, quick_backs: n, sessions: n, score: n, regression: (v) => (v ? `new since ${v.since}` : '–') }));
  same('problems: elements', await readTable(page, 'problems-elements'),
    pick(p.elements, { selector: s, text: s, page: s, zone: s, rage_clicks: n, dead_clicks: n, sessions: n, score: n }));
  check('problems: the seeded elements show their visible text (issue 21)', p.elements.some((e) => e.text), JSON.stringify(p.elements.map((e) => e.text)));
  check('problems: seeded data has a problem element', p.elements.length > 0);
  // The site has a goal: the view ranks the signals by lost conversions (issue 21), one
  // plain-language line each, as /problems?sort=impact gives them.
  const pi = await api('/problems', { limit: 50, sort: 'impact' });
  check('problems: the seeded site has impact lines', (pi.impact || []).length > 0, JSON.stringify(pi.impact));
  same('problems: impact lines, most lost conversions first', await readTable(page, 'problems-impact'),
    pick(pi.impact || [], { summary: s, text: (v, r) => (r.selector ? (v ? `“${v}” ` : '') + r.selector : '–'), sessions_with: n, conversion_with_pct: s, conversion_without_pct: s, lost_conversions: s }));
  check('problems: an impact line reads as a sentence', /^Sessions with .+( convert |: \d+ with, \d+ without)/.test((pi.impact || [])[0]?.summary || ''), (pi.impact || [])[0]?.summary);
  await shot(page, 'problems');
  // The worked example of analytics.md on a site of its own: the first line is the
  // significant one, as the docs compute it by hand.
  await open(page, 'problems', { site: 'impact' }, '[data-table="problems-impact"]');
  const exq = new URLSearchParams({ from: FROM, to: addDay(TO, 1), limit: 50, sort: 'impact' });
  const ex = await (await fetch(`${SL}/v1/sites/impact/problems?${exq}`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json();
  same('problems (impact example): the lines, as the API gives them', (await readTable(page, 'problems-impact')).map((r) => r.summary), ex.impact.map((x) => x.summary));
  same('problems (impact example): the first line', (await readTable(page, 'problems-impact'))[0]?.summary,
    'Sessions with rage clicks on #pay convert 20 points less (±19.1); about 8 lost conversions in this range');
  await shot(page, 'problems-impact');
  await open(page, 'problems');
  // A row's sessions link opens the sessions behind it.
  const el0 = p.elements[0];
  await page.click('[data-table="problems-elements"] tbody tr:first-child a.pill:has-text("sessions")');
  await page.waitForFunction(() => document.body.dataset.state === 'ready' && document.body.dataset.view === 'sessions');
  const behind = await api('/sessions', { page: el0.page, element: el0.selector, limit: 50 });
  same('problems → sessions: the sessions behind the row', (await readTable(page, 'sessions')).map((r) => r.session), behind.sessions.map((x) => x.session));
  same('problems → sessions: total', (await kpis(page)).total, n(behind.total));

  // A link without a range: the last 30 days, the query API's default, with its numbers.
  const today = new Date().toISOString().slice(0, 10);
  await open(page, 'problems', { from: undefined, to: undefined });
  same('default range: the last 30 days, as the API', [await page.inputValue('#f-from'), await page.inputValue('#f-to')], [addDay(today, -29), today]);
  const pd = await api('/problems', { from: undefined, to: undefined, limit: 50 });
  same('default range: the API\'s numbers', [(await kpis(page)).sessions, (await readTable(page, 'problems-pages')).map((r) => r.page)],
    [n(pd.sessions), pd.pages.map((x) => x.page)]);

  // Heatmap without a page: the busiest page, the first of /pages (page views descending).
  const pg = (await api('/pages')).pages;
  const pvs = pg.map((x) => x.pageviews);
  check('/pages: busiest first', pvs.every((v, i) => i === 0 || pvs[i - 1] >= v), JSON.stringify(pg));
  check('heatmap: the seed has one busiest page, not the alphabetically first',
    pg.length > 1 && pg[0].pageviews > pg[1].pageviews && pg.map((x) => x.page).sort()[0] !== pg[0].page, JSON.stringify(pg));
  same('/pages: the busiest page\'s page views, as /heatmap counts them', (await api('/heatmap', { url: pg[0].page })).pageviews, pg[0].pageviews);
  await open(page, 'heatmap', {}, '#hm-frame');
  await page.waitForFunction(() => location.hash.includes('url=') && document.body.dataset.state === 'ready');
  same('heatmap: opens the busiest page', new URLSearchParams(await page.evaluate(() => location.hash.split('?')[1])).get('url'), pg[0].page);
  same('heatmap: the page list in /pages order', await page.$$eval('#hm-pages option', (os) => os.map((o) => o.value)), pg.map((x) => x.page));

  // Heatmap: numbers, the framed page with the overlay, zones, scroll map.
  await open(page, 'heatmap', { url: PAGE_KEY }, '[data-table="heatmap-elements"]');
  const hm = await api('/heatmap', { url: PAGE_KEY });
  const z = await api('/zones', { url: PAGE_KEY });
  const k = await kpis(page);
  same('heatmap: KPIs', [k.pageviews, k.clicks, k.quick_backs, k.fold], [n(hm.pageviews), n(hm.clicks), n(hm.quick_backs), pct(hm.fold)]);
  same('heatmap: elements', await readTable(page, 'heatmap-elements'),
    pick(hm.elements, { selector: s, text: s, zone: s, clicks: n, rage_clicks: n, dead_clicks: n }));
  same('heatmap: scroll map', await readTable(page, 'heatmap-scroll'), pick(hm.scroll, { depth: n, pageviews: n }));
  // Issue 21: the page's layout versions (the seeded page views sent none, the snippet's send
  // one), as /layouts lists them, when there are two or more.
  const lv = await api('/layouts', { url: PAGE_KEY });
  if (lv.layouts.length >= 2) {
    same('heatmap: layout versions', await readTable(page, 'heatmap-layouts'),
      pick(lv.layouts, { layout: (v) => (v === null ? 'no version' : v), first_seen: s, last_seen: s, pageviews: n, clicks: n }));
  }
  const zoneRows = await readTable(page, 'heatmap-zones');
  same('heatmap: zones', zoneRows, pick(z.zones, { zone: s, exposure_rate: pct, click_rate: pct, attractiveness: pct, hover_ms: n, hesitation_ms: n, conversion_rate: pct }));
  const zoneTitle = await page.getAttribute('[data-table="heatmap-zones"] tbody tr', 'title');
  check('heatmap: zone metrics on hover (row title)', z.zones.length > 0 && zoneTitle.includes(`exposed ${z.zones[0].exposed} of ${z.pageviews} page views`), zoneTitle);
  check('heatmap: seeded zone present', z.zones.some((x) => x.zone === 'illustration'));
  const frame = await (await page.waitForSelector('#hm-frame')).contentFrame();
  await frame.waitForFunction(() => window.sightline && window.sightline._overlayState && window.sightline._overlayState.ready, null, { timeout: 20_000 });
  const inFrame = await frame.evaluate(() => { const st = window.sightline._overlayState; return { error: st.error, hottest: st.hottest && st.hottest.selector, boxes: st.boxes.length }; });
  same('heatmap frame: the overlay draws, hottest = the seeded target', [inFrame.error, inFrame.hottest], [null, HOT]);
  const panel = await frame.evaluate(() => document.querySelector('[data-sightline-widget="overlay"]').shadowRoot.querySelector('.stats').textContent);
  check('heatmap frame: the overlay panel shows the range\'s last day (inclusive)', panel.includes(`${FROM} → ${TO}`), panel);
  await frame.evaluate((sel) => document.querySelector(sel).scrollIntoView({ block: 'center' }), HOT).catch(() => {});
  await shot(page, 'heatmap');

  // The framed page takes the device's width: a phone, a tablet, the card's width otherwise.
  for (const [device, width] of [['mobile', 390], ['tablet', 768], ['desktop', null], ['', null]]) {
    await open(page, 'heatmap', { url: PAGE_KEY, device }, '#hm-frame');
    const fr = await (await page.$('#hm-frame')).contentFrame();
    await fr.waitForFunction(() => document.readyState === 'complete');
    const box = await page.$eval('#hm-frame', (f) => ({ frame: f.getBoundingClientRect().width, card: f.parentElement.clientWidth }));
    const inner = await fr.evaluate(() => innerWidth);
    same(`heatmap frame (${device || 'all devices'}): width`, [box.frame, inner], [width || box.card, width || box.card]);
    if (!width) check(`heatmap frame (${device || 'all devices'}): desktop-wide`, box.frame >= 1024, JSON.stringify(box));
    if (device === 'mobile') {
      await fr.waitForFunction(() => window.sightline && window.sightline._overlayState && window.sightline._overlayState.ready, null, { timeout: 20_000 });
      // Fourth trial: the overlay panel (300 px wide) covered the phone-wide page. It starts
      // minimised to one line there, and expands on demand.
      const barBox = () => fr.evaluate(() => {
        const b = document.querySelector('[data-sightline-widget="overlay"]').shadowRoot.querySelector('.bar'), r = b.getBoundingClientRect();
        return { w: r.width, h: r.height, stats: !!b.querySelector('.stats') && b.querySelector('.stats').offsetParent !== null };
      });
      const small = await barBox();
      check('heatmap frame (mobile): the overlay panel starts minimised to one line', small.h <= 40 && small.w <= 220 && !small.stats, JSON.stringify(small));
      await shot(page, 'heatmap-mobile');
      // (A click by script: the button is at the bottom of a frame lower than the window.)
      await fr.evaluate(() => document.querySelector('[data-sightline-widget="overlay"]').shadowRoot.querySelector('button[aria-label="Expand the overlay panel"]').click());
      const big = await barBox();
      check('heatmap frame (mobile): expanded, the panel shows its numbers', big.h > 60 && big.stats, JSON.stringify(big));
    }
  }

  // Compare two ranges.
  await open(page, 'heatmap', { url: PAGE_KEY, from2: FROM2, to2: TO2 }, '[data-table="heatmap-compare"]');
  const cmp = await api('/heatmap/compare', { url: PAGE_KEY, from2: FROM2, to2: addDay(TO2, 1) });
  const f3 = (v) => v.toFixed(3);
  same('compare: elements', await readTable(page, 'heatmap-compare'),
    pick(cmp.elements, { selector: s, clicks: n, clicks2: n, rate: f3, rate2: f3, shift: (v) => (v > 0 ? '+' : '') + v.toFixed(3) }));
  const ck = await kpis(page, '#cmp-out');
  same('compare: page views in both ranges', [ck.pageviews, ck.pageviews2], [n(cmp.pageviews), n(cmp.pageviews2)]);
  const cmpLegends = await legendBoxes(page);
  check('compare: the chart has a legend', cmpLegends.length === 1, JSON.stringify(cmpLegends));
  same('compare: its legend is not over the axes', legendClashes(cmpLegends), []);
  await page.evaluate(() => document.getElementById('cmp-out').scrollIntoView());
  await shot(page, 'heatmap-compare');

  // Journeys: Sankey of transitions, sunburst of paths, funnel.
  const j = await api('/journeys');
  const steps = STEPS;
  await open(page, 'journeys', { steps, window: '1h' }, '[data-table="funnel-steps"]');
  const jk = await kpis(page);
  same('journeys: sessions, bounces', [jk.sessions, jk.bounces], [n(j.sessions), n(j.bounces)]);
  same('journeys: transitions', await readTable(page, 'journeys-transitions'), pick(j.transitions, { from: s, to: s, count: n }));
  same('journeys: entries', await readTable(page, 'journeys-entries'), pick(j.entries, { page: s, sessions: n, bounces: n }));
  same('journeys: exits', await readTable(page, 'journeys-exits'), pick(j.exits, { page: s, sessions: n }));
  same('journeys: paths', await readTable(page, 'journeys-paths'), pick(j.paths, { pages: (v) => v.join(' → '), sessions: n }));
  // Fourth trial: side by side at 1280 px, the transitions table's page keys wrapped and its
  // links were cut by 26 px. It now has the page's full width.
  same('journeys at 1280 px: no page key wraps, no link is cut', await wrapsAndCutsAt1280(page, '[data-table^="journeys"]'), []);
  const sk = await chartData(page, 'transitions');
  same('journeys: Sankey flows = transitions', sk && sk.links.map((l) => [l.source, l.target, l.value]), j.transitions.map((t) => [`from ${t.from}`, `to ${t.to}`, t.count]));
  const sb = await chartData(page, 'paths');
  same('journeys: sunburst first ring = sessions by first page', sb && sb.data.map((d) => [d.name, d.value]).sort(),
    Object.entries(j.paths.reduce((m, p) => ({ ...m, [p.pages[0]]: (m[p.pages[0]] || 0) + p.sessions }), {})).sort());
  const f = await api('/funnel', { steps, window: '1h' });
  same('funnel: steps', await readTable(page, 'funnel-steps'),
    pick(f.steps, { step: s, count: n, conversion_pct: n, dropoff: n, dropoff_pct: n }));
  const fc = await chartData(page, 'funnel');
  same('funnel: chart', fc && fc.data.map((d) => [d.name, d.value]), f.steps.map((x) => [x.step, x.count]));
  // Each step is drawn as long as its count (a funnel shape drew the last step as a point).
  const bw = await onChart(page, 'funnel', (c) => { const d = c.getModel().getSeriesByIndex(0).getData(); return d.mapArray((i) => d.getItemLayout(i).width); });
  check('funnel: bar lengths follow the counts', bw && f.steps[0].count > 0 && bw.every((w, i) => Math.abs(w - bw[0] * f.steps[i].count / f.steps[0].count) <= 2), JSON.stringify([bw, f.steps.map((x) => x.count)]));
  check('funnel: the seeded funnel converts somebody', f.steps[2].count > 0 && f.steps[1].dropoff >= 0, JSON.stringify(f.steps));
  const fw = await page.evaluate(() => { const i = document.getElementById('fn-steps'); return { input: i.getBoundingClientRect().width, form: i.form.getBoundingClientRect().width }; });
  check('funnel: the steps input fills its row (≥ 320 px, ≥ half the form)', fw.input >= 320 && fw.input >= fw.form / 2, JSON.stringify(fw));
  // Sunburst labels: shown on the larger arcs, none overlapping another (rotation included).
  const labels = await onChart(page, 'paths', labelCorners);
  check('sunburst: labels are shown', labels.length >= 3, JSON.stringify(labels.map((l) => l.text)));
  same('sunburst: no two labels overlap', overlappingLabels(labels), []);
  // The seed does crowd them: with overlapping labels allowed, some overlap.
  await onChart(page, 'paths', (c) => c.setOption({ series: [{ id: 'paths', labelLayout: { hideOverlap: false } }] }));
  await sleep(900);
  check('sunburst: the seeded paths would overlap labels without the fix', overlappingLabels(await onChart(page, 'paths', labelCorners)).length > 0);
  await onChart(page, 'paths', (c) => c.setOption({ series: [{ id: 'paths', labelLayout: { hideOverlap: true } }] }));
  await shot(page, 'journeys');
  // Click-through: an entry page's sessions.
  await page.click('[data-table="journeys-entries"] tbody tr:first-child a.pill');
  await page.waitForFunction(() => document.body.dataset.state === 'ready' && document.body.dataset.view === 'sessions');
  const entry = await api('/sessions', { page: j.entries[0].page, limit: 50 });
  same('journeys → sessions: total for the entry page', (await kpis(page)).total, n(entry.total));

  // Voice of customer, then a text search.
  await open(page, 'voc', {}, '[data-feedback]');
  const v = await api('/voc');
  for (const q of v.surveys) {
    const shown = await kpis(page, `[data-question="${q.survey_id}/${q.question_id}"]`);
    const want = { responses: n(q.responses), sessions: n(q.sessions) };
    if (q.kind === 'nps') want.nps = n(q.nps);
    if (q.kind === 'csat') want.csat = n(q.csat);
    if (q.mean !== null && q.mean !== undefined) want.mean = q.mean.toFixed(2);
    same(`voc: ${q.survey_id}/${q.question_id} (${q.kind})`, shown, want);
  }
  check('voc: the seeded NPS question is there', v.surveys.some((q) => q.kind === 'nps' && q.responses === 2));
  // Survey reach: the KPIs and the drop-off table of each survey are the API's.
  const rate = (x) => (x === null || x === undefined ? '–' : x.toFixed(1) + ' %');
  check('voc: the seeded survey has its reach', v.reach.some((r) => r.survey_id === 'pulse' && r.impressions > 0), JSON.stringify(v.reach));
  for (const r of v.reach) {
    same(`voc: reach of ${r.survey_id}`, await kpis(page, `[data-reach="${r.survey_id}"]`), {
      impressions: n(r.impressions), responses: n(r.responses), response_rate: rate(r.response_rate),
      completion_rate: rate(r.completion_rate), dismissals: n(r.dismissals) });
    same(`voc: drop-off of ${r.survey_id}`, (await readTable(page, `reach-${r.survey_id}`)).map((q) => [q.reached, q.answered, q.dropped]),
      r.questions.map((q) => [n(q.reached), n(q.answered), n(q.dropped)]));
  }
  const nps = v.surveys.find((q) => q.kind === 'nps');
  // The NPS distribution: all 11 answers, answered or not, coloured by class.
  const bars = await onChart(page, `distribution ${nps.survey_id}/${nps.question_id}`, (c, o) => {
    const d = c.getModel().getSeriesByIndex(0).getData();
    return o.series[0].data.map((b, i) => ({ name: d.getName(i), value: b.value, cls: b.cls, fill: d.getItemVisual(i, 'style').fill, h: Math.abs(d.getItemLayout(i).height) }));
  });
  const colour = await page.evaluate(() => Object.fromEntries(['detractor', 'passive', 'promoter'].map((k) => [k, getComputedStyle(document.documentElement).getPropertyValue('--' + k).trim()])));
  const scale = [...Array(11).keys()], npsClass = (v) => (v <= 6 ? 'detractor' : v <= 8 ? 'passive' : 'promoter');
  same('voc: NPS distribution: the 11 answers 0–10', bars && bars.map((b) => b.name), scale.map(String));
  same('voc: NPS distribution: counts (0 where nobody answered)', bars && bars.map((b) => b.value), scale.map((v) => nps.distribution[v] || 0));
  same('voc: NPS distribution: class and colour of each bar', bars && bars.map((b) => [b.cls, b.fill]), scale.map((v) => [npsClass(v), colour[npsClass(v)]]));
  check('voc: NPS classes have three colours', new Set(Object.values(colour)).size === 3 && !Object.values(colour).includes(''), JSON.stringify(colour));
  same('voc: NPS distribution: a bar only where somebody answered', bars && bars.map((b) => b.h > 0), scale.map((v) => (nps.distribution[v] || 0) > 0));
  // A score trend keeps its whole scale on a single day; feedback counts and the mean rating
  // have an axis each.
  const npsAxis = await onChart(page, `trend ${nps.survey_id}/${nps.question_id}`, (c, o) => [o.yAxis[0].min, o.yAxis[0].max]);
  same('voc: NPS trend on the NPS scale −100..100', npsAxis, [-100, 100]);
  const fbAxes = await onChart(page, 'feedback trend', (c, o) => [o.yAxis.length, o.series.map((s) => [s.name, s.yAxisIndex]), o.yAxis[1] && [o.yAxis[1].min, o.yAxis[1].max]]);
  same('voc: feedback trend: counts on one axis, the mean rating (1..5) on its own', fbAxes, [2, [['feedback', 0], ['negative', 0], ['mean rating', 1]], [1, 5]]);
  // Legends sit in their own band: none over its chart's plot area or axes.
  const vocLegends = await legendBoxes(page);
  check('voc: trend charts with a legend', vocLegends.length >= 2, JSON.stringify(vocLegends));
  same('voc: no legend over its chart\'s axes', legendClashes(vocLegends), []);
  const fk = await kpis(page, '[data-feedback]');
  const fb = v.feedback;
  same('voc: feedback KPIs', fk, { count: n(fb.count), mean_rating: fb.mean_rating.toFixed(2), negative: n(fb.negative), negative_rate: n(fb.negative_rate) });
  const mr = (x) => (x === null ? '–' : x.toFixed(2));
  same('voc: feedback by page', await readTable(page, 'feedback-pages'), pick(fb.by_page, { page: s, count: n, mean_rating: mr, negative: n }));
  same('voc: feedback by element', await readTable(page, 'feedback-elements'), pick(fb.by_element, { selector: s, page: s, count: n, mean_rating: mr, negative: n }));
  same('voc: recent feedback comments', (await readTable(page, 'feedback-recent')).map((r) => r.comment), fb.recent.map((r) => s(r.comment)));
  const tz = await siteZone();
  same('voc: recent feedback times, in the site\'s time zone', (await readTable(page, 'feedback-recent')).map((r) => r.ts),
    fb.recent.map((r) => zoneTime(r.ts, tz).slice(0, 16)));
  check('voc: recent feedback\'s time column names the site\'s time zone', (await headers(page, 'feedback-recent')).includes(`When (${tz})`),
    JSON.stringify(await headers(page, 'feedback-recent')));
  // Re-check trial: side by side at 1280 px, the element table's selectors wrapped and its
  // links were cut. Now no page key or selector wraps and every link is inside its table.
  same('voc at 1280 px: no page key or selector wraps, no link is cut', await wrapsAndCutsAt1280(page, '[data-table^="feedback"]'), []);
  check('voc: recent feedback shows page keys as code', await page.$$eval('[data-table="feedback-recent"] td[data-f="page"] > code', (els) => els.length > 0));
  await shot(page, 'voc');
  await page.fill('#voc-q', 'slow');
  await page.click('#voc-q ~ button, form:has(#voc-q) button');
  await page.waitForFunction(() => document.body.dataset.state === 'ready' && location.hash.includes('q=slow'));
  const vq = await api('/voc', { q: 'slow' });
  const textQ = vq.surveys.find((q) => q.kind === 'text');
  same('voc search: matching text answers', await page.$$eval('[data-list="answers"] [data-f="text"]', (els) => els.map((e) => e.textContent)), textQ.text.recent.map((a) => a.text));
  same('voc search: matching feedback comments', (await readTable(page, 'feedback-recent')).map((r) => r.comment), vq.feedback.recent.map((r) => s(r.comment)));
  check('voc search: finds the seeded answer', textQ.text.answers === 1, JSON.stringify(textQ.text));
  await shot(page, 'voc-search');

  // Sessions with filters.
  await open(page, 'sessions', { element: HOT, has: 'feedback' }, '[data-table="sessions"]');
  const ss = await api('/sessions', { element: HOT, has: 'feedback', limit: 50 });
  same('sessions (element + has=feedback): rows', await readTable(page, 'sessions'),
    pick(ss.sessions, { session: s, start: (v) => zoneTime(v, tz), duration_ms: (v) => (v / 1000).toFixed(1),
      device: s, pageviews: n, clicks: n, rage_clicks: n, dead_clicks: n, quick_backs: n, feedback: n, survey_responses: n,
      path: (v) => v.join(' → '), elements: sessionElements }));
  check('sessions: the filter narrows to the seeded session with feedback', ss.total === 1, JSON.stringify(ss.total));
  check('sessions: the start column names the site\'s time zone', (await headers(page, 'sessions')).includes(`Start (${tz})`),
    JSON.stringify(await headers(page, 'sessions')));
  await open(page, 'sessions', {}, '[data-table="sessions"]');
  const all = await api('/sessions', { limit: 50 });
  same('sessions: all', (await readTable(page, 'sessions')).map((r) => r.session), all.sessions.map((x) => x.session));
  same('sessions: each path as the API gives it', (await readTable(page, 'sessions')).map((r) => r.path),
    all.sessions.map((x) => x.path.join(' → ')));
  await shot(page, 'sessions');
  // Issue 22: every row links to its session's timeline. s2 (seeded in tests/dashboard.rs):
  // index.html, two clicks on HOT (the page reacts), a rage burst of 3 unanswered clicks on
  // #messagesDropdown 150 ms apart (rage on the first, every one dead), then charts.html
  // 30 s after the start; its last event (a scroll) 25 s later. Hand-computed.
  check('sessions: every row links to its timeline', (await page.$$('[data-table="sessions"] tbody tr')).length === all.sessions.length &&
    (await page.$$('[data-table="sessions"] tbody tr a[data-timeline]')).length === all.sessions.length);
  await page.evaluate(() => document.body.setAttribute('data-state', 'navigating'));
  await page.click('[data-table="sessions"] a[data-timeline="s2#0"]');
  await page.waitForFunction(() => document.body.dataset.state === 'ready' && document.body.dataset.view === 'session', null, { timeout: 20_000 });
  same('timeline: opened from the list', new URLSearchParams(page.url().split('?')[1]).get('id'), 's2');
  const tl = await api('/sessions/s2', { from: undefined, to: undefined });
  const idx = '/index.html', charts = '/charts.html';
  same('timeline: the events in order (time, page, what, flags)', (await readTable(page, 'timeline')).map((r) => [r.offset_ms, r.page, r.type, r.flags]), [
    ['+0:00.0', idx, 'Page view', ''], ['+0:01.0', idx, 'Click', ''], ['+0:03.0', idx, 'Click', ''],
    ['+0:05.0', idx, 'Click', 'rage ×3dead'], ['+0:05.2', idx, 'Click', 'dead'], ['+0:05.3', idx, 'Click', 'dead'],
    ['+0:30.0', charts, 'Page view', '']]);
  same('timeline: page views with time on page, scroll depth and zones seen', (await readTable(page, 'timeline')).filter((r) => r.type === 'Page view').map((r) => r.details), [
    '“index.html” · on page 30.0 s · scrolled 80 % · zones seen: illustration', '“charts.html” · on page 25.0 s · scrolled 35 %']);
  same('timeline: KPIs as the API gives them', await kpis(page), {
    start: zoneTime(tl.start, tz), duration_ms: '55.0', device: 'desktop',
    pageviews: '2', clicks: '5', rage_clicks: '1', dead_clicks: '3' });
  same('timeline: the API\'s events, in order', tl.events.map((e) => [e.type, e.offset_ms]),
    [['pageview', 0], ['click', 1000], ['click', 3000], ['click', 5000], ['click', 5150], ['click', 5300], ['pageview', 30000]]);
  same('timeline: entry and exit page', await page.$$eval('[data-f="entry_page"], [data-f="exit_page"]', (els) => els.map((e) => e.textContent)),
    [pageKey('index.html'), pageKey('charts.html')]);
  await shot(page, 'session-timeline');
  // A session's path in order, a page visited twice shown twice (s6: index → cards → index),
  // as /sessions gives it (`path`), while `pages` holds each page once.
  const s6Path = ['index.html', 'cards.html', 'index.html'].map(pageKey);
  const viaCards = await api('/sessions', { page: pageKey('cards.html'), limit: 50 });
  const s6 = viaCards.sessions.filter((x) => x.session === 's6' && x.split === 0);
  same('/sessions: s6\'s path, index twice', s6.map((x) => x.path), [s6Path]);
  same('/sessions: s6\'s pages, each once', s6.map((x) => x.pages.map((p) => p.page)), [s6Path.slice(0, 2)]);
  await open(page, 'sessions', { page: pageKey('cards.html') }, '[data-table="sessions"]');
  same('sessions: s6 shows its path in order, index twice', (await readTable(page, 'sessions')).filter((r) => r.session === 's6').map((r) => r.path), [s6Path.join(' → ')]);
  same('no script errors in the dashboard', errors, []);
  await ctx.close();
}

/** At 1280 px wide, the tables matching `sel` whose page keys or selectors (code cells)
 *  wrap, or whose "sessions" links run past their card: [{ name, wrapped, cut }]. */
async function wrapsAndCutsAt1280(page, sel) {
  await page.setViewportSize({ width: 1280, height: 900 });
  await sleep(200);
  const found = await page.evaluate((sel) => [...document.querySelectorAll(sel)].map((t) => {
    const w = t.parentElement.getBoundingClientRect();
    return { name: t.dataset.table, wrapped: [...t.querySelectorAll('td > code')].filter((c) => c.getClientRects().length > 1).map((c) => c.textContent),
      cut: [...t.querySelectorAll('a.pill')].filter((a) => a.getBoundingClientRect().right > w.right + 0.5).length };
  }), sel);
  await page.setViewportSize({ width: 1400, height: 900 });
  await sleep(100);
  return found.filter((x) => x.wrapped.length || x.cut);
}

// ---- a read token limited to the site (fourth trial: with one, the heatmap view framed no
// page, "must be on one of the site's origins", and Problems said no goal was set) ----
async function readToken(browser) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  await page.goto(hashFor('problems'));
  await page.fill('#token', process.env.READ_TOKEN || '');
  await page.click('#signin-form button[type=submit]');
  await page.waitForFunction(() => document.body.dataset.state === 'ready' && document.body.dataset.view === 'problems');
  check('read token: Problems ranks by impact (the site goal is read)', (await page.$('[data-table="problems-impact"]')) !== null &&
    !(await page.textContent('main')).includes('Set the site goal'));
  same('read token: the site picker shows the site\'s name', await page.$eval('#f-site option:checked', (o) => o.textContent), `SB Admin (${SITE})`);
  await open(page, 'heatmap', { url: PAGE_KEY }, '#hm-frame');
  const src = await page.$eval('#hm-frame', (f) => f.src);
  check('read token: the heatmap frames the page on the site\'s origin', src.startsWith(`${ORIGIN}/`), src);
  await shot(page, 'read-token-heatmap');
  await ctx.close();
}

// ---- 3. a 400 px wide screen: tables scroll inside their cards ----
async function narrow(browser) {
  const ctx = await browser.newContext({ viewport: { width: 400, height: 800 } });
  const page = await ctx.newPage();
  await page.goto(hashFor('problems'));
  await page.fill('#token', TOKEN);
  await page.click('#signin-form button[type=submit]');
  await page.waitForFunction(() => document.body.dataset.state === 'ready' && document.body.dataset.view === 'problems');
  const seen = {};
  for (const [view, extra, waitFor] of [['problems', {}, '[data-table="problems-elements"]'], ['heatmap', { url: PAGE_KEY, from2: FROM2, to2: TO2 }, '[data-table="heatmap-compare"]'],
    ['journeys', { steps: STEPS }, '[data-table="funnel-steps"]'], ['voc', {}, '[data-table="feedback-recent"]'], ['sessions', {}, '[data-table="sessions"]']]) {
    await open(page, view, extra, waitFor);
    const m = await page.evaluate(() => ({
      vw: innerWidth, page: document.documentElement.scrollWidth,
      tables: [...document.querySelectorAll('[data-table]')].map((t) => {
        const r = t.getBoundingClientRect(), w = t.parentElement.getBoundingClientRect();
        return { name: t.dataset.table, right: Math.min(r.right, w.right), wider: r.width > w.width + 0.5, scrolls: getComputedStyle(t.parentElement).overflowX === 'auto' };
      }),
    }));
    m.tables.forEach((t) => { seen[t.name] = t; });
    if (view === 'voc') {
      // Re-check trial: recent feedback rows were tall slivers (dates and page keys wrapped).
      const hs = await page.$$eval('[data-table="feedback-recent"] tbody tr', (rows) => rows.map((r) => r.getBoundingClientRect().height));
      check("400 px, voc: no recent-feedback row is more than two lines tall", hs.length > 0 && Math.max(...hs) <= 2.2 * Math.min(...hs) && Math.max(...hs) <= 64, JSON.stringify(hs));
    }
    check(`400 px, ${view}: tables shown`, m.tables.length > 0);
    same(`400 px, ${view}: no table runs off the screen`, m.tables.filter((t) => t.right > m.vw + 0.5).map((t) => t.name), []);
    same(`400 px, ${view}: a table wider than its card scrolls in it`, m.tables.filter((t) => t.wider && !t.scrolls).map((t) => t.name), []);
    check(`400 px, ${view}: the page does not scroll sideways`, m.page <= m.vw, JSON.stringify([m.page, m.vw]));
    await shot(page, `narrow-${view}`);
  }
  check('400 px: the sessions table is wider than the screen and scrolls', seen.sessions && seen.sessions.wider && seen.sessions.scrolls, JSON.stringify(seen.sessions));
  // Sixth trial: a cut-off table gave no hint that it scrolls; its wrapper draws scroll
  // shadows. And "Voice of customer" wrapped inside its tab.
  const hint = await page.$eval('[data-table="sessions"]', (t) => getComputedStyle(t.parentElement).backgroundImage);
  check('400 px: a scrolling table shows scroll shadows', (hint.match(/gradient/g) || []).length === 4, hint);
  const tabs = await page.$$eval('nav a', (as) => as.map((a) => [a.textContent, Math.round(a.getBoundingClientRect().height)]));
  check('400 px: every tab name is on one line', tabs.length >= 5 && tabs.every(([, h]) => h <= tabs[0][1]), JSON.stringify(tabs));
  // Fourth trial: a timeline's rage and dead flags were in its last column, off a 400 px screen.
  await open(page, 'session', { id: 's2', split: 0 }, '[data-table="timeline"]');
  const fl = await page.evaluate(() => ({ vw: innerWidth, rights: [...document.querySelectorAll('[data-flag]')].map((e) => e.getBoundingClientRect().right) }));
  check('400 px, session timeline: every flag is on the screen', fl.rights.length >= 4 && fl.rights.every((r) => r <= fl.vw), JSON.stringify(fl));
  await shot(page, 'narrow-session-timeline');
  await ctx.close();
}

// ---- 4. the live overlay on the real page ----
async function liveOverlay(browser, ua) {
  const g = await api('/overlay', {}, { method: 'POST', body: JSON.stringify({ url: `${ORIGIN}/index.html`, from: FROM, to: addDay(TO, 1) }) });
  const hm = await api('/heatmap', { url: PAGE_KEY });
  const z = await api('/zones', { url: PAGE_KEY });
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, userAgent: ua });
  const page = await ctx.newPage();
  const sent = [];
  page.on('request', (r) => { if (r.url().startsWith(`${SL}/v1/events`)) sent.push(r.url()); });
  await page.goto(g.link, { waitUntil: 'load' });
  await page.waitForFunction(() => window.sightline && window.sightline._overlayState && window.sightline._overlayState.ready, null, { timeout: 20_000 });
  const st = await page.evaluate(() => window.sightline._overlayState);
  same('overlay: no error', st.error, null);
  check('overlay: the seeded target is what the snippet calls that element', await page.evaluate((sel) => window.sightline._selector(document.querySelector(sel)) === sel, HOT));
  same('overlay: hottest element = the seeded clicks\' target', st.hottest && [st.hottest.selector, st.hottest.clicks, st.hottest.rank], [HOT, hm.elements[0].clicks, 1]);
  same('overlay: the API agrees which element is hottest', hm.elements[0].selector, HOT);
  const hottestLine = await page.evaluate(() => document.querySelector('[data-sightline-widget="overlay"]').shadowRoot.querySelector('.hottest').textContent);
  same('overlay: the hottest line counts clicks in words ("1 click", "2 clicks")', hottestLine, `Hottest: ${HOT} (${hm.elements[0].clicks} click${hm.elements[0].clicks === 1 ? '' : 's'})`);
  const rect = await page.evaluate((sel) => { const r = document.querySelector(sel).getBoundingClientRect(); return [r.left + scrollX, r.top + scrollY, r.width, r.height].map(Math.round); }, HOT);
  same('overlay: the hottest box is drawn over that element', [st.hottest.x, st.hottest.y, st.hottest.w, st.hottest.h].map(Math.round), rect);
  const drawn = await page.evaluate(() => {
    const root = document.querySelector('[data-sightline-widget="overlay"]').shadowRoot;
    const hot = [...root.querySelectorAll('.box.hot')].map((b) => b.dataset.selector);
    const rage = [...root.querySelectorAll('.box')].filter((b) => b.querySelector('.mark.rage')).map((b) => b.dataset.selector);
    return { hot, rage, zones: [...root.querySelectorAll('.zone')].map((z) => z.dataset.zone), depths: root.querySelectorAll('.depth').length, cells: root.querySelectorAll('.cell').length };
  });
  same('overlay: one box marked hottest, on the target', drawn.hot, [HOT]);
  same('overlay: rage markers where the API has rage clicks', drawn.rage.sort(), hm.elements.filter((e) => e.rage_clicks > 0).map((e) => e.selector).sort());
  same('overlay: zone outlines', [...new Set(drawn.zones)], z.zones.map((x) => x.zone));
  check('overlay: scroll map and click grid drawn', drawn.depths === 10 && drawn.cells > 0, JSON.stringify(drawn));
  // Zone metrics on hover.
  const zb = await page.evaluate(() => { const z = window.sightline._overlayState.zones[0]; return z && [z.x + z.w / 2, z.y + z.h / 2]; });
  await page.evaluate((y) => window.scrollTo(0, y - 300), zb[1]);
  await sleep(100);
  const sy = await page.evaluate(() => scrollY);
  await page.mouse.move(zb[0], zb[1] - sy);
  await sleep(100);
  const tip = await page.evaluate(() => window.sightline._overlayState.tip);
  const zz = z.zones[0];
  check('overlay: zone metrics on hover', tip && tip.includes(`exposure rate ${(zz.exposure_rate * 100).toFixed(1)} %`) && tip.includes(`click rate ${(zz.click_rate * 100).toFixed(1)} %`), tip);
  await shot(page, 'overlay-zone-hover');
  await page.evaluate(() => window.scrollTo(0, 0));
  await sleep(100);
  await page.screenshot({ path: path.join(SHOTS, 'overlay.png') });
  await page.waitForTimeout(2500); // longer than the snippet's flush interval
  await page.evaluate(() => window.sightline.flush());
  same('overlay: the viewer sends no events', sent, []);
  // A forged grant draws nothing and says why.
  const forged = g.link.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
  await page.goto('about:blank');
  await page.goto(forged, { waitUntil: 'load' });
  await page.waitForFunction(() => window.sightline && window.sightline._overlayState && window.sightline._overlayState.ready, null, { timeout: 20_000 });
  const bad = await page.evaluate(() => ({ error: window.sightline._overlayState.error, boxes: window.sightline._overlayState.boxes.length }));
  check('overlay: a forged link draws nothing and says why', bad.boxes === 0 && /signature|malformed/.test(bad.error || ''), JSON.stringify(bad));
  // A grant made through the API with `to` equal to `from` is that one day (api.md); the
  // panel showed the day before (final new-user trial).
  const one = await api('/overlay', {}, { method: 'POST', body: JSON.stringify({ url: `${ORIGIN}/index.html`, from: TO, to: TO }) });
  await page.goto('about:blank');
  await page.goto(one.link, { waitUntil: 'load' });
  await page.waitForFunction(() => window.sightline && window.sightline._overlayState && window.sightline._overlayState.ready, null, { timeout: 20_000 });
  const stats = await page.evaluate(() => document.querySelector('[data-sightline-widget="overlay"]').shadowRoot.querySelector('.stats').textContent);
  check('overlay: an API grant with to = from shows that one day', stats.includes(`${TO} → ${TO}`), stats);
  // A grant without a range names the days it covers: the API's default, 30 days to today
  // (sixth trial: it showed no period at all).
  const open30 = await api('/overlay', {}, { method: 'POST', body: JSON.stringify({ url: `${ORIGIN}/index.html` }) });
  await page.goto('about:blank');
  await page.goto(open30.link, { waitUntil: 'load' });
  await page.waitForFunction(() => window.sightline && window.sightline._overlayState && window.sightline._overlayState.ready, null, { timeout: 20_000 });
  const stats30 = await page.evaluate(() => document.querySelector('[data-sightline-widget="overlay"]').shadowRoot.querySelector('.stats').textContent);
  const today = new Date().toISOString().slice(0, 10), first = new Date(Date.now() - 29 * 864e5).toISOString().slice(0, 10);
  check('overlay: a grant without a range shows the default 30 days', stats30.includes(`${first} → ${today}`), stats30);
  await ctx.close();
}

async function main() {
  if (!TOKEN || !SITE || !HOT || !FROM || !TO) throw new Error('SIGHTLINE_TOKEN, SIGHTLINE_SITE, HOT_SELECTOR, FROM and TO must be set');
  fs.mkdirSync(SHOTS, { recursive: true });
  const pages = await startPageServer({ port: PAGE_PORT, sightlineUrl: SL, site: SITE });
  const major = chromiumMajor();
  const ua = desktopUserAgent(major);
  const browser = await launchChromium(ua);
  try {
    await noToken(browser);
    await views(browser);
    await narrow(browser);
    await readToken(browser);
    await liveOverlay(browser, ua);
  } finally {
    await browser.close();
    await pages.close();
  }
  for (const d of checks.failed) console.log('  FAIL ' + d);
  console.log(`dashboard e2e: ${checks.passed} passed, ${checks.failed.length} failed in ${((Date.now() - t0) / 1000).toFixed(1)} s; screenshots in ${SHOTS}/`);
  return checks.failed.length ? 1 : 0;
}

main().then((code) => process.exit(code), (e) => {
  for (const d of checks.failed) console.log('  FAIL ' + d);
  console.error(`dashboard e2e: ${e.stack || e.message}`);
  process.exit(1);
});
