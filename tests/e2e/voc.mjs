#!/usr/bin/env node
// Voice-of-customer widgets in a real browser: Debian's Chromium (playwright-core), the real
// snippet (GET /s.js) and widgets (GET /s/widgets.js, loaded lazily), the SB Admin 2 pages.
//
//   SIGHTLINE_URL=… SIGHTLINE_TOKEN=… SIGHTLINE_SITE=<write key> PAGE_PORT=… node tests/e2e/voc.mjs
//
// The site must have the surveys of tests/e2e/voc-surveys.json (tests/voc.rs applies them
// with `sightline survey apply`) and no data today. Five browser contexts run in parallel:
//   desktop  index.html: leaving through the top edge at ~1 s does nothing; after 5 s it opens
//            exit-nps; answers 9, [Charts, Docs] and a text with an email; a second visit
//            (same visitor) after 5 s and an exit does not open it again (frequency cap).
//   mobile   index.html under mobile emulation: a slow upward scroll to the top does nothing;
//            a fast one (≥ 1000 px/s) opens exit-nps; answers 6, then Escape (partial answers);
//            tables.html: scrolling to the bottom opens the inline survey (scroll_depth 90 %,
//            placed inside #content), answered 3.
//   feedback charts.html: the feedback tab by keyboard, rating 2, category bug, a comment, an
//            element picked on the page; then sightline.track('signup') opens after-signup,
//            answered 4 with the keyboard.
//   reach    reach-pulse (manual, max_impressions 2) with two visitors: one is shown it and
//            closes it (×), is shown it on its next page view and closes it (Escape), and is not
//            shown it a third time (the cap); the other is shown it once and answers 8, and is
//            not asked again on its next page view (answered).
// The sampled-out survey never shows. /voc's reach must match what was shown, answered and
// closed (survey_shown / survey_dismissed): e.g. reach-pulse 2 impressions, 1 response (50 %). Then /voc must equal the answers given (PII scrubbed,
// each answer linked to its browser session), polled for up to 60 s.
// Prints `voc e2e: N passed, M failed`; exits 1 on any failure.
import { isDeepStrictEqual } from 'node:util';
import { chromiumMajor, desktopUserAgent, launchChromium } from './browser.mjs';
import { startPageServer } from './pageserver.mjs';
import { SL, TOKEN, api } from './sightline-api.mjs';
import { apiRange } from './days.mjs';

const SITE = process.env.SIGHTLINE_SITE || '';
const PAGE_PORT = +(process.env.PAGE_PORT || 18081);
const HOST = `127.0.0.1:${PAGE_PORT}`;
const started = Date.now();
const RANGE = apiRange();
const log = (...a) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s]`, ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const failed = [];
let passed = 0;
function check(name, ok, detail) {
  if (ok) passed++;
  else failed.push(detail === undefined ? name : `${name}: ${detail}`);
}
setTimeout(() => { console.error('voc e2e: gave up after 150 s'); process.exit(1); }, 150_000).unref();


// What the browser did, to derive the expected /voc from.
const given = { answers: [], feedback: [] };

const ANY = 'div.box[role=dialog]'; // our dialogs (the page has a role=dialog modal of its own)
const DIALOG = (id) => `div.box[role=dialog][data-survey="${id}"]`;
async function open(page, file) {
  await page.goto(`http://${HOST}/${file}`, { waitUntil: 'load' });
  await page.waitForFunction(() => window.sightline && window.sightline._widgets === true, null, { timeout: 10_000 });
}
async function noDialog(page, name) {
  await sleep(400);
  const n = await page.locator(ANY).count();
  check(name, n === 0, `${n} dialog(s) open`);
}
/** The pointer leaves the viewport through its top edge, moving up. */
async function exitTop(page) {
  await page.mouse.move(640, 300);
  await page.mouse.move(640, 40, { steps: 4 });
  await page.mouse.move(640, -30, { steps: 2 });
}
async function waitOnPage(page, ms) {
  await page.waitForFunction((t) => performance.now() >= t, ms, { timeout: ms + 5000, polling: 100 });
}
async function focusedInside(page, css) {
  return page.evaluate((css) => {
    const hosts = [...document.querySelectorAll('[data-sightline-widget]')];
    return hosts.some((h) => h.shadowRoot && h.shadowRoot.activeElement && h.shadowRoot.querySelector(css)?.contains(h.shadowRoot.activeElement));
  }, css);
}
async function sessionOf(page) { return page.evaluate(() => window.sightline.sessionId); }
async function answer(page, survey, question, kind, value, session) {
  given.answers.push({ survey, question, kind, value, session });
}

