// Issue 20 in a real browser: SB Admin 2 pages tagged with the real posthog-js and the real
// Segment analytics.js (from npm), pointed at Sightline, unchanged. One scenario per client
// (page views, clicks, a rage burst, a custom event, an identify), then /journeys, /funnel,
// /heatmap elements and /problems must equal what was done, and the clients must log no
// console errors.
//
// With COMPAT_RECORD=<dir>, every request the clients send to Sightline is written to
// <dir>/<client>.json (method, path and query, headers, body as base64, capture time): the
// fixtures tests/compat.rs replays.
//
// env: SIGHTLINE_URL, SIGHTLINE_TOKEN, PAGE_PORT (the page server of each scenario in turn;
// the recording proxy on PAGE_PORT + 1).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { desktopUserAgent, launchChromium } from './browser.mjs';
import { startPageServer } from './pageserver.mjs';
import { SL, api } from './sightline-api.mjs';
import { apiRange } from './days.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const PAGE_PORT = Number(process.env.PAGE_PORT || 18081);
const RECORD = process.env.COMPAT_RECORD || '';
const started = Date.now();
const log = (...a) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] compat:`, ...a);
const deadline = setTimeout(() => { console.error('compat: gave up after 240 s'); process.exit(1); }, 240_000);

const failed = [];
let passed = 0;
function check(what, actual, expected) {
  const a = JSON.stringify(actual), e = JSON.stringify(expected);
  if (a === e) passed++; else failed.push(`${what}: expected ${e}, got ${a}`);
}

const run = Math.random().toString(16).slice(2, 10);
// posthog's HTML snippet as its docs give it (posthog-js 1.449): a stub that loads
// `api_host + "/static/array.js"`, which Sightline serves. Only `api_host` is changed.
const POSTHOG_SNIPPET = `!function(t,e){var o,n,p,r;e.__SV||(window.posthog && window.posthog.__loaded)||(window.posthog=e,e._i=[],e.init=function(i,s,a){function g(t,e){var o=e.split(".");2==o.length&&(t=t[o[0]],e=o[1]),t[e]=function(){t.push([e].concat(Array.prototype.slice.call(arguments,0)))}}(p=t.createElement("script")).type="text/javascript",p.crossOrigin="anonymous",p.async=!0,p.src=s.api_host.replace(".i.posthog.com","-assets.i.posthog.com")+"/static/array.js",(r=t.getElementsByTagName("script")[0]).parentNode.insertBefore(p,r);var u=e;for(void 0!==a?u=e[a]=[]:a="posthog",u.people=u.people||[],u.toString=function(t){var e="posthog";return"posthog"!==a&&(e+="."+a),t||(e+=" (stub)"),e},u.people.toString=function(){return u.toString(1)+".people (stub)"},o="init capture register register_once register_for_session unregister unregister_for_session getFeatureFlag getFeatureFlagPayload isFeatureEnabled reloadFeatureFlags updateEarlyAccessFeatureEnrollment getEarlyAccessFeatures on onFeatureFlags onSurveysLoaded onSessionId getSurveys getActiveMatchingSurveys renderSurvey canRenderSurvey canRenderSurveyAsync identify setPersonProperties group resetGroups setPersonPropertiesForFlags resetPersonPropertiesForFlags setGroupPropertiesForFlags resetGroupPropertiesForFlags reset get_distinct_id getGroups get_session_id get_session_replay_url alias set_config startSessionRecording stopSessionRecording sessionRecordingStarted captureException loadToolbar get_property getSessionProperty createPersonProfile opt_in_capturing opt_out_capturing has_opted_in_capturing has_opted_out_capturing clear_opt_in_out_capturing debug getPageViewId captureTraceFeedback captureTraceMetric".split(" "),n=0;n<o.length;n++)g(u,o[n]);e._i.push([i,s,a])},e.__SV=1)}(document,window.posthog||[]);`;
const posthogInit = (key, api, extra = '') => `posthog.init(${JSON.stringify(key)}, { api_host: ${JSON.stringify(api)}, autocapture: true,
  capture_pageview: true, capture_pageleave: true, persistence: 'localStorage', request_batching: true${extra} });`;

const CLIENTS = {
  posthog: {
    key: `phc_e2e${run}`,
    port: PAGE_PORT,
    files: {},
    head: (key, api) => `<script>${POSTHOG_SNIPPET}\n${posthogInit(key, api)}</script>`,
    custom: (page) => page.evaluate(() => posthog.capture('signup', { plan: 'pro' })),
    identify: (page) => page.evaluate(() => posthog.identify('user-42')),
    flush: async (page) => { await page.waitForTimeout(3500); }, // posthog-js sends its queue every 3 s
  },
  segment: {
    key: `seg_e2e${run}`,
    port: PAGE_PORT,
    files: { '/vendor/segment.js': path.join(here, 'node_modules/@segment/analytics-next/dist/umd/index.js') },
    head: (key, api) => `<script src="/vendor/segment.js"></script>
