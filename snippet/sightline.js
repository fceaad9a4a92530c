/*! Sightline snippet v1. Plain ES2017, no dependencies; served verbatim at GET /s.js.
 * <script defer src="https://HOST/s.js" data-site="WRITE_KEY"></script>
 * Optional: data-respect-dnt (honour navigator.doNotTrack === '1'); data-require-consent (send
 * and store nothing until sightline.consent(true); the choice is remembered).
 * Sends the v1 events of shared/api.md to POST /v1/events. Never reads input values; of the
 * page's text only a clicked link's, button's or label's own (not inside [data-sl-block]). */
(function () {
  'use strict';
  var w = window, d = document;
  if (w.sightline && w.sightline._v) return; // loaded twice
  var tag = d.currentScript || d.querySelector('script[data-site][src*="s.js"]');
  if (!tag || !tag.getAttribute('data-site')) return;
  var KEY = tag.getAttribute('data-site');
  var EP = new URL('/v1/events', tag.src).href;
  var CLICK_WINDOW = 2500, FLUSH_MS = 2000, FLUSH_AT = 20, MAX_BODY = 60000, SESSION_GAP = 30 * 60 * 1000;
  var pre = Array.isArray(w.sightline) ? w.sightline : []; // calls queued before load: [method, ...args]
  // For tests and tools; oversized: single events refused with 413 (dropped, never resent).
  var debug = { fetch: 0, beacon: 0, retries: 0, dropped: 0, oversized: 0, config: false };
  var noop = function () {};

  if (tag.hasAttribute('data-respect-dnt') && (navigator.doNotTrack === '1' || w.doNotTrack === '1')) {
    w.sightline = { _v: 1, disabled: true, track: noop, survey: noop, surveyShown: noop, surveyDismissed: noop, feedback: noop, consent: noop,
      flush: function () { return Promise.resolve(true); }, _selector: selector, _query: query, _target: clickTarget };
    return;
  }

  // ---- ids and storage ----
  function uuid7() {
    var b = new Uint8Array(16), t = Date.now(), i;
    crypto.getRandomValues(b);
    for (i = 5; i >= 0; i--) { b[i] = t % 256; t = Math.floor(t / 256); }
    b[6] = (b[6] & 0x0f) | 0x70; // version 7
    b[8] = (b[8] & 0x3f) | 0x80; // variant 10
    var h = '';
    for (i = 0; i < 16; i++) h += (b[i] + 256).toString(16).slice(1);
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }
  var mem = {};
  function sget(k) {
    try { var v = w.localStorage.getItem(k); if (v !== null) return v; } catch (e) { /* blocked */ }
    return mem[k] || null;
  }
  // Consent: with data-require-consent nothing is stored in the browser or sent until
  // sightline.consent(true); sightline.consent(false) stops both and forgets what is queued.
  var NEEDS_CONSENT = tag.hasAttribute('data-require-consent');
  function consentGiven() {
    var c = null;
    try { c = w.localStorage.getItem('sl_consent'); } catch (e) { /* blocked */ }
    return NEEDS_CONSENT ? c === '1' : c !== '0';
  }
  // Heatmap overlay: a signed link (#sightline-overlay=<grant>, made by the dashboard) shows
  // the heatmap on this page instead: nothing is collected (the viewer is not a visitor) and
  // the overlay code (/s/overlay.js) is loaded only then.
  var OVL = /[#?&]sightline-overlay=([\w.-]+)/.exec(location.hash) || /[?&]sightline-overlay=([\w.-]+)/.exec(location.search);
  var allowed = consentGiven() && !OVL;
  function sset(k, v) { mem[k] = v; if (allowed) try { w.localStorage.setItem(k, v); } catch (e) { /* blocked */ } }
  function sdel(k) { delete mem[k]; try { w.localStorage.removeItem(k); } catch (e) { /* blocked */ } }

  var visitor = sget('sl_vid');
  if (!visitor) { visitor = uuid7(); sset('sl_vid', visitor); }
  function session(touch) { // sl_sid = "<id>.<last activity ms>"; new id after 30 min idle
    var now = Date.now(), raw = sget('sl_sid') || '', dot = raw.lastIndexOf('.');
    var id = dot > 0 ? raw.slice(0, dot) : '', last = +raw.slice(dot + 1) || 0;
    if (!id || now - last > SESSION_GAP) { id = uuid7(); last = 0; }
    if (touch || !last) sset('sl_sid', id + '.' + now);
    return id;
  }

  // ---- selectors ----
  var IDENT = /^-?[_a-zA-Z][_a-zA-Z0-9-]*$/;
  // State classes that frameworks toggle on interaction: skipped so one element keeps one selector.
  var STATE = /^(active|show|showing|open|opened|collapsed|collapsing|expanded|focus|focused|hover|hovered|selected|checked|current|disabled|loading|visible|hidden)$|^(is|has)-/;
  function uniqueId(n) { // in its own tree (document or shadow root)
    var id = n.getAttribute('id');
    if (!id || !IDENT.test(id)) return false;
    try { return n.getRootNode().querySelectorAll('#' + id).length === 1; } catch (e) { return false; }
  }
  function compound(n) {
    var c = n.tagName.toLowerCase(), k = 0;
    var cls = (n.getAttribute('class') || '').trim().split(/\s+/);
    for (var i = 0; i < cls.length && k < 3; i++) {
      if (cls[i] && IDENT.test(cls[i]) && !STATE.test(cls[i])) { c += '.' + cls[i]; k++; }
    }
    return c;
  }
  // In an open shadow root: `<host's selector> >>> <selector in the root>` (query() resolves
  // it). A closed root cannot be entered: its clicks are its host's.
  var SHADOW = ' >>> ';
  function selector(el) {
    if (!el || el.nodeType !== 1) return '';
    var host = el.getRootNode().host;
    return (host ? selector(host) + SHADOW : '') + local(el);
  }
  /** The elements a selector() names. */
  function query(sel) {
    var found = [d];
    String(sel).split(SHADOW).forEach(function (part, i) {
      var next = [];
      found.forEach(function (r) {
        if (i) r = r.shadowRoot;
        try { if (r) next.push.apply(next, r.querySelectorAll(part)); } catch (e) { /* not CSS */ }
      });
      found = next;
    });
    return found;
  }
  function local(el) { // within its own tree
    if (uniqueId(el)) return '#' + el.getAttribute('id');
    var parts = [], n = el;
    while (n && n.nodeType === 1 && parts.length < 5) {
      var t = n.tagName.toLowerCase();
      if (t === 'body' || t === 'html') { parts.unshift(t); break; }
      if (n !== el && uniqueId(n)) { parts.unshift(t + '#' + n.getAttribute('id')); break; }
      var c = compound(n), p = n.parentElement;
      if (p) {
        var nth = 0, idx = 0, clash = false;
        for (var s = p.firstElementChild; s; s = s.nextElementSibling) {
          if (s.tagName !== n.tagName) continue;
          nth++;
          if (s === n) idx = nth;
          else if (!clash) { try { clash = s.matches(c); } catch (e) { clash = true; } }
        }
        if (clash) c += ':nth-of-type(' + idx + ')';
      }
      parts.unshift(c);
      n = p;
    }
    return parts.join(' > ');
  }

  // ---- page views and events ----
  var pv = null;
  function ev(type, extra) { // common fields; url is the page view's (it may be closing)
    var e = { id: uuid7(), type: type, ts: Date.now(), session_id: session(true), visitor_id: visitor,
      url: pv.url, viewport: { w: w.innerWidth, h: w.innerHeight }, seq: pv.seq++, pageview_id: pv.id };
    for (var k in extra) e[k] = extra[k];
    return e;
  }
  // Layout version (analytics.md, "Layout versions"): the page's skeleton written as text,
  // then hashed. Containers are the landmarks header, nav, main, footer, aside, form and the
  // zones ([data-sl-zone]); controls (a, button, input, select, textarea, [role=button]) are
  // leaves named by tag. Each container is `name{children}` with its distinct children in
  // first-seen document order (so repeated items count once; no class, id or text is read),
  // the whole under `body{…}`; the hash is FNV-1a 32 of that text as 8 hex digits.
  var LANDMARK = /^(HEADER|NAV|MAIN|FOOTER|ASIDE|FORM)$/;
  // The clicked control's visible text (analytics.md, "Element text"): links, buttons,
  // labels and [role=button] only (never a form field or its value, nothing inside
  // [data-sl-block]); whitespace folded, at most 80 characters. The server scrubs PII.
  function label(el) {
    if (!/^(A|BUTTON|LABEL|SUMMARY)$/.test(el.tagName) && el.getAttribute('role') !== 'button') return null;
    if (el.closest('[data-sl-block]')) return null;
    var s = (el.textContent || '').replace(/\s+/g, ' ').trim();
    return s ? Array.from(s).slice(0, 80).join('') : null;
  }
  function skeleton() {
    var box = new Map(), root = { n: 'body', c: [] };
    if (d.body) d.body.querySelectorAll('header,nav,main,footer,aside,form,[data-sl-zone],a,button,input,select,textarea,[role=button]').forEach(function (el) {
      var up = root, z = el.getAttribute('data-sl-zone'), lm = LANDMARK.test(el.tagName);
      for (var p = el.parentElement; p; p = p.parentElement) if (box.has(p)) { up = box.get(p); break; }
      if (lm || z !== null) {
        var b = { n: (lm ? el.tagName.toLowerCase() : '') + (z !== null ? '[zone=' + z + ']' : ''), c: [] };
        box.set(el, b); up.c.push(b);
      } else up.c.push(el.tagName.toLowerCase());
    });
    function str(b) {
      var seen = [];
      b.c.forEach(function (x) { x = typeof x === 'string' ? x : str(x); if (seen.indexOf(x) < 0) seen.push(x); });
      return b.n + '{' + seen.join(',') + '}';
    }
    return str(root);
  }
  function layout() {
    var s = skeleton(), h = 0x811c9dc5;
    for (var i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
    return ('0000000' + h.toString(16)).slice(-8);
  }
  function startPV(referrer) {
    href = location.href;
    pv = { id: uuid7(), seq: 0, url: pageUrl(href), depth: -1, sent: -1, sentH: 0, docH: 0, bottom: 0 };
    enqueue(ev('pageview', { referrer: referrer, title: d.title,
      screen: { w: w.screen.width, h: w.screen.height }, layout: layout() }));
    resetZones();
  }
  // Scroll depth: the deepest point seen (scrollY + innerHeight, px) as a percent of the
  // document height, which is re-measured on every scroll, resize and report (lazy content
  // makes pages grow), so the percent is always of the current height.
  function measure() {
    var de = d.documentElement, h = Math.max(de.scrollHeight, d.body ? d.body.scrollHeight : 0);
    if (!h) return;
    pv.bottom = Math.max(pv.bottom, w.scrollY + w.innerHeight);
    pv.docH = h;
    pv.depth = Math.max(0, Math.min(100, Math.round(pv.bottom / h * 1000) / 10));
  }
  // Reported when scrolling has settled for SCROLL_SETTLE_MS and on close / hide, each time only
  // if depth or document height changed: a close whose beacon is lost (mobile browsers often
  // skip pagehide) keeps the depth reached before it. The page view's depth is the deepest
  // reported, so more reports never change a number.
  var SCROLL_SETTLE_MS = 1000, scrollSettle = 0;
  function sendScroll() {
    measure();
    if (pv.depth !== pv.sent || pv.docH !== pv.sentH) {
      pv.sent = pv.depth; pv.sentH = pv.docH;
      enqueue(ev('scroll', { depth: pv.depth, doc_h: pv.docH }));
    }
  }
  // A fragment starting with / or ! is a route (#/a, #!/a), others are anchors (#install):
  // the url sent keeps a route and drops an anchor (page keys keep fragments for sites with
  // hash_routing). A changed url is a new page view, except an anchor, and a route change
  // only when the site has hash_routing. pushState, popstate and hashchange of one
  // navigation count once.
  var href = '';
  function base(u) { return u.split('#')[0]; }
  function pageUrl(u) { var i = u.indexOf('#'); return i < 0 || /^#[!\/]/.test(u.slice(i)) ? u : u.slice(0, i); }
  function onLocation() {
    if (location.href === href) return; // seen already
    href = location.href;
    react(); // a location change is a reaction to a pending click
    var u = pageUrl(href);
    if (u === pv.url || (location.hash.length > 1 && u === base(u))) return; // an anchor
    if (!hashRoutes && base(u) === base(pv.url)) { pv.url = u; return; }
    sendScroll();
    sendZones();
    startPV(pv.url);
  }
  ['pushState', 'replaceState'].forEach(function (m) {
    var orig = history[m];
    if (typeof orig !== 'function') return;
    history[m] = function () {
      var r = orig.apply(this, arguments);
      try { onLocation(); } catch (e) { /* never break the page */ }
      return r;
    };
  });
  w.addEventListener('popstate', onLocation);
  w.addEventListener('hashchange', onLocation);

  // ---- clicks and reactions ----
  /** The element a click on `t` is about: its nearest interactive ancestor, else `t` itself.
   *  Clicks and the feedback widget's "pick the element" both name this one. */
  function clickTarget(t) {
    return t.closest('a,button,input,select,textarea,label,[role=button],[data-sl-zone],[onclick]') || t;
  }
  var zones = [], hashRoutes = false, pending = [], watching = false, scrollRaf = 0;
  // A change to Sightline's own widgets (survey, feedback tab, overlay) is no reaction of the page.
  function ourNode(n) { if (n && n.nodeType !== 1) n = n.parentElement; return !!(n && n.closest('[data-sightline-widget]')); }
  var mo = w.MutationObserver ? new MutationObserver(function (rs) {
    for (var i = 0; i < rs.length; i++) {
      var r = rs[i], nodes = [].slice.call(r.addedNodes || []).concat([].slice.call(r.removedNodes || []));
      if (!(ourNode(r.target) || (nodes.length && nodes.every(function (n) { return n.nodeType === 1 && n.hasAttribute('data-sightline-widget'); })))) return react();
    }
  }) : null;
  function round4(v) { return Math.round(Math.max(0, Math.min(1, v)) * 10000) / 10000; }
  function zoneOf(t) {
    var z = t.closest('[data-sl-zone]');
    if (z) return z.getAttribute('data-sl-zone');
    for (var i = 0; i < zones.length; i++) {
      try { if (t.closest(zones[i].selector)) return zones[i].name; } catch (e) { /* bad selector */ }
    }
    return null;
  }
  function navigates(t) {
    var a = t.closest('a[href]');
    if (!a) return false;
    var h = (a.getAttribute('href') || '').trim();
    if (!h || h.charAt(0) === '#' || /^javascript:/i.test(h)) return false;
    var u = a.href, i = u.indexOf('#');
    return !(i >= 0 && u.slice(0, i) === location.href.split('#')[0]);
  }
  // Clicks on fixed (or stuck sticky) elements are in viewport coordinates, not page ones.
  function pinned(n) {
    for (; n && n.nodeType === 1; n = n.parentElement || n.getRootNode().host) {
      var cs = getComputedStyle(n);
      if (cs.position === 'fixed' || (cs.position === 'sticky' && Math.abs(n.getBoundingClientRect().top - parseFloat(cs.top)) < 1)) return true;
    }
    return false;
  }
  function onClick(e) {
    // The innermost target, in open shadow roots too (e.target is their host).
    var path = e.composedPath ? e.composedPath() : [e.target], t = path[0];
    if (t && t.nodeType !== 1) t = t.parentElement;
    if (!t || !t.closest || !pv) return;
    for (var i = 0; i < path.length; i++) if (path[i].hasAttribute && path[i].hasAttribute('data-sightline-widget')) return; // ours
    var el = clickTarget(t), r = el.getBoundingClientRect(), kb = e.detail === 0;
    var pin = pinned(el), sx = pin ? 0 : w.scrollX, sy = pin ? 0 : w.scrollY;
    var x = e.clientX + sx, y = e.clientY + sy, ex = 0.5, ey = 0.5;
    if (kb) { x = r.left + r.width / 2 + sx; y = r.top + r.height / 2 + sy; }
    else {
      if (r.width > 0) ex = (e.clientX - r.left) / r.width;
      if (r.height > 0) ey = (e.clientY - r.top) / r.height;
    }
    var tg = el.tagName.toLowerCase(), zn = zoneOf(t), t0 = performance.now();
    if (zn) zoneClick(zn, t0);
    var c = { t0: t0, ev: ev('click', {
      x: Math.round(x), y: Math.round(y), selector: selector(el), el: { x: round4(ex), y: round4(ey) },
      tag: tg, zone: zn, keyboard: kb, modifier: !!(e.ctrlKey || e.metaKey || e.shiftKey || e.altKey),
      navigates: navigates(t), input_type: tg === 'input' ? (el.getAttribute('type') || 'text').toLowerCase() : null,
      reaction_ms: null }) };
    var lb = label(el);
    if (lb) c.ev.text = lb;
    c.timer = setTimeout(function () { settleClick(c, null); }, CLICK_WINDOW);
    pending.push(c);
    // Reactions: in the document and each shadow root around the target.
    for (var root = t.getRootNode(); mo; root = root.host.getRootNode()) {
      mo.observe(root, { subtree: true, childList: true, attributes: true, characterData: true });
      watching = true;
      if (!root.host) break;
    }
  }
  function settleClick(c, ms) {
    var i = pending.indexOf(c);
    if (i < 0) return;
    pending.splice(i, 1);
    clearTimeout(c.timer);
    c.ev.reaction_ms = ms;
    enqueue(c.ev);
    if (!pending.length) {
      if (watching) { mo.disconnect(); watching = false; }
      clickWaiters.splice(0).forEach(function (f) { f(); });
    }
  }
  function react() { // the page reacted: settle every click that is waiting
    var now = performance.now();
    pending.slice().forEach(function (c) {
      settleClick(c, Math.max(0, Math.round(now - c.t0)));
    });
  }
  var clickWaiters = [];
  function clicksDone(maxMs) {
    if (!pending.length) return Promise.resolve();
    return new Promise(function (res) {
      clickWaiters.push(res);
      setTimeout(res, maxMs);
    });
  }
  d.addEventListener('click', onClick, true);
  d.addEventListener('scroll', function () {
    if (pending.length) react();
    if (!scrollRaf) scrollRaf = requestAnimationFrame(function () { scrollRaf = 0; if (pv) measure(); zcheckAll(); });
    clearTimeout(scrollSettle);
    scrollSettle = setTimeout(function () { if (pv) sendScroll(); }, SCROLL_SETTLE_MS);
  }, { capture: true, passive: true });
  d.addEventListener('selectionchange', function () {
    var s = w.getSelection && w.getSelection();
    if (pending.length && s && s.type === 'Range') react(); // (isCollapsed is true in shadow roots)
  });

  // ---- zones: exposure, hover, hesitation (analytics.md, "Zones") ----
  // Per zone name and page view: `visible_ms` = time the middle line of one of the zone's
  // elements was inside the viewport while the page was visible (IntersectionObserver tells
  // which elements intersect; their middle line is checked on its callbacks, scroll, resize
  // and visibility changes); `hover_ms` = time the pointer was inside one of them;
  // `hesitation_ms` = first click in the zone minus the last pointer entry before it. Zone
  // events carry the time since the previous report (the server sums them); hesitation once.
  // A zone on the page is reported once per page view even if never seen, so it shows with
  // exposure 0 rather than not at all.
  var zstate = {}, zels = [], ztick = 0;
  var io = w.IntersectionObserver ? new IntersectionObserver(function (es) {
    es.forEach(function (e) { var z = e.target.__slz; if (z) { z.inter = e.isIntersecting; zcheck(z, performance.now()); } });
  }, { threshold: [0, 0.25, 0.5, 0.75, 1] }) : null;
  function zs(name) {
    return zstate[name] || (zstate[name] = { visN: 0, visT: 0, visMs: 0, hovN: 0, hovT: 0, hovMs: 0, enter: null, hes: null, hesSent: false, clicked: false, sent: false });
  }
  function zcheck(z, now) {
    var on = false;
    if ((z.inter || !io) && d.visibilityState !== 'hidden' && z.el.isConnected) {
      var r = z.el.getBoundingClientRect(), mid = r.top + r.height / 2;
      on = (r.width > 0 || r.height > 0) && mid >= 0 && mid <= w.innerHeight && r.right > 0 && r.left < w.innerWidth;
    }
    if (on === z.mid) return;
    z.mid = on;
    var s = zs(z.name);
    if (on) { if (!s.visN++) s.visT = now; }
    else if (!--s.visN) s.visMs += now - s.visT;
  }
  function zcheckAll() { var now = performance.now(); zels.forEach(function (z) { zcheck(z, now); }); }
  function zhover(z, on) {
    if (on === z.hov) return;
    z.hov = on;
    var s = zs(z.name), now = performance.now();
    if (on) { s.enter = now; if (!s.hovN++) s.hovT = now; }
    else if (!--s.hovN) s.hovMs += now - s.hovT;
  }
  function zoneClick(name, t) {
    var s = zs(name);
    if (s.clicked) return;
    s.clicked = true;
    if (s.enter !== null && t >= s.enter) s.hes = Math.round(t - s.enter);
  }
  function track(el, name) {
    if (el.__slz) return;
    var z = el.__slz = { el: el, name: name, inter: false, mid: false, hov: false };
    zels.push(z);
    zs(name); // present on this page view: reported once even if never seen (exposure 0)
    el.addEventListener('mouseenter', function () { zhover(z, true); });
    el.addEventListener('mouseleave', function () { zhover(z, false); });
    if (io) io.observe(el);
    zcheck(z, performance.now());
  }
  function scanZones() {
    try {
      d.querySelectorAll('[data-sl-zone]').forEach(function (el) { track(el, el.getAttribute('data-sl-zone')); });
      zones.forEach(function (r) {
        try { d.querySelectorAll(r.selector).forEach(function (el) { track(el, r.name); }); } catch (e) { /* bad selector */ }
      });
    } catch (e) { /* never break the page */ }
  }
  function sendZones() { // report what each zone gained since its previous report
    var now = performance.now();
    Object.keys(zstate).forEach(function (name) {
      var s = zstate[name], vis = s.visMs, hov = s.hovMs;
      if (s.visN) { vis += now - s.visT; s.visT = now; }
      if (s.hovN) { hov += now - s.hovT; s.hovT = now; }
      s.visMs = 0; s.hovMs = 0;
      var e = { zone: name, visible_ms: Math.round(vis), hover_ms: Math.round(hov) };
      if (s.hes !== null && !s.hesSent) { e.hesitation_ms = s.hes; s.hesSent = true; }
      if (e.visible_ms || e.hover_ms || e.hesitation_ms !== undefined || !s.sent) { s.sent = true; enqueue(ev('zone', e)); }
    });
  }
  function resetZones() { // a new page view: fresh counters, same elements
    zstate = {};
    var now = performance.now();
    zels.forEach(function (z) { if (z.el.isConnected) zs(z.name); z.mid = false; if (z.hov) { z.hov = false; zhover(z, true); } zcheck(z, now); });
    scanZones();
  }
  function zoneTick() { ztick = 0; zcheckAll(); }
  w.addEventListener('resize', function () { if (pv) measure(); if (!ztick) ztick = requestAnimationFrame(zoneTick); });
  d.addEventListener('visibilitychange', zcheckAll);
  if (d.readyState === 'loading') d.addEventListener('DOMContentLoaded', scanZones);
  w.addEventListener('load', function () { scanZones(); zcheckAll(); });

  // ---- queue and transport ----
  var queue = [], outbox = [], flushTimer = 0;
  function enqueue(e) {
    if (!allowed) return;
    queue.push(JSON.stringify(e));
    if (queue.length >= FLUSH_AT) flushNow();
    else if (!flushTimer) flushTimer = setTimeout(flushNow, FLUSH_MS);
  }
  var enc = w.TextEncoder ? new TextEncoder() : null;
  function bytes(s) { return enc ? enc.encode(s).length : s.length * 3; }
  var cap = MAX_BODY; // lowered to the limit a 413 names
  function chunks(items) { // serialized events in bodies < cap bytes
    var out = [], cur = [], size = 0;
    items.forEach(function (s) {
      var n = bytes(s) + 1;
      if (cur.length && size + n > cap - 200) { out.push(cur); cur = []; size = 0; }
      cur.push(s); size += n;
    });
    if (cur.length) out.push(cur);
    return out;
  }
  function body(items) {
    return '{"site":' + JSON.stringify(KEY) + ',"sent_at":' + Date.now() + (navigator.webdriver ? ',"webdriver":true' : '') +
      (navigator.language ? ',"language":' + JSON.stringify(String(navigator.language)) : '') +
      ',"events":[' + items.join(',') + ']}';
  }
  function newBatch(items) {
    var b = { items: items, tries: 0, timer: 0, inflight: false };
    b.done = new Promise(function (res) { b.resolve = res; });
    outbox.push(b);
    return b;
  }
  function settleBatch(b, ok) {
    var i = outbox.indexOf(b);
    if (i >= 0) outbox.splice(i, 1);
    clearTimeout(b.timer);
    if (!ok) debug.dropped += b.items.length;
    b.resolve(ok);
  }
  // Browsers cap the bytes of keepalive requests (beacons included) in flight at 64 KB per
  // page: regular sends use at most half of it, so the unload beacons still fit.
  var kaBytes = 0;
  function post(b) {
    if (outbox.indexOf(b) < 0) return;
    b.inflight = true;
    debug.fetch++;
    var s = body(b.items), n = bytes(s), ka = kaBytes + n <= MAX_BODY / 2, p;
    b.ka = ka;
    if (ka) kaBytes += n;
    try {
      p = fetch(EP, { method: 'POST', body: s, headers: { 'Content-Type': 'text/plain' },
        keepalive: ka, mode: 'cors', credentials: 'omit' });
    } catch (e) { p = Promise.reject(e); }
    p.then(function () { if (ka) kaBytes -= n; }, function () { if (ka) kaBytes -= n; });
    p.then(function (r) {
      b.inflight = false;
      trouble = !r.ok;
      if (r.ok) settleBatch(b, true);
      else if (r.status === 429 || r.status >= 500) retry(b, r.headers.get('Retry-After'));
      else if (r.status === 413) r.json().then(function (j) { if (j && j.limit > 200) cap = Math.min(cap, j.limit); }, noop).then(function () { split(b); });
      else settleBatch(b, false); // other 4xx: never retried
    }, function () { b.inflight = false; trouble = true; retry(b, null); });
  }
  // On 413 a batch is resent as two halves (each split again on its 413); a single event
  // refused is dropped and counted, never resent.
  function split(b) {
    var n = b.items.length, h = Math.ceil(n / 2);
    if (outbox.indexOf(b) < 0) return; // settled meanwhile (page left, consent withdrawn)
    if (n < 2) { debug.oversized++; return settleBatch(b, false); }
    var parts = [b.items.slice(0, h), b.items.slice(h)].map(newBatch);
    outbox.splice(outbox.indexOf(b), 1);
    b.resolve(Promise.all(parts.map(function (p) { return p.done; })).then(function (r) { return r.every(Boolean); }));
    parts.forEach(post);
  }
  // Delivery across page loads: while the server refuses (429, 503, network down), whatever
  // is undelivered when the page goes away is also kept in localStorage (the newest KEEP_MAX
  // events, KEEP_CHARS at most) and sent by the site's next page. Event ids make a copy that
  // the unload beacon delivered too count once.
  var KEEP_KEY = 'sl_q', KEEP_MAX = 500, KEEP_CHARS = 500000, trouble = false;
  function keep(items) {
    var all = [];
    try { all = JSON.parse(sget(KEEP_KEY) || '[]'); } catch (e) { all = []; }
    all = (Array.isArray(all) ? all : []).concat(items);
    var size = 0, i = all.length;
    while (i > 0 && all.length - i < KEEP_MAX && size + all[i - 1].length <= KEEP_CHARS) size += all[--i].length;
    debug.dropped += i;
    sset(KEEP_KEY, JSON.stringify(all.slice(i)));
  }
  function resume() {
    var items = [];
    try { items = JSON.parse(sget(KEEP_KEY) || '[]'); } catch (e) { items = []; }
    sdel(KEEP_KEY);
    if (!allowed || !Array.isArray(items)) return;
    chunks(items.filter(function (x) { return typeof x === 'string'; })).forEach(function (c) { post(newBatch(c)); });
  }
  function retry(b, after) {
    if (outbox.indexOf(b) < 0) return;
    if (++b.tries > 12) return settleBatch(b, false); // about 4 minutes of trying
    debug.retries++;
    var ms = Math.min(30000, 1000 * Math.pow(2, b.tries - 1));
    if (after) {
      var s = /^\d+(\.\d+)?$/.test(after.trim()) ? parseFloat(after) * 1000 : Date.parse(after) - Date.now();
      if (s >= 0) ms = Math.min(s, 300000);
    }
    b.timer = setTimeout(function () { post(b); }, ms);
  }
  function flushNow() {
    clearTimeout(flushTimer); flushTimer = 0;
    var items = queue; queue = [];
    chunks(items).forEach(function (c) { post(newBatch(c)); });
  }
  function beacon(items) {
    var s = body(items), ok = false;
    try { ok = navigator.sendBeacon(EP, new Blob([s], { type: 'text/plain' })); } catch (e) { ok = false; }
    if (ok) debug.beacon++;
    else if (items.length > 1) { // over the keepalive quota: smaller pieces may still fit
      var h = Math.ceil(items.length / 2);
      beacon(items.slice(0, h)); beacon(items.slice(h));
    } else post(newBatch(items)); // retried while the page lives
  }
  function leave() { // tab hidden or page going away: settle clicks, report depth, beacon the rest
    if (!pv) return;
    react(); // navigation, a new tab or window: the page reacted
    sendScroll();
    zcheckAll(); // a hidden page stops the exposure clocks
    sendZones();
    clearTimeout(flushTimer); flushTimer = 0;
    var items = queue; queue = [];
    outbox.slice().forEach(function (b) { // a plain fetch in flight dies with the page: resend (ids dedup)
      if (b.inflight && b.ka) return;
      items = items.concat(b.items);
      settleBatch(b, true);
    });
    if (trouble && items.length) keep(items);
    chunks(items).forEach(beacon);
  }
  w.addEventListener('pagehide', leave);
  d.addEventListener('visibilitychange', function () { if (d.visibilityState === 'hidden') leave(); });
  w.addEventListener('pageshow', function (e) { if (e.persisted) startPV(d.referrer); }); // back/forward cache

  // A session's fixed draw in [0, 1) (replay sampling), and host + path against `*` patterns.
  function pick(id) { for (var h = 0, i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) >>> 0; return h % 1e4 / 1e4; }
  function globs(ps) {
    var k = location.host + location.pathname;
    return (ps || []).some(function (p) { return new RegExp('^' + p.split('*').map(function (x) { return x.replace(/[.+?^${}()|[\]\\]/g, '\\$&'); }).join('.*') + '$').test(k); });
  }

  /** Load /s/<file> with this tag's CSP nonce. */
  function load(file) {
    var s = d.createElement('script');
    s.async = true; s.src = new URL(file, tag.src).href; s.nonce = tag.nonce;
    (d.head || d.documentElement).appendChild(s);
  }

  // ---- site config (not in overlay mode) ----
  if (!OVL) try {
    fetch(new URL('/v1/sites/' + encodeURIComponent(KEY) + '/config', tag.src).href, { mode: 'cors', credentials: 'omit' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (c) {
        debug.config = true;
        if (c && c.hash_routing === true) hashRoutes = true;
        if (c && Array.isArray(c.zones)) {
          zones = c.zones.filter(function (z) { return z && typeof z.selector === 'string' && z.name; });
          scanZones();
        }
        if (c && ((Array.isArray(c.surveys) && c.surveys.length) || (c.feedback && c.feedback.enabled))) {
          w.sightline._config = c; // survey / feedback widgets: loaded only when the site has them
          load('/s/widgets.js');
        }
        // Session replay: the recorder (/s/replay.js) only for a sampled session on a
        // recorded page, with consent; it reads its settings from _replay.
        var rp = c && c.replay;
        if (rp && rp.enabled && allowed && pick(session(false)) < rp.sampling && !(globs(rp.exclude_pages) || (rp.pages.length && !globs(rp.pages)))) {
          rp.site = KEY; rp.endpoint = new URL('/v1/replay', tag.src).href;
          w.sightline._replay = rp;
          load('/s/replay.js');
        }
      }, noop);
  } catch (e) { /* no config: no rule zones */ }

  // ---- public API ----
  var api = {
    _v: 1,
    track: function (name, props) {
      if (typeof name === 'string' && name) enqueue(ev('custom', { name: name, props: props || {} }));
    },
    survey: function (surveyId, questionId, kind, value, trigger) {
      enqueue(ev('survey_response', { survey_id: String(surveyId), question_id: String(questionId),
        kind: kind, value: value, trigger: trigger || 'manual' }));
    },
    // Survey reach: shown (an impression), and closed unfinished on question `questionId`.
    surveyShown: function (surveyId, trigger) {
      enqueue(ev('survey_shown', { survey_id: String(surveyId), trigger: trigger || 'manual' }));
    },
    surveyDismissed: function (surveyId, questionId, trigger) {
      enqueue(ev('survey_dismissed', { survey_id: String(surveyId),
        question_id: questionId == null ? null : String(questionId), trigger: trigger || 'manual' }));
    },
    feedback: function (f) {
      f = f || {};
      var sel = f.selector && f.selector.nodeType === 1 ? selector(f.selector) : f.selector;
      enqueue(ev('feedback', { rating: f.rating, comment: f.comment, category: f.category, selector: sel || null }));
    },
    // Resolves (true when all delivered, false when some were refused) once everything queued
    // so far, including clicks still waiting for a reaction (up to 2.6 s), is delivered.
    flush: function () {
      return clicksDone(CLICK_WINDOW + 100).then(function () {
        var now = performance.now();
        pending.slice().forEach(function (c) { if (now - c.t0 >= CLICK_WINDOW) settleClick(c, null); });
        if (pv) sendZones();
        flushNow();
        return Promise.all(outbox.map(function (b) { return b.done; }));
      }).then(function (r) { return r.every(Boolean); });
    },
    // consent(true): start (or resume) collecting, remembered; consent(false): stop, forget
    // what is queued and the ids stored in the browser.
    consent: function (yes) {
      var was = allowed;
      allowed = !!yes && !OVL;
      try { w.localStorage.setItem('sl_consent', yes ? '1' : '0'); } catch (e) { /* blocked */ }
      if (allowed) {
        sset('sl_vid', visitor);
        session(true);
        if (!was) startPV(d.referrer); // this page counts from now
      } else {
        queue = [];
        outbox.slice().forEach(function (b) { settleBatch(b, false); });
        ['sl_vid', 'sl_sid', KEEP_KEY].forEach(sdel);
      }
    },
    _selector: selector,
    _query: query,
    _target: clickTarget,
    // Styles a widget's shadow root under CSP: a constructed sheet, else <style nonce>.
    _style: function (root, css) {
      try {
        var sh = new CSSStyleSheet();
        sh.replaceSync(css);
        root.adoptedStyleSheets = [sh];
      } catch (e) {
        var st = d.createElement('style');
        st.nonce = tag.nonce; st.textContent = css;
        root.appendChild(st);
      }
    },
    _zones: function () { return zels.map(function (z) { return z.name; }); },
    _skeleton: skeleton, _layout: layout,
    _allowed: function () { return allowed; },
    _debug: debug
  };
  Object.defineProperty(api, 'pageviewId', { get: function () { return pv && pv.id; } });
  Object.defineProperty(api, 'sessionId', { get: function () { return session(false); } });
  Object.defineProperty(api, 'visitorId', { get: function () { return visitor; } });
  Object.defineProperty(api, 'pending', { get: function () { return { clicks: pending.length, queued: queue.length, batches: outbox.length }; } });
  w.sightline = api;

  if (OVL) {
    api._overlay = { grant: OVL[1], api: new URL('/', tag.src).href };
    load('/s/overlay.js');
  }

  if (!OVL) resume(); // an overlay viewer leaves a visitor's undelivered events where they are
  startPV(d.referrer);
  pre.forEach(function (c) { try { api[c[0]].apply(api, c.slice(1)); } catch (e) { /* bad call */ } });
})();