async function desktop(browser, ua) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 }, userAgent: ua, locale: 'en-US' });
  const page = await ctx.newPage();
  try {
    await open(page, 'index.html');
    const session = await sessionOf(page);
    // Time on page counts from the navigation: on a busy machine (five contexts load at once)
    // the page can take seconds to be ready, so an exit "before 5 s" is only made from a page
    // ready by 3 s; a slower load is reloaded (same session) until one is, 3 tries.
    let early = null;
    for (let i = 0; i < 3 && early === null; i++) {
      if (i) await open(page, 'index.html');
      await waitOnPage(page, 1000);
      const t = await page.evaluate(() => performance.now());
      if (t > 3000) { log(`desktop: index.html was ready only after ${t.toFixed(0)} ms: reloading`); continue; }
      await exitTop(page);
      early = await page.evaluate(() => performance.now());
    }
    check('desktop: a page ready before 3 s to leave early from (3 tries)', early !== null);
    await noDialog(page, `desktop: leaving through the top before 5 s on the page (at ${early && early.toFixed(0)} ms) opens nothing`);
    await waitOnPage(page, 5200);
    await page.mouse.move(640, 400);
    await page.mouse.move(10, 400, { steps: 3 }); // leaving sideways (left edge) is not exit intent
    await page.mouse.move(-20, 400, { steps: 2 });
    await noDialog(page, 'desktop: leaving through the left edge opens nothing');
    await exitTop(page);
    const dlg = page.locator(DIALOG('exit-nps'));
    await dlg.waitFor({ state: 'visible', timeout: 3000 });
    check('desktop: exit intent after 5 s opens exit-nps', true);
    const labelled = await dlg.evaluate((b) => b.getRootNode().getElementById(b.getAttribute('aria-labelledby'))?.textContent);
    check('desktop: the dialog is labelled by its title', labelled === 'Before you go', labelled);
    check('desktop: focus moves into the dialog', await focusedInside(page, DIALOG('exit-nps')));
    check('desktop: the page CSS does not reach the widget',
      await dlg.evaluate((b) => getComputedStyle(b).fontFamily.includes('system-ui')), await dlg.evaluate((b) => getComputedStyle(b).fontFamily));
    await dlg.locator('label:has(input[value="9"])').click();
    await dlg.getByRole('button', { name: 'Next' }).click();
    answer(page, 'exit-nps', 'q1', 'nps', 9, session);
    await dlg.locator('label:has(input[value="Charts"])').click();
    await dlg.locator('label:has(input[value="Docs"])').click();
    await dlg.getByRole('button', { name: 'Next' }).click();
    answer(page, 'exit-nps', 'q2', 'choice', ['Charts', 'Docs'], session);
    await dlg.locator('textarea').fill('Love the charts 😀 — write me at jo.doe@mail.example');
    await dlg.getByRole('button', { name: 'Send' }).click();
    answer(page, 'exit-nps', 'q3', 'text', 'Love the charts 😀 — write me at [email]', session);
    await page.locator(ANY).waitFor({ state: 'detached', timeout: 5000 });
    await page.evaluate(() => window.sightline.flush());

    // Second visit by the same visitor: the frequency cap (once per visitor) holds.
    await open(page, 'index.html');
    await waitOnPage(page, 5200);
    await exitTop(page);
    await noDialog(page, 'desktop: the frequency cap holds on a second visit');
    await page.evaluate(() => window.sightline.flush());
  } finally { await ctx.close(); }
}

