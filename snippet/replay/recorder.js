/* Sightline session-replay recorder: the source of snippet/replay.js (bundled with rrweb's
 * `record` by build.mjs). Loaded by /s.js only when the site records (settings.replay), the
 * session is sampled, the page is not excluded and consent allows it; /s.js hands over its
 * settings as sightline._replay.
 *
 * Privacy: every input value is masked (maskAllInputs), all text too with `mask_text`, and
 * `[data-sl-block]` / `block_selectors` elements are recorded as an empty box of their size
 * (their content never leaves the page). The server scrubs PII from what arrives.
 * Transport: the rrweb events of one page load ("window") go in chunks (every 5 s, or at
 * ~256 KB of JSON), each numbered `seq` from 0 and gzip-compressed with CompressionStream
 * where there is one, to POST /v1/replay?site&session&visitor&window&seq[&full=1], with
 * fetch keepalive (sendBeacon for the last small chunk when the page goes away). A failed
 * chunk is retried with the same address (stored once). */
import { record } from 'rrweb';

(function () {
  var w = window, d = document, sl = w.sightline, cfg = sl && sl._replay;
  if (!cfg || w.__slReplay) return;
  w.__slReplay = { chunks: 0, bytes: 0, refused: 0, retries: 0 };
  var dbg = w.__slReplay;
  var FLUSH_MS = 5000, MAX_JSON = 256 * 1024, BEACON_MAX = 60000;
  var rnd = new Uint8Array(8), win = '';
  crypto.getRandomValues(rnd);
  for (var i = 0; i < 8; i++) win += (rnd[i] + 256).toString(16).slice(1);
  var seq = 0, buf = [], size = 0, stop = null, timer = null, lastHref = location.href;

  function ok() { return sl._allowed() && !excluded(); }
  function glob(list) {
    var k = location.host + location.pathname;
    return (list || []).some(function (p) {
      return new RegExp('^' + p.split('*').map(function (s) { return s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'); }).join('.*') + '$').test(k);
    });
  }
  function excluded() { return glob(cfg.exclude_pages) || ((cfg.pages || []).length > 0 && !glob(cfg.pages)); }

  function url(s, full) {
    var q = new URLSearchParams({ site: cfg.site, session: sl.sessionId, visitor: sl.visitorId, window: win, seq: String(s) });
    if (full) q.set('full', '1');
    return cfg.endpoint + '?' + q.toString();
  }
  function gzip(text) {
    if (typeof CompressionStream === 'undefined') return Promise.resolve(new Blob([text], { type: 'text/plain' }));
    return new Response(new Blob([text]).stream().pipeThrough(new CompressionStream('gzip'))).blob()
      .then(function (b) { return new Blob([b], { type: 'text/plain' }); });
  }
  function send(target, body, attempt) {
    dbg.bytes += body.size;
    fetch(target, { method: 'POST', body: body, keepalive: body.size < 60000, mode: 'cors', credentials: 'omit' })
      .then(function (r) {
        if (r.status === 413) { dbg.refused++; return; } // too large: dropped (a snapshot is marked missing server-side)
        if ((r.status === 429 || r.status >= 500) && attempt < 6) retry(target, body, attempt);
      }, function () { if (attempt < 6) retry(target, body, attempt); });
  }
  function retry(target, body, attempt) {
    dbg.retries++;
    setTimeout(function () { send(target, body, attempt + 1); }, Math.min(30000, 1000 * Math.pow(2, attempt)));
  }
  function flush(leaving) {
    if (timer) { clearTimeout(timer); timer = null; }
    if (!buf.length) return;
    var evs = buf, full = evs.some(function (e) { return e.type === 2; });
    buf = []; size = 0;
    if (!ok()) return;
    var target = url(seq++, full), json = JSON.stringify(evs);
    dbg.chunks++;
    if (leaving && json.length < BEACON_MAX && navigator.sendBeacon) {
      dbg.bytes += json.length;
      navigator.sendBeacon(target, new Blob([json], { type: 'text/plain' }));
      return;
    }
    gzip(json).then(function (b) { send(target, b, 0); });
  }
  function emit(e) {
    if (!ok()) { buf = []; return; }
    buf.push(e);
    size += e.type === 2 ? MAX_JSON : 200; // a full snapshot goes at once
    if (size >= MAX_JSON) flush(false);
    else if (!timer) timer = setTimeout(function () { flush(false); }, FLUSH_MS);
  }

  stop = record({
    emit: emit,
    maskAllInputs: true,
    maskTextSelector: cfg.mask_text ? '*' : undefined,
    blockSelector: (cfg.block_selectors || ['[data-sl-block]']).join(','),
    inlineStylesheet: true,
    recordCanvas: false,
    collectFonts: false,
    sampling: { mousemove: 50, scroll: 150, input: 'last' },
    slimDOMOptions: { script: true, comment: true, headFavicon: true, headMetaSocial: true, headMetaRobots: true, headMetaVerification: true }
  });

  function note(tag, payload) { try { record.addCustomEvent(tag, payload); } catch (e) { /* not recording */ } }
  w.addEventListener('error', function (e) { note('sl-error', { message: String(e.message || 'error').slice(0, 200) }); });
  w.addEventListener('unhandledrejection', function () { note('sl-error', { message: 'unhandled rejection' }); });
  // Single-page navigation: a page of its own in the metadata; an excluded page is not recorded.
  setInterval(function () {
    if (location.href === lastHref) return;
    lastHref = location.href;
    if (excluded()) { buf = []; return; }
    note('sl-nav', { href: location.href });
  }, 500);
  w.addEventListener('pagehide', function () { flush(true); });
  d.addEventListener('visibilitychange', function () { if (d.visibilityState === 'hidden') flush(true); });
  dbg.window = win;
  dbg.flush = function () { flush(false); };
  dbg.stop = function () { if (stop) stop(); stop = null; };
})();
