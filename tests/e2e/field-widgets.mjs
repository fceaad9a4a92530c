#!/usr/bin/env node
// Findings 1 and 2 on the widgets (run by tests/field_cases.rs; the site has an NPS survey
// shown by sightline.showSurvey('nps') and the feedback tab).
//   1. Every rating scale sits on one row: the NPS survey's 0–10 and the feedback form's 1–5,
//      at desktop (1280 px) and phone (375 px) widths — every option's box has the same top,
//      and each is inside the viewport. Screenshots of each.
//   2. In overlay mode (the page opened by its signed overlay link) the snippet loads no
//      widgets and collects nothing: no feedback tab or survey in the DOM, no request for
//      /s/widgets.js, and not one request to /v1/events however the page is used (a click,
//      the JS API, a flush, closing the tab); the server's event count does not move.
import { api, check, checkEq, get, log, ORIGIN, overlayLink, run, shot, sleep, SITE, SL, snippetReady } from './field-lib.mjs';

/** Boxes of the options of the scale in the open dialog `dialog`, and the viewport. */
async function scale(page, dialog) {
  return page.locator(`${dialog} .scale label`).evaluateAll((ls) => ({
    boxes: ls.map((l) => { const r = l.getBoundingClientRect(); return { text: l.textContent, top: Math.round(r.top), left: r.left, right: r.right, bottom: r.bottom }; }),
    vw: innerWidth, vh: innerHeight,
  }));
}

/** Check that the options (lo..hi) of a scale are one row inside the viewport. */
function oneRow(name, { boxes, vw, vh }, lo, hi) {
  checkEq(`${name}: the options`, boxes.map((b) => b.text), Array.from({ length: hi - lo + 1 }, (_, i) => String(lo + i)));
  checkEq(`${name}: one row (every option's top)`, [...new Set(boxes.map((b) => b.top))].length, 1);
  check(`${name}: every option inside the viewport`, boxes.every((b) => b.left >= 0 && b.right <= vw && b.bottom <= vh), { boxes, vw, vh });
}

async function scales(browser, userAgent, label, viewport, mobile) {
  const ctx = await browser.newContext({ viewport, userAgent, locale: 'en-US', ...(mobile ? { isMobile: true, hasTouch: true, deviceScaleFactor: 2 } : {}) });
  try {
    const page = await ctx.newPage();
    await page.goto(`${ORIGIN}/blank.html`, { waitUntil: 'load' });
    await snippetReady(page);
    await page.waitForFunction(() => window.sightline._widgets === true, null, { timeout: 10_000 });
    check(`${label}: the NPS survey opens`, await page.evaluate(() => window.sightline.showSurvey('nps')));
    const nps = 'div.box[role=dialog][data-survey="nps"]';
    await page.locator(nps).waitFor({ state: 'visible', timeout: 3000 });
    oneRow(`${label} NPS 0–10`, await scale(page, nps), 0, 10);
    await shot(page, `${label}-nps`);
    await page.keyboard.press('Escape');
    await page.locator(nps).waitFor({ state: 'detached', timeout: 3000 });
    await page.locator('button.tab').click();
    const fb = 'div.box[role=dialog]:has(h2:text("Send feedback"))';
    await page.locator(fb).waitFor({ state: 'visible', timeout: 3000 });
    oneRow(`${label} feedback 1–5`, await scale(page, fb), 1, 5);
    await shot(page, `${label}-feedback`);
  } finally { await ctx.close(); }
}

async function overlayMode(browser, userAgent) {
  const url = `${ORIGIN}/blank.html`;
  const link = await overlayLink(url);
  const before = (await api('GET', `/v1/sites/${SITE}/stats`)).json.events;
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 }, userAgent, locale: 'en-US' });
  const seen = { events: 0, widgets: 0, overlay: 0 };
  ctx.on('request', (r) => {
    const u = r.url();
    if (u.startsWith(`${SL}/v1/events`)) seen.events++;
    if (u.startsWith(`${SL}/s/widgets.js`)) seen.widgets++;
    if (u.startsWith(`${SL}/s/overlay.js`)) seen.overlay++;
  });
  try {
    const page = await ctx.newPage();
    await page.goto(link, { waitUntil: 'load' });
    await page.waitForFunction(() => window.sightline?._overlayState?.ready, null, { timeout: 15_000 });
    await sleep(2500); // the config fetch and the widgets would have come by now
    const dom = await page.evaluate(() => ({
      hosts: [...document.querySelectorAll('[data-sightline-widget]')].map((h) => h.getAttribute('data-sightline-widget') || 'widget'),
      widgets: window.sightline._widgets === true, showSurvey: typeof window.sightline.showSurvey,
    }));
    checkEq('overlay mode: only the overlay is in the DOM (no feedback tab, no survey)', dom, { hosts: ['overlay'], widgets: false, showSurvey: 'undefined' });
    await shot(page, 'overlay-mode');
    await page.locator('h1.h3').first().click();
    const r = await page.evaluate(() => {
      window.sightline.track('from-overlay', {});
      window.sightline.feedback({ rating: 3, comment: 'must not be sent' });
      window.sightline.survey('nps', 'q1', 'nps', 7);
      return window.sightline.flush();
    });
    log(`overlay mode flush() → ${r}`);
    await page.close(); // pagehide: a beacon would go now
    await sleep(1000);
  } finally { await ctx.close(); }
  checkEq('overlay mode: requests to /v1/events, /s/widgets.js, /s/overlay.js', seen, { events: 0, widgets: 0, overlay: 1 });
  await api('POST', '/v1/admin/rollup/run');
  checkEq('overlay mode: the server stored nothing more', (await api('GET', `/v1/sites/${SITE}/stats`)).json.events, before);
  checkEq('overlay mode: the page has no page view from the viewer', (await get('heatmap', { url })).pageviews, 0);
}

run('widgets', async ({ browser, userAgent }) => {
  await overlayMode(browser, userAgent); // first: the site has no events yet
  await scales(browser, userAgent, 'desktop', { width: 1280, height: 720 }, false);
  await scales(browser, userAgent, 'phone', { width: 375, height: 667 }, true);
});