<script>window.analytics = AnalyticsNext.AnalyticsBrowser.load({ writeKey: ${JSON.stringify(key)}, cdnURL: ${JSON.stringify(api)} },
  { integrations: { 'Segment.io': { apiHost: ${JSON.stringify(api.replace(/^https?:\/\//, '') + '/v1')}, protocol: 'http' } } });
analytics.page();</script>`,
    custom: (page) => page.evaluate(() => analytics.track('signup', { plan: 'pro' })),
    identify: (page) => page.evaluate(() => analytics.identify('user-42')),
    flush: async (page) => { await page.waitForTimeout(1000); },
  },
};

/** With COMPAT_RECORD: a proxy on `port` in front of Sightline that records every request as
 * it came off the wire (beacons sent while a page unloads included), host header kept. */
function startRecorder(port) {
  const target = new URL(SL);
  const recorded = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.method !== 'OPTIONS') {
        recorded.push({
          method: req.method, path: req.url, at: Date.now(),
          headers: Object.fromEntries(['content-type', 'content-encoding', 'authorization'].filter((k) => req.headers[k]).map((k) => [k, req.headers[k]])),
          body: body.length ? body.toString('base64') : null,
        });
      }
      const fwd = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
      });
      fwd.on('error', (e) => { res.writeHead(502); res.end(String(e)); });
      fwd.end(body);
    });
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${port}`, recorded, close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  })));
}

// posthog-js bundled by the site (`array.full.js` served from the site's own origin) with
// compression off: plain JSON posts, and its page-hide beacons as base64 forms
// (`?compression=base64`, `data=`).
CLIENTS['posthog-plain'] = {
  ...CLIENTS.posthog,
  key: `phc_plain${run}`,
  files: { '/vendor/posthog.js': path.join(here, 'node_modules/posthog-js/dist/array.full.js') },
  head: (key, api) => `<script src="/vendor/posthog.js"></script>\n<script>${posthogInit(key, api, ', disable_compression: true')}</script>`,
};

const SEARCH_BUTTON = 'nav form.navbar-search button.btn-primary';
const CHARTS_LINK = 'a.nav-link[href="charts.html"]';

async function scenario(browser, userAgent, name) {
  const c = CLIENTS[name];
  const recorder = RECORD ? await startRecorder(PAGE_PORT + 1) : null;
  const API = recorder ? recorder.url : SL;
  const pages = await startPageServer({ port: c.port, sightlineUrl: SL, site: '', headHtml: c.head(c.key, API), files: c.files });
  const origin = pages.origin;
  const site = (await api('POST', '/v1/sites', { name: `compat ${name} ${run}`, origins: [origin], settings: { compat_keys: [c.key] } })).json;
  const errors = [];
  let seen = null;
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 }, userAgent, locale: 'en-US' });
  try {
    const page = await ctx.newPage();
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      const at = m.location()?.url || '';
      // The theme links fonts on the internet, which this offline machine cannot reach, and
      // the page server has no favicon: neither is the clients'.
      if (/ERR_NAME_NOT_RESOLVED/.test(m.text()) && !at.startsWith(API)) return;
      if (at === `${origin}/favicon.ico`) return;
      errors.push(`${m.text()} (${at})`);
    });
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => { if (r.url().startsWith(API)) errors.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`); });
    page.on('response', (r) => { if (r.url().startsWith(API) && r.status() >= 400) errors.push(`${r.status()} from ${r.request().method()} ${r.url()}`); });

    // index: a page view, a rage burst on the search button (4 clicks, 150 ms apart), one
    // click on the Charts link (which navigates), a custom event and an identify.
    await page.goto(`${origin}/index.html`, { waitUntil: 'load' });
    await page.waitForTimeout(1500);
    for (let i = 0; i < 4; i++) { await page.click(SEARCH_BUTTON); await page.waitForTimeout(150); }
    await c.custom(page);
    await c.identify(page);
    await c.flush(page);
    // How much of the index page was seen (posthog's $pageleave sends it): bottom of the
    // viewport over the document height.
    seen = await page.evaluate(() => Math.min(1, Math.ceil(window.scrollY + window.innerHeight) / Math.ceil(document.documentElement.scrollHeight)));
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click(CHARTS_LINK)]);
    await page.waitForTimeout(1500);
    await c.flush(page);
    // Leaving the page: posthog-js sends $pageleave by sendBeacon.
    await page.goto('about:blank');
    await page.waitForTimeout(1500);
    await page.close();
  } finally {
    await ctx.close();
    await pages.close();
    if (recorder) await recorder.close();
  }
  if (recorder) {
    fs.mkdirSync(RECORD, { recursive: true });
    const requests = recorder.recorded;
    fs.writeFileSync(path.join(RECORD, `${name}.json`), JSON.stringify({ client: name, key: c.key, origin, requests }, null, 1) + '\n');
    log(`${name}: ${requests.length} requests recorded`);
  }
  check(`${name}: console errors`, errors, []);
  return { site: site.key, origin, host: origin.replace(/^https?:\/\//, ''), seen };
}

async function waitStats(site, atLeast) {
  for (let i = 0; i < 300; i++) {
    const s = (await api('GET', `/v1/sites/${site}/stats`)).json;
    if (s.events >= atLeast) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  // Let the rollup job catch up (two idle passes, as the Rust harness does).
  let idle = 0;
  while (idle < 2) {
    const r = (await api('POST', '/v1/admin/rollup/run')).json;
    idle = r.sessions === 0 ? idle + 1 : 0;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function verify(name, { site, host, seen }) {
  const index = `${host}/index.html`, charts = `${host}/charts.html`;
  const range = apiRange();
  // posthog: 2 page views, 5 clicks, the client's rage signal, signup, identify, page leave(s);
  // Segment: 2 page views, signup, identify.
  await waitStats(site, name.startsWith('posthog') ? 12 : 4);
  const j = (await api('GET', `/v1/sites/${site}/journeys?${range}`)).json;
  check(`${name}: journeys transitions`, j.transitions.map((t) => [t.from, t.to, t.count]), [[index, charts, 1]]);
  check(`${name}: journeys sessions`, j.sessions, 1);
  const f = (await api('GET', `/v1/sites/${site}/funnel?${range}&count=persons&steps=${encodeURIComponent(`${index},event:signup,${charts}`)}`)).json;
  check(`${name}: funnel`, f.steps.map((s) => [s.sessions, s.visitors, s.persons]), [[1, 1, 1], [1, 1, 1], [1, 1, 1]]);
  const s = (await api('GET', `/v1/sites/${site}/sessions?${range}`)).json;
  check(`${name}: sessions`, s.sessions.length, 1);
  const h = (await api('GET', `/v1/sites/${site}/heatmap?${range}&url=${encodeURIComponent(`http://${index}`)}`)).json;
  const els = h.elements.map((e) => [e.selector, e.clicks, e.rage_clicks, e.dead_clicks, e.el]);
  const problems = (await api('GET', `/v1/sites/${site}/problems?${range}`)).json;
  if (name.startsWith('posthog')) {
    // The selectors the snippet would give these elements (docs/analytics.md, "Selector").
    const search = 'nav.navbar.navbar-expand.navbar-light > form.d-none.d-sm-inline-block.form-inline > div.input-group > div.input-group-append > button.btn.btn-primary';
    const chartsLink = 'ul#accordionSidebar > li.nav-item:nth-of-type(5) > a.nav-link';
    // 4 clicks on the search button in one burst: one rage click, never dead (a tracker's
    // click has no reaction time); the Charts link once. No position: el null, no grid.
    check(`${name}: heatmap elements`, els, [[search, 4, 1, 0, null], [chartsLink, 1, 0, 0, null]]);
    check(`${name}: heatmap grid (posthog sends no click position)`, h.grid, []);
    check(`${name}: heatmap says what is missing`, [h.unplaced_clicks, h.missing], [5, ['click_position']]);
    const depth = Math.round(seen * 1000) / 10;
    check(`${name}: scroll from $pageleave (seen ${depth} %)`, h.scroll.map((s) => s.pageviews),
      [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100].map((d) => (depth >= d ? 1 : 0)));
    check(`${name}: problems pages`, problems.pages.map((p) => [p.page, p.rage_clicks, p.dead_clicks]), [[index, 1, 0]]);
    check(`${name}: problems elements`, problems.elements.map((e) => [e.selector, e.rage_clicks, e.dead_clicks]), [[search, 1, 0]]);
    // The client's own rage signal, kept as a custom event, agrees with Sightline's count.
    const rage = (await api('GET', `/v1/sites/${site}/funnel?${range}&steps=${encodeURIComponent('event:$rageclick')}`)).json;
    check(`${name}: the client's $rageclick kept`, rage.steps.map((s) => s.sessions), [1]);
  } else {
    check(`${name}: heatmap elements (Segment sends no clicks)`, els, []);
    check(`${name}: heatmap says what is missing (no clicks, no scroll depth)`, [h.unplaced_clicks, h.missing], [0, ['clicks', 'scroll']]);
    check(`${name}: problems pages`, problems.pages.map((p) => [p.page, p.rage_clicks, p.dead_clicks]), []);
  }
}

try {
  const userAgent = desktopUserAgent();
  const browser = await launchChromium(userAgent);
  const done = {};
  try {
    for (const name of Object.keys(CLIENTS)) {
      if (process.env.COMPAT_ONLY && process.env.COMPAT_ONLY !== name) continue;
      log(`${name}: playing`);
      done[name] = await scenario(browser, userAgent, name);
    }
  } finally {
    await browser.close();
  }
  if (!process.env.COMPAT_NO_VERIFY) for (const [name, s] of Object.entries(done)) await verify(name, s);
  for (const d of failed) console.log('  ' + d);
  console.log(`compat e2e: ${passed} passed, ${failed.length} failed`);
  clearTimeout(deadline);
  process.exit(failed.length ? 1 : 0);
} catch (e) {
  console.error(`compat: ${e.stack || e.message}`);
  process.exit(1);
}
