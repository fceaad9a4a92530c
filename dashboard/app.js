/*! Sightline dashboard. Plain JS (no build step), charts by Apache ECharts (vendor/).
 * State lives in the URL hash: #/<view>?site=&from=&to=&device=&channel=&…&split=&… (from/to inclusive days,
 * YYYY-MM-DD, the site's dates: its time zone, UTC by default), so every view is a shareable link. Every number comes from the query API
 * with the signed-in token (sessionStorage, this tab only) as a Bearer token. */
(function () {
  'use strict';
  var TOKEN_KEY = 'sightline.token';
  /** Days shown when the link has no range: the query API's default (the last 30 days). */
  var DEFAULT_DAYS = 30;
  var VIEWS = [['problems', 'Problems'], ['heatmap', 'Heatmap'], ['journeys', 'Journeys'], ['voc', 'Voice of customer'], ['sessions', 'Sessions']];
  /** The segment filters (docs/api.md, "Segments"): carried in the hash, sent to every query. */
  var SEGMENTS = [['channel', 'Channel'], ['referrer', 'Referrer'], ['utm_source', 'Source'], ['utm_medium', 'Medium'],
    ['utm_campaign', 'Campaign'], ['browser', 'Browser'], ['os', 'OS'], ['language', 'Language']];
  var SEG_KEYS = SEGMENTS.map(function (d) { return d[0]; });
  var S = {}; // the state from the hash
  var sites = [];
  var charts = [];
  var view = document.getElementById('view');
  var renderSeq = 0;

  // ---- small helpers ----
  function h(tag, attrs) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) continue;
      if (k === 'text') e.textContent = v;
      else if (k.slice(0, 2) === 'on') e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (var i = 2; i < arguments.length; i++) add(e, arguments[i]);
    return e;
  }
  function add(e, c) {
    if (c === null || c === undefined || c === false) return;
    if (Array.isArray(c)) c.forEach(function (x) { add(e, x); });
    else e.appendChild(c.nodeType ? c : document.createTextNode(String(c)));
  }
  /** Numbers as shown: integers as is, other numbers with one decimal, null as "–". */
  function num(v) {
    if (v === null || v === undefined) return '–';
    return Number.isInteger(v) ? String(v) : v.toFixed(1);
  }
  /** A fraction 0..1 as a percent with one decimal. */
  function pct(v) { return v === null || v === undefined ? '–' : (v * 100).toFixed(1) + ' %'; }
  function ymd(d) { return d.toISOString().slice(0, 10); }
  function addDays(s, n) { var d = new Date(s + 'T00:00:00Z'); d.setUTCDate(d.getUTCDate() + n); return ymd(d); }
  /** The site's time zone (`settings.rules.time_zone`, an IANA name: the API's days); 'UTC'
   * when it sets none or this browser does not know the name. */
  function siteZone(siteKey) {
    var site = sites.filter(function (s) { return s.key === siteKey; })[0];
    var tz = site && site.settings && site.settings.rules && site.settings.rules.time_zone;
    return tz && zoneFormat(tz) ? tz : 'UTC';
  }
  /** One formatter per time zone (built once: a table formats many cells); null for a zone this browser does not know. */
  var zoneFormats = {};
  function zoneFormat(tz) {
    if (!(tz in zoneFormats)) {
      try {
        zoneFormats[tz] = new Intl.DateTimeFormat('en-CA', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
          hour: '2-digit', minute: '2-digit', second: '2-digit' });
      } catch (e) { zoneFormats[tz] = null; }
    }
    return zoneFormats[tz];
  }
  /** `ms` (since the epoch) as `YYYY-MM-DD HH:MM:SS` (24-hour clock) in time zone `tz` (a known zone: siteZone). */
  function zoneTime(ms, tz) {
    var p = {};
    zoneFormat(tz).formatToParts(new Date(ms)).forEach(function (x) { p[x.type] = x.value; });
    return p.year + '-' + p.month + '-' + p.day + ' ' + p.hour + ':' + p.minute + ':' + p.second;
  }
  /** `ms` in the current site's time zone, to the second (`YYYY-MM-DD HH:MM:SS`). Labels name the zone: siteZone(S.site). */
  function siteTime(ms) { return zoneTime(ms, siteZone(S.site)); }
  /** Today's date in the site's time zone (the API's today). */
  function today(siteKey) { return zoneTime(Date.now(), siteZone(siteKey)).slice(0, 10); }

  // ---- state in the URL ----
  function parseHash() {
    var raw = location.hash.replace(/^#\/?/, ''), i = raw.indexOf('?');
    var name = (i < 0 ? raw : raw.slice(0, i)) || 'problems';
    var q = new URLSearchParams(i < 0 ? '' : raw.slice(i + 1)), s = { view: name };
    q.forEach(function (v, k) { s[k] = v; });
    if (!s.to) s.to = today(s.site);
    if (!s.from) s.from = addDays(s.to, 1 - DEFAULT_DAYS);
    return s;
  }
  /** A link to `viewName` keeping site, dates and device, plus `extra`. */
  function link(viewName, extra) {
    var q = new URLSearchParams();
    ['site', 'from', 'to', 'device'].concat(SEG_KEYS).forEach(function (k) { if (S[k]) q.set(k, S[k]); });
    for (var k in extra || {}) if (extra[k] !== undefined && extra[k] !== null && extra[k] !== '') q.set(k, extra[k]);
    return '#/' + viewName + '?' + q.toString();
  }
  function go(patch, viewName) {
    var s = Object.assign({}, S, patch), q = new URLSearchParams();
    Object.keys(s).forEach(function (k) { if (k !== 'view' && s[k] !== undefined && s[k] !== null && s[k] !== '') q.set(k, s[k]); });
    location.hash = '#/' + (viewName || s.view) + '?' + q.toString();
  }

  // ---- API ----
  function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }
  function SignIn(msg) { this.message = msg; }
  /** The range and device of the filters as query API parameters (`to` exclusive). */
  function scope(extra) {
    var p = { from: S.from, to: addDays(S.to, 1) };
    if (S.device) p.device = S.device;
    SEG_KEYS.forEach(function (k) { if (S[k]) p[k] = S[k]; });
    return Object.assign(p, extra || {});
  }
  function api(path, params, init) {
    var q = new URLSearchParams();
    for (var k in params || {}) if (params[k] !== undefined && params[k] !== null && params[k] !== '') q.set(k, params[k]);
    var url = path + (q.toString() ? '?' + q.toString() : '');
    var opts = Object.assign({ headers: {} }, init || {});
    opts.headers.Authorization = 'Bearer ' + token();
    if (opts.body) opts.headers['Content-Type'] = 'application/json';
    return fetch(url, opts).then(function (r) {
      return r.text().then(function (t) {
        var j = null;
        try { j = JSON.parse(t); } catch (e) { /* not JSON */ }
        if (r.status === 401) { sessionStorage.removeItem(TOKEN_KEY); throw new SignIn('The token was refused (401): sign in again.'); }
        if (!r.ok) throw new Error((j && j.field ? j.field + ': ' + j.reason : 'HTTP ' + r.status));
        return j;
      });
    });
  }
  function siteApi(p, params, init) { return api('/v1/sites/' + encodeURIComponent(S.site) + p, params, init); }

  // ---- charts ----
  /**
   * Runs `fn` once `el` is in the page (a chart or a player needs its box's size). A view's
   * nodes are built before they are added (and a view may wait for another call, such as the
   * segment values, in between), so `fn` waits in `mounts` until `flushMounts` finds `el`
   * connected: on the next tick, and again when `go` adds the view.
   */
  var mounts = [];
  function whenMounted(el, fn) { mounts.push({ el: el, fn: fn }); setTimeout(flushMounts, 0); }
  function flushMounts() {
    var due = mounts.filter(function (m) { return m.el.isConnected; });
    mounts = mounts.filter(function (m) { return !m.el.isConnected; });
    due.forEach(function (m) { m.fn(); });
  }
  function chart(cls, option, onClick) {
    var div = h('div', { class: 'chart ' + (cls || '') });
    whenMounted(div, function () {
      if (!window.echarts) return;
      var c = window.echarts.init(div, null, { renderer: 'canvas' });
      c.setOption(option);
      if (onClick) c.on('click', onClick);
      charts.push(c);
    });
    return div;
  }
  window.addEventListener('resize', function () { charts.forEach(function (c) { c.resize(); }); });
  /** A legend in its own band above the plot: the grid (axes, labels) starts below it. */
  function legendAbove(grid) {
    return { legend: { top: 0 }, grid: Object.assign({}, grid, { top: 48 }) };
  }
  /** A CSS custom property of the page (colours shared by the styles and the charts). */
  function cssVar(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

  // ---- tables ----
  /** A table whose cells carry `data-f` = the API field they show (tests read them). */
  function table(name, cols, rows) {
    return h('div', { class: 'table-wrap' }, h('table', { 'data-table': name },
      h('thead', null, h('tr', null, cols.map(function (c) { return h('th', { class: c.n ? 'n' : null, text: c.label }); }))),
      h('tbody', null, rows.map(function (r) {
        return h('tr', { 'data-row': '', title: r.__title || null }, cols.map(function (c) {
          var v = c.get ? c.get(r) : r[c.f];
          var cell = v && v.nodeType ? v : (c.n ? num(v) : (v === null || v === undefined ? '–' : String(v)));
          return h('td', { class: c.n ? 'n' : null, 'data-f': c.f || null }, cell);
        }));
      }))));
  }
  /** An element's visible text beside its selector (API `text`; "–" when no click sent one). */
  var textCol = { label: 'Text', f: 'text', get: function (r) { return r.text ? h('span', { class: 'el-text', title: r.selector, text: r.text }) : '–'; } };
  /** A session's clicked elements with rage or dead clicks (else all), each as “text” selector. */
  function sessionElements(s) {
    var els = (s.elements || []).filter(function (e) { return e.rage_clicks + e.dead_clicks > 0; });
    if (!els.length) els = s.elements || [];
    return els.length ? h('span', null, els.map(function (e, i) {
      return h('span', { class: 'el' }, i ? ' · ' : null, e.text ? h('span', { class: 'el-text', text: '“' + e.text + '” ' }) : null, h('code', { text: e.selector }));
    })) : '–';
  }
  function kpi(label, value, f) { return h('div', { class: 'kpi' }, h('b', { 'data-kpi': f, text: value }), h('span', { text: label })); }
  function card(title) { var c = h('section', { class: 'card' }, title ? h('h2', { text: title }) : null); for (var i = 1; i < arguments.length; i++) add(c, arguments[i]); return c; }
  function empty(what) { return h('p', { class: 'muted', text: 'No ' + what + ' in this range.' }); }
  function sessionsLink(extra, label) { return h('a', { class: 'pill', href: link('sessions', extra), text: label || 'sessions' }); }
  /** A link to one session's timeline (`session` and `split` of a sessions-list row). */
  function timelineLink(session, split, label) {
    return h('a', { class: 'pill', 'data-timeline': session + '#' + (split || 0), href: link('session', { id: session, split: split || 0 }), text: label || 'timeline' });
  }
  /** A link to a session's replay, opening at its first rage (else dead) click, on `element` if given. */
  function replayLink(extra, label) { return h('a', { class: 'pill replay', 'data-replay': extra.id || '', href: link('replay', Object.assign({ at: 'rage' }, extra)), text: label || 'replay' }); }
  function heatmapLink(page, label) { return h('a', { class: 'pill', href: link('heatmap', { url: page }), text: label || 'heatmap' }); }

  /** A page key without its host, for chart labels (`shop.example/pricing` → `/pricing`). */
  function short(page) { var i = page.indexOf('/'); return i > 0 ? page.slice(i) : page; }

  /** The page's URL for a page key (`host/path`), on the site's origin with that host. */
  function pageUrl(page) {
    if (/^https?:\/\//.test(page)) return page;
    var site = sites.filter(function (s) { return s.key === S.site; })[0];
    var slash = page.indexOf('/'), host = slash < 0 ? page : page.slice(0, slash), path = slash < 0 ? '/' : page.slice(slash);
    var o = ((site && site.origins) || []).filter(function (o) { return o !== '*' && o.replace(/^https?:\/\//, '').replace(/\/$/, '') === host; })[0];
    return (o ? o.replace(/\/$/, '') : 'https://' + host) + path;
  }

  // ---- views ----
  var render = {};

  /** The current site's goal (`settings.rules.goal`), or null. */
  function siteGoal() {
    var site = sites.filter(function (s) { return s.key === S.site; })[0];
    return (site && site.settings && site.settings.rules && site.settings.rules.goal) || null;
  }

  /** `/problems?sort=impact`'s ranking: one plain sentence per signal, its numbers beside. */
  function impactCard(p) {
    if (!p.impact) return card('Impact on conversion', h('p', { class: 'muted', text: 'Set the site goal (settings.rules.goal) to rank problems by the conversions they cost.' }));
    return card('Impact on conversion (goal ' + p.goal + '), most lost conversions first', p.impact.length ? table('problems-impact', [
      { label: 'Finding', f: 'summary', get: function (r) { return h('span', { class: r.significant ? 'impact sig' : 'impact', text: r.summary }); } },
      { label: 'Element', f: 'text', get: function (r) { return r.selector ? h('span', null, r.text ? h('span', { class: 'el-text', text: '“' + r.text + '” ' }) : null, h('code', { text: r.selector })) : '–'; } },
      { label: 'Sessions with', f: 'sessions_with', n: 1 }, { label: 'Conv. with %', f: 'conversion_with_pct' },
      { label: 'Conv. without %', f: 'conversion_without_pct' }, { label: 'Lost conversions', f: 'lost_conversions' },
      { label: '', get: function (r) { return h('span', null, heatmapLink(r.page), sessionsLink(r.selector ? { page: r.page, element: r.selector } : { page: r.page }), replayLink({ page: r.page, element: r.selector })); } },
    ], p.impact) : empty('signals'));
  }

  /** Goal funnel steps and surveys whose last day is below their daily baseline: "new since …". */
  function baselineCard(p) {
    var rows = (p.funnel_regressions || []).map(function (r) {
      return { what: 'Goal step ' + r.step + ': ' + r.from + ' → ' + r.to, value: r.conversion_pct + ' %', baseline: 'median ' + r.baseline_median_pct + ' %, lowest ' + r.baseline_min_pct + ' %', since: r.since };
    }).concat((p.nps_regressions || []).map(function (r) {
      return { what: 'NPS of survey ' + r.survey, value: String(r.nps), baseline: 'median ' + r.baseline_median + ', lowest ' + r.baseline_min, since: r.since };
    }));
    if (!rows.length) return null;
    return card('Below their daily baseline', table('problems-baselines', [
      { label: 'What', f: 'what' }, { label: 'Last day', f: 'value' }, { label: 'Baseline (7 days)', f: 'baseline' },
      { label: 'Trend', f: 'since', get: function (r) { return h('span', { class: 'pill', text: 'new since ' + r.since }); } },
    ], rows));
  }

  /** A "Split by" select: the segment dimensions and device; changing it sets `split` in the link. */
  function splitPicker(id) {
    var sel = h('select', { id: id, onchange: function () { go({ split: sel.value }); } }, h('option', { value: '', text: 'none' }),
      SEGMENTS.concat([['device', 'Device']]).map(function (d) { return h('option', { value: d[0], text: d[1] }); }));
    sel.value = S.split || '';
    return h('label', null, 'Split by ', sel);
  }
  /** The label of a split group's value (`null`: every other value). */
  function splitValue(v) { return v === null ? 'other values' : (v === '' ? '(unknown)' : v); }
  render.problems = function () {
    var goal = siteGoal();
    return siteApi('/problems', scope({ limit: 50, sort: goal ? 'impact' : undefined, split: S.split })).then(function (p) {
      var split = p.split ? card('Problems by ' + p.split.dimension, table('problems-split', [
        { label: p.split.dimension, f: 'value', get: function (r) { return splitValue(r.value); } },
        { label: 'Sessions', f: 'sessions', n: 1 },
        { label: 'Rage clicks', f: 'rage_clicks', n: 1, get: function (r) { return r.elements.reduce(function (a, e) { return a + e.rage_clicks; }, 0); } },
        { label: 'Dead clicks', f: 'dead_clicks', n: 1, get: function (r) { return r.elements.reduce(function (a, e) { return a + e.dead_clicks; }, 0); } },
        { label: 'Top element', f: 'top', get: function (r) { return r.elements.length ? h('code', { text: r.elements[0].selector }) : '–'; } },
        { label: 'Top page', f: 'top_page', get: function (r) { return r.pages.length ? h('code', { text: r.pages[0].page }) : '–'; } },
      ], p.split.groups)) : null;
      return [
        h('h1', { text: 'Problems' }),
        h('div', { class: 'kpis' }, kpi('sessions in range', num(p.sessions), 'sessions'),
          kpi('pages with problems', num(p.pages.length), 'pages'), kpi('elements with problems', num(p.elements.length), 'elements')),
        h('div', { class: 'row' }, splitPicker('pb-split')),
        split,
        impactCard(p),
        baselineCard(p),
        card('Pages, by rage + dead clicks + quick backs', p.pages.length ? table('problems-pages', [
          { label: 'Page', f: 'page', get: function (r) { return h('code', { text: r.page }); } },
          { label: 'Rage clicks', f: 'rage_clicks', n: 1 }, { label: 'Dead clicks', f: 'dead_clicks', n: 1 },
          { label: 'Quick backs', f: 'quick_backs', n: 1 }, { label: 'Sessions', f: 'sessions', n: 1 }, { label: 'Score', f: 'score', n: 1 },
          { label: 'Trend', f: 'regression', get: function (r) { return r.regression ? h('span', { class: 'pill', title: r.regression.rate_per_100 + ' rage + dead per 100 page views (baseline median ' + r.regression.baseline_median_per_100 + ', max ' + r.regression.baseline_max_per_100 + ')', text: 'new since ' + r.regression.since }) : '–'; } },
          { label: '', get: function (r) { return h('span', null, heatmapLink(r.page), sessionsLink({ page: r.page }), replayLink({ page: r.page })); } },
        ], p.pages) : empty('problems')),
        card('Elements, by rage + dead clicks', p.elements.length ? table('problems-elements', [
          { label: 'Element', f: 'selector', get: function (r) { return h('code', { text: r.selector }); } }, textCol,
          { label: 'Page', f: 'page' }, { label: 'Zone', f: 'zone' },
          { label: 'Rage clicks', f: 'rage_clicks', n: 1 }, { label: 'Dead clicks', f: 'dead_clicks', n: 1 },
          { label: 'Sessions', f: 'sessions', n: 1 }, { label: 'Score', f: 'score', n: 1 },
          { label: '', get: function (r) { return h('span', null, heatmapLink(r.page), sessionsLink({ page: r.page, element: r.selector }), replayLink({ page: r.page, element: r.selector })); } },
        ], p.elements) : empty('problem elements')),
      ];
    });
  };

  render.heatmap = function () {
    var pick = h('input', { type: 'text', id: 'hm-url', list: 'hm-pages', value: S.url || '', placeholder: 'page URL or page key' });
    var list = h('datalist', { id: 'hm-pages' });
    var form = h('form', { class: 'row', onsubmit: function (e) { e.preventDefault(); go({ url: pick.value.trim() }); } },
      h('label', { class: 'grow' }, 'Page ', pick), list, h('button', { type: 'submit', text: 'Show' }));
    var head = [h('h1', { text: 'Heatmap' }), card(null, form)];
    // The site's pages, busiest first as `/pages` orders them (page views descending, then
    // clicks, then page key): the page list, and the page shown when the link names none.
    var pages = siteApi('/pages', scope()).then(function (r) { return r.pages; }, function (e) { if (e instanceof SignIn) throw e; return []; });
    function fillList(ps) {
      ps.forEach(function (p) { list.appendChild(h('option', { value: p.page, label: p.page + ' · ' + p.pageviews + ' page views' })); });
    }
    if (!S.url) {
      return pages.then(function (ps) {
        fillList(ps);
        if (ps.length) { go({ url: ps[0].page }); }
        return head.concat(ps.length ? [] : [empty('pages')]);
      });
    }
    var url = S.url, full = pageUrl(url);
    var grantBody = { url: full, from: S.from, to: addDays(S.to, 1) };
    if (S.device) grantBody.device = S.device;
    return Promise.all([
      siteApi('/heatmap', scope({ url: url, layout: S.layout })), siteApi('/zones', scope({ url: url, layout: S.layout })),
      siteApi('/overlay', null, { method: 'POST', body: JSON.stringify(grantBody) }).catch(function (e) { if (e instanceof SignIn) throw e; return { error: e.message }; }),
      pages, siteApi('/layouts', scope({ url: url })),
    ]).then(function (r) {
      var hm = r[0], z = r[1], g = r[2], versions = r[4].layouts;
      fillList(r[3]);
      // The page framed at the device's width (app.css).
      var frame = g.link
        ? h('div', { class: 'frame-wrap' }, h('iframe', { id: 'hm-frame', src: g.link, title: 'The page with its heatmap', referrerpolicy: 'no-referrer',
          class: S.device || null }))
        : h('p', { class: 'error', text: 'No overlay: ' + g.error });
      var maxDepthShare = function (s) { return hm.pageviews ? s.pageviews / hm.pageviews : 0; };
      var compare = compareCard(url, versions);
      return head.concat([
        layoutsCard(versions),
        h('div', { class: 'kpis' }, kpi('page views', num(hm.pageviews), 'pageviews'), kpi('clicks', num(hm.clicks), 'clicks'),
          kpi('quick backs', num(hm.quick_backs), 'quick_backs'), kpi('fold (viewport / page height)', pct(hm.fold), 'fold')),
        card('The page, with clicks, rage/dead clicks, zones and the scroll map drawn on it', frame,
          g.link ? h('p', { class: 'muted' }, 'Overlay link for the live site (valid 1 h): ', h('a', { id: 'hm-overlay-link', href: g.link, target: '_blank', rel: 'noopener noreferrer', text: 'open the page with the overlay' })) : null),
        h('div', { class: 'grid2' },
          card('Elements', hm.elements.length ? table('heatmap-elements', [
            { label: 'Element', f: 'selector', get: function (r) { return h('code', { text: r.selector }); } }, textCol,
            { label: 'Zone', f: 'zone' }, { label: 'Clicks', f: 'clicks', n: 1 },
            { label: 'Rage clicks', f: 'rage_clicks', n: 1 }, { label: 'Dead clicks', f: 'dead_clicks', n: 1 },
            { label: '', get: function (r) { return h('span', null, sessionsLink({ page: hm.page, element: r.selector }), replayLink({ page: hm.page, element: r.selector })); } },
          ], hm.elements) : empty('clicks')),
          hm.missing.indexOf('scroll') >= 0 ? card('Scroll map', h('p', { class: 'muted', 'data-missing': 'scroll',
            text: 'No scroll data: none of these page views reported how far it was scrolled (the tracker that sent them does not measure it).' }))
          : card('Scroll map: page views that reached each depth', chart('', {
            tooltip: { trigger: 'axis' }, grid: { left: 60, right: 64, top: 20, bottom: 40 },
            yAxis: { type: 'category', inverse: true, data: hm.scroll.map(function (s) { return s.depth + ' %'; }) },
            xAxis: { type: 'value', max: 100, axisLabel: { formatter: '{value} %' } },
            series: [{ type: 'bar', name: '% of page views', data: hm.scroll.map(function (s) { return Math.round(maxDepthShare(s) * 1000) / 10; }),
              itemStyle: { color: '#e8590c' }, label: { show: true, position: 'right', formatter: '{c} %' } }],
          }), table('heatmap-scroll', [{ label: 'Depth %', f: 'depth', n: 1 }, { label: 'Page views reaching it', f: 'pageviews', n: 1 }], hm.scroll))),
        card('Zones (hover a row for every metric)', z.zones.length ? table('heatmap-zones', [
          { label: 'Zone', f: 'zone' },
          { label: 'Exposure rate', f: 'exposure_rate', get: function (r) { return pct(r.exposure_rate); } },
          { label: 'Click rate', f: 'click_rate', get: function (r) { return pct(r.click_rate); } },
          { label: 'Attractiveness', f: 'attractiveness', get: function (r) { return pct(r.attractiveness); } },
          { label: 'Hover (ms)', f: 'hover_ms', n: 1 }, { label: 'Hesitation (ms)', f: 'hesitation_ms', n: 1 },
          { label: 'Conversion', f: 'conversion_rate', get: function (r) { return pct(r.conversion_rate); } },
        ], z.zones.map(function (r) {
          return Object.assign({ __title: 'exposed ' + r.exposed + ' of ' + z.pageviews + ' page views\nclicked ' + r.clicked +
            ', exposed and clicked ' + r.exposed_clicked + '\nvisible ' + r.visible_ms + ' ms in all\nhovered ' + r.hovered + ' times, ' +
            r.hover_ms_sum + ' ms\n' + r.hesitations + ' hesitations, ' + r.hesitation_ms_sum + ' ms\nconverted sessions ' +
            r.converted_sessions + ' of ' + r.click_sessions }, r);
        })) : empty('zones')),
        compare,
      ]);
    });
  };

  /** A layout version as shown: its hash, or "no version" for page views that sent none. */
  function versionName(l) { return l === null ? 'no version' : l; }
  function versionParam(l) { return l === null ? 'none' : l; }
  /** The page's layout versions (`/layouts`): pick one to see its heatmap and zones alone. */
  function layoutsCard(versions) {
    if (versions.length < 2 && !S.layout) return null;
    var pick = h('select', { id: 'hm-layout', onchange: function () { go({ layout: pick.value }); } },
      h('option', { value: '', text: 'every version (' + versions.length + ')' }),
      versions.map(function (v) { return h('option', { value: versionParam(v.layout), selected: S.layout === versionParam(v.layout), text: versionName(v.layout) + ' · ' + v.first_seen + ' → ' + v.last_seen }); }));
    return card('Layout versions: the page\'s structure changed', h('p', null, h('label', null, 'Show ', pick)),
      table('heatmap-layouts', [
        { label: 'Version', f: 'layout', get: function (r) { return h('code', { text: versionName(r.layout) }); } },
        { label: 'First seen', f: 'first_seen' }, { label: 'Last seen', f: 'last_seen' },
        { label: 'Page views', f: 'pageviews', n: 1 }, { label: 'Clicks', f: 'clicks', n: 1 },
      ], versions));
  }

  function compareCard(url, versions) {
    var f2 = h('input', { type: 'date', id: 'cmp-from2', value: S.from2 || addDays(S.from, -7) });
    var t2 = h('input', { type: 'date', id: 'cmp-to2', value: S.to2 || addDays(S.to, -7) });
    var out = h('div', { id: 'cmp-out' });
    var c = card('Compare with another range', h('form', { class: 'row', onsubmit: function (e) { e.preventDefault(); go({ from2: f2.value, to2: t2.value }); } },
      h('span', { class: 'muted', text: 'This range (' + S.from + ' → ' + S.to + ') against' }), h('label', null, 'from ', f2), h('label', null, 'to ', t2),
      h('button', { type: 'submit', text: 'Compare' })), out);
    if ((versions || []).length >= 2) {
      // Version A against version B, over this range.
      var opts = function (sel) { return versions.map(function (v) { return h('option', { value: versionParam(v.layout), selected: sel === versionParam(v.layout), text: versionName(v.layout) }); }); };
      var va = h('select', { id: 'cmp-layout' }, opts(S.layout || versionParam(versions[0].layout)));
      var vb = h('select', { id: 'cmp-layout2' }, opts(S.layout2 || versionParam(versions[versions.length - 1].layout)));
      add(c, h('form', { class: 'row', onsubmit: function (e) { e.preventDefault(); go({ layout: va.value, layout2: vb.value, from2: '', to2: '' }); } },
        h('span', { class: 'muted', text: 'or layout version' }), va, h('span', { class: 'muted', text: 'against version' }), vb,
        h('button', { type: 'submit', text: 'Compare versions' })));
    }
    var params = S.layout2 ? { url: url, layout: S.layout, layout2: S.layout2 }
      : (S.from2 && S.to2 ? { url: url, layout: S.layout, from2: S.from2, to2: addDays(S.to2, 1) } : null);
    if (params) {
      siteApi('/heatmap/compare', scope(params)).then(function (cmp) {
        add(out, [
          h('p', null, 'Page views: ', h('b', { 'data-kpi': 'pageviews', text: num(cmp.pageviews) }), ' → ', h('b', { 'data-kpi': 'pageviews2', text: num(cmp.pageviews2) }),
            h('span', { class: 'muted', text: ' (rates are clicks per page view, so ranges with different traffic compare fairly)' })),
          cmp.elements.length ? chart('', Object.assign(legendAbove({ left: 220, right: 20, bottom: 30 }), {
            tooltip: { trigger: 'axis' },
            yAxis: { type: 'category', inverse: true, data: cmp.elements.map(function (e) { return e.selector; }), axisLabel: { width: 200, overflow: 'truncate' } },
            xAxis: { type: 'value', name: 'clicks / page view' },
            series: [{ type: 'bar', name: S.layout2 ? 'version ' + versionName(cmp.layout) : 'this range', data: cmp.elements.map(function (e) { return e.rate; }) },
              { type: 'bar', name: S.layout2 ? 'version ' + versionName(cmp.layout2) : 'other range', data: cmp.elements.map(function (e) { return e.rate2; }) }],
          })) : null,
          cmp.elements.length ? table('heatmap-compare', [
            { label: 'Element', f: 'selector', get: function (r) { return h('code', { text: r.selector }); } },
            { label: 'Clicks', f: 'clicks', n: 1 }, { label: 'Clicks (other)', f: 'clicks2', n: 1 },
            { label: 'Rate', f: 'rate', get: function (r) { return r.rate.toFixed(3); } },
            { label: 'Rate (other)', f: 'rate2', get: function (r) { return r.rate2.toFixed(3); } },
            { label: 'Shift', f: 'shift', get: function (r) { return (r.shift > 0 ? '+' : '') + r.shift.toFixed(3); } },
          ], cmp.elements) : empty('clicks to compare'),
        ]);
      }, function (e) { add(out, h('p', { class: 'error', text: e.message })); });
    }
    return c;
  }

  /** Sessions → tree for the sunburst: each path's pages as nested levels. */
  function pathTree(paths) {
    var root = { children: {} };
    paths.forEach(function (p) {
      var n = root;
      p.pages.forEach(function (page, i) {
        n.children[page] = n.children[page] || { name: page, value: 0, ends: 0, children: {} };
        n = n.children[page];
        n.value += p.sessions;
        if (i === p.pages.length - 1) n.ends += p.sessions;
      });
    });
    function out(n) {
      return Object.keys(n.children).map(function (k) {
        var c = n.children[k];
        return { name: c.name, value: c.value, children: out(c) };
      });
    }
    return out(root);
  }

  render.journeys = function () {
    var stepsIn = h('input', { type: 'text', id: 'fn-steps', value: S.steps || '', placeholder: 'page keys or URLs, event:<name>, comma-separated' });
    var windowIn = h('input', { type: 'text', id: 'fn-window', value: S.window || '1d', size: 5 });
    var countIn = h('select', { id: 'fn-count' }, h('option', { value: 'sessions', text: 'sessions' }), h('option', { value: 'visitors', text: 'visitors' }));
    countIn.value = S.count || 'sessions';
    return siteApi('/journeys', scope({ entry: S.entry })).then(function (j) {
      if (!S.steps && j.paths.length) {
        var longest = j.paths.filter(function (p) { return p.pages.length > 1; })[0];
        if (longest) stepsIn.value = longest.pages.join(',');
      }
      // Sankey of transitions: pages on the left (from) and right (to), so the flow is acyclic.
      var nodes = {}, links = j.transitions.map(function (t) {
        nodes['from ' + t.from] = 1; nodes['to ' + t.to] = 1;
        return { source: 'from ' + t.from, target: 'to ' + t.to, value: t.count, page: t.from };
      });
      var sankey = j.transitions.length ? chart('tall', {
        tooltip: { trigger: 'item' },
        series: [{ type: 'sankey', id: 'transitions', left: 10, right: 160, data: Object.keys(nodes).map(function (n) { return { name: n }; }), links: links,
          emphasis: { focus: 'adjacency' }, label: { fontSize: 11, formatter: function (p) { return p.name.split(' ')[0] + ' ' + short(p.name.slice(p.name.indexOf(' ') + 1)); } }, lineStyle: { color: 'gradient', curveness: 0.5 } }],
      }, function (e) {
        var page = e.dataType === 'edge' ? e.data.page : String(e.name).replace(/^(from|to) /, '');
        location.hash = link('sessions', { page: page });
      }) : empty('transitions');
      var sun = j.paths.length ? chart('tall', {
        tooltip: { formatter: function (p) { return (p.treePathInfo || []).slice(1).map(function (x) { return x.name; }).join(' → ') + ': ' + p.value + ' sessions'; } },
        // Labels only on arcs of 8° or more, and none that would overlap another (the larger arc keeps its label).
        series: [{ type: 'sunburst', id: 'paths', data: pathTree(j.paths), radius: [40, '92%'], labelLayout: { hideOverlap: true },
          label: { rotate: 'radial', fontSize: 12, minAngle: 8, formatter: function (p) { return short(p.name); } } }],
      }, function (e) { if (e.name) location.hash = link('sessions', { page: e.name }); }) : empty('paths');
      var funnelOut = h('div', { id: 'fn-out' });
      var funnelCard = card('Funnel', h('form', { class: 'row', onsubmit: function (e) { e.preventDefault(); go({ steps: stepsIn.value.trim(), window: windowIn.value.trim(), count: countIn.value }); } },
        h('label', { class: 'grow' }, 'Steps ', stepsIn), h('label', null, 'window ', windowIn), h('label', null, 'count ', countIn), splitPicker('fn-split'), h('button', { type: 'submit', text: 'Show funnel' })), funnelOut);
      var steps = S.steps || stepsIn.value;
      if (steps) {
        siteApi('/funnel', scope({ steps: steps, window: S.window || '1d', count: S.count, split: S.split })).then(function (f) {
          if (f.split) add(funnelOut, table('funnel-split', [
            { label: f.split.dimension, f: 'value', get: function (r) { return splitValue(r.value); } },
            { label: 'Sessions', f: 'sessions', n: 1 },
          ].concat(f.steps.map(function (st, i) {
            return { label: short(st.step), f: 'step' + i, get: function (r) { var x = r.steps[i]; return num(x.count) + (x.conversion_pct === null ? '' : ' (' + x.conversion_pct + ' %)'); } };
          })), f.split.groups));
          add(funnelOut, [
            // Bars, step 1 on top, each as long as its count: equal steps look equal (a funnel
            // shape drew the last step narrowing to a point whatever its count).
            chart('', {
              tooltip: { trigger: 'item', formatter: function (p) { return p.name + ': ' + p.value; } },
              grid: { left: 20, right: 120, top: 10, bottom: 20, containLabel: true },
              xAxis: { type: 'value', minInterval: 1, max: Math.max(1, f.steps.length ? f.steps[0].count : 1) },
              yAxis: { type: 'category', inverse: true, data: f.steps.map(function (s) { return short(s.step); }) },
              series: [{ type: 'bar', id: 'funnel', barCategoryGap: '25%',
                label: { show: true, position: 'right', formatter: function (p) { var s = f.steps[p.dataIndex]; return p.value + (s.conversion_pct === null || s.conversion_pct === undefined ? '' : '  (' + s.conversion_pct + ' %)'); } },
                data: f.steps.map(function (s) { return { name: s.step, value: s.count }; }) }],
            }, function (e) { if (!/^event:/.test(e.name)) location.hash = link('sessions', { page: e.name }); }),
            table('funnel-steps', [
              { label: 'Step', f: 'step', get: function (r) { return h('code', { text: r.step }); } },
              { label: f.count === 'visitors' ? 'Visitors' : 'Sessions', f: 'count', n: 1 },
              { label: 'Conversion % (of step 1)', f: 'conversion_pct', n: 1 },
              { label: 'Drop-off', f: 'dropoff', n: 1 }, { label: 'Drop-off % (of previous)', f: 'dropoff_pct', n: 1 },
              { label: '', get: function (r) { return /^event:/.test(r.step) ? null : sessionsLink({ page: r.step }, 'sessions on this page'); } },
            ], f.steps),
          ]);
        }, function (e) { add(funnelOut, h('p', { class: 'error', text: e.message })); });
      }
      return [
        h('h1', { text: 'Journeys' }),
        h('div', { class: 'kpis' }, kpi('sessions', num(j.sessions), 'sessions'), kpi('bounces', num(j.bounces), 'bounces'),
          j.entry ? kpi('entry page', j.entry, 'entry') : null),
        h('div', { class: 'grid2' }, card('Transitions (click a flow for its sessions)', sankey), card('Paths: first 5 pages', sun)),
        funnelCard,
        // Transitions name two pages a row: full width, so neither page key wraps at 1280 px.
        card('Transitions', j.transitions.length ? table('journeys-transitions', [
          { label: 'From', f: 'from', get: function (r) { return h('code', { text: r.from }); } }, { label: 'To', f: 'to', get: function (r) { return h('code', { text: r.to }); } },
          { label: 'Sessions', f: 'count', n: 1 }, { label: '', get: function (r) { return sessionsLink({ page: r.from }); } },
        ], j.transitions) : empty('transitions')),
        h('div', { class: 'grid2' },
          card('Entry pages', j.entries.length ? table('journeys-entries', [
            { label: 'Page', f: 'page', get: function (r) { return h('a', { href: link('journeys', { entry: r.page }), text: r.page }); } },
            { label: 'Sessions', f: 'sessions', n: 1 }, { label: 'Bounces', f: 'bounces', n: 1 },
            { label: '', get: function (r) { return sessionsLink({ page: r.page }); } },
          ], j.entries) : empty('entries')),
          card('Exit pages', j.exits.length ? table('journeys-exits', [
            { label: 'Page', f: 'page', get: function (r) { return h('code', { text: r.page }); } }, { label: 'Sessions', f: 'sessions', n: 1 },
            { label: '', get: function (r) { return sessionsLink({ page: r.page }); } },
          ], j.exits) : empty('exits'))),
        card('Paths', j.paths.length ? table('journeys-paths', [
          { label: 'Pages', f: 'pages', get: function (r) { return r.pages.join(' → '); } }, { label: 'Sessions', f: 'sessions', n: 1 },
        ], j.paths) : empty('paths')),
      ];
    });
  };

  /** A line chart of day rows (its first series has id `id`). `series` is [[field, name, axis?]]; `axes` the y axes
   * ([{name, min, max, minInterval}], default one free axis): a score keeps its whole scale
   * (NPS −100..100, CSAT 0..100 %) even on a single day, and counts never share an axis with
   * a mean rating. */
  function trendChart(id, rows, series, axes) {
    axes = axes || [{}];
    return chart('', Object.assign(legendAbove({ left: 50, right: axes.length > 1 ? 50 : 20, bottom: 30 }), {
      tooltip: { trigger: 'axis' },
      xAxis: { type: 'category', data: rows.map(function (r) { return r.day; }) },
      yAxis: axes.map(function (a) { return Object.assign({ type: 'value', nameTextStyle: { align: 'center' } }, a); }),
      series: series.map(function (s, i) { return { type: 'line', id: i ? id + ' ' + s[0] : id, name: s[1], yAxisIndex: s[2] || 0, data: rows.map(function (r) { return r[s[0]]; }), connectNulls: true }; }),
    }));
  }

  function range(a, b) { var r = []; for (var i = a; i <= b; i++) r.push(i); return r; }
  /** The scales of the survey kinds: every answer is a bar, answered or not; an NPS answer's
   * class (detractor 0–6, passive 7–8, promoter 9–10) is its colour (`--<class>` in app.css). */
  var SCALES = {
    nps: { values: range(0, 10), cls: function (v) { return v <= 6 ? 'detractor' : v <= 8 ? 'passive' : 'promoter'; },
      legend: [['detractor', 'detractors 0–6'], ['passive', 'passives 7–8'], ['promoter', 'promoters 9–10']] },
    csat: { values: range(1, 5) },
  };
  /** The distribution of a survey question's answers (bars carry their class as `cls`). */
  function distribution(s) {
    var scale = SCALES[s.kind], d = s.distribution || {}, bars;
    if (s.choices) bars = s.choices.map(function (x) { return { name: x.option, value: x.count }; });
    else {
      var keys = Object.keys(d).map(Number);
      if (scale) keys = keys.concat(scale.values.filter(function (v) { return !(v in d); }));
      bars = keys.sort(function (a, b) { return a - b; }).map(function (v) {
        var cls = scale && scale.cls ? scale.cls(v) : null;
        return { name: String(v), value: d[v] || 0, cls: cls, itemStyle: cls ? { color: cssVar('--' + cls) } : undefined };
      });
    }
    return h('div', null, chart('', {
      tooltip: {}, grid: { left: 50, right: 20, top: 20, bottom: 40 },
      xAxis: { type: 'category', data: bars.map(function (b) { return b.name; }) },
      yAxis: { type: 'value', minInterval: 1 },
      series: [{ type: 'bar', id: 'distribution ' + s.survey_id + '/' + s.question_id, name: 'answers', data: bars,
        label: { show: true, position: 'top', formatter: function (p) { return p.value || ''; } } }],
    }), scale && scale.legend ? h('p', { class: 'scale-legend' }, scale.legend.map(function (l) {
      return h('span', null, h('i', { class: 'swatch ' + l[0] }), l[1]);
    })) : null);
  }

  render.voc = function () {
    var qIn = h('input', { type: 'search', id: 'voc-q', value: S.q || '', placeholder: 'search text answers and comments' });
    return siteApi('/voc', scope({ q: S.q, survey: S.survey })).then(function (v) {
      var qs = v.surveys.map(function (s) {
        var title = s.survey_id + ' · ' + s.question_id + (s.question ? ': ' + s.question : '');
        var c = card(title, h('div', { class: 'kpis', 'data-question': s.survey_id + '/' + s.question_id },
          kpi('responses', num(s.responses), 'responses'), kpi('sessions', num(s.sessions), 'sessions'),
          s.kind === 'nps' ? kpi('NPS', num(s.nps), 'nps') : null,
          s.kind === 'csat' ? kpi('CSAT % (4–5 of 5)', num(s.csat), 'csat') : null,
          s.mean !== null && s.mean !== undefined ? kpi('mean', s.mean.toFixed(2), 'mean') : null));
        var charts2 = h('div', { class: 'grid2' });
        add(c, charts2);
        if (s.kind !== 'text') add(charts2, distribution(s));
        // Scale questions trend their score; choice and text questions their answers a day.
        var score = { nps: [['nps', 'NPS']], csat: [['csat', 'CSAT %']], rating: [['mean', 'mean']] }[s.kind] || [['responses', 'answers']];
        var scoreAxis = { nps: { name: 'NPS', min: -100, max: 100 }, csat: { name: 'CSAT %', min: 0, max: 100 } }[s.kind] || { minInterval: s.kind === 'rating' ? 0 : 1 };
        if (s.trend && s.trend.length) add(charts2, trendChart('trend ' + s.survey_id + '/' + s.question_id, s.trend, score, [scoreAxis]));
        if (s.text) {
          add(c, [
            h('p', null, h('b', { 'data-kpi': 'answers', text: num(s.text.answers) }), (s.text.answers === 1 ? ' answer' : ' answers') + (S.q ? ' containing “' + S.q + '”' : ''),
              s.text.top_terms.length ? ' · top terms: ' + s.text.top_terms.slice(0, 10).map(function (t) { return t.term + ' (' + t.count + ')'; }).join(', ') : ''),
            h('ul', { class: 'plain', 'data-list': 'answers' }, s.text.recent.map(function (a) {
              return h('li', null, h('span', { 'data-f': 'text', text: a.text }), ' ', h('span', { class: 'muted', text: '— ' + a.page + ' ' }), timelineLink(a.session, a.split, 'session'));
            })),
          ]);
        }
        return c;
      });
      // Survey reach: impressions, response / completion / dismissal rates, drop-off per question.
      var pct = function (x) { return x === null || x === undefined ? '–' : x.toFixed(1) + ' %'; };
      var reach = (v.reach || []).map(function (r) {
        return card('Reach · ' + r.survey_id + (r.title ? ': ' + r.title : ''),
          h('div', { class: 'kpis', 'data-reach': r.survey_id },
            kpi('impressions (sessions shown)', num(r.impressions), 'impressions'), kpi('responses', num(r.responses), 'responses'),
            kpi('response rate', pct(r.response_rate), 'response_rate'), kpi('completion rate', pct(r.completion_rate), 'completion_rate'),
            kpi('dismissals', num(r.dismissals), 'dismissals')),
          h('h2', { text: 'Drop-off per question' }),
          table('reach-' + r.survey_id, [
            { label: 'Question', f: 'question_id', get: function (q) { return q.question_id + (q.question ? ': ' + q.question : ''); } },
            { label: 'Reached', f: 'reached', n: 1 }, { label: 'Answered', f: 'answered', n: 1 },
            { label: 'Left here', f: 'dropped', n: 1 },
            { label: '% of impressions', f: 'share', get: function (q) { return pct(r.impressions ? Math.round(q.reached * 1000 / r.impressions) / 10 : null); } },
          ], r.questions));
      });
      var fb = v.feedback;
      return [
        h('h1', { text: 'Voice of customer' }),
        card(null, h('form', { class: 'row', onsubmit: function (e) { e.preventDefault(); go({ q: qIn.value.trim() }); } }, h('label', null, 'Search ', qIn), h('button', { type: 'submit', text: 'Search' }))),
        reach,
        qs.length ? qs : card('Surveys', empty('survey answers')),
        card('Feedback',
          h('div', { class: 'kpis', 'data-feedback': '' }, kpi('feedback', num(fb.count), 'count'), kpi('mean rating', fb.mean_rating === null ? '–' : fb.mean_rating.toFixed(2), 'mean_rating'),
            kpi('negative (rating ≤ 2)', num(fb.negative), 'negative'), kpi('negative rate %', num(fb.negative_rate), 'negative_rate')),
          fb.trend.length ? trendChart('feedback trend', fb.trend, [['count', 'feedback'], ['negative', 'negative'], ['mean_rating', 'mean rating', 1]],
            [{ name: 'feedback', minInterval: 1 }, { name: 'mean rating', min: 1, max: 5, position: 'right' }]) : null,
          // One above the other: side by side, the element table's selectors wrapped and its
          // heatmap links were cut at 1280 px.
          h('div', null,
            h('div', null, h('h2', { text: 'By page' }), fb.by_page.length ? table('feedback-pages', [
              { label: 'Page', f: 'page', get: function (r) { return h('code', { text: r.page }); } }, { label: 'Feedback', f: 'count', n: 1 },
              { label: 'Mean rating', f: 'mean_rating', get: function (r) { return r.mean_rating === null ? '–' : r.mean_rating.toFixed(2); } },
              { label: 'Negative', f: 'negative', n: 1 }, { label: '', get: function (r) { return sessionsLink({ page: r.page, has: 'feedback' }); } },
            ], fb.by_page) : empty('feedback')),
            h('div', null, h('h2', { text: 'By element' }), fb.by_element.length ? table('feedback-elements', [
              { label: 'Element', f: 'selector', get: function (r) { return h('code', { text: r.selector }); } },
              { label: 'Page', f: 'page', get: function (r) { return h('code', { text: r.page }); } },
              { label: 'Feedback', f: 'count', n: 1 },
              { label: 'Mean rating', f: 'mean_rating', get: function (r) { return r.mean_rating === null ? '–' : r.mean_rating.toFixed(2); } },
              { label: 'Negative', f: 'negative', n: 1 }, { label: '', get: function (r) { return heatmapLink(r.page); } },
            ], fb.by_element) : empty('feedback on elements'))),
          h('h2', { text: 'Categories' }),
          fb.by_category.length ? table('feedback-categories', [{ label: 'Category', f: 'category' }, { label: 'Feedback', f: 'count', n: 1 }], fb.by_category) : empty('categories'),
          h('h2', { text: 'Recent feedback' + (S.q ? ' containing “' + S.q + '”' : '') }),
          fb.recent.length ? table('feedback-recent', [
            { label: 'When (' + siteZone(S.site) + ')', f: 'ts', get: function (r) { return siteTime(r.ts).slice(0, 16); } },
            { label: 'Rating', f: 'rating', n: 1 }, { label: 'Category', f: 'category' }, { label: 'Comment', f: 'comment' },
            { label: 'Page', f: 'page', get: function (r) { return h('code', { text: r.page }); } },
            { label: 'Element', f: 'selector', get: function (r) { return r.selector === null ? '–' : h('code', { text: r.selector }); } },
            { label: '', get: function (r) { return timelineLink(r.session, r.split, 'session'); } },
          ], fb.recent) : empty('feedback')),
      ];
    });
  };

  render.sessions = function () {
    var pageIn = h('input', { type: 'text', id: 's-page', value: S.page || '', placeholder: 'page URL or key' });
    var elIn = h('input', { type: 'text', id: 's-element', value: S.element || '', placeholder: 'element selector' });
    var has = (S.has || '').split(',').filter(Boolean);
    var boxes = ['rage', 'dead', 'feedback'].map(function (k) { return h('input', { type: 'checkbox', value: k, checked: has.indexOf(k) >= 0 }); });
    var form = h('form', { class: 'row', onsubmit: function (e) {
      e.preventDefault();
      go({ page: pageIn.value.trim(), element: elIn.value.trim(), has: boxes.filter(function (b) { return b.checked; }).map(function (b) { return b.value; }).join(','), cursor: '' });
    } }, h('label', null, 'Page ', pageIn), h('label', null, 'Element ', elIn),
    boxes.map(function (b) { return h('label', null, b, ' ' + b.value); }), h('button', { type: 'submit', text: 'Filter' }));
    return siteApi('/sessions', scope({ page: S.page, element: S.element, has: S.has, cursor: S.cursor, limit: 50 })).then(function (r) {
      return [
        h('h1', { text: 'Sessions' }),
        card(null, form),
        h('div', { class: 'kpis' }, kpi('sessions matching', num(r.total), 'total')),
        card(null, r.sessions.length ? table('sessions', [
          // A session split by the server (30 min idle, 4 h cap) shows its part: "s1 · part 2".
          { label: 'Session', f: 'session', get: function (s) { return h('code', { text: s.split ? s.session + ' · part ' + (s.split + 1) : s.session }); } },
          // The session's timeline (`#/session`): its events in order.
          { label: '', get: function (s) { return h('span', null, timelineLink(s.session, s.split), s.recording && s.recording.playable ? replayLink({ id: s.session, split: s.split }) : null); } },
          { label: 'Start (' + siteZone(S.site) + ')', f: 'start', get: function (s) { return siteTime(s.start); } },
          { label: 'Duration (s)', f: 'duration_ms', get: function (s) { return (s.duration_ms / 1000).toFixed(1); } },
          { label: 'Device', f: 'device' }, { label: 'Page views', f: 'pageviews', n: 1 }, { label: 'Clicks', f: 'clicks', n: 1 },
          { label: 'Rage', f: 'rage_clicks', n: 1 }, { label: 'Dead', f: 'dead_clicks', n: 1 }, { label: 'Quick backs', f: 'quick_backs', n: 1 },
          { label: 'Feedback', f: 'feedback', n: 1 }, { label: 'Survey answers', f: 'survey_responses', n: 1 },
          // The pages in the order visited, a reload once (the API's `path`).
          { label: 'Path', f: 'path', get: function (s) { return s.path.join(' → '); } },
          // Its frustrated elements (else every clicked one), each with its visible text.
          { label: 'Elements', f: 'elements', get: sessionElements },
        ], r.sessions) : empty('sessions'),
        r.next_cursor ? h('p', null, h('a', { id: 's-next', href: link('sessions', { page: S.page, element: S.element, has: S.has, cursor: r.next_cursor }), text: 'Next page →' })) : null),
      ];
    });
  };

  /** An offset from the session's start as `+m:ss.s`. */
  function offset(ms) {
    var m = Math.floor(ms / 60000), sec = (ms % 60000) / 1000;
    return '+' + m + ':' + (sec < 10 ? '0' : '') + sec.toFixed(1);
  }
  function flag(cls, text, title) { return h('span', { class: 'flag ' + cls, 'data-flag': cls, title: title || null, text: text }); }
  /** What one timeline entry says, as [what, details, flags]. */
  function entry(e) {
    var bits = [];
    switch (e.type) {
      case 'pageview':
        bits.push((e.synthetic ? 'page view (no pageview event) · ' : '') + (e.title ? '“' + e.title + '” · ' : '') +
          'on page ' + (e.time_on_page_ms / 1000).toFixed(1) + ' s · scrolled ' + num(e.scroll_depth) + ' %' +
          (e.zones_seen.length ? ' · zones seen: ' + e.zones_seen.join(', ') : '') + (e.referrer ? ' · from ' + e.referrer : ''));
        return ['Page view', bits, e.quick_back ? [flag('quick-back', 'quick back', 'left for the previous page within rules.quick_back_ms')] : []];
      case 'click':
        if (e.text) bits.push('“' + e.text + '” ');
        bits.push(h('code', { text: e.selector }));
        if (e.zone) bits.push(' in zone ' + e.zone);
        bits.push(e.reaction_ms === null ? ' · no reaction' : ' · page reacted in ' + e.reaction_ms + ' ms');
        return ['Click', bits, [e.rage ? flag('rage', 'rage ×' + e.rage_burst, 'a rage burst of ' + e.rage_burst + ' clicks (counted once, here)') : null,
          e.dead ? flag('dead', 'dead', 'no reaction within rules.dead_click_ms') : null]];
      case 'survey_response':
        return ['Survey answer', [e.survey_id + ' · ' + e.question_id + ' (' + e.kind + '): ', h('b', { text: Array.isArray(e.value) ? e.value.join(', ') : String(e.value) }),
          e.trigger ? ' · shown on ' + e.trigger : ''], []];
      case 'feedback':
        return ['Feedback', [(e.rating !== null ? 'rated ' + e.rating + '/5' : 'no rating') + (e.category ? ' · ' + e.category : '') +
          (e.comment ? ' · “' + e.comment + '”' : ''), e.selector ? h('code', { text: ' ' + e.selector }) : null],
          e.rating !== null && e.rating <= 2 ? [flag('negative', 'negative', 'rated 2 or less')] : []];
      case 'custom':
        return ['Event', [h('code', { text: e.name }), e.props && Object.keys(e.props).length ? ' ' + JSON.stringify(e.props) : ''], []];
      default:
        return [e.type, [], []];
    }
  }

  /** One session as a timeline: `#/session?site=&id=<session>&split=<n>`. */
  render.session = function () {
    if (!S.id) return Promise.reject(new Error('id: no session in the link (open one from the Sessions view).'));
    return siteApi('/sessions/' + encodeURIComponent(S.id), { split: S.split }).then(function (t) {
      return [
        h('p', null, h('a', { href: link('sessions'), text: '← Sessions' })),
        h('h1', { text: 'Session ' + t.session + (t.split ? ' · part ' + (t.split + 1) : '') }),
        h('div', { class: 'kpis' },
          kpi('start (' + siteZone(S.site) + ')', siteTime(t.start), 'start'),
          kpi('duration (s)', (t.duration_ms / 1000).toFixed(1), 'duration_ms'), kpi('device', t.device, 'device'),
          kpi('page views', num(t.pageviews), 'pageviews'), kpi('clicks', num(t.clicks), 'clicks'),
          kpi('rage clicks', num(t.rage_clicks), 'rage_clicks'), kpi('dead clicks', num(t.dead_clicks), 'dead_clicks')),
        card(null, h('p', { class: 'muted' }, 'Entry ', h('code', { 'data-f': 'entry_page', text: t.entry_page }), ' · exit ',
          h('code', { 'data-f': 'exit_page', text: t.exit_page }), ' · visitor ', h('code', { text: t.visitor_id }),
          t.bot ? ' · bot' : '', ' · replay: ', !t.replay ? 'not recorded' : t.replay.playable ? replayLink({ id: t.session, split: t.split }, 'open replay') :
            'snapshot missing (the page was too large to record; not playable)'),
        table('timeline', [
          { label: 'Time', f: 'offset_ms', get: function (e) { return h('span', { title: siteTime(e.ts) + ' ' + siteZone(S.site), text: offset(e.offset_ms) }); } },
          // Flags next to what happened, so a 400 px screen shows them without scrolling.
          { label: 'What', f: 'type', get: function (e) { return h('b', { text: entry(e)[0] }); } },
          { label: 'Flags', f: 'flags', get: function (e) { return h('span', null, entry(e)[2]); } },
          { label: 'Page', f: 'page', get: function (e) { return h('code', { text: short(e.page) }); } },
          { label: 'Details', f: 'details', get: function (e) { return h('span', null, entry(e)[1]); } },
        ], t.events.map(function (e) { return Object.assign({ __title: e.type }, e); }))),
      ];
    });
  };

  // ---- session replay (rrweb-player, vendor/rrweb-player/, loaded on first use) ----
  /** Marker colours on the player's timeline, by kind (rrweb custom-event tags). */
  var MARKS = { click: '#8a94a6', rage: '#d62728', dead: '#ff7f0e', page: '#1f77b4', survey: '#2ca02c', feedback: '#9467bd', gap: '#111111' };
  function loadPlayer() {
    var ready = function () { return window.rrwebPlayer.default || window.rrwebPlayer; };
    if (window.rrwebPlayer) return Promise.resolve(ready());
    return new Promise(function (ok, fail) {
      document.head.appendChild(h('link', { rel: 'stylesheet', href: 'vendor/rrweb-player/style.css' }));
      var s = h('script', { src: 'vendor/rrweb-player/rrweb-player.js' });
      s.onload = function () { ok(ready()); };
      s.onerror = function () { fail(new Error('could not load the replay player')); };
      document.head.appendChild(s);
    });
  }
  /** The session to open: `id` (and `split`), else the first playable recording among the
   * sessions of the row's `page` / `element`, those with a rage click first, then dead. */
  function pickSession() {
    if (S.id) return Promise.resolve({ id: S.id, split: S.split || 0 });
    function find(has) {
      return siteApi('/sessions', scope({ page: S.page, element: S.element, has: has, limit: 100 })).then(function (r) {
        return r.sessions.filter(function (x) { return x.recording && x.recording.playable; })[0];
      });
    }
    return find('rage').then(function (x) { return x || find('dead'); }).then(function (x) { return x || find(''); }).then(function (x) {
      if (!x) throw new Error('id: no recorded session matches this row yet.');
      return { id: x.session, split: x.split };
    });
  }
  /** The markers of a session: its timeline's page views, clicks (rage, dead), survey answers
   * and feedback, and the recording's gaps, as {ts, kind, label, selector}. */
  function markers(t, rec) {
    var m = [];
    (t ? t.events : []).forEach(function (e) {
      // The recording runs on the page's clock: place each marker by the event's client time
      // (its `ts` is corrected for the client's clock skew, the recording's times are not).
      e = Object.assign({}, e, { ts: e.client_ts !== undefined ? e.client_ts : e.ts });
      if (e.type === 'pageview') m.push({ ts: e.ts, kind: 'page', label: 'page ' + short(e.page) });
      else if (e.type === 'click') {
        var kind = e.rage ? 'rage' : e.dead ? 'dead' : 'click';
        m.push({ ts: e.ts, kind: kind, label: (kind === 'click' ? 'click ' : kind + ' click ') + e.selector, selector: e.selector });
      } else if (e.type === 'survey_response') m.push({ ts: e.ts, kind: 'survey', label: 'survey answer ' + e.survey_id });
      else if (e.type === 'feedback') m.push({ ts: e.ts, kind: 'feedback', label: 'feedback' + (e.rating !== null ? ' ' + e.rating + '/5' : '') });
    });
    rec.gaps.forEach(function (g) { m.push({ ts: g.from_ts, kind: 'gap', label: 'gap: ' + (g.to_seq - g.from_seq + 1) + ' chunk(s) never arrived' }); });
    return m.sort(function (a, b) { return a.ts - b.ts; });
  }

  /** A session's replay: `#/replay?site=&id=<session>&split=&at=rage|dead|<ms>` (or `page=` /
   * `element=` instead of `id`: the first recorded session of that row). Opens just before the
   * rage (else dead) click, on `element` when given; markers on the timeline; inactivity
   * skipped; speed 1×–8×. */
  render.replay = function () {
    var pick;
    return pickSession().then(function (p) {
      pick = p;
      var id = encodeURIComponent(p.id);
      return Promise.all([siteApi('/sessions/' + id + '/replay'),
        siteApi('/sessions/' + id, { split: p.split }).catch(function () { return null; }), loadPlayer()]);
    }).then(function (all) {
      var rec = all[0], t = all[1], Player = all[2], sum = rec.summary;
      var start = rec.events.length ? rec.events[0].timestamp : sum.started_at;
      var marks = markers(t, rec), target = null;
      if (S.at === 'rage' || S.at === 'dead') {
        var hit = marks.filter(function (m) { return (m.kind === 'rage' || m.kind === 'dead') && (!S.element || m.selector === S.element); });
        target = hit.filter(function (m) { return m.kind === S.at; })[0] || hit[0] || null;
      } else if (/^\d+$/.test(S.at || '')) target = { ts: +S.at };
      var events = rec.events.concat(marks.filter(function (m) { return m.ts >= start; }).map(function (m) {
        return { type: 5, timestamp: m.ts, data: { tag: m.kind, payload: { label: m.label } } };
      })).sort(function (a, b) { return a.timestamp - b.timestamp; });
      var box = h('div', { id: 'replay-player', class: 'replay-player' }), player = null;
      var seek = function (ts) { if (player) { player.goto(Math.max(0, ts - start), false); box.setAttribute('data-at', String(ts - start)); } };
      whenMounted(box, function () {
        if (!sum.playable) return;
        player = new Player({ target: box, props: { events: events, width: Math.min(1024, box.clientWidth || 1024), height: 600,
          autoPlay: false, skipInactive: true, speedOption: [1, 2, 4, 8], showController: true, tags: MARKS, mouseTail: false } });
        window.__slPlayer = player;
        // At the click itself (plus the click's own animation), so the frame shows the element.
        seek(target ? target.ts + 100 : start);
        document.body.setAttribute('data-replay', 'ready');
      });
      var notes = [];
      if (!sum.playable) notes.push('Snapshot missing: the page was too large to record, so this session cannot be played (its numbers below still count).');
      else if (sum.snapshot_missing) notes.push('Part of this session has no snapshot (a page too large to record): that part is skipped.');
      if (sum.gaps) notes.push(sum.gaps + ' chunk(s) never arrived: the replay jumps over them (black marks).');
      return [
        h('p', null, h('a', { href: link('sessions'), text: '← Sessions' }), ' ', timelineLink(pick.id, pick.split, 'timeline')),
        h('h1', { text: 'Replay of session ' + pick.id }),
        h('div', { class: 'kpis' }, kpi('duration (s)', (sum.duration_ms / 1000).toFixed(1), 'duration_ms'), kpi('pages', num(sum.pages.length), 'pages'),
          kpi('clicks', num(sum.clicks), 'clicks'), kpi('rage clicks', num(t ? t.rage_clicks : null), 'rage_clicks'),
          kpi('dead clicks', num(t ? t.dead_clicks : null), 'dead_clicks'), kpi('errors', num(sum.errors), 'errors'),
          kpi('recorded kB', (sum.bytes / 1000).toFixed(1), 'bytes')),
        notes.map(function (n) { return h('p', { class: 'notice', role: 'status', text: n }); }),
        card(null, box),
        card('Markers (click to jump)', h('ul', { class: 'markers' }, marks.map(function (m) {
          return h('li', null, h('button', { type: 'button', 'data-mark': m.kind, style: 'border-left: 4px solid ' + MARKS[m.kind],
            onclick: function () { seek(m.ts); }, text: offset(Math.max(0, m.ts - start)) + ' ' + m.label }));
        }))),
      ];
    });
  };

  // ---- shell ----
  function showSignIn(msg) {
    document.getElementById('top').hidden = true;
    view.textContent = '';
    document.getElementById('signin').hidden = false;
    document.getElementById('signin-error').textContent = msg || '';
    document.body.setAttribute('data-state', 'signin');
  }
  document.getElementById('signin-form').addEventListener('submit', function (e) {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById('token').value.trim());
    document.getElementById('token').value = '';
    sites = [];
    route();
  });
  document.getElementById('sign-out').addEventListener('click', function () { sessionStorage.removeItem(TOKEN_KEY); sites = []; showSignIn('Signed out.'); });
  var fSite = document.getElementById('f-site'), fFrom = document.getElementById('f-from'), fTo = document.getElementById('f-to'), fDev = document.getElementById('f-device');
  fSite.addEventListener('change', function () { go({ site: fSite.value, url: '', page: '', element: '', cursor: '', steps: '' }); });
  fFrom.addEventListener('change', function () { if (fFrom.value) go({ from: fFrom.value, cursor: '' }); });
  fTo.addEventListener('change', function () { if (fTo.value) go({ to: fTo.value, cursor: '' }); });
  fDev.addEventListener('change', function () { go({ device: fDev.value, cursor: '' }); });

  /** The segment filter bar: one select per dimension, its options the values `/segments`
   * finds in the range (with the device filter; a chosen value stays listed). */
  var segBar = document.getElementById('segments');
  function fillSegments() {
    var p = scope();
    SEG_KEYS.forEach(function (k) { delete p[k]; });
    return siteApi('/segments', p).then(function (r) { return r.dimensions; }, function (e) { if (e instanceof SignIn) throw e; return {}; }).then(function (dims) {
      segBar.textContent = '';
      SEGMENTS.forEach(function (d) {
        var sel = h('select', { id: 'f-' + d[0], name: d[0], onchange: function () { var o = {}; o[d[0]] = sel.value; o.cursor = ''; go(o); } },
          h('option', { value: '', text: 'all' }));
        var values = (dims[d[0]] || []).filter(function (v) { return v.value !== ''; });
        if (S[d[0]] && !values.some(function (v) { return v.value.toLowerCase() === S[d[0]].toLowerCase(); })) values.unshift({ value: S[d[0]], sessions: 0 });
        values.forEach(function (v) { sel.appendChild(h('option', { value: v.value, text: v.value + ' (' + v.sessions + ')' })); });
        var chosen = values.filter(function (v) { return S[d[0]] && v.value.toLowerCase() === S[d[0]].toLowerCase(); })[0];
        sel.value = chosen ? chosen.value : '';
        segBar.appendChild(h('label', { class: S[d[0]] ? 'on' : null }, d[1] + ' ', sel));
      });
      if (SEG_KEYS.some(function (k) { return S[k]; })) {
        segBar.appendChild(h('button', { type: 'button', id: 'f-clear-segments', text: 'Clear segment', onclick: function () {
          var o = { cursor: '' }; SEG_KEYS.forEach(function (k) { o[k] = ''; }); go(o);
        } }));
      }
    });
  }

  function loadSites() {
    if (sites.length) return Promise.resolve(sites);
    return api('/v1/sites').then(function (s) { sites = s; return s; }, function (e) {
      // A read token limited to sites cannot list them: use the site in the link.
      if (e instanceof SignIn) throw e;
      var key = parseHash().site;
      if (!key) throw new Error('This token cannot list sites (' + e.message + '): open a link with ?site=<key>.');
      // The one site, with its settings (origins, goal, time zone), when the token may read it.
      return api('/v1/sites/' + encodeURIComponent(key)).then(function (one) { sites = [one]; return sites; }, function (e2) {
        if (e2 instanceof SignIn) throw e2;
        sites = [{ key: key, name: key, origins: [] }];
        return sites;
      });
    });
  }

  function route() {
    var seq = ++renderSeq;
    if (!token()) return showSignIn();
    document.getElementById('signin').hidden = true;
    loadSites().then(function () {
      S = parseHash();
      if (!S.site || !sites.some(function (s) { return s.key === S.site; })) {
        if (!sites.length) throw new Error('No sites yet: create one with POST /v1/sites.');
        return go({ site: sites[0].key });
      }
      document.getElementById('top').hidden = false;
      fSite.textContent = '';
      sites.forEach(function (s) { fSite.appendChild(h('option', { value: s.key, text: s.name + ' (' + s.key + ')' })); });
      fSite.value = S.site; fFrom.value = S.from; fTo.value = S.to; fDev.value = S.device || '';
      var segs = fillSegments();
      var tabs = document.getElementById('tabs');
      tabs.textContent = '';
      VIEWS.forEach(function (v) { tabs.appendChild(h('a', { href: link(v[0]), class: v[0] === S.view || (v[0] === 'sessions' && (S.view === 'session' || S.view === 'replay')) ? 'on' : null, text: v[1] })); });
      if (!render[S.view]) return go({}, 'problems');
      charts.forEach(function (c) { c.dispose(); });
      charts = [];
      mounts = [];
      view.textContent = '';
      view.appendChild(h('p', { class: 'loading', text: 'Loading…' }));
      document.body.setAttribute('data-state', 'loading');
      return Promise.all([render[S.view](), segs]).then(function (r) {
        var nodes = r[0];
        if (seq !== renderSeq) return;
        view.textContent = '';
        add(view, nodes);
        flushMounts();
        document.body.setAttribute('data-view', S.view);
        setTimeout(function () { if (seq === renderSeq) document.body.setAttribute('data-state', 'ready'); }, 0);
      });
    }).catch(function (e) {
      if (seq !== renderSeq) return;
      if (e instanceof SignIn) return showSignIn(e.message);
      view.textContent = '';
      view.appendChild(h('p', { class: 'error', role: 'alert', text: e.message }));
      document.body.setAttribute('data-state', 'error');
    });
  }
  window.addEventListener('hashchange', route);
  route();
})();
