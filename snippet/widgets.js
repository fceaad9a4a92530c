/*! Sightline voice-of-customer widgets v1. Plain ES2017, no dependencies; served at
 * GET /s/widgets.js and loaded by the snippet (/s.js) only when the site config has surveys
 * or the feedback button on. Reads the config from window.sightline._config and sends
 * through window.sightline.survey / .feedback (the snippet's queue, session and page view).
 * Everything renders in shadow roots (page CSS does not reach in, ours does not leak out),
 * styled by constructed stylesheets and CSSOM only, so a strict Content-Security-Policy
 * (style-src without 'unsafe-inline') lets it work (sightline._style);
 * dialogs are role=dialog with labels, take focus when they open, give it back when they
 * close, and close with Escape.
 *
 * Survey triggers (config `trigger.type`): exit_intent (rule below), time_on_page {ms},
 * scroll_depth {percent}, custom_event {name} (a sightline.track(name) call), manual
 * (sightline.showSurvey(id)). Targeting: page patterns (`*` wildcard) over the page key's
 * host + path, device class by viewport width; sampling per visitor and survey; frequency
 * once per visitor or once per session (localStorage `sl_svy_<id>`), and with
 * max_impressions N at most N impressions per visitor (`sl_svn_<id>`; once per page view for
 * frequency visitor; none after the last question was answered). Each answer is sent as
 * soon as it is given (partial answers count; the latest per session wins on the server).
 * Reach: `survey_shown` when a survey opens, `survey_dismissed` (with the question on
 * screen) when it is closed before its last question was sent.
 *
 * Exit intent (analytics.md; thresholds from config.exit_intent):
 *   desktop: the pointer leaves the viewport through the top edge, moving up, after
 *            >= min_page_ms (5 s) on the page;
 *   mobile (device class mobile/tablet, or a coarse pointer): an upward scroll of
 *            >= scroll_px_per_s (1000 px/s, over the last 200 ms) ending within one viewport
 *            height of the top, or the tab turning visible after >= hidden_ms (5 s) hidden.
 *   At most once per session per survey (a shown survey is capped).
 */