async function mobile(browser, major) {
  const ua = `Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${major}.0.0.0 Mobile Safari/537.36`;
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, userAgent: ua, locale: 'en-US' });
  const page = await ctx.newPage();
  try {
    await open(page, 'index.html');
    const session = await sessionOf(page);
    const scrollUp = (from, step) => page.evaluate(([from, step]) => new Promise((res) => {
      window.scrollTo({ top: from, behavior: 'instant' });
      let y = from;
      const tick = () => {
        y = Math.max(0, y - step);
        window.scrollTo({ top: y, behavior: 'instant' });
        if (y > 0) requestAnimationFrame(tick); else setTimeout(res, 100);
      };
      setTimeout(() => requestAnimationFrame(tick), 250);
    }), [from, step]);
    await scrollUp(600, 4); // ~240 px/s at 60 frames/s
    await noDialog(page, 'mobile: a slow upward scroll to the top opens nothing');
    await scrollUp(3000, 150); // ~9000 px/s
    const dlg = page.locator(DIALOG('exit-nps'));
    await dlg.waitFor({ state: 'visible', timeout: 3000 });
    check('mobile: a fast upward scroll near the top opens exit-nps', true);
    await dlg.locator('label:has(input[value="6"])').tap();
    await dlg.getByRole('button', { name: 'Next' }).tap();
    answer(page, 'exit-nps', 'q1', 'nps', 6, session);
    await page.keyboard.press('Escape');
    await page.locator(ANY).waitFor({ state: 'detached', timeout: 3000 });
    check('mobile: Escape closes the survey (only the answers given are sent)', true);
    await page.evaluate(() => window.sightline.flush());

    // tables.html: scrolling to 90 % of the page opens the inline survey inside #content.
    await open(page, 'tables.html');
    await noDialog(page, 'mobile: the inline survey waits for its scroll depth');
    await page.evaluate(() => window.scrollTo({ top: document.documentElement.scrollHeight, behavior: 'instant' }));
    const inline = page.locator(DIALOG('inline-rating'));
    await inline.waitFor({ state: 'visible', timeout: 3000 });
    const placed = await inline.evaluate((b) => {
      const host = b.getRootNode().host;
      return host.parentElement.id === 'content' && getComputedStyle(host).position !== 'fixed';
    });
    check('mobile: scroll depth opens the inline survey inside its element', placed);
    await inline.locator('label:has(input[value="3"])').tap();
    await inline.getByRole('button', { name: 'Send' }).tap();
    answer(page, 'inline-rating', 'q1', 'rating', 3, session);
    await page.locator(ANY).waitFor({ state: 'detached', timeout: 5000 });
    await page.evaluate(() => window.sightline.flush());
  } finally { await ctx.close(); }
}

