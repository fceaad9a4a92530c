// Main-thread time per click of the snippet, in Chromium (scripts/load runs it).
//
//   SIGHTLINE_URL=http://127.0.0.1:P SIGHTLINE_SITE=<key> PAGE_PORT=<port the site allows> \
//     node perf_click.mjs [CLICKS [REPS]]
//
// The SB Admin 2 dashboard (pageserver.mjs, snippet tag injected) is opened twice in fresh
// contexts: once with the snippet, once with /s.js blocked. In each, CLICKS clicks land on
// the page's content at spread-out points (300 ms apart: no rage bursts), then the page
// rests 3 s (dead-click timers run out, the batch is sent). The main thread's busy time
// over that span is CDP Performance.getMetrics TaskDuration; the snippet's cost per click
// is (with − without) / CLICKS. That difference drowns in the page's own noise on a busy
// machine, so the snippet's work is also timed directly: every event listener, observer
// callback and timer the snippet registers is wrapped (an init script, before the snippet
// loads) and the time spent inside them is summed (`snippet_ms_per_click`). Prints one JSON
// line.
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';
import { startPageServer } from './pageserver.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SL = process.env.SIGHTLINE_URL;
const SITE = process.env.SIGHTLINE_SITE;
const CLICKS = Number(process.argv[2] || 20);
const REPS = Number(process.argv[3] || 3);
const PAGE_PORT = Number(process.env.PAGE_PORT || 0);

const version = (() => {
  try {
    return execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8' }).match(/(\d+\.\d+\.\d+\.\d+)/)?.[1] || '';
  } catch { return ''; }
})();

async function busy(browser, origin, withSnippet) {
  const ua = `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${version.split('.')[0] || 130}.0.0.0 Safari/537.36`;
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 }, userAgent: ua });
  try {
    if (!withSnippet) await ctx.route('**/s.js', (r) => r.abort());
    await ctx.addInitScript(() => {
      // Time spent in callbacks the snippet registers (while its own code runs: the script
      // tag is /s.js, or a callback of the snippet is running).
      window.__slBusy = 0;
      let depth = 0;
      const mine = () => depth > 0 || /\/s\.js(\?|$)/.test((document.currentScript && document.currentScript.src) || '');
      const wrap = (fn) => function (...a) {
        const t0 = performance.now();
        depth++;
        try { return fn.apply(this, a); } finally { depth--; if (depth === 0) window.__slBusy += performance.now() - t0; }
      };
      const add = EventTarget.prototype.addEventListener;
      EventTarget.prototype.addEventListener = function (type, fn, opts) {
        if (mine() && typeof fn === 'function') {
          const w = wrap(fn);
          (this.__slWrapped ||= new Map()).set(fn, w);
          return add.call(this, type, w, opts);
        }
        return add.call(this, type, fn, opts);
      };
      const remove = EventTarget.prototype.removeEventListener;
      EventTarget.prototype.removeEventListener = function (type, fn, opts) {
        return remove.call(this, type, (this.__slWrapped && this.__slWrapped.get(fn)) || fn, opts);
      };
      for (const name of ['MutationObserver', 'IntersectionObserver', 'ResizeObserver']) {
        const C = window[name];
        if (!C) continue;
        window[name] = function (cb, o) { return new C(mine() ? wrap(cb) : cb, o); };
        window[name].prototype = C.prototype;
      }
      for (const name of ['setTimeout', 'requestAnimationFrame', 'queueMicrotask']) {
        const f = window[name];
        window[name] = function (cb, ...a) { return f.call(window, mine() && typeof cb === 'function' ? wrap(cb) : cb, ...a); };
      }
    });
    const page = await ctx.newPage();
    await page.goto(`${origin}/index.html`, { waitUntil: 'load' });
    if (withSnippet) await page.waitForFunction(() => !!window.sightline, null, { timeout: 10000 });
    await page.waitForTimeout(1500);
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('Performance.enable');
    const task = async () => (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'TaskDuration').value;
    const t0 = await task();
    const s0 = await page.evaluate(() => window.__slBusy);
    for (let i = 0; i < CLICKS; i++) {
      await page.mouse.click(320 + ((i * 97) % 800), 250 + ((i * 61) % 350));
      await page.waitForTimeout(300);
    }
    await page.waitForTimeout(3000);
    const snippet = (await page.evaluate(() => window.__slBusy)) - s0;
    return { total: ((await task()) - t0) * 1000, snippet }; // ms
  } finally {
    await ctx.close();
  }
}

const pages = await startPageServer({ port: PAGE_PORT, sightlineUrl: SL || 'http://127.0.0.1:9', site: SITE || 'none' });
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run',
    '--disable-blink-features=AutomationControlled', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
});
try {
  // Alternate the two runs and take each one's median of REPS (the machine is shared).
  const w = [], wo = [], own = [];
  for (let k = 0; k < REPS; k++) {
    wo.push((await busy(browser, pages.origin, false)).total);
    const r = await busy(browser, pages.origin, true);
    w.push(r.total);
    own.push(r.snippet);
  }
  const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const withMs = med(w) / CLICKS, withoutMs = med(wo) / CLICKS;
  console.log(JSON.stringify({ browser: version, clicks: CLICKS, with_ms: withMs, without_ms: withoutMs,
    per_click_ms: withMs - withoutMs, snippet_ms_per_click: med(own) / CLICKS }));
} finally {
  await browser.close();
  await pages.close();
}