(function () {
  'use strict';
  var w = window, d = document, sl = w.sightline;
  if (!sl || !sl._config || sl._widgets) return;
  sl._widgets = true;
  var cfg = sl._config;
  var EXIT = cfg.exit_intent || { min_page_ms: 5000, hidden_ms: 5000, scroll_px_per_s: 1000 };
  var surveys = Array.isArray(cfg.surveys) ? cfg.surveys : [];

  // ---- helpers ----
  function lget(k) { try { return w.localStorage.getItem(k); } catch (e) { return null; } }
  function lset(k, v) { try { w.localStorage.setItem(k, v); } catch (e) { /* blocked */ } }
  function now() { return performance.now(); }
  function deviceClass() { var x = w.innerWidth; return x < 768 ? 'mobile' : x < 1024 ? 'tablet' : 'desktop'; }
  function mobileRules() {
    return deviceClass() !== 'desktop' || !!(w.matchMedia && w.matchMedia('(pointer: coarse)').matches);
  }
  var UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  // Kept encoded when decoded: controls, whitespace, bidirectional formatting characters.
  var KEEP_ENCODED = /[\u0000-\u001F\u007F-\u009F\s\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/;
  /** The page key's encoding of a path (analytics.md "Page key", Encoding; the server's
   * `canonical_encoding`): a run of %XX is decoded where it is an unreserved character or a
   * UTF-8 character, every other %XX stays, in upper case: /caf%c3%a9 → /café. */
  function canonicalPath(p) {
    return p.replace(/(?:%[0-9a-fA-F]{2})+/g, function (run) {
      var hex = run.match(/%[0-9a-fA-F]{2}/g), out = '';
      for (var i = 0; i < hex.length;) {
        var b = parseInt(hex[i].slice(1), 16);
        var n = b < 0x80 ? 1 : b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xF0 && b <= 0xF4 ? 4 : 0;
        var c = null;
        if (n && i + n <= hex.length) {
          try { c = decodeURIComponent(hex.slice(i, i + n).join('')); } catch (e) { c = null; }
        }
        if (c !== null && (n === 1 ? /^[A-Za-z0-9\-._~]$/.test(c) : !KEEP_ENCODED.test(c))) { out += c; i += n; } else { out += hex[i].toUpperCase(); i += 1; }
      }
      return out;
    });
  }
  function pagePath() { // the page key's host + path (analytics.md "Page key"), no query
    return location.host.toLowerCase() + canonicalPath(location.pathname).split('/').map(function (s) {
      return s && (/^\d+$/.test(s) || UUID.test(s)) ? ':id' : s;
    }).join('/');
  }
  function glob(p) {
    return new RegExp('^' + p.split('*').map(function (s) {
      return s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
    }).join('.*') + '$', 'i');
  }
  function unit(s) { // FNV-1a of s as a number in [0, 1): the per-visitor sampling draw
    var h = 2166136261;
    for (var i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); }
    return (h >>> 0) / 4294967296;
  }
  function el(tag, attrs, kids) {
    var n = d.createElement(tag);
    for (var k in attrs || {}) {
      if (k === 'text') n.textContent = attrs[k];
      else if (attrs[k] !== null && attrs[k] !== undefined) n.setAttribute(k, attrs[k]);
    }
    (kids || []).forEach(function (c) { if (c) n.appendChild(c); });
    return n;
  }
  var uid = 0;
  function id(p) { return 'sl' + p + (++uid); }

  // The widgets' own font: `:host{all:initial}` leaves the browser's default (a serif).
  var FONT = '14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif';
  var CSS = ':host{all:initial}*{box-sizing:border-box}' +
    '.box{font:' + FONT + ';color:#1f2328;background:#fff;' +
    'border:1px solid #c8ccd0;border-radius:8px;box-shadow:0 6px 24px rgba(0,0,0,.18);padding:16px;' +
    'width:340px;max-width:calc(100vw - 24px);position:relative;text-align:left}' +
    'h2{font-size:16px;margin:0 28px 8px 0;font-weight:600}' +
    'fieldset{border:0;margin:0 0 12px;padding:0}legend{padding:0;margin:0 0 8px;font-weight:500}' +
    // One row for every scale (0–10 too), down to phone widths: the labels shrink, never wrap.
    '.scale{display:flex;gap:4px}.scale label{flex:1 1 0;min-width:0;text-align:center;border:1px solid #c8ccd0;' +
    'border-radius:4px;padding:4px 0;cursor:pointer}.scale input{position:absolute;opacity:0;width:1px;height:1px}' +
    '.scale label:has(input:checked){background:#2f6feb;color:#fff;border-color:#2f6feb}' +
    '.scale label:has(input:focus-visible){outline:2px solid #0b57d0;outline-offset:1px}' +
    '.ends{display:flex;justify-content:space-between;font-size:12px;color:#57606a;margin-top:4px}' +
    '.opt{display:block;margin:4px 0;cursor:pointer}' +
    'textarea,select{width:100%;font:inherit;border:1px solid #c8ccd0;border-radius:4px;padding:6px}' +
    'textarea{min-height:80px;resize:vertical}label.f{display:block;margin:8px 0 4px;font-weight:500}' +
    'button{font:inherit;cursor:pointer;border-radius:4px;border:1px solid #2f6feb;background:#2f6feb;color:#fff;padding:6px 14px}' +
    'button.sec{background:#fff;color:#2f6feb}button:focus-visible{outline:2px solid #0b57d0;outline-offset:2px}' +
    '.x{position:absolute;top:8px;right:8px;background:none;border:0;color:#57606a;font-size:20px;line-height:1;padding:2px 6px}' +
    '.nav{display:flex;gap:8px;align-items:center;justify-content:space-between;margin-top:8px}' +
    '.muted{color:#57606a;font-size:12px}.err{color:#b42318;font-size:13px;min-height:1em;margin:4px 0 0}' +
    '.tab{font:' + FONT + ';position:fixed;top:50%;padding:8px 12px;border-radius:6px 6px 0 0;z-index:2147483646}' +
    '.tab.right{right:0;transform:translate(38%,-50%) rotate(-90deg)}.tab.left{left:0;transform:translate(-38%,-50%) rotate(90deg)}' +
    '.wrap{position:fixed;bottom:16px;right:16px}.wrap.left{left:16px;right:auto}' +
    '.hl{position:fixed;pointer-events:none;border:2px solid #2f6feb;background:rgba(47,111,235,.12);z-index:2147483646;display:none}' +
    '.banner{position:fixed;top:8px;left:50%;transform:translateX(-50%);z-index:2147483647;background:#1f2328;color:#fff;' +
    'padding:8px 12px;border-radius:6px;font:14px system-ui,sans-serif}';

  /** A host element with an open shadow root holding our styles (host styles by CSSOM). */
  function mount(css, parent) {
    var h = d.createElement('div');
    h.setAttribute('data-sightline-widget', '');
    h.style.cssText = 'all:initial;' + css;
    var root = h.attachShadow({ mode: 'open' });
    sl._style(root, CSS);
    (parent || d.body || d.documentElement).appendChild(h);
    return { host: h, root: root };
  }
  function ours(t) { return !!(t && t.closest && t.closest('[data-sightline-widget]')); }

  /** Open a dialog in `root`: focus its first control, Escape and the close button call
   * onClose; focus goes back where it was. Returns close(). */
  function dialog(root, box, first, onClose) {
    var before = d.activeElement, closed = false;
    function close() {
      if (closed) return;
      closed = true;
      box.removeEventListener('keydown', onKey);
      onClose();
      try { if (before && before.focus && d.contains(before)) before.focus(); } catch (e) { /* gone */ }
    }
    function onKey(e) { if (e.key === 'Escape') { e.stopPropagation(); close(); } }
    box.addEventListener('keydown', onKey);
    setTimeout(function () { (first() || box).focus(); }, 0);
    return close;
  }

  // ---- surveys ----
  // One dialog at a time in the corner: a popup survey whose trigger fires while the feedback
  // form (or its element picker) is open waits for it to close (`deferred`); opening the
  // feedback form dismisses a popup survey.
  var openSurvey = null, armed = [], timers = [], pvId = sl.pageviewId, feedbackOpen = false, deferred = null;
  var pageStart = 0; // performance.now() counts from the navigation: time on the first page starts there
  function capKey(sv) { return 'sl_svy_' + sv.id; }
  function countKey(sv) { return 'sl_svn_' + sv.id; }
  var shownHere = {}; // survey ids shown in this page view (frequency visitor with max_impressions)
  function capped(sv) {
    var v = lget(capKey(sv)), max = sv.max_impressions;
    if (max) {
      if ((+lget(countKey(sv)) || 0) >= max) return true;
      return sv.frequency === 'session' ? v === sl.sessionId : !!shownHere[sv.id];
    }
    return v !== null && (sv.frequency !== 'session' || v === sl.sessionId);
  }
  function eligible(sv) {
    var t = sv.targeting || {};
    if (t.devices && t.devices.length && t.devices.indexOf(deviceClass()) < 0) return false;
    if (t.pages && t.pages.length && !t.pages.some(function (p) { return glob(p).test(pagePath()); })) return false;
    if (unit(sl.visitorId + '|' + sv.id) >= (typeof sv.sampling === 'number' ? sv.sampling : 1)) return false;
    return !capped(sv);
  }
  function arm() { // per page view: which surveys wait for their trigger here
    timers.forEach(clearTimeout);
    timers = [];
    armed = surveys.filter(eligible);
    armed.forEach(function (sv) {
      if (sv.trigger && sv.trigger.type === 'time_on_page') {
        timers.push(setTimeout(function () { fire(sv, 'time_on_page'); }, Math.max(0, sv.trigger.ms - (now() - pageStart))));
      }
    });
    onScrollDepth();
  }
  function fire(sv, trigger) {
    if (feedbackOpen && !openSurvey && armed.indexOf(sv) >= 0 && !capped(sv) && (sv.placement || {}).type !== 'inline') {
      if (!deferred) deferred = [sv, trigger];
      return false;
    }
    if (openSurvey || armed.indexOf(sv) < 0 || capped(sv)) return false;
    armed.splice(armed.indexOf(sv), 1);
    showSurvey(sv, trigger);
    return true;
  }
  function fireType(type, test) {
    armed.slice().some(function (sv) {
      return sv.trigger && sv.trigger.type === type && (!test || test(sv.trigger)) && fire(sv, type);
    });
  }

  function controls(q, name) {
    if (q.kind === 'text') {
      return { node: el('textarea', { name: name, maxlength: '5000', 'aria-label': q.text }),
        value: function (f) { var v = f.querySelector('textarea').value.trim(); return v ? v : null; } };
    }
    if (q.kind === 'choice') {
      var multi = !!q.multiple;
      var box = el('div', { role: multi ? 'group' : 'radiogroup' }, (q.options || []).map(function (o) {
        return el('label', { 'class': 'opt' }, [el('input', { type: multi ? 'checkbox' : 'radio', name: name, value: o }),
          d.createTextNode(' ' + o)]);
      }));
      return { node: box, value: function (f) {
        var picked = Array.prototype.map.call(f.querySelectorAll('input:checked'), function (i) { return i.value; });
        return !picked.length ? null : multi ? picked : picked[0];
      } };
    }
    var lo = q.kind === 'nps' ? 0 : q.kind === 'csat' ? 1 : (q.min == null ? 1 : q.min);
    var hi = q.kind === 'nps' ? 10 : q.kind === 'csat' ? 5 : (q.max == null ? 5 : q.max);
    var opts = [];
    for (var v = lo; v <= hi; v++) {
      opts.push(el('label', {}, [el('input', { type: 'radio', name: name, value: String(v), 'aria-label': v + ' of ' + hi }),
        el('span', { text: String(v), 'aria-hidden': 'true' })]));
    }
    var ends = q.kind === 'nps' ? el('div', { 'class': 'ends', 'aria-hidden': 'true' },
      [el('span', { text: 'Not likely' }), el('span', { text: 'Very likely' })]) : null;
    return { node: el('div', {}, [el('div', { 'class': 'scale', role: 'radiogroup', 'aria-label': q.text }, opts), ends]),
      value: function (f) { var i = f.querySelector('input:checked'); return i ? Number(i.value) : null; } };
  }

  function showSurvey(sv, trigger) {
    var pl = sv.placement || { type: 'popup' }, parent = null;
    if (pl.type === 'inline') {
      try { parent = d.querySelector(pl.selector); } catch (e) { parent = null; }
      if (!parent) return;
    }
    lset(capKey(sv), sv.frequency === 'session' ? sl.sessionId : 'visitor');
    lset(countKey(sv), String((+lget(countKey(sv)) || 0) + 1));
    shownHere[sv.id] = true;
    sl.surveyShown(sv.id, trigger);
    var finished = false;
    var m = mount(pl.type === 'inline' ? 'display:block;margin:12px 0;' :
      'position:fixed;right:16px;bottom:16px;z-index:2147483647;', parent);
    var titleId = id('t'), i = 0, qs = sv.questions || [];
    var box = el('div', { 'class': 'box', role: 'dialog', 'aria-modal': 'false', 'aria-labelledby': titleId,
      'data-survey': sv.id });
    var closeBtn = el('button', { type: 'button', 'class': 'x', 'aria-label': 'Close survey', text: '\u00d7' });
    var title = el('h2', { id: titleId, text: sv.title || (qs[0] && qs[0].text) || 'Survey' });
    var form = el('form', { novalidate: '' });
    var err = el('p', { 'class': 'err', role: 'alert' });
    box.appendChild(closeBtn); box.appendChild(title); box.appendChild(form);
    m.root.appendChild(box);
    var ctl = null;
    var close = dialog(m.root, box, function () { return form.querySelector('input,textarea,select,button'); }, function () {
      m.host.remove();
      openSurvey = null;
      if (!finished && qs[i]) sl.surveyDismissed(sv.id, qs[i].id, trigger); // closed on question i
      sl.flush();
    });
    closeBtn.addEventListener('click', close);
    function render() {
      var q = qs[i], qid = id('q');
      form.textContent = '';
      err.textContent = '';
      ctl = controls(q, id('a'));
      var fs = el('fieldset', { 'aria-labelledby': qid }, [el('legend', { id: qid, text: q.text }), ctl.node]);
      var last = i === qs.length - 1;
      var nav = el('div', { 'class': 'nav' }, [
        el('span', { 'class': 'muted', text: qs.length > 1 ? (i + 1) + ' of ' + qs.length : '' }),
        el('button', { type: 'submit', text: last ? 'Send' : 'Next' })]);
      form.appendChild(fs); form.appendChild(err); form.appendChild(nav);
      if (i > 0) { var f = form.querySelector('input,textarea'); if (f) f.focus(); }
    }
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var q = qs[i], v = ctl.value(form);
      if (v === null && q.kind !== 'text') { err.textContent = 'Please choose an answer.'; return; }
      if (v !== null) sl.survey(sv.id, q.id, q.kind, v, trigger); // sent at once: partial answers count
      if (++i < qs.length) return render();
      finished = true;
      if (sv.max_impressions) lset(countKey(sv), String(sv.max_impressions)); // answered: not asked again
      form.textContent = '';
      title.textContent = 'Thank you!';
      sl.flush();
      closeBtn.focus();
      setTimeout(close, 1500);
    });
    render();
    openSurvey = { survey: sv, close: close, popup: pl.type !== 'inline' };
  }

  // Triggers.
  var lastY = null;
  d.addEventListener('mousemove', function (e) { lastY = e.clientY; }, { passive: true });
  d.addEventListener('mouseout', function (e) { // desktop exit intent
    if (e.relatedTarget || mobileRules()) return; // moved onto another element, or not a desktop
    var up = e.movementY < 0 || (lastY !== null && e.clientY < lastY);
    if (e.clientY > 0 || !up || now() - pageStart < EXIT.min_page_ms) return;
    fireType('exit_intent');
  });
  var samples = [];
  function onScrollDepth() {
    var de = d.documentElement, h = Math.max(de.scrollHeight, d.body ? d.body.scrollHeight : 0);
    if (!h) return;
    var pct = (w.scrollY + w.innerHeight) / h * 100;
    fireType('scroll_depth', function (t) { return pct >= t.percent; });
  }
  w.addEventListener('scroll', function () {
    var t = now(), y = w.scrollY;
    onScrollDepth();
    samples.push([t, y]);
    while (samples.length > 1 && t - samples[0][0] > 200) samples.shift();
    if (samples.length < 2 || !mobileRules()) return;
    var dt = t - samples[0][0], speed = (samples[0][1] - y) / dt * 1000; // px/s, upward positive
    if (dt >= 30 && speed >= EXIT.scroll_px_per_s && y <= w.innerHeight) fireType('exit_intent');
  }, { passive: true });
  var hiddenAt = null;
  d.addEventListener('visibilitychange', function () {
    if (d.visibilityState === 'hidden') { hiddenAt = now(); return; }
    var away = hiddenAt === null ? 0 : now() - hiddenAt;
    hiddenAt = null;
    if (away >= EXIT.hidden_ms && mobileRules()) fireType('exit_intent');
  });
  var track = sl.track;
  sl.track = function (name) {
    var r = track.apply(this, arguments);
    fireType('custom_event', function (t) { return t.name === name; });
    return r;
  };
  /** Show survey `id` now if it may show on this page (targeting, sampling, frequency). */
  sl.showSurvey = function (sid) {
    var sv = armed.filter(function (s) { return s.id === sid; })[0];
    return !!sv && fire(sv, 'manual');
  };
  setInterval(function () { // a new page view (SPA navigation): time on page starts again
    if (sl.pageviewId !== pvId) { pvId = sl.pageviewId; pageStart = now(); samples = []; shownHere = {}; arm(); }
  }, 500);
  arm();

  // ---- feedback button ----
  var fb = cfg.feedback;
  if (fb && fb.enabled) feedbackTab(fb);

  function feedbackTab(fb) {
    var m = mount('position:fixed;top:0;left:0;width:0;height:0;z-index:2147483646;');
    var tab = el('button', { type: 'button', 'class': 'tab ' + (fb.position === 'left' ? 'left' : 'right'),
      'aria-haspopup': 'dialog', 'aria-expanded': 'false', text: fb.label || 'Feedback' });
    m.root.appendChild(tab);
    var hl = el('div', { 'class': 'hl' }), banner = el('div', { 'class': 'banner', role: 'status' });
    banner.style.display = 'none';
    m.root.appendChild(hl); m.root.appendChild(banner);
    var state = { rating: null, category: (fb.categories || [])[0] || null, comment: '', target: null, selector: '' };
    var open = null;

    function openForm() {
      if (open) return;
      if (openSurvey && openSurvey.popup) openSurvey.close();
      feedbackOpen = true;
      tab.setAttribute('aria-expanded', 'true');
      var titleId = id('ft'), cid = id('c'), kid = id('k'), rid = id('r');
      var wrap = el('div', { 'class': 'wrap' + (fb.position === 'left' ? ' left' : '') });
      var box = el('div', { 'class': 'box', role: 'dialog', 'aria-modal': 'false', 'aria-labelledby': titleId });
      var closeBtn = el('button', { type: 'button', 'class': 'x', 'aria-label': 'Close feedback', text: '\u00d7' });
      var ratings = [];
      for (var v = 1; v <= 5; v++) {
        ratings.push(el('label', {}, [el('input', { type: 'radio', name: rid, value: String(v), 'aria-label': v + ' of 5' }),
          el('span', { text: String(v), 'aria-hidden': 'true' })]));
      }
      var cat = el('select', { id: kid }, (fb.categories || []).map(function (c) {
        return el('option', { value: c, text: c.charAt(0).toUpperCase() + c.slice(1) });
      }));
      var comment = el('textarea', { id: cid, maxlength: '2000' });
      var pick = el('button', { type: 'button', 'class': 'sec', text: 'Pick an element' });
      var picked = el('p', { 'class': 'muted', 'aria-live': 'polite', 'data-picked': '' });
      var err = el('p', { 'class': 'err', role: 'alert' });
      var form = el('form', { novalidate: '' }, [
        el('fieldset', {}, [el('legend', { text: 'How would you rate this page?' }),
          el('div', { 'class': 'scale', role: 'radiogroup', 'aria-label': 'Rating, 1 (bad) to 5 (great)' }, ratings),
          el('div', { 'class': 'ends', 'aria-hidden': 'true' }, [el('span', { text: 'Bad' }), el('span', { text: 'Great' })])]),
        (fb.categories || []).length > 1 ? el('label', { 'class': 'f', 'for': kid, text: 'Category' }) : null,
        (fb.categories || []).length > 1 ? cat : null,
        el('label', { 'class': 'f', 'for': cid, text: 'Comment (optional)' }), comment,
        fb.pick_element !== false ? el('div', { 'class': 'nav' }, [pick]) : null, picked, err,
        el('div', { 'class': 'nav' }, [el('span'), el('button', { type: 'submit', text: 'Send' })])]);
      box.appendChild(closeBtn); box.appendChild(el('h2', { id: titleId, text: 'Send feedback' })); box.appendChild(form);
      wrap.appendChild(box);
      m.root.appendChild(wrap);
      // restore what was filled in before picking an element
      if (state.rating) form.querySelector('input[value="' + state.rating + '"]').checked = true;
      if (state.category) cat.value = state.category;
      comment.value = state.comment;
      picked.textContent = state.selector ? 'Element: ' + state.selector : '';
      function keep() {
        var r = form.querySelector('input[name="' + rid + '"]:checked');
        state.rating = r ? Number(r.value) : null;
        state.category = cat.value || state.category;
        state.comment = comment.value;
      }
      var close = dialog(m.root, box, function () { return form.querySelector('input'); }, function () {
        wrap.remove();
        open = null;
        feedbackOpen = false;
        tab.setAttribute('aria-expanded', 'false');
        setTimeout(function () { // the picker may have taken over: then the survey waits on
          if (feedbackOpen || !deferred) return;
          var x = deferred; deferred = null; fire(x[0], x[1]);
        }, 0);
      });
      open = { close: close };
      closeBtn.addEventListener('click', close);
      pick.addEventListener('click', function () { keep(); close(); pickMode(); });
      form.addEventListener('submit', function (e) {
        e.preventDefault();
        keep();
        if (!state.rating) { err.textContent = 'Please choose a rating.'; return; }
        sl.feedback({ rating: state.rating, comment: state.comment.trim() || null,
          category: (fb.categories || []).length ? state.category : null, selector: state.selector || null });
        sl.flush();
        state = { rating: null, category: (fb.categories || [])[0] || null, comment: '', target: null, selector: '' };
        form.textContent = '';
        box.querySelector('h2').textContent = 'Thank you!';
        closeBtn.focus();
        setTimeout(close, 1500);
      });
    }

    // "Pick the element": hover highlights, a click (or Enter on the focused element) picks,
    // Escape cancels. The page never sees the picking click (stopped before the snippet's
    // and the page's listeners, which run after the window's capture phase).
    var EVENTS = ['click', 'mousedown', 'mouseup', 'pointerdown', 'pointerup', 'auxclick', 'dblclick'];
    function pickMode() {
      feedbackOpen = true;
      banner.textContent = 'Click the element your feedback is about (Enter picks the focused one, Esc cancels)';
      banner.style.display = 'block';
      function target(e) { var t = e.target; return t && t.nodeType === 1 && !ours(t) ? sl._target(t) : null; }
      // The page itself (a click beside every element) is no element to give feedback on.
      function whole(t) { return t === d.documentElement || t === d.body; }
      function move(e) {
        var t = target(e);
        if (!t || whole(t)) { hl.style.display = 'none'; return; }
        var r = t.getBoundingClientRect();
        hl.style.cssText = 'display:block;left:' + r.left + 'px;top:' + r.top + 'px;width:' + r.width + 'px;height:' + r.height + 'px';
      }
      function stop(e) {
        var t = target(e);
        if (!t) return;
        e.preventDefault(); e.stopPropagation(); e.stopImmediatePropagation();
        if (e.type === 'click' && !whole(t)) done(t);
      }
      function key(e) {
        if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); done(null); }
        else if (e.key === 'Enter' && d.activeElement && d.activeElement !== d.body && !ours(d.activeElement)) {
          e.preventDefault(); e.stopPropagation(); done(d.activeElement);
        }
      }
      function done(t) {
        w.removeEventListener('mousemove', move, true);
        EVENTS.forEach(function (n) { w.removeEventListener(n, stop, true); });
        w.removeEventListener('keydown', key, true);
        hl.style.display = 'none';
        banner.style.display = 'none';
        if (t) { state.target = t; state.selector = sl._selector(t); }
        openForm();
      }
      w.addEventListener('mousemove', move, true);
      EVENTS.forEach(function (n) { w.addEventListener(n, stop, true); });
      w.addEventListener('keydown', key, true);
    }
    tab.addEventListener('click', function () { if (open) open.close(); else openForm(); });
  }
})();