async function feedback(browser, ua) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 }, userAgent: ua, locale: 'en-US' });
  const page = await ctx.newPage();
  try {
    await open(page, 'charts.html');
    const session = await sessionOf(page);
    await page.locator('button.tab').focus();
    await page.keyboard.press('Enter');
    const dlg = page.locator(`${ANY}:has(h2:text("Send feedback"))`);
    await dlg.waitFor({ state: 'visible', timeout: 3000 });
    check('feedback: the tab opens the form from the keyboard', true);
    check('feedback: focus moves into the form', await focusedInside(page, ANY));
    await dlg.locator('label:has(input[value="2"])').click();
    await dlg.locator('select').selectOption('bug');
    await dlg.locator('textarea').fill('The Charts link is hard to find');
    await dlg.getByRole('button', { name: 'Pick an element' }).click();
    // The label inside the sidebar's "Charts" link is clicked: the pick names the link, the
    // element a click there is counted on (its nearest interactive ancestor), and the link
    // does not navigate while picking.
    const target = page.locator('a.nav-link span', { hasText: 'Charts' });
    const expectedSel = await target.evaluate((el) => window.sightline._selector(el.closest('a')));
    const spanSel = await target.evaluate((el) => window.sightline._selector(el));
    const before = page.url();
    // A click on the page itself (<html>, <body>) picks nothing: picking goes on (fourth trial:
    // a click beside the page stored selector "html").
    for (const root of ['documentElement', 'body']) {
      await page.evaluate((r) => document[r].dispatchEvent(new MouseEvent('click', { bubbles: true, cancelable: true, detail: 1 })), root);
    }
    await sleep(200);
    check('feedback: a click on the page itself picks nothing (the form stays closed)', !(await dlg.isVisible()));
    await target.hover();
    await target.click();
    await dlg.waitFor({ state: 'visible', timeout: 3000 });
    const shown = await dlg.locator('[data-picked]').textContent();
    check('feedback: the picked element is the nearest link or button, as for clicks, and is shown in the form',
      shown === `Element: ${expectedSel}` && expectedSel !== spanSel, `${shown} vs ${expectedSel} (span ${spanSel})`);
    check('feedback: picking a link does not follow it', page.url() === before, page.url());
    // A custom event fires while the form is open: its popup survey waits, so the two never
    // sit on top of each other in the corner (re-check trial), and opens once the form closes.
    await page.evaluate(() => window.sightline.track('signup', { plan: 'pro' }));
    await sleep(300);
    check('one dialog at a time: the survey waits while the feedback form is open',
      (await page.locator(DIALOG('after-signup')).count()) === 0 && (await page.locator(ANY).count()) === 1);
    await dlg.getByRole('button', { name: 'Send' }).click();
    given.feedback.push({ page: `${HOST}/charts.html`, rating: 2, category: 'bug', comment: 'The Charts link is hard to find', selector: expectedSel, session });
    await dlg.waitFor({ state: 'detached', timeout: 5000 });

    // The custom event's after-signup survey opens now; answered with the keyboard alone.
    const sv = page.locator(DIALOG('after-signup'));
    await sv.waitFor({ state: 'visible', timeout: 3000 });
    check('custom event: sightline.track("signup") opens after-signup once the feedback form has closed', (await page.locator(ANY).count()) === 1);
    await page.screenshot({ path: `${process.env.E2E_ARTIFACTS || 'test-artifacts'}/voc-survey-after-feedback.png` });
    await sleep(50);
    await page.keyboard.press('ArrowRight'); // from 1 (focused) to 4
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    answer(page, 'after-signup', 'q1', 'csat', 4, session);
    await page.locator(ANY).waitFor({ state: 'detached', timeout: 5000 });
    await page.evaluate(() => window.sightline.flush());
  } finally { await ctx.close(); }
}

/** /voc as the answers given imply it. */
function expected() {
  const q = {};
  for (const a of given.answers) (q[`${a.survey}/${a.question}`] ||= { kind: a.kind, items: [] }).items.push(a);
  const surveys = {};
  for (const [k, { kind, items }] of Object.entries(q)) {
    const dist = {};
    for (const a of items) for (const v of [].concat(a.value)) dist[String(v)] = (dist[String(v)] || 0) + 1;
    const nums = items.map((a) => a.value).filter((v) => typeof v === 'number');
    const share = (f) => Math.round(nums.filter(f).length * 1000 / nums.length) / 10;
    // One response per answer (a multi-choice answer is one, however many options it
    // chose); free text has no distribution.
    const e = { kind, responses: items.length, sessions: items.length, distribution: kind === 'text' ? {} : dist,
      mean: ['nps', 'csat', 'rating'].includes(kind) ? Math.round(nums.reduce((x, y) => x + y, 0) / nums.length * 100) / 100 : null,
      nps: kind === 'nps' ? Math.round((share((v) => v >= 9) - share((v) => v <= 6)) * 10) / 10 : null,
      csat: kind === 'csat' ? share((v) => v >= 4) : null };
    if (kind === 'choice') e.choices = ['Charts', 'Tables', 'Docs'].map((o) => ({ option: o, count: dist[o] || 0 }));
    if (kind === 'text') e.texts = items.map((a) => ({ text: a.value, session: a.session, split: 0 }));
    surveys[k] = e;
  }
  const f = given.feedback;
  return { surveys, feedback: {
    count: f.length, negative: f.filter((x) => x.rating <= 2).length,
    by_element: f.filter((x) => x.selector).map((x) => ({ page: x.page, selector: x.selector, count: 1, mean_rating: x.rating, negative: x.rating <= 2 ? 1 : 0 })),
    recent: f.map((x) => ({ page: x.page, rating: x.rating, category: x.category, comment: x.comment, selector: x.selector, session: x.session, split: 0 })),
  } };
}

