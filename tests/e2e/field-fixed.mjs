#!/usr/bin/env node
// C5, fixed and sticky headers (run by tests/field_cases.rs). On blank.html the SB Admin 2
// top bar gets Bootstrap's `fixed-top` (position: fixed) and a section bar `sticky-top`
// (position: sticky), and the article grows to several viewports with a button deep in it.
// The browser clicks the fixed header and the stuck sticky bar while scrolled ~3,200 px, the
// article button at page y ~3,600, then the header and the (no longer stuck) bar again at
// the top. Expected, from where the browser clicked: clicks on the fixed header and on the
// stuck bar in viewport coordinates (both header clicks in one grid cell), every other click
// in page coordinates; the position inside each element; and the scroll depth the page
// reached, untouched by the clicks.
import { approx, check, flush, get, log, ORIGIN, pollUntil, run, shot, sleep, snippetReady } from './field-lib.mjs';

function buildPage() {
  document.querySelector('nav.topbar').classList.add('fixed-top');
  document.getElementById('content-wrapper').style.overflowX = 'clip'; // hidden would stop sticky
  const brand = document.createElement('span');
  brand.className = 'fc-brand h5 m-0 text-gray-800';
  brand.textContent = 'Field case: fixed header';
  document.querySelector('nav.topbar').prepend(brand);
  const box = document.querySelector('#content .container-fluid');
  box.style.paddingTop = '80px'; // below the fixed header (CSSOM)
  const bar = document.createElement('div');
  bar.className = 'sticky-top bg-white border-bottom py-2';
  bar.style.top = '72px';
  bar.innerHTML = '<span class="fc-section h6 text-primary">Section bar (sticky)</span>';
  const spacer = (h) => { const d = document.createElement('div'); d.className = 'fc-spacer'; d.style.height = h + 'px'; return d; };
  const button = document.createElement('button');
  button.className = 'btn btn-secondary fc-article';
  button.textContent = 'Article button';
  box.append(bar, spacer(3400), button, spacer(1200));
}

function depthFn() { // analytics.md's scroll depth, as the snippet measures it
  const de = document.documentElement;
  const h = Math.max(de.scrollHeight, document.body ? document.body.scrollHeight : 0);
  return Math.max(0, Math.min(100, Math.round((window.scrollY + window.innerHeight) / h * 1000) / 10));
}

run('fixed', async ({ ctx }) => {
  const page = await ctx.newPage();
  await page.goto(`${ORIGIN}/blank.html`, { waitUntil: 'load' });
  await snippetReady(page);
  await page.evaluate(buildPage);
  const clicks = []; // { selector, x, y (as the heatmap should place them), ex, ey }
  let depth = 0;
  async function scrollTo(y) {
    await flush(page, `before scrolling to ${y}`); // settle earlier clicks: a scroll would be their reaction
    await page.evaluate((y) => window.scrollTo(0, y), y);
    await sleep(1000); // the page's scroll-to-top button fades (a DOM change) for 400 ms
    depth = Math.max(depth, await page.evaluate(depthFn));
  }
  /** Click `css` at fractions (fx, fy) of its box; `space` says where the heatmap must put it. */
  async function click(css, fx, fy, space) {
    const loc = page.locator(css).first();
    const b = await loc.boundingBox();
    const x = Math.round(b.x + b.width * fx), y = Math.round(b.y + b.height * fy);
    const [sx, sy, selector, cs] = await loc.evaluate((el) => [scrollX, scrollY, window.sightline._selector(el), getComputedStyle(el.closest('.fixed-top,.sticky-top') || el).position]);
    await page.mouse.click(x, y);
    const at = space === 'viewport' ? [x, y] : [x + sx, y + sy];
    clicks.push({ selector, x: at[0], y: at[1], ex: (x - b.x) / b.width, ey: (y - b.y) / b.height });
    log(`${css} (${cs}) at viewport ${x},${y}, scrolled ${sy}: expected at ${space} ${at}`);
  }

  await scrollTo(3200);
  await click('.fc-brand', 0.3, 0.6, 'viewport'); // fixed header
  await click('.fc-section', 0.5, 0.5, 'viewport'); // sticky bar, stuck at top: 72px
  check('the sticky bar is stuck while scrolled', await page.locator('.sticky-top').evaluate((e) => Math.round(e.getBoundingClientRect().top) === 72));
  await click('.fc-article', 0.25, 0.5, 'page'); // in the article, page y ~3,600
  await shot(page, 'scrolled-3200');
  await scrollTo(0);
  await click('.fc-brand', 0.3, 0.6, 'viewport'); // the same spot of the header, at the top
  await click('.fc-section', 0.5, 0.5, 'page'); // not stuck: in the flow
  await shot(page, 'top');
  await flush(page, 'end');
  depth = Math.max(depth, await page.evaluate(depthFn));
  await page.close(); // pagehide: the snippet reports the scroll depth
  await sleep(500);

  const h0 = await get('heatmap', { url: `${ORIGIN}/blank.html` });
  const cell = h0.grid_cell_px;
  const key = (x, y) => `${Math.floor(x / cell)},${Math.floor(y / cell)}`;
  check('both header clicks fall in one grid cell', key(clicks[0].x, clicks[0].y) === key(clicks[3].x, clicks[3].y), clicks);
  check('the article click is deep in the page', clicks[2].y > 3000, clicks[2]);
  const elements = {};
  for (const c of clicks) {
    const e = (elements[c.selector] ||= { clicks: 0, dead_clicks: 0, ex: 0, ey: 0 });
    e.clicks++; e.dead_clicks++; // none of these elements reacts
    e.ex += c.ex; e.ey += c.ey;
  }
  for (const e of Object.values(elements)) { e.ex /= e.clicks; e.ey /= e.clicks; }
  const scroll = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100].map((d) => ({ depth: d, pageviews: depth >= d ? 1 : 0 }));
  log(`deepest point ${depth} %`);
  await pollUntil('grid cells, elements (clicks, dead, position in the element) and scroll depth', async () => {
    const h = await get('heatmap', { url: `${ORIGIN}/blank.html` });
    return {
      cells: h.grid.flatMap((c) => Array(c.count).fill(`${c.x},${c.y}`)).sort(),
      elements: Object.fromEntries(h.elements.map((e) => [e.selector, { clicks: e.clicks, dead_clicks: e.dead_clicks,
        ex: approx(e.el.x, elements[e.selector]?.ex), ey: approx(e.el.y, elements[e.selector]?.ey) }])),
      scroll: h.scroll,
    };
  }, { cells: clicks.map((c) => key(c.x, c.y)).sort(), elements, scroll });
});
