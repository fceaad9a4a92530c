#!/usr/bin/env node
// Sightline browser end-to-end test: real Chromium, the real snippet (GET /s.js), real pages
// (the SB Admin 2 theme from npm), a running Sightline server, and its query API.
//
//   SIGHTLINE_URL=http://127.0.0.1:18080 SIGHTLINE_TOKEN=… SIGHTLINE_SITE=<write key> \
//   PAGE_PORT=18081 node tests/e2e/slice.mjs
//
// SIGHTLINE_SITE must be a site whose origins include http://127.0.0.1:PAGE_PORT and that has
// no data for today yet; when it is unset, the test creates a fresh site with the token.
// The test plays the SCENARIO table below, derives every expected number from what it
// actually did (the ledger), then polls the query API until the numbers match or 60 s pass.
// Prints a diff and exits 1 on mismatch; prints `e2e: N passed, 0 failed` and exits 0 on success.
// Screenshots of every visited page go to test-artifacts/ (E2E_ARTIFACTS overrides).
import fs from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { desktopUserAgent, launchChromium } from './browser.mjs';
import { startPageServer } from './pageserver.mjs';
import { SL, TOKEN, api } from './sightline-api.mjs';

let SITE = process.env.SIGHTLINE_SITE || '';
const PAGE_PORT = +(process.env.PAGE_PORT || 18081);
const ORIGIN = `http://127.0.0.1:${PAGE_PORT}`;
const ARTIFACTS = path.resolve(process.env.E2E_ARTIFACTS || 'test-artifacts');
const POLL_MS = 60_000;
const HARD_DEADLINE_MS = 170_000;
// E2E_DRY_RUN=1: play the scenario against any collector at SIGHTLINE_URL and print the
// expectations, without asking the query API (for working on the snippet).
const DRY_RUN = process.env.E2E_DRY_RUN === '1';

// Playwright locators (css + optional text filter) for the elements the scenario clicks. The
// selector the server will see is not written here: the test asks the snippet
// (sightline._selector) for each element it clicks, checks that it matches that element and
// is the same on every load, and expects the heatmap to list clicks under it.
const T = {
  earningsTitle: { css: 'h6', text: 'Earnings Overview' },   // index.html: card title, no handler
  calendarIcon: { css: 'i.fa-calendar' },                      // index.html: decorative icon, no handler
  navCharts: { css: '#accordionSidebar a.nav-link[href="charts.html"]' },
  navTables: { css: '#accordionSidebar a.nav-link[href="tables.html"]' },
  navDashboard: { css: '#accordionSidebar a.nav-link[href="index.html"]' },
  navComponents: { css: '#accordionSidebar a.nav-link[data-target="#collapseTwo"]' }, // opens a collapse
  sidebarToggle: { css: '#sidebarToggle' },                    // toggles a class on <body>
  cardsLink: { css: '#collapseTwo a.collapse-item[href="cards.html"]' },
  loginButton: { css: 'a.btn-primary.btn-user[href="index.html"]' },
  defaultCardTitle: { css: 'div.card-header', text: 'Default Card Example' }, // cards.html, no handler
  collapsibleCard: { css: 'a.card-header[href="#collapseCardExample"]' },    // cards.html, collapses
};

