#!/usr/bin/env node
// C1, hash routers and double-firing navigation (run by tests/field_cases.rs).
//
// The same navigations are played on blank.html of two sites: SIGHTLINE_SITE routes by hash
// (page_keys.hash_routing), SIGHTLINE_SITE2 (pages on PAGE_PORT2) does not. Every way a
// router moves — location.hash (popstate + hashchange), pushState followed by the router's
// own popstate and hashchange, the same pushState twice 4 ms apart, a link click, back,
// replaceState to the same URL, an in-page anchor, a route dropped, another document — is
// one navigation. What each should count is derived from the browser's location after it:
// with hash routing a change of route (fragment starting with / or !) or of document is a
// page view and an anchor is not; without it, only a change of document is. Checked: the
// page views the snippet sent, and the query API's page views per page key and journey
// transitions (no self-loop).
import { check, checkEq, flush, get, log, ORIGIN, pollUntil, recordEvents, run, shot, sleep, snippetReady } from './field-lib.mjs';
import { startPageServer } from './pageserver.mjs';

const SITE2 = process.env.SIGHTLINE_SITE2;
const PORT2 = +process.env.PAGE_PORT2;

/** The navigations: each a function run in the page. */
const NAVS = [
  ['location.hash', () => { location.hash = '#/profile'; }],
  ['pushState + the router\'s popstate + hashchange', () => {
    const old = location.href;
    history.pushState({}, '', '#/orders/12');
    dispatchEvent(new PopStateEvent('popstate', { state: {} }));
    dispatchEvent(new HashChangeEvent('hashchange', { oldURL: old, newURL: location.href }));
  }],
  ['the same pushState twice, 4 ms apart', () => new Promise((res) => {
    history.pushState({}, '', '#/cart');
    setTimeout(() => { history.pushState({}, '', '#/cart'); res(); }, 4);
  })],
  ['a link to a route', () => {
    const a = document.createElement('a');
    a.href = '#!/help';
    a.textContent = 'help';
    document.body.appendChild(a);
    a.click();
    a.remove();
  }],
  ['history.back()', () => new Promise((res) => { addEventListener('popstate', () => setTimeout(res, 50), { once: true }); history.back(); })],
  ['replaceState to the same URL', () => { history.replaceState({ x: 1 }, '', location.href); }],
  ['an in-page anchor', () => { location.hash = '#install'; }],
  ['the route dropped (pushState to the bare page)', () => { history.pushState({}, '', location.pathname); }],
  ['an anchor on the bare page', () => { location.hash = '#top'; }],
  ['back to a route by location.hash', () => { location.hash = '#/settings'; }],
  ['another document, with a route', () => { history.pushState({}, '', 'cards.html#/deck'); }],
];

const isRoute = (frag) => /^#[!/]/.test(frag);
/** The page a URL is, for a site with or without hash routing (what the page key keeps). */
function pageOf(u, hashRouting) {
  const url = new URL(u);
  return url.origin + url.pathname + url.search + (hashRouting && isRoute(url.hash) ? url.hash : '');
}

/** Play NAVS on `origin`/blank.html#/settings; returns the ledger of page views expected. */
async function play(ctx, origin, hashRouting, label) {
  const page = await ctx.newPage();
  const sent = recordEvents(page);
  await page.goto(`${origin}/blank.html#/settings`, { waitUntil: 'load' });
  await snippetReady(page);
  let cur = pageOf(page.url(), hashRouting);
  const views = [cur];
  for (const [name, fn] of NAVS) {
    await page.evaluate(fn);
    await sleep(120);
    const href = await page.evaluate(() => location.href);
    const frag = new URL(href).hash;
    const next = pageOf(href, hashRouting);
    const anchor = frag.length > 1 && !isRoute(frag);
    if (next !== cur && !anchor) { views.push(next); cur = next; }
    log(`${label}: ${name} → ${href.slice(origin.length)} (${views.length} page views)`);
  }
  await shot(page, `${label}-after-navigation`);
  await flush(page, label);
  await sent.idle();
  const pvs = sent.events.filter((e) => e.type === 'pageview').map((e) => pageOf(e.url, hashRouting));
  checkEq(`${label}: the snippet sent one page view per navigation`, pvs, views);
  check(`${label}: no page view url carries an in-page anchor`,
    sent.events.every((e) => { const h = new URL(e.url).hash; return !h || isRoute(h); }), sent.events.map((e) => e.url));
  await page.close();
  return views;
}

/** The query API agrees with `views`: page views per page key, and the journey. */
async function verify(views, site, label) {
  // Page keys are the server's: ask the heatmap of each page by its URL.
  const keyOf = {};
  for (const u of new Set(views)) keyOf[u] = (await get('heatmap', { url: u }, site)).page;
  const counts = {};
  for (const u of views) counts[keyOf[u]] = (counts[keyOf[u]] || 0) + 1;
  await pollUntil(`${label}: page views per page key`, async () => {
    const out = {};
    for (const u of new Set(views)) out[keyOf[u]] = (await get('heatmap', { url: u }, site)).pageviews;
    return out;
  }, counts);
  const path = views.map((u) => keyOf[u]).filter((k, i, a) => i === 0 || a[i - 1] !== k);
  const transitions = {};
  for (let i = 1; i < path.length; i++) transitions[`${path[i - 1]} → ${path[i]}`] = (transitions[`${path[i - 1]} → ${path[i]}`] || 0) + 1;
  const j = await pollUntil(`${label}: journey transitions`, async () => {
    const r = await get('journeys', {}, site);
    return Object.fromEntries(r.transitions.map((t) => [`${t.from} → ${t.to}`, t.count]));
  }, transitions);
  check(`${label}: no self-loop in the journey`, !Object.keys(j).some((k) => { const [a, b] = k.split(' → '); return a === b; }), j);
  // An anchor is never a page of its own: /blank.html#install counts what its key counts.
  const anchor = await get('heatmap', { url: `${new URL(views[0]).origin}/blank.html#install` }, site);
  checkEq(`${label}: /blank.html#install (key ${anchor.page}) has no page views of its own`, anchor.pageviews, counts[anchor.page] || 0);
}

run('hash', async ({ ctx }) => {
  if (!SITE2 || !PORT2) throw new Error('SIGHTLINE_SITE2 and PAGE_PORT2 must be set');
  const pages2 = await startPageServer({ port: PORT2, sightlineUrl: process.env.SIGHTLINE_URL, site: SITE2 });
  try {
    const routed = await play(ctx, ORIGIN, true, 'hash-routing');
    const plain = await play(ctx, `http://127.0.0.1:${PORT2}`, false, 'no-hash-routing');
    check('hash routing: routes are page views', routed.length > plain.length, { routed, plain });
    await verify(routed, process.env.SIGHTLINE_SITE, 'hash-routing');
    await verify(plain, SITE2, 'no-hash-routing');
  } finally { await pages2.close(); }
});