function actualOf(voc) {
  const surveys = {};
  for (const s of voc.surveys) {
    const e = { kind: s.kind, responses: s.responses, sessions: s.sessions, distribution: s.distribution, mean: s.mean, nps: s.nps, csat: s.csat };
    if (s.choices) e.choices = s.choices;
    if (s.text) e.texts = s.text.recent.map((t) => ({ text: t.text, session: t.session, split: t.split }));
    surveys[`${s.survey_id}/${s.question_id}`] = e;
  }
  const fb = voc.feedback;
  return { surveys, feedback: {
    count: fb.count, negative: fb.negative, by_element: fb.by_element,
    recent: fb.recent.map((x) => ({ page: x.page, rating: x.rating, category: x.category, comment: x.comment, selector: x.selector, session: x.session, split: x.split })),
  } };
}

async function reachScenario(browser, ua) {
  const show = (page) => page.evaluate(() => window.sightline.showSurvey('reach-pulse'));
  const dlg = (page) => page.locator(DIALOG('reach-pulse'));
  const ctxA = await browser.newContext({ viewport: { width: 1280, height: 720 }, userAgent: ua, locale: 'en-US' });
  const ctxB = await browser.newContext({ viewport: { width: 1280, height: 720 }, userAgent: ua, locale: 'en-US' });
  try {
    const a = await ctxA.newPage();
    await open(a, 'blank.html');
    check('reach: showSurvey opens reach-pulse', await show(a));
    await dlg(a).waitFor({ state: 'visible', timeout: 3000 });
    await dlg(a).getByRole('button', { name: 'Close survey' }).click();
    await dlg(a).waitFor({ state: 'detached', timeout: 3000 });
    await a.evaluate(() => window.sightline.flush());
    await open(a, 'blank.html');
    check('reach: max_impressions 2 shows it again on the next page view', await show(a));
    await dlg(a).waitFor({ state: 'visible', timeout: 3000 });
    await a.keyboard.press('Escape');
    await dlg(a).waitFor({ state: 'detached', timeout: 3000 });
    await a.evaluate(() => window.sightline.flush());
    await open(a, 'blank.html');
    check('reach: not a third time (2 impressions per visitor)', !(await show(a)));
    await noDialog(a, 'reach: no dialog after the cap');
    await a.evaluate(() => window.sightline.flush());

    const b = await ctxB.newPage();
    await open(b, 'blank.html');
    check('reach: the second visitor is shown it', await show(b));
    await dlg(b).waitFor({ state: 'visible', timeout: 3000 });
    await dlg(b).locator('label:has(input[value="8"])').click();
    await dlg(b).getByRole('button', { name: 'Send' }).click();
    answer(b, 'reach-pulse', 'q1', 'nps', 8, await sessionOf(b));
    await dlg(b).waitFor({ state: 'detached', timeout: 5000 });
    await b.evaluate(() => window.sightline.flush());
    await open(b, 'blank.html');
    check('reach: a visitor who answered is not asked again', !(await show(b)));
    await b.evaluate(() => window.sightline.flush());
  } finally {
    await ctxA.close();
    await ctxB.close();
  }
}

/** /voc's reach as the scenarios showed, answered and closed the surveys: [impressions,
 * responses, completions, dismissals, response %, completion %, dismissal %, per question
 * [id, reached, answered, dropped]] (analytics.md, "Survey reach"). */