// The scenario. Each session runs in a fresh browser context (new visitor, new session).
// Steps:
//   ['open', page]                         load a page (session entry)
//   ['click', target, expect, opts?]       expect: 'dead' (no reaction), 'reacts', 'modifier',
//                                          opts.widgetNoise: a Sightline widget changes after it
//                                          'navigates' (a link to another page: waits for it)
//   ['rage', target, n]                    n clicks 150 ms apart on one spot of a dead element
//   ['key', target, key, expect]           keyboard activation (focus + key): detail == 0
//   ['beaconClick', target]                click a link while nothing has been sent yet: the
//                                          page view reaches the server only by the pagehide beacon
//   ['scroll', 'bottom' | 'top']           scroll to the end / back to the top of the page
//   ['pushState', relativeUrl]             SPA navigation (a new page view)
//   ['track', name, props] / ['survey', surveyId, questionId, kind, value, trigger] /
//   ['feedback', {rating, comment, category}]   the window.sightline JS API
//   ['settle']                             await sightline.flush(): waits out click windows, delivers by fetch
//   ['wait', ms]
//   ['close']                              close the tab (pagehide beacon)
const SCENARIO = [
  { name: 's1-flush', steps: [
    ['open', 'index.html'],
    ['click', T.earningsTitle, 'dead', { widgetNoise: true }],
    ['rage', T.calendarIcon, 3],
    ['settle'],
    ['scroll', 'bottom'],
    ['scroll', 'top'], // the snippet keeps the deepest point: 100 %
    ['click', T.navCharts, 'navigates'],
    ['track', 'signup', { plan: 'pro' }],
    ['settle'],
    ['click', T.navTables, 'navigates'],
    ['feedback', { rating: 2, comment: 'e2e: the export button does nothing', category: 'bug' }],
    ['settle'],
    ['close'],
  ] },
  { name: 's2-beacon', steps: [
    ['open', 'buttons.html'],
    ['beaconClick', T.cardsLink],
    ['click', T.defaultCardTitle, 'dead'],
    ['settle'],
    ['click', T.collapsibleCard, 'reacts'],
    ['settle'],
    ['scroll', 'bottom'],
    ['survey', 'exit-nps', 'q1', 'nps', 9, 'manual'],
    ['track', 'signup', { plan: 'pro' }], // before index.html: must not count for the funnel
    ['settle'],
    ['click', T.navDashboard, 'navigates'],
    ['click', T.navComponents, 'reacts'],
    ['close'], // these last events travel only by the pagehide beacon too
  ] },
  { name: 's3-spa', steps: [
    ['open', 'login.html'],
    ['click', T.loginButton, 'navigates'],
    ['key', T.sidebarToggle, 'Enter', 'reacts'],
    ['click', T.calendarIcon, 'modifier', { modifiers: ['Alt'] }],
    ['settle'],
    ['pushState', 'index.html?view=compact&utm_source=e2e&a=1'],
    ['click', T.navCharts, 'navigates'],
    ['track', 'signup', { plan: 'pro' }],
    ['scroll', 'bottom'],
    ['settle'],
    ['close'],
  ] },
  { name: 's4-two-pages', steps: [
    ['open', 'index.html'],
    ['click', T.navCharts, 'navigates'],
    ['close'],
  ] },
  { name: 's5-bounce', steps: [
    ['open', 'buttons.html'],
    ['wait', 300],
    ['close'],
  ] },
];
const FUNNEL = ['page:index.html', 'event:signup'];

