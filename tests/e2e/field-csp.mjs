#!/usr/bin/env node
// C10, a strict Content-Security-Policy (run by tests/field_cases.rs). The pages are served
// on PAGE_PORT by pageserver.mjs's startCspProxy (the page server itself on PAGE_PORT2) with
// `Content-Security-Policy: script-src 'self' 'nonce-N'; style-src 'self' 'nonce-N'` (a
// fresh N per page, on the page's own tags, the snippet's among them: no 'unsafe-inline',
// no 'unsafe-eval'). On blank.html the browser clicks, sends a
// rating through the feedback tab, answers the NPS survey and tracks an event; then opens the
// page's overlay link. Expected: not one `securitypolicyviolation` event and no CSP console
// error from the snippet, the widgets or the overlay; the widgets and the overlay styled (their
// shadow roots' sheets applied); and the query API has exactly what the browser sent. A
// control at the end proves the policy is enforced: an inline style attribute and an
// un-nonced <style> set by the test are each reported once.
import { check, checkEq, flush, get, log, ORIGIN, overlayLink, pollUntil, run, shot, sleep, snippetReady, watchCsp } from './field-lib.mjs';
import { startCspProxy } from './pageserver.mjs';

const PORT2 = +process.env.PAGE_PORT2;

const cspErrors = (w) => w.consoleErrors.filter((m) => /Content Security Policy|Refused to/i.test(m));

run('csp', async ({ ctx }) => {
  const proxy = await startCspProxy({ port: +new URL(ORIGIN).port, target: `http://127.0.0.1:${PORT2}` });
  try { await scenario(ctx); } finally { await proxy.close(); }
}, { port: PORT2 });

async function scenario(ctx) {
  const page = await ctx.newPage();
  const w = await watchCsp(page);
  await page.goto(`${ORIGIN}/blank.html`, { waitUntil: 'load' });
  await snippetReady(page);
  await page.waitForFunction(() => window.sightline._widgets === true, null, { timeout: 10_000 });

  // A click, the feedback tab, the survey, a custom event.
  const h1 = page.locator('h1.h3').first();
  const selector = await h1.evaluate((el) => window.sightline._selector(el));
  await h1.click();
  const tab = page.locator('button.tab');
  checkEq('the feedback tab is styled (its shadow root sheet applies)', await tab.evaluate((t) => getComputedStyle(t).position), 'fixed');
  await tab.click();
  const form = page.locator('div.box[role=dialog]:has(h2:text("Send feedback"))');
  await form.waitFor({ state: 'visible', timeout: 3000 });
  checkEq('the feedback form is placed by its class (no style attribute)', await form.evaluate((b) => getComputedStyle(b.parentElement).position), 'fixed');
  await form.locator('label:has(input[value="4"])').click();
  await shot(page, 'feedback-form');
  await form.getByRole('button', { name: 'Send' }).click();
  await page.locator('div.box[role=dialog]').waitFor({ state: 'detached', timeout: 5000 });
  check('the NPS survey opens', await page.evaluate(() => window.sightline.showSurvey('nps')));
  const survey = page.locator('div.box[role=dialog][data-survey="nps"]');
  await survey.waitFor({ state: 'visible', timeout: 3000 });
  await survey.locator('label:has(input[value="9"])').click();
  await shot(page, 'survey');
  await survey.getByRole('button', { name: 'Send' }).click();
  await page.evaluate(() => window.sightline.track('csp-ok', { n: 1 }));
  await flush(page, 'csp page');
  await page.close();
  checkEq('no CSP violation on the page (snippet and widgets)', w.violations, []);
  checkEq('no CSP console error on the page', cspErrors(w), []);
  checkEq('no page error', w.pageErrors, []);

  const url = `${ORIGIN}/blank.html`;
  await pollUntil('the query API has what the browser sent', async () => {
    const h = await get('heatmap', { url });
    const v = await get('voc');
    const nps = v.surveys.find((s) => s.survey_id === 'nps');
    return { pageviews: h.pageviews, elements: h.elements.map((e) => [e.selector, e.clicks]),
      nps: nps && nps.distribution, feedback: v.feedback.count, rating: v.feedback.mean_rating };
  }, { pageviews: 1, elements: [[selector, 1]], nps: { 9: 1 }, feedback: 1, rating: 4 });

  // The overlay under the same policy.
  const ov = await ctx.newPage();
  const wo = await watchCsp(ov);
  await ov.goto(await overlayLink(url), { waitUntil: 'load' });
  await ov.waitForFunction(() => window.sightline?._overlayState?.ready, null, { timeout: 15_000 });
  const st = await ov.evaluate(() => ({ error: window.sightline._overlayState.error, boxes: window.sightline._overlayState.boxes.map((b) => b.selector),
    bar: getComputedStyle(document.querySelector('[data-sightline-widget=overlay]').shadowRoot.querySelector('.bar')).position }));
  await sleep(300);
  await shot(ov, 'overlay');
  checkEq('the overlay draws the clicked element', { error: st.error, boxes: st.boxes }, { error: null, boxes: [selector] });
  checkEq('the overlay is styled (its shadow root sheet applies)', st.bar, 'fixed');
  checkEq('no CSP violation with the overlay', wo.violations, []);
  checkEq('no CSP console error with the overlay', cspErrors(wo), []);

  // Control: the policy is enforced (each of these is refused and reported once).
  await ov.evaluate(() => {
    document.body.setAttribute('style', 'outline: 1px solid red');
    const s = document.createElement('style');
    s.textContent = 'body { outline: 1px solid red }';
    document.head.appendChild(s);
  });
  await sleep(300);
  checkEq('control: an inline style attribute and an un-nonced <style> are refused',
    wo.violations.map((v) => v.directive).sort(), ['style-src-attr', 'style-src-elem']);
  log(`overlay drew ${st.boxes.length} box(es); violations after the control: ${wo.violations.length}`);
}
