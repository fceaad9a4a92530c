#!/usr/bin/env node
// C3, cross-origin iframes (run by tests/field_cases.rs). The parent page (blank.html,
// SIGHTLINE_SITE) embeds buttons.html from another origin (PAGE_PORT2) that has the snippet
// of its own site (SIGHTLINE_SITE2), as a payment or video frame would. The browser clicks the
// parent once and, inside the frame, a dead heading, a rage burst and a link that reacts.
// Decided behaviour: a click inside a cross-origin frame belongs to the frame's site only, at
// frame-local page coordinates; the parent records nothing of it (no click, no dead click on
// the <iframe>), and the frame's URL is no page or journey step of the parent's site.
import { check, checkEq, flush, get, log, ORIGIN, pollUntil, recordEvents, run, shot, sleep, snippetReady } from './field-lib.mjs';
import { startPageServer } from './pageserver.mjs';

const SITE2 = process.env.SIGHTLINE_SITE2;
const PORT2 = +process.env.PAGE_PORT2;
const FRAME_URL = `http://127.0.0.1:${PORT2}/buttons.html`;

// In-frame targets: css (+ text), clicks, dead, rage.
const FRAME_CLICKS = [
  { css: 'h1.h3', n: 1, dead: true },
  { css: 'h6', text: 'Circle Buttons', n: 3, dead: true, rage: true },
  { css: '#accordionSidebar a.nav-link[data-target="#collapseTwo"]', n: 1, dead: false },
];

/** Expected heatmap elements from clicks: { selector: { clicks, rage_clicks, dead_clicks } }. */
function tally(clicks) {
  const out = {};
  for (const c of clicks) {
    const e = (out[c.selector] ||= { clicks: 0, rage_clicks: 0, dead_clicks: 0 });
    e.clicks += c.n;
    e.dead_clicks += c.dead ? c.n : 0;
    e.rage_clicks += c.rage ? 1 : 0;
  }
  return out;
}

async function elements(url, site) {
  const h = await get('heatmap', { url }, site);
  return { pageviews: h.pageviews, clicks: h.clicks,
    elements: Object.fromEntries(h.elements.map((e) => [e.selector, { clicks: e.clicks, rage_clicks: e.rage_clicks, dead_clicks: e.dead_clicks }])),
    cells: h.grid.flatMap((c) => Array(c.count).fill(`${c.x},${c.y}`)).sort(), cell: h.grid_cell_px };
}

run('iframe', async ({ ctx }) => {
  if (!SITE2 || !PORT2) throw new Error('SIGHTLINE_SITE2 and PAGE_PORT2 must be set');
  const frameServer = await startPageServer({ port: PORT2, sightlineUrl: process.env.SIGHTLINE_URL, site: SITE2 });
  try {
    const page = await ctx.newPage();
    const sent = recordEvents(page); // both documents' requests: the page's and the frame's
    await page.goto(`${ORIGIN}/blank.html`, { waitUntil: 'load' });
    await snippetReady(page);
    await page.evaluate((src) => new Promise((res) => {
      const f = document.createElement('iframe');
      f.id = 'fc-frame'; f.src = src; f.width = '800'; f.height = '500';
      f.addEventListener('load', res, { once: true });
      document.querySelector('#content .container-fluid').appendChild(f);
    }), FRAME_URL);
    const frame = page.frame({ url: FRAME_URL });
    await snippetReady(frame);
    check('the frame is cross-origin', await page.evaluate(() => { try { return !document.getElementById('fc-frame').contentDocument; } catch { return true; } }));

    // The parent's own click: a dead heading.
    const parentTarget = page.locator('h1.h3').first();
    const parentClicks = [{ selector: await parentTarget.evaluate((el) => window.sightline._selector(el)), n: 1, dead: true }];
    await parentTarget.click();

    // Inside the frame: page.mouse clicks at main-frame coordinates land in the frame.
    const off = await page.locator('#fc-frame').evaluate((f) => {
      const r = f.getBoundingClientRect(), cs = getComputedStyle(f);
      return { x: r.left + parseFloat(cs.borderLeftWidth) + parseFloat(cs.paddingLeft), y: r.top + parseFloat(cs.borderTopWidth) + parseFloat(cs.paddingTop) };
    });
    const frameClicks = [], framePoints = [];
    for (const t of FRAME_CLICKS) {
      const loc = frame.locator(t.css, t.text ? { hasText: t.text } : undefined).first();
      const selector = await loc.evaluate((el) => window.sightline._selector(el));
      const b = await loc.boundingBox(); // main-frame viewport coordinates
      const scroll = await frame.evaluate(() => [scrollX, scrollY]);
      for (let i = 0; i < t.n; i++) {
        const x = Math.round(b.x + b.width / 2), y = Math.round(b.y + b.height / 2);
        await page.mouse.click(x, y);
        framePoints.push([Math.round(x - off.x + scroll[0]), Math.round(y - off.y + scroll[1])]); // frame-local page px
        if (i < t.n - 1) await sleep(150);
      }
      frameClicks.push({ ...t, selector });
      await flush(frame, selector); // waits out the click window: the next target's reaction is not this one's
    }
    await shot(page, 'parent-with-frame');
    await flush(frame, 'frame');
    await flush(page, 'parent');
    await sent.idle();
    log(`parent clicks ${JSON.stringify(parentClicks)}; frame clicks ${JSON.stringify(frameClicks.map((c) => [c.selector, c.n]))}`);

    const parentSent = sent.events.filter((e) => e.type === 'click' && e.url.startsWith(ORIGIN));
    checkEq('the parent sent only its own click', parentSent.map((e) => e.selector), parentClicks.map((c) => c.selector));

    const expParent = { pageviews: 1, clicks: 1, elements: tally(parentClicks) };
    await pollUntil('parent page: its page view and its one click, nothing of the frame', async () => {
      const h = await elements(`${ORIGIN}/blank.html`);
      return { pageviews: h.pageviews, clicks: h.clicks, elements: h.elements };
    }, expParent);
    const cell = (await get('heatmap', { url: FRAME_URL }, SITE2)).grid_cell_px;
    const expFrame = { pageviews: 1, clicks: framePoints.length, elements: tally(frameClicks),
      cells: framePoints.map(([x, y]) => `${Math.floor(x / cell)},${Math.floor(y / cell)}`).sort() };
    await pollUntil('frame page (its own site): its clicks at frame-local coordinates', async () => {
      const h = await elements(FRAME_URL, SITE2);
      delete h.cell;
      return h;
    }, expFrame);
    await pollUntil('the parent\'s journey is its page alone', async () => {
      const j = await get('journeys');
      return { sessions: j.sessions, entries: j.entries.map((e) => e.page), transitions: j.transitions.length };
    }, { sessions: 1, entries: [(await get('heatmap', { url: `${ORIGIN}/blank.html` })).page], transitions: 0 });
    checkEq('the frame\'s URL is no page of the parent\'s site', (await get('heatmap', { url: FRAME_URL })).pageviews, 0);
  } finally { await frameServer.close(); }
});
