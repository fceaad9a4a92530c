// The session-replay recorder's cost in Chromium (docs/performance.md, "Session replay").
//
//   SIGHTLINE_URL=… SIGHTLINE_TOKEN=… SIGHTLINE_SITE=<key, replay enabled> PAGE_PORT=<allowed> \
//     node perf_replay.mjs [SECONDS [OUT_DIR]]
//
// A scripted session of SECONDS (default 60) on the SB Admin 2 pages (pageserver.mjs, snippet
// tag injected): half on the dashboard, a quarter each on charts and tables; every second the
// mouse crosses the page and the page scrolls, every 5 s a click (card heading, sidebar
// toggle, user menu, a collapsible nav item), every 10 s ten characters typed into the search
// input. Played twice in fresh contexts: with the recorder (settings.replay on) and without
// (off), the snippet on in both. Measured, as perf_click.mjs does, on the main thread:
//  - the recorder's own time: a CPU profile of each page (CDP Profiler, 100 µs sampling),
//    self time of every frame whose script is /s/replay.js (DOM calls it makes included),
//    initial snapshot included; per minute of the session;
//  - cross-check: the page's main-thread busy time (CDP Performance.getMetrics TaskDuration)
//    with the recorder minus without, per minute (noisy on a shared machine);
//  - bytes: what the recorder sent (request bodies, gzip), and what the server stored for the
//    session (GET …/replay summary.bytes), per recorded minute.
// Writes two chunk bodies cut from the stored recording as the recorder cuts them
// (OUT_DIR/chunk-full.bin: the first page's full snapshot; chunk-incremental.bin: its first
// 5 s of incremental events), gzip, for the ingest load test; prints one JSON line.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { launchChromium } from './browser.mjs';
import { startPageServer } from './pageserver.mjs';
import { SL, api } from './sightline-api.mjs';

const SITE = process.env.SIGHTLINE_SITE;
const PAGE_PORT = Number(process.env.PAGE_PORT || 0);
const SECONDS = Number(process.argv[2] || 60);
const OUT = process.argv[3] || path.resolve('test-artifacts', 'perf-replay');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
fs.mkdirSync(OUT, { recursive: true });

async function setReplay(enabled) {
  const r = await api('PATCH', `/v1/sites/${SITE}`, { settings: { replay: { enabled, sampling: 1 } } });
  if (r.status !== 200) throw new Error(`PATCH: ${r.status} ${r.text}`);
}

/** Self time (ms) of profile frames whose script URL matches `re`. */
function selfMs(profile, re) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  let us = 0;
  profile.samples.forEach((id, i) => { if (re.test(byId.get(id).callFrame.url)) us += profile.timeDeltas[i] || 0; });
  return us / 1000;
}

async function interact(page, ms) {
  const end = Date.now() + ms;
  let tick = 0;
  const targets = ['.card-header h6', '#sidebarToggle', '#userDropdown', 'a.nav-link[data-toggle="collapse"]'];
  while (Date.now() < end) {
    tick++;
    for (let i = 0; i <= 10; i++) await page.mouse.move(100 + i * 100, 150 + ((tick * 37 + i * 40) % 500));
    await page.mouse.wheel(0, tick % 2 ? 400 : -400);
    if (tick % 5 === 0) {
      const sel = targets[(tick / 5) % targets.length];
      const el = page.locator(sel).first();
      if (await el.count() && await el.isVisible().catch(() => false)) await el.click({ timeout: 2000 }).catch(() => {});
    }
    if (tick % 10 === 0) {
      const input = page.locator('input[aria-label="Search"]').first();
      if (await input.isVisible().catch(() => false)) await input.type('abcdefghij', { delay: 20 }).catch(() => {});
    }
    await sleep(Math.max(0, 1000 - 300));
  }
}