const EXPECTED_REACH = {
  // desktop: shown, answered q1–q3; mobile: shown, answered q1, closed on q2 (Escape).
  'exit-nps': [2, 2, 1, 1, 100, 50, 50, [['q1', 2, 2, 0], ['q2', 2, 1, 1], ['q3', 1, 1, 0]]],
  'inline-rating': [1, 1, 1, 0, 100, 100, 0, [['q1', 1, 1, 0]]],
  'after-signup': [1, 1, 1, 0, 100, 100, 0, [['q1', 1, 1, 0]]],
  // visitor A: shown twice, closed twice (one session: one impression, one dismissal);
  // visitor B: shown, answered.
  'reach-pulse': [2, 1, 1, 1, 50, 50, 50, [['q1', 2, 1, 1]]],
};
function reachOf(voc) {
  const out = {};
  for (const r of voc.reach || []) {
    out[r.survey_id] = [r.impressions, r.responses, r.completions, r.dismissals, r.response_rate, r.completion_rate,
      r.dismissal_rate, r.questions.map((q) => [q.question_id, q.reached, q.answered, q.dropped])];
  }
  return out;
}

async function main() {
  if (!TOKEN || !SITE) throw new Error('SIGHTLINE_TOKEN and SIGHTLINE_SITE must be set');
  const cfg = await fetch(`${SL}/v1/sites/${SITE}/config`).then((r) => r.json());
  if (!cfg.surveys?.some((s) => s.id === 'exit-nps')) throw new Error('the site lacks the surveys of tests/e2e/voc-surveys.json');
  const pages = await startPageServer({ port: PAGE_PORT, sightlineUrl: SL, site: SITE });
  const major = chromiumMajor();
  const ua = desktopUserAgent(major);
  const browser = await launchChromium(ua);
  try {
    const play = (name, p) => p.then(() => log(`${name} scenario played`),
      (e) => check(`${name} scenario`, false, e.message.split('\n').slice(0, 3).join(' | ')));
    await Promise.all([play('desktop', desktop(browser, ua)), play('mobile', mobile(browser, major)),
      play('feedback', feedback(browser, ua)), play('reach', reachScenario(browser, ua))]);
  } finally {
    await browser.close();
    await pages.close();
  }
  const exp = expected();
  check('the sampled-out survey never showed (nothing answered to it)', !exp.surveys['never-sampled/q1']);
  const until = Date.now() + 60_000;
  let act = null;
  for (;;) {
    await api('POST', '/v1/admin/rollup/run');
    const r = await api('GET', `/v1/sites/${SITE}/voc?${RANGE}`);
    act = r.json ? actualOf(r.json) : { error: r.text };
    act.reach = r.json ? reachOf(r.json) : null;
    if ((isDeepStrictEqual({ ...act, reach: undefined }, { ...exp, reach: undefined }) && isDeepStrictEqual(act.reach, EXPECTED_REACH)) || Date.now() > until) break;
    await sleep(1000);
  }
  const reachGot = act.reach;
  delete act.reach;
  check('/voc equals the scripted answers', isDeepStrictEqual(act, exp),
    `\n  expected ${JSON.stringify(exp)}\n  actual   ${JSON.stringify(act)}`);
  check('/voc reach: impressions, rates and drop-off match what was shown, answered and closed',
    isDeepStrictEqual(reachGot, EXPECTED_REACH), `\n  expected ${JSON.stringify(EXPECTED_REACH)}\n  actual   ${JSON.stringify(reachGot)}`);
  // Neither the widgets' own clicks nor the picking click reach the heatmap.
  const hm = await api('GET', `/v1/sites/${SITE}/heatmap?url=${encodeURIComponent(`${HOST}/charts.html`)}&${RANGE}`);
  check('feedback page: the heatmap has its page view and no clicks (widget and picking clicks are not page clicks)',
    hm.json && hm.json.pageviews === 1 && hm.json.clicks === 0, hm.text.slice(0, 300));
  for (const f of failed) console.log('  FAIL ' + f);
  console.log(`voc e2e: ${passed} passed, ${failed.length} failed (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  return failed.length ? 1 : 0;
}

main().then((code) => process.exit(code), (e) => {
  console.error(`voc e2e: ${e.stack || e.message}`);
  process.exit(1);
});
