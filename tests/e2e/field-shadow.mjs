#!/usr/bin/env node
// C2, shadow DOM (run by tests/field_cases.rs). On blank.html the scenario adds web
// components, as a third-party widget library would: <fc-card> (open shadow root) with a
// button that toggles a panel inside its root (a reaction only the root sees), a dead label,
// and a nested <fc-badge> (its own open root) whose dead button gets a rage burst; and
// <fc-closed>, a closed root whose inside cannot be entered (its clicks are its host's).
// Every click lands at a chosen point of its element. Expected: one heatmap element per
// clicked element under the selector the snippet gives (crossing the roots, and resolving
// back to that element only through sightline._query, as the overlay does), with the
// clicks, rage and dead clicks the browser produced and the mean position in the element.
import { approx, check, flush, get, log, ORIGIN, pollUntil, run, shot, sleep, snippetReady } from './field-lib.mjs';

function defineComponents() {
  const css = ':host{display:block;margin:16px;padding:12px;border:1px solid #888}button,span{display:inline-block;width:160px;height:40px;margin:8px}';
  customElements.define('fc-badge', class extends HTMLElement {
    constructor() {
      super();
      const r = this.attachShadow({ mode: 'open' });
      r.innerHTML = `<style>${css}</style><button class="badge">Badge (does nothing)</button>`;
    }
  });
  customElements.define('fc-card', class extends HTMLElement {
    constructor() {
      super();
      const r = this.attachShadow({ mode: 'open' });
      r.innerHTML = `<style>${css}</style><button class="toggle">Toggle details</button>` +
        '<span class="label">Static label</span><p class="details" hidden>Details</p><fc-badge></fc-badge>';
      r.querySelector('.toggle').addEventListener('click', () => { const p = r.querySelector('.details'); p.hidden = !p.hidden; });
    }
  });
  customElements.define('fc-closed', class extends HTMLElement {
    constructor() {
      super();
      const r = this.attachShadow({ mode: 'closed' });
      r.innerHTML = `<style>${css}</style><button>Closed root button</button>`;
    }
  });
  const box = document.querySelector('#content .container-fluid') || document.body;
  box.prepend(document.createElement('fc-closed'));
  box.prepend(document.createElement('fc-card'));
}

// What is clicked: a Playwright locator (its css engine enters open roots), the point in the
// element as fractions, how often, and whether the page reacts.
const TARGETS = [
  { name: 'toggle (reacts inside its root)', css: 'fc-card button.toggle', at: [0.25, 0.75], n: 2, dead: false },
  { name: 'label (dead)', css: 'fc-card span.label', at: [0.8, 0.2], n: 1, dead: true },
  { name: 'nested badge (rage)', css: 'fc-badge button.badge', at: [0.5, 0.5], n: 3, dead: true, rage: true },
  { name: 'closed root (its host)', css: 'fc-closed', at: [0.5, 0.5], n: 1, dead: true },
];

run('shadow', async ({ ctx }) => {
  const page = await ctx.newPage();
  await page.goto(`${ORIGIN}/blank.html`, { waitUntil: 'load' });
  await snippetReady(page);
  await page.evaluate(defineComponents);
  await sleep(200);
  const expected = {};
  for (const t of TARGETS) {
    const loc = page.locator(t.css).first();
    const info = await loc.evaluate((el) => {
      const sel = window.sightline._selector(el);
      const found = window.sightline._query(sel);
      return { sel, only: found.length === 1 && found[0] === el, inShadow: el.getRootNode() !== document };
    });
    log(`${t.name}: ${info.sel}`);
    check(`${t.name}: its selector resolves to it alone`, info.only, info.sel);
    if (info.inShadow) check(`${t.name}: the selector crosses the shadow boundary`, info.sel.includes(' >>> '), info.sel);
    const box = await loc.boundingBox();
    for (let i = 0; i < t.n; i++) {
      await page.mouse.click(box.x + box.width * t.at[0], box.y + box.height * t.at[1]);
      if (i < t.n - 1) await sleep(150);
    }
    const e = (expected[info.sel] ||= { clicks: 0, rage_clicks: 0, dead_clicks: 0, el: { x: 0, y: 0 } });
    e.clicks += t.n;
    e.dead_clicks += t.dead ? t.n : 0;
    e.rage_clicks += t.rage ? 1 : 0;
    e.el = { x: t.at[0], y: t.at[1] };
    await flush(page, t.name); // waits out the click window: the next target's reaction is not this one's
  }
  await shot(page, 'components-clicked');
  const total = TARGETS.reduce((a, t) => a + t.n, 0);
  await pollUntil('heatmap elements (clicks, rage, dead, position in the element)', async () => {
    const h = await get('heatmap', { url: `${ORIGIN}/blank.html` });
    const out = {};
    for (const e of h.elements) {
      const exp = expected[e.selector];
      out[e.selector] = { clicks: e.clicks, rage_clicks: e.rage_clicks, dead_clicks: e.dead_clicks,
        el: e.el && { x: approx(e.el.x, exp?.el.x), y: approx(e.el.y, exp?.el.y) } };
    }
    return { clicks: h.clicks, elements: out };
  }, { clicks: total, elements: expected });
});