async function run(browser, origin, recorder) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  let chunks = 0, sent = 0;
  page.on('request', (r) => { if (r.url().includes('/v1/replay')) chunks++; });
  const plan = [['index.html', 0.5], ['charts.html', 0.25], ['tables.html', 0.25]];
  let recorderMs = 0, snippetMs = 0, taskMs = 0, session = null;
  for (const [file, share] of plan) {
    await page.goto(`${origin}/${file}`, { waitUntil: 'commit' });
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('Performance.enable');
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 100 });
    await cdp.send('Profiler.start');
    const before = (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'TaskDuration').value;
    await page.waitForLoadState('load');
    if (recorder) await page.waitForFunction(() => window.__slReplay && window.__slReplay.chunks > 0, null, { timeout: 15000 });
    session = await page.evaluate(() => window.sightline.sessionId);
    await interact(page, SECONDS * 1000 * share);
    if (recorder) {
      await page.evaluate(() => window.__slReplay.flush());
      await sleep(300);
      sent += await page.evaluate(() => window.__slReplay.bytes); // gzip bodies (and beacons) sent
    }
    await sleep(300);
    const after = (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'TaskDuration').value;
    const { profile } = await cdp.send('Profiler.stop');
    recorderMs += selfMs(profile, /\/s\/replay\.js/);
    snippetMs += selfMs(profile, /\/s\.js/);
    taskMs += (after - before) * 1000;
    await cdp.detach();
  }
  await page.close({ runBeforeUnload: true });
  await sleep(1000);
  await ctx.close();
  return { recorderMs, snippetMs, taskMs, session, chunks, sent };
}

const pages = await startPageServer({ port: PAGE_PORT, sightlineUrl: SL, site: SITE });
const browser = await launchChromium();
try {
  await setReplay(false);
  const off = await run(browser, pages.origin, false);
  await setReplay(true);
  const on = await run(browser, pages.origin, true);
  const minutes = SECONDS / 60;
  let rec = null;
  for (let i = 0; i < 60; i++) {
    rec = (await api('GET', `/v1/sites/${SITE}/sessions/${on.session}/replay`)).json;
    if (rec && rec.summary && rec.summary.windows >= 3) break;
    await sleep(1000);
  }
  const sent = on.sent;
  // Load-test bodies from the stored recording, cut as the recorder cuts them: the first
  // page's meta + full snapshot, and its first 5 s of incremental events after it.
  const evs = rec ? rec.events : [];
  const snap = evs.findIndex((e) => e.type === 2);
  const full = evs.slice(0, snap + 1);
  const t = snap >= 0 ? evs[snap].timestamp : 0;
  const inc = evs.slice(snap + 1).filter((e) => e.timestamp > t && e.timestamp <= t + 5000 && e.type !== 4 && e.type !== 2);
  const fullGz = zlib.gzipSync(JSON.stringify(full)), incGz = zlib.gzipSync(JSON.stringify(inc));
  fs.writeFileSync(path.join(OUT, 'chunk-full.bin'), fullGz);
  fs.writeFileSync(path.join(OUT, 'chunk-incremental.bin'), incGz);
  const recordedMin = rec ? rec.summary.duration_ms / 60000 : minutes;
  const out = {
    seconds: SECONDS,
    recorder_ms_per_min: on.recorderMs / minutes,
    snippet_ms_per_min_with: on.snippetMs / minutes,
    snippet_ms_per_min_without: off.snippetMs / minutes,
    task_ms_per_min_with: on.taskMs / minutes,
    task_ms_per_min_without: off.taskMs / minutes,
    task_diff_ms_per_min: (on.taskMs - off.taskMs) / minutes,
    chunks_sent: on.chunks,
    bytes_sent: sent,
    bytes_sent_per_min: sent / recordedMin,
    recorded_minutes: recordedMin,
    stored: rec && rec.summary,
    stored_bytes_per_min: rec ? rec.summary.bytes / recordedMin : null,
    decoded_bytes_per_min: rec ? rec.summary.decoded_bytes / recordedMin : null,
    full_chunk_bytes: fullGz.length,
    incremental_chunk_bytes: incGz.length,
    incremental_chunk_events: inc.length,
  };
  console.log('PERFJSON ' + JSON.stringify(out));
} finally {
  await browser.close();
  await pages.close();
}