// ---------------------------------------------------------------------------------------
const started = Date.now();
const deadline = setTimeout(() => { console.error(`e2e: gave up after ${HARD_DEADLINE_MS / 1000} s`); process.exit(1); }, HARD_DEADLINE_MS);
deadline.unref();
const log = (...a) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s]`, ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const checks = { passed: 0, failed: [] };
function check(name, ok, detail) {
  if (ok) checks.passed++;
  else checks.failed.push(detail ? `${name}: ${detail}` : name);
}

/** Canonical page key (analytics.md "Page key"): lower-case host + path, no scheme and no
 * fragment, tracking parameters dropped, the rest of the query sorted, numeric/UUID path
 * segments as :id. */
function pageKey(u) {
  const url = new URL(u);
  const tracking = (k) => /^utm_/i.test(k) || ['gclid', 'fbclid', 'msclkid'].includes(k.toLowerCase());
  const pairs = url.search.slice(1).split('&').filter((p) => p && !tracking(p.split('=')[0])).sort();
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  const p = url.pathname.split('/').map((s) => (/^\d+$/.test(s) || uuid.test(s) ? ':id' : s)).join('/');
  return url.host.toLowerCase() + p + (pairs.length ? '?' + pairs.join('&') : '');
}
const keyOf = (page) => pageKey(`${ORIGIN}/${page}`);


// ---- the browser side ---------------------------------------------------------------------
const ledger = []; // one entry per session: { name, pageviews: [...], timeline: [...], surveys, feedback }
const selectorsSeen = new Map(); // target css -> Set of selectors the snippet gave
let shotN = 0;

function depthFn() { // the scroll-depth definition of analytics.md, evaluated in the page
  const de = document.documentElement;
  const h = Math.max(de.scrollHeight, document.body ? document.body.scrollHeight : 0);
  return Math.max(0, Math.min(100, Math.round((window.scrollY + window.innerHeight) / h * 1000) / 10));
}

class SessionRun {
  constructor(ctx, spec) {
    this.ctx = ctx;
    this.spec = spec;
    this.rec = { name: spec.name, pageviews: [], timeline: [], surveys: [], feedback: [] };
    ledger.push(this.rec);
  }
  get pv() { return this.rec.pageviews[this.rec.pageviews.length - 1]; }

  async sampleDepth() {
    const d = await this.page.evaluate(depthFn);
    this.pv.depth = Math.max(this.pv.depth, d);
  }

  async onNewPageView(how) {
    await this.page.waitForFunction(() => window.sightline && window.sightline.pageviewId, null, { timeout: 10_000 });
    const info = await this.page.evaluate(() => ({ url: location.href, pv: sightline.pageviewId, sid: sightline.sessionId }));
    const key = pageKey(info.url);
    this.rec.pageviews.push({ key, url: info.url, id: info.pv, depth: 0, clicks: [], how });
    this.rec.timeline.push({ page: key });
    this.rec.sessionId = info.sid;
    // No screenshot right before the unload-only click: nothing may delay it past the
    // snippet's 2 s flush timer (that page gets its screenshot in another session).
    if (this.nextOp !== 'beaconClick') {
      const file = path.join(ARTIFACTS, `${String(++shotN).padStart(2, '0')}-${this.spec.name}-${key.replace(/[^a-z0-9.]+/gi, '_')}.png`);
      await this.page.screenshot({ path: file });
    }
  }

  locate(t) {
    const l = this.page.locator(t.css, t.text ? { hasText: t.text } : undefined);
    return l.first();
  }

  /** The selector the snippet reports for this element, after checking that the element is
   * in the viewport (clicks must not scroll: a scroll is a "reaction") and that the selector
   * really matches it. */
  async selectorOf(t) {
    const loc = this.locate(t);
    await loc.waitFor({ state: 'visible' });
    const r = await loc.evaluate((el) => {
      const b = el.getBoundingClientRect();
      const sel = window.sightline._selector(el);
      let matches = false;
      try { matches = el.matches(sel); } catch { matches = false; }
      return { sel, matches, inView: b.top >= 0 && b.bottom <= innerHeight && b.left >= 0 && b.right <= innerWidth };
    });
    check(`selector of ${t.css} is valid CSS that matches it`, r.matches, JSON.stringify(r.sel));
    if (!r.inView) throw new Error(`scenario: ${t.css}${t.text ? ` "${t.text}"` : ''} is not in the viewport on ${this.pv.key}`);
    if (!selectorsSeen.has(t.css)) selectorsSeen.set(t.css, new Set());
    selectorsSeen.get(t.css).add(r.sel);
    return r.sel;
  }

  async step(s) {
    const [op, ...a] = s;
    switch (op) {
      case 'open': {
        await this.page.goto(`${ORIGIN}/${a[0]}`, { waitUntil: 'load' });
        await this.onNewPageView('open');
        return;
      }
      case 'click': {
        const [t, expect, opts = {}] = a;
        const selector = await this.selectorOf(t);
        const loc = this.locate(t);
        if (expect === 'navigates') {
          await this.sampleDepth();
          const href = await loc.evaluate((el) => el.href);
          this.pv.clicks.push({ selector, dead: false });
          await Promise.all([this.page.waitForURL(href, { waitUntil: 'load' }), loc.click(opts)]);
          await this.onNewPageView('link');
        } else {
          const { widgetNoise, ...clickOpts } = opts;
          await loc.click(clickOpts);
          // Sightline's own widgets changing (a widget shown, its text changed) is no reaction
          // of the page: the click stays dead (fifth trial).
          if (widgetNoise) {
            await this.page.evaluate(() => {
              const host = document.createElement('div');
              host.setAttribute('data-sightline-widget', 'e2e');
              document.body.appendChild(host);
              host.textContent = 'e2e widget';
              host.setAttribute('data-state', 'open');
            });
          }
          this.pv.clicks.push({ selector, dead: expect === 'dead' });
        }
        return;
      }
      case 'rage': {
        const [t, n] = a;
        const selector = await this.selectorOf(t);
        const b = await this.locate(t).boundingBox();
        const burst = `${this.spec.name}#${this.rec.pageviews.length}#${this.pv.clicks.length}`;
        for (let i = 0; i < n; i++) {
          await this.page.mouse.click(b.x + b.width / 2, b.y + b.height / 2);
          this.pv.clicks.push({ selector, dead: true, burst });
          if (i < n - 1) await sleep(150);
        }
        return;
      }
      case 'key': {
        const [t, key, expect] = a;
        const selector = await this.selectorOf(t);
        await this.locate(t).focus();
        await this.page.keyboard.press(key);
        this.pv.clicks.push({ selector, dead: expect === 'dead' });
        return;
      }
      case 'beaconClick': {
        const [t] = a;
        const selector = await this.selectorOf(t);
        await this.sampleDepth();
        const href = await this.locate(t).evaluate((el) => el.href);
        // Check and click in one synchronous page task: nothing of this page view has been
        // sent when the link is activated (el.click(): a keyboard-style activation).
        const [, pre] = await Promise.all([
          this.page.waitForURL(href, { waitUntil: 'load' }),
          this.locate(t).evaluate((el) => {
            const r = { fetches: sightline._debug.fetch, beacons: sightline._debug.beacon, queued: sightline.pending.queued };
            if (r.fetches === 0 && r.beacons === 0) el.click();
            return r;
          }),
        ]).catch(async (e) => [null, { error: e.message }]);
        check(`${this.spec.name}: nothing sent before the unload-only click on ${this.pv.key}`,
          pre && pre.fetches === 0 && pre.beacons === 0 && pre.queued > 0, JSON.stringify(pre));
        if (!pre || pre.fetches !== 0 || pre.beacons !== 0) throw new Error('scenario: could not exercise the pagehide-beacon path');
        this.pv.clicks.push({ selector, dead: false });
        this.pv.beaconOnly = true;
        await this.onNewPageView('link');
        return;
      }
      case 'scroll': {
        await this.page.evaluate((to) => window.scrollTo(0, to === 'top' ? 0 : document.documentElement.scrollHeight), a[0]);
        await sleep(400); // let the snippet's rAF and the page's fade animations run
        await this.sampleDepth();
        return;
      }
      case 'pushState': {
        await this.sampleDepth();
        await this.page.evaluate((u) => history.pushState({}, '', u), a[0]);
        await this.onNewPageView('spa');
        return;
      }
      case 'track': {
        await this.page.evaluate(([n, p]) => sightline.track(n, p), a);
        this.rec.timeline.push({ event: a[0] });
        return;
      }
      case 'survey': {
        await this.page.evaluate((args) => sightline.survey(...args), a);
        const [survey_id, question_id, kind, value] = a;
        this.rec.surveys.push({ survey_id, question_id, kind, value });
        return;
      }
      case 'feedback': {
        await this.page.evaluate((f) => sightline.feedback(f), a[0]);
        this.rec.feedback.push({ ...a[0], page: this.pv.key });
        return;
      }
      case 'settle': {
        // flush() waits out pending click windows (≤ 2.6 s) and resolves once the server said 2xx.
        const ok = await Promise.race([
          this.page.evaluate(() => sightline.flush()),
          sleep(20_000).then(() => 'no answer in 20 s (server down, or refusing this origin / CORS?)'),
        ]);
        check(`${this.spec.name}: sightline.flush() delivered everything on ${this.pv.key}`, ok === true, `flush() → ${ok}`);
        return;
      }
      case 'wait': await sleep(a[0]); return;
      case 'close': {
        await this.sampleDepth();
        await this.page.close(); // fires pagehide: the snippet beacons what is left
        await sleep(500); // let the beacon leave before the context (and its network) goes
        return;
      }
      default: throw new Error(`scenario: unknown step ${op}`);
    }
  }

  async run() {
    this.page = await this.ctx.newPage();
    this.page.setDefaultTimeout(15_000);
    this.page.on('pageerror', (e) => log(`  page error (${this.spec.name}): ${e.message}`));
    for (const [i, s] of this.spec.steps.entries()) {
      this.nextOp = (this.spec.steps[i + 1] || [])[0];
      try {
        await this.step(s);
      } catch (e) {
        throw new Error(`${this.spec.name} step ${JSON.stringify(s[0])} ${s[1] && s[1].css ? s[1].css : s[1] || ''}: ${e.message}`);
      }
    }
    log(`${this.spec.name}: ${this.rec.pageviews.map((p) => p.key.slice(p.key.indexOf('/'))).join(' → ')}`);
  }
}

