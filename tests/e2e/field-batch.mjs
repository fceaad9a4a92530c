#!/usr/bin/env node
// C13, large batches and retry loops (run by tests/field_cases.rs against a server started
// with `--max-batch-bytes MAX_BATCH_BYTES`). On blank.html:
//   A. 60 custom events of ~400 bytes (batches of 20 go over the cap: 413) and one event
//      bigger than the cap on its own. The snippet halves each refused batch until it fits,
//      sends later batches under the limit the 413 named, and drops (counts) the single
//      oversized event after its one refusal.
//   B. Faults injected in front of the server on the next requests: 503 with Retry-After: 1,
//      then 429 (no Retry-After), then 400. The first two are retried after their backoff;
//      the 400 batch is dropped, never resent.
// Every request the page makes to /v1/events is recorded with its events and answer. Expected,
// derived from that ledger: each event the snippet created is accepted by the server exactly
// once except the oversized one and the 400 batch, no refused body is resent as it was, and
// the server stores exactly that many events.
import { api, check, checkEq, log, ORIGIN, recordEvents, run, shot, sleep, SITE, SL, snippetReady } from './field-lib.mjs';

const CAP = +(process.env.MAX_BATCH_BYTES || 4000);

run('batch', async ({ ctx }) => {
  const page = await ctx.newPage();
  const rec = recordEvents(page);
  const reqs = rec.log; // { ids, status, t } per request, in the order they started
  const faults = []; // statuses to answer the next requests with, instead of the server
  await page.route(`${SL}/v1/events`, (route) => {
    const f = faults.shift();
    if (!f) return route.continue();
    return route.fulfill({ status: f.status, headers: { 'Access-Control-Allow-Origin': ORIGIN,
      'Access-Control-Expose-Headers': 'Retry-After', ...(f.headers || {}) },
      contentType: 'application/json', body: JSON.stringify({ error: 'injected' }) });
  });
  await page.goto(`${ORIGIN}/blank.html`, { waitUntil: 'load' });
  await snippetReady(page);

  // A: batches over the cap, and one event that never fits.
  await page.evaluate((cap) => {
    for (let i = 0; i < 60; i++) window.sightline.track(`e${i}`, { pad: 'x'.repeat(300) });
    window.sightline.track('huge', { pad: 'y'.repeat(cap + 500) });
  }, CAP);
  const okA = await page.evaluate(() => window.sightline.flush());
  await rec.idle();
  checkEq('A: flush() reports that an event was refused', okA, false);
  const dbg = await page.evaluate(() => window.sightline._debug);
  checkEq('A: one oversized event dropped and counted', dbg.oversized, 1);
  await shot(page, 'after-413s');

  // B: 503 (Retry-After: 1) → retried, 429 → retried after the backoff, 400 → dropped.
  const startB = reqs.length;
  for (const [status, headers] of [[503, { 'Retry-After': '1' }], [429, {}], [400, {}]]) {
    const before = reqs.length;
    faults.push({ status, headers });
    await page.evaluate((s) => window.sightline.track(`fault-${s}`, { status: s }), status);
    const ok = await page.evaluate(() => window.sightline.flush());
    await rec.idle();
    checkEq(`B: flush() after a ${status}`, ok, status !== 400);
    const mine = reqs.slice(before);
    if (status !== 400) {
      check(`B: a ${status} is retried once, after its backoff (≥ 0.9 s)`, mine.length === 2 && mine[0].status === status && mine[1].status === 202 &&
        mine[1].t - mine[0].t >= 900, mine.map((r) => [r.status, r.t - mine[0].t]));
    }
  }
  await sleep(3000); // a retry loop would show here
  await rec.idle();
  const dbgEnd = await page.evaluate(() => window.sightline._debug);

  // The ledger: what was created, accepted, refused.
  const tries = new Map(); // id → statuses of the requests carrying it
  for (const r of reqs) for (const id of r.ids) tries.set(id, [...(tries.get(id) || []), r.status]);
  const accepted = [...tries].filter(([, s]) => s.some((x) => x >= 200 && x < 300));
  const huge = [...tries].filter(([, s]) => s.every((x) => x === 413));
  const bad400 = [...tries].filter(([, s]) => s.includes(400));
  log(`${reqs.length} requests: ${JSON.stringify(reqs.map((r) => `${r.status}×${r.ids.length}`))}; debug ${JSON.stringify(dbgEnd)}`);
  checkEq('every accepted event was accepted exactly once', accepted.filter(([, s]) => s.filter((x) => x >= 200 && x < 300).length !== 1), []);
  checkEq('exactly one event was never accepted for its size, sent alone once after batches', huge.map(([, s]) => s.length > 0), [true]);
  const lone413 = reqs.filter((r) => r.status === 413 && r.ids.length === 1);
  checkEq('the oversized event was sent alone exactly once (never resent)', lone413.length, 1);
  const bodies413 = reqs.filter((r) => r.status === 413).map((r) => r.ids.join(','));
  checkEq('no refused body was sent again as it was', bodies413.length, new Set(bodies413).size);
  check('a 413 splits into halves: every 413 body of n > 1 events is resent as ⌈n/2⌉ + ⌊n/2⌋',
    reqs.filter((r) => r.status === 413 && r.ids.length > 1).every((r) => {
      const h = Math.ceil(r.ids.length / 2);
      const a = r.ids.slice(0, h).join(','), b = r.ids.slice(h).join(',');
      return reqs.some((x) => x.ids.join(',') === a) && reqs.some((x) => x.ids.join(',') === b);
    }));
  checkEq('later batches keep under the limit the 413 named (no 413 in B)', reqs.slice(startB).filter((r) => r.status === 413).length, 0);
  check('the 400 batch was sent once and dropped', bad400.length > 0 && bad400.every(([, s]) => s.length === 1), bad400);
  const created = tries.size;
  const expected = created - huge.length - bad400.length;
  checkEq('the debug counters: dropped = oversized + the 400 batch', dbgEnd.dropped, huge.length + bad400.length);

  // The server stores every accepted event once.
  let stored = null;
  for (const until = Date.now() + 60_000; Date.now() < until; await sleep(500)) {
    stored = (await api('GET', `/v1/sites/${SITE}/stats`)).json?.events;
    if (stored >= expected) break;
  }
  await sleep(1000);
  stored = (await api('GET', `/v1/sites/${SITE}/stats`)).json?.events;
  checkEq(`the server stores each accepted event once (${created} created, ${huge.length} oversized, ${bad400.length} refused by 400)`, stored, expected);
  checkEq('the server accepted what the page saw accepted', accepted.length, expected);
});