// ---- expectations, derived from the ledger ----------------------------------------------
const DEPTHS = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100];

function expected() {
  const pages = {};
  const pv = (key) => (pages[key] ||= { page: key, pageviews: 0, clicks: 0, grid_total: 0, elements: {}, scroll: Object.fromEntries(DEPTHS.map((d) => [d, 0])), el_centred: {} });
  for (const s of ledger) {
    for (const p of s.pageviews) {
      const h = pv(p.key);
      h.pageviews++;
      for (const d of DEPTHS) if (p.depth >= d) h.scroll[d]++;
      const bursts = new Set();
      for (const c of p.clicks) {
        h.clicks++;
        h.grid_total++;
        const e = (h.elements[c.selector] ||= { zone: '', clicks: 0, rage_clicks: 0, dead_clicks: 0 });
        e.clicks++;
        if (c.dead) e.dead_clicks++;
        if (c.burst && !bursts.has(c.burst)) { bursts.add(c.burst); e.rage_clicks++; }
        h.el_centred[c.selector] = true; // every scenario click is at the element's centre
      }
    }
  }
  // Journeys: paths with consecutive repeats collapsed.
  const paths = ledger.filter((s) => s.pageviews.length).map((s) => ({ s, path: s.pageviews.map((p) => p.key).filter((k, i, a) => i === 0 || a[i - 1] !== k) }));
  const count = (m, k) => m.set(k, (m.get(k) || 0) + 1);
  const tr = new Map(), en = new Map(), bo = new Map(), ex = new Map(), pa = new Map();
  for (const { s, path: p } of paths) {
    for (let i = 1; i < p.length; i++) count(tr, `${p[i - 1]} → ${p[i]}`);
    count(en, p[0]);
    if (s.pageviews.length === 1) count(bo, p[0]);
    count(ex, p[p.length - 1]);
    count(pa, p.slice(0, 5).join(' → '));
  }
  const journeys = {
    sessions: paths.length,
    transitions: Object.fromEntries(tr),
    entries: Object.fromEntries([...en].map(([k, n]) => [k, { sessions: n, bounces: bo.get(k) || 0 }])),
    exits: Object.fromEntries(ex),
    paths: Object.fromEntries(pa),
  };
  // Funnel: strict order, greedy, from any occurrence of step 1.
  const steps = FUNNEL.map((s) => (s.startsWith('page:') ? { page: keyOf(s.slice(5)) } : { event: s.slice(6) }));
  const hit = (st, t) => (st.page ? t.page === st.page : t.event === st.event);
  const funnel = steps.map(() => 0);
  for (const s of ledger) {
    let best = 0;
    s.timeline.forEach((t, i) => {
      if (!hit(steps[0], t)) return;
      let depth = 1, pos = i + 1;
      while (depth < steps.length) {
        const j = s.timeline.slice(pos).findIndex((x) => hit(steps[depth], x));
        if (j < 0) break;
        pos += j + 1; depth++;
      }
      best = Math.max(best, depth);
    });
    for (let k = 0; k < best; k++) funnel[k]++;
  }
  // Voice of customer: the latest answer per (survey, question, session).
  const surveys = {};
  for (const s of ledger) {
    const latest = new Map();
    for (const r of s.surveys) latest.set(`${r.survey_id}/${r.question_id}`, r);
    for (const [k, r] of latest) {
      const q = (surveys[k] ||= { kind: r.kind, responses: 0, distribution: {}, values: [] });
      q.responses++;
      q.distribution[String(r.value)] = (q.distribution[String(r.value)] || 0) + 1;
      q.values.push(r.value);
    }
  }
  for (const q of Object.values(surveys)) {
    const n = q.values.length;
    q.nps = q.kind === 'nps' ? Math.round((q.values.filter((v) => v >= 9).length - q.values.filter((v) => v <= 6).length) * 1000 / n) / 10 : null;
    q.mean = Math.round(q.values.reduce((a, b) => a + b, 0) / n * 100) / 100; // to 2 decimals, as api.md says
    delete q.values;
  }
  const fb = ledger.flatMap((s) => s.feedback);
  const mean = (xs) => (xs.length ? Math.round(xs.reduce((a, f) => a + f.rating, 0) / xs.length * 100) / 100 : null);
  const byPage = {};
  for (const f of fb) (byPage[f.page] ||= []).push(f);
  const feedback = {
    count: fb.length,
    mean_rating: mean(fb),
    by_page: Object.fromEntries(Object.entries(byPage).map(([p, xs]) => [p, { count: xs.length, mean_rating: mean(xs) }])),
  };
  return { heatmap: pages, journeys, funnel, voc: { surveys, feedback } };
}

// ---- what the server says, in the same shape --------------------------------------------
function day(offset) {
  const d = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate() + offset));
  return d.toISOString().slice(0, 10);
}
const RANGE = `from=${day(0)}&to=${day(1)}`;

async function actual(exp) {
  const out = { heatmap: {}, journeys: null, funnel: null, voc: null };
  const errors = [];
  const get = async (p) => {
    const r = await api('GET', p);
    if (r.status !== 200 || !r.json) { errors.push(`GET ${p} → ${r.status} ${r.text.slice(0, 200)}`); return null; }
    return r.json;
  };
  const pageUrls = Object.fromEntries(ledger.flatMap((s) => s.pageviews.map((p) => [p.key, p.url])));
  const keys = Object.keys(exp.heatmap);
  await Promise.all(keys.map(async (key, i) => {
    // Ask by page key, and for every other page by its full raw URL (both must work).
    const u = i % 2 ? pageUrls[key] : key;
    const h = await get(`/v1/sites/${SITE}/heatmap?url=${encodeURIComponent(u)}&${RANGE}`);
    if (!h) return;
    const elements = {};
    const el_centred = {};
    for (const e of h.elements || []) {
      elements[e.selector] = { zone: e.zone || '', clicks: e.clicks, rage_clicks: e.rage_clicks, dead_clicks: e.dead_clicks };
      el_centred[e.selector] = !!e.el && Math.abs(e.el.x - 0.5) <= 0.1 && Math.abs(e.el.y - 0.5) <= 0.1;
    }
    out.heatmap[key] = {
      page: h.page,
      pageviews: h.pageviews,
      clicks: h.clicks,
      grid_total: (h.grid || []).reduce((a, c) => a + c.count, 0),
      elements,
      scroll: Object.fromEntries(DEPTHS.map((d) => [d, ((h.scroll || []).find((s) => s.depth === d) || { pageviews: 0 }).pageviews])),
      el_centred,
    };
  }));
  const j = await get(`/v1/sites/${SITE}/journeys?${RANGE}`);
  if (j) {
    out.journeys = {
      sessions: j.sessions,
      transitions: Object.fromEntries((j.transitions || []).map((t) => [`${t.from} → ${t.to}`, t.count])),
      entries: Object.fromEntries((j.entries || []).map((e) => [e.page, { sessions: e.sessions, bounces: e.bounces }])),
      exits: Object.fromEntries((j.exits || []).map((e) => [e.page, e.sessions])),
      paths: Object.fromEntries((j.paths || []).map((p) => [p.pages.join(' → '), p.sessions])),
    };
  }
  const steps = FUNNEL.map((s) => (s.startsWith('page:') ? keyOf(s.slice(5)) : s)).map(encodeURIComponent).join(',');
  const f = await get(`/v1/sites/${SITE}/funnel?steps=${steps}&window=30m&${RANGE}`);
  if (f) out.funnel = (f.steps || []).map((s) => s.sessions);
  const v = await get(`/v1/sites/${SITE}/voc?${RANGE}`);
  if (v) {
    const surveys = {};
    for (const s of v.surveys || []) {
      surveys[`${s.survey_id}/${s.question_id}`] = { kind: s.kind, responses: s.responses, distribution: s.distribution, nps: s.nps, mean: s.mean };
    }
    const fb = v.feedback || {};
    out.voc = {
      surveys,
      feedback: {
        count: fb.count,
        mean_rating: fb.mean_rating,
        by_page: Object.fromEntries((fb.by_page || []).map((p) => [p.page, { count: p.count, mean_rating: p.mean_rating }])),
      },
    };
  }
  return { out, errors };
}

/** Leaf-by-leaf comparison: returns [passedCount, diffs]. */
function compare(exp, act, at = '') {
  let passed = 0;
  const diffs = [];
  if (exp !== null && typeof exp === 'object' && !Array.isArray(exp)) {
    if (act === undefined || act === null) return [0, [`${at}: missing, expected ${JSON.stringify(exp)}`]];
    const keys = new Set([...Object.keys(exp), ...Object.keys(act && typeof act === 'object' ? act : {})]);
    for (const k of keys) {
      if (!(k in exp)) { diffs.push(`${at}/${k}: unexpected ${JSON.stringify(act[k])}`); continue; }
      const [p, d] = compare(exp[k], act && typeof act === 'object' ? act[k] : undefined, `${at}/${k}`);
      passed += p; diffs.push(...d);
    }
    return [passed, diffs];
  }
  const eq = typeof exp === 'number' && typeof act === 'number' ? Math.abs(exp - act) < 1e-6 : isDeepStrictEqual(exp, act);
  if (eq) passed++;
  else diffs.push(`${at}: expected ${JSON.stringify(exp)}, got ${JSON.stringify(act)}`);
  return [passed, diffs];
}

// ---- main -------------------------------------------------------------------------------
async function main() {
  if (DRY_RUN) SITE ||= 'dry-run';
  else {
  if (!TOKEN) throw new Error('SIGHTLINE_TOKEN is not set');
  const health = await fetch(`${SL}/healthz`).then((r) => r.status, (e) => e.message);
  if (health !== 200) throw new Error(`${SL}/healthz → ${health}: is the server running?`);
  if (!SITE) {
    const r = await api('POST', '/v1/sites', { name: `e2e-${Date.now()}`, origins: [ORIGIN] });
    if (r.status !== 201 || !r.json?.key) throw new Error(`creating a site → ${r.status} ${r.text}`);
    SITE = r.json.key;
    log(`created site ${SITE} for ${ORIGIN}`);
  }
  const base = await api('GET', `/v1/sites/${SITE}/journeys?${RANGE}`);
  if (base.status !== 200) throw new Error(`GET journeys → ${base.status} ${base.text.slice(0, 200)}`);
  if (base.json.sessions > 0) throw new Error(`site ${SITE} already has ${base.json.sessions} sessions today: use a fresh site (or leave SIGHTLINE_SITE unset)`);
  }

  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const pages = await startPageServer({ port: PAGE_PORT, sightlineUrl: SL, site: SITE });
  // A normal desktop Chrome user agent (the server flags HeadlessChrome as a bot). It goes on
  // the command line too: the context's override does not reach beacons sent while a page
  // unloads, which would otherwise go out as HeadlessChrome and make the session a bot's.
  const userAgent = desktopUserAgent();
  const browser = await launchChromium(userAgent);
  try {
    for (const spec of SCENARIO) {
      const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 }, userAgent, locale: 'en-US' });
      try { await new SessionRun(ctx, spec).run(); } finally { await ctx.close(); }
    }
  } finally {
    await browser.close();
    await pages.close();
  }
  for (const [css, sels] of selectorsSeen) {
    check(`selector of ${css} is the same on every load`, sels.size === 1, JSON.stringify([...sels]));
  }
  const sids = ledger.map((s) => s.sessionId);
  check('every browser context got its own session', new Set(sids).size === sids.length, JSON.stringify(sids));

  const exp = expected();
  printScenario(exp);
  if (DRY_RUN) {
    console.log(JSON.stringify(exp, null, 1));
    for (const d of checks.failed) console.log('  ' + d);
    console.log(`e2e (dry run, browser side only): ${checks.passed} passed, ${checks.failed.length} failed`);
    return checks.failed.length ? 1 : 0;
  }
  log(`polling the query API (${RANGE}) for up to ${POLL_MS / 1000} s`);
  const until = Date.now() + POLL_MS;
  let last = null;
  for (;;) {
    await api('POST', '/v1/admin/rollup/run').catch(() => null); // 404 or anything else: ignored
    const { out, errors } = await actual(exp);
    const [passed, diffs] = compare(exp, out);
    last = { passed, diffs: [...errors, ...diffs], out };
    if (!last.diffs.length || Date.now() > until) break;
    await sleep(1000);
  }
  checks.passed += last.passed;
  checks.failed.push(...last.diffs);
  fs.writeFileSync(path.join(ARTIFACTS, 'e2e-actual.json'), JSON.stringify(last.out, null, 2));
  fs.writeFileSync(path.join(ARTIFACTS, 'e2e-expected.json'), JSON.stringify(exp, null, 2));
  if (checks.failed.length) {
    console.log('\nMISMATCH (expected vs server):');
    for (const d of checks.failed) console.log('  ' + d);
    console.log(`  (full JSON in ${ARTIFACTS}/e2e-expected.json and e2e-actual.json)`);
  }
  console.log(`e2e: ${checks.passed} passed, ${checks.failed.length} failed`);
  return checks.failed.length ? 1 : 0;
}

function printScenario(exp) {
  log('ledger (what the browser did):');
  for (const s of ledger) {
    for (const p of s.pageviews) {
      const c = p.clicks.map((x) => `${x.dead ? 'dead' : 'live'}${x.burst ? '+rage' : ''}`).join(',');
      log(`  ${s.name.padEnd(13)} ${p.key.padEnd(50)} depth ${String(p.depth).padStart(5)}  clicks [${c}]${p.beaconOnly ? '  (beacon only)' : ''}`);
    }
  }
  log(`expected funnel ${FUNNEL.join(' → ')}: ${JSON.stringify(exp.funnel)}; journeys: ${exp.journeys.sessions} sessions`);
}

main().then((code) => process.exit(code), (e) => {
  console.error(`e2e: ${e.stack || e.message}`);
  console.log(`e2e: ${checks.passed} passed, ${checks.failed.length + 1} failed`);
  process.exit(1);
});
