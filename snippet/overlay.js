/*! Sightline heatmap overlay. Loaded by /s.js only when the page's URL carries a signed
 * overlay grant (#sightline-overlay=<grant>, made by the dashboard: POST /v1/sites/{key}/overlay).
 * Asks GET /v1/overlay?grant= for the heatmap and zones of this page and draws them on the live
 * page, in a shadow root that never takes the page's clicks (styled by a constructed sheet
 * and CSSOM only: it works under a strict Content-Security-Policy):
 *  - elements: a box over each clicked element, coloured by its clicks (blue → red, the hottest
 *    is rank 1), with its in-element hotspots (el_cells, 10 × 10 of the box) and rage / dead
 *    markers;
 *  - the click grid (page px cells of the viewer's device class);
 *  - zones: dashed outlines, their metrics (exposure rate, click rate, attractiveness, hover,
 *    hesitation, conversion) on hover;
 *  - the scroll map: on the right edge, the share of page views that reached each depth.
 * State for tests and tools: window.sightline._overlayState. Plain ES2017, no dependencies. */
(function () {
  'use strict';
  var w = window, d = document, sl = w.sightline;
  if (!sl || !sl._overlay || sl._overlayState) return;
  var st = sl._overlayState = { ready: false, error: null, boxes: [], hottest: null, zones: [], layers: {} };
  var layers = st.layers = { grid: true, elements: true, zones: true, scroll: true };
  var data = null;

  var host = d.createElement('div');
  host.setAttribute('data-sightline-widget', 'overlay');
  host.style.cssText = 'position:absolute;left:0;top:0;width:0;height:0;z-index:2147483646;pointer-events:none';
  var root = host.attachShadow ? host.attachShadow({ mode: 'open' }) : host;
  sl._style(root, [
    ':host{all:initial}',
    '.layer{position:absolute;left:0;top:0;pointer-events:none;font:12px/1.3 system-ui,sans-serif}',
    '.cell{position:absolute;background:rgba(255,60,0,.55)}',
    '.box{position:absolute;box-sizing:border-box;border:3px solid;border-radius:3px}',
    '.box .tag{position:absolute;left:-3px;top:-20px;padding:1px 5px;color:#fff;border-radius:3px;white-space:nowrap;font-weight:600}',
    '.box.hot{box-shadow:0 0 0 3px rgba(255,255,255,.9),0 0 18px 4px rgba(255,0,0,.7)}',
    '.spot{position:absolute;border-radius:50%}',
    '.mark{display:inline-block;margin-left:4px;padding:0 4px;border-radius:3px;background:#fff;color:#b00020}',
    '.zone{position:absolute;box-sizing:border-box;border:2px dashed #6f42c1;background:rgba(111,66,193,.08)}',
    '.zone .tag{position:absolute;right:0;top:0;padding:1px 5px;background:#6f42c1;color:#fff}',
    '.depth{position:absolute;width:170px;height:0;border-top:2px solid rgba(0,0,0,.6);text-align:right;white-space:nowrap}',
    '.depth span{position:relative;top:-18px;padding:1px 4px;background:rgba(0,0,0,.7);color:#fff;border-radius:3px}',
    '.bar{position:fixed;bottom:12px;left:12px;width:300px;padding:10px 12px;background:#1f2430;color:#eef;border-radius:8px;',
    '  box-shadow:0 4px 20px rgba(0,0,0,.4);pointer-events:auto;font:13px/1.4 system-ui,sans-serif}',
    '.bar h1{font-size:14px;margin:0 0 6px}.bar code{color:#ffd479;word-break:break-all}.bar label{margin-right:8px;white-space:nowrap;display:inline-block}',
    '.bar button{float:right;background:none;border:0;color:#eef;font-size:16px;cursor:pointer}',
    '.bar.min{width:auto}.bar.min>:not(h1):not(button){display:none}.bar.min h1{display:inline-block;margin:0 8px 0 0}',
    '.tip{position:fixed;display:none;max-width:320px;padding:8px 10px;background:#111;color:#fff;border-radius:6px;',
    '  font:12px/1.4 system-ui,sans-serif;pointer-events:none;white-space:pre-line}',
  ].join('\n'));
  var layer = d.createElement('div');
  layer.className = 'layer';
  root.appendChild(layer);
  var bar = d.createElement('div');
  bar.className = 'bar';
  bar.setAttribute('role', 'dialog');
  bar.setAttribute('aria-label', 'Sightline heatmap overlay');
  root.appendChild(bar);
  var tip = d.createElement('div');
  tip.className = 'tip';
  root.appendChild(tip);

  /** `n` and the noun, plural unless n is 1: "1 click", "3 clicks". */
  function count(n, noun) { return n + ' ' + noun + (n === 1 ? '' : 's'); }
  function el(tag, cls, text) {
    var e = d.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function heat(t) { return 'hsl(' + Math.round((1 - t) * 240) + ',90%,45%)'; }
  function pct(v) { return v === null || v === undefined ? '–' : (v * 100).toFixed(1) + ' %'; }
  function ms(v) { return v === null || v === undefined ? '–' : Math.round(v) + ' ms'; }
  function device() { var x = w.innerWidth; return x < 768 ? 'mobile' : x < 1024 ? 'tablet' : 'desktop'; }
  function docH() { var de = d.documentElement; return Math.max(de.scrollHeight, d.body ? d.body.scrollHeight : 0); }
  function pageRect(e) {
    var r = e.getBoundingClientRect();
    return { x: r.left + w.scrollX, y: r.top + w.scrollY, w: r.width, h: r.height };
  }
  function all(sel) { return sl._query(sel); } // shadow-root selectors (` >>> `) too

  // ---- drawing ----
  var hover = []; // [{rect, text}] for the tooltip
  function draw() {
    if (!data) return;
    layer.textContent = '';
    hover = [];
    var hm = data.heatmap, z = data.zones;
    if (layers.grid) {
      var g = (hm.grids && hm.grids[device()]) || hm.grid || [], cell = hm.grid_cell_px || 16, gmax = 1;
      g.forEach(function (c) { gmax = Math.max(gmax, c.count); });
      g.forEach(function (c) {
        var e = el('div', 'cell');
        e.style.cssText = 'left:' + c.x * cell + 'px;top:' + c.y * cell + 'px;width:' + cell + 'px;height:' + cell +
          'px;opacity:' + (0.25 + 0.75 * c.count / gmax).toFixed(3);
        layer.appendChild(e);
      });
    }
    st.boxes = [];
    var els = (hm.elements || []).slice().sort(function (a, b) { return b.clicks - a.clicks; });
    var max = els.length ? Math.max(1, els[0].clicks) : 1;
    els.forEach(function (m, i) {
      var rank = i + 1;
      all(m.selector).forEach(function (target) {
        if (target.closest('[data-sightline-widget]')) return;
        var r = pageRect(target);
        if (!r.w && !r.h) return;
        var color = heat(m.clicks / max);
        st.boxes.push({ selector: m.selector, clicks: m.clicks, rage_clicks: m.rage_clicks, dead_clicks: m.dead_clicks,
          rank: rank, x: r.x, y: r.y, w: r.w, h: r.h });
        var text = m.selector + '\n' + count(m.clicks, 'click') + ' (#' + rank + ')' + (m.rage_clicks ? '\n' + count(m.rage_clicks, 'rage click') : '') +
          (m.dead_clicks ? '\n' + count(m.dead_clicks, 'dead click') : '') + (m.zone ? '\nzone ' + m.zone : '') +
          (m.el ? '\nmean position in element ' + pct(m.el.x) + ' × ' + pct(m.el.y) : '');
        hover.push({ rect: r, text: text, area: r.w * r.h });
        if (!layers.elements) return;
        var b = el('div', 'box' + (rank === 1 ? ' hot' : ''));
        b.setAttribute('data-selector', m.selector);
        b.setAttribute('data-clicks', m.clicks);
        b.setAttribute('data-rank', rank);
        b.style.cssText = 'left:' + r.x + 'px;top:' + r.y + 'px;width:' + r.w + 'px;height:' + r.h + 'px;border-color:' + color;
        var tag = el('span', 'tag', '#' + rank + ' · ' + m.clicks);
        tag.style.background = color;
        if (r.y < 22) tag.style.top = (r.h + 1) + 'px'; // no room above: below the box
        if (m.rage_clicks) tag.appendChild(el('span', 'mark rage', 'rage ' + m.rage_clicks));
        if (m.dead_clicks) tag.appendChild(el('span', 'mark dead', 'dead ' + m.dead_clicks));
        b.appendChild(tag);
        var cmax = 1;
        (m.el_cells || []).forEach(function (c) { cmax = Math.max(cmax, c.count); });
        (m.el_cells || []).forEach(function (c) {
          var s = el('div', 'spot'), size = Math.max(8, Math.min(r.w, r.h) / 5);
          s.style.cssText = 'left:' + ((c.x + 0.5) / 10 * r.w - size / 2 - 3) + 'px;top:' + ((c.y + 0.5) / 10 * r.h - size / 2 - 3) +
            'px;width:' + size + 'px;height:' + size + 'px;background:radial-gradient(' + heat(c.count / cmax) + ',transparent 70%)';
          b.appendChild(s);
        });
        layer.appendChild(b);
      });
    });
    st.hottest = st.boxes.length ? st.boxes.filter(function (b) { return b.rank === 1; })[0] || null : null;
    // Zones: data-sl-zone elements and the site's zone rules.
    var metrics = {};
    (z.zones || []).forEach(function (m) { metrics[m.zone] = m; });
    var zels = all('[data-sl-zone]').map(function (e) { return [e, e.getAttribute('data-sl-zone')]; });
    (data.zone_rules || []).forEach(function (rule) { all(rule.selector).forEach(function (e) { zels.push([e, rule.name]); }); });
    st.zones = [];
    zels.forEach(function (p) {
      var r = pageRect(p[0]), m = metrics[p[1]];
      if (!r.w && !r.h) return;
      var text = 'zone ' + p[1] + (m ? '\nexposure rate ' + pct(m.exposure_rate) + '\nclick rate ' + pct(m.click_rate) +
        '\nattractiveness ' + pct(m.attractiveness) + '\nhover ' + ms(m.hover_ms) + '\nhesitation ' + ms(m.hesitation_ms) +
        (m.conversion_rate !== null && m.conversion_rate !== undefined ? '\nconversion rate ' + pct(m.conversion_rate) : '') : '\nno data');
      st.zones.push({ zone: p[1], x: r.x, y: r.y, w: r.w, h: r.h, text: text });
      hover.push({ rect: r, text: text, area: r.w * r.h + 1e12 }); // zones lose to elements inside them
      if (!layers.zones) return;
      var b = el('div', 'zone');
      b.setAttribute('data-zone', p[1]);
      b.style.cssText = 'left:' + r.x + 'px;top:' + r.y + 'px;width:' + r.w + 'px;height:' + r.h + 'px';
      b.appendChild(el('span', 'tag', p[1]));
      layer.appendChild(b);
    });
    if (layers.scroll && hm.pageviews > 0) {
      var H = docH(), left = d.documentElement.clientWidth - 174;
      (hm.scroll || []).forEach(function (s) {
        if (!s.depth) return;
        var e = el('div', 'depth'), share = s.pageviews / hm.pageviews;
        e.setAttribute('data-depth', s.depth);
        e.style.cssText = 'left:' + left + 'px;top:' + (s.depth / 100 * H - 2) + 'px;border-color:' + heat(share);
        e.appendChild(el('span', '', Math.round(share * 100) + ' % reached ' + s.depth + ' %'));
        layer.appendChild(e);
      });
    }
    st.drawnAt = Date.now();
  }

  var minimised = w.innerWidth < 600; // starts one line tall on phone widths
  function toolbar() {
    bar.textContent = '';
    var close = el('button', '', '×');
    close.setAttribute('aria-label', 'Close the overlay');
    close.addEventListener('click', function () { host.remove(); clearInterval(timer); });
    bar.appendChild(close);
    // Minimised, the panel is one line: on a phone-wide page it would cover the heatmap.
    var fold = el('button', '', minimised ? '+' : '–');
    fold.setAttribute('aria-label', minimised ? 'Expand the overlay panel' : 'Minimise the overlay panel');
    fold.setAttribute('aria-expanded', String(!minimised));
    fold.addEventListener('click', function () { minimised = !minimised; toolbar(); });
    bar.appendChild(fold);
    bar.classList.toggle('min', minimised && !st.error); // an error is always shown
    bar.appendChild(el('h1', '', 'Sightline heatmap'));
    if (st.error) { bar.appendChild(el('div', 'error', st.error)); return; }
    var hm = data.heatmap, p = el('div');
    p.appendChild(el('code', '', data.page));
    bar.appendChild(p);
    bar.appendChild(el('div', 'stats', count(hm.pageviews, 'page view') + ' · ' + count(hm.clicks, 'click') +
      (data.device ? ' · ' + data.device : '') + (data.days ? ' · ' + data.days.first + ' → ' + data.days.last : '')));
    if (st.hottest) {
      var h = el('div', 'hottest', 'Hottest: ');
      h.appendChild(el('code', '', st.hottest.selector));
      h.appendChild(d.createTextNode(' (' + count(st.hottest.clicks, 'click') + ')'));
      bar.appendChild(h);
    }
    var opts = el('div');
    [['elements', 'Elements'], ['grid', 'Click grid'], ['zones', 'Zones'], ['scroll', 'Scroll map']].forEach(function (o) {
      var l = el('label'), c = el('input');
      c.type = 'checkbox'; c.checked = layers[o[0]];
      c.addEventListener('change', function () { layers[o[0]] = c.checked; draw(); });
      l.appendChild(c); l.appendChild(d.createTextNode(' ' + o[1]));
      opts.appendChild(l);
    });
    bar.appendChild(opts);
  }

  // Tooltip: the smallest element box (else the zone) under the pointer.
  d.addEventListener('mousemove', function (e) {
    var x = e.pageX, y = e.pageY, best = null;
    hover.forEach(function (h) {
      var r = h.rect;
      if (x >= r.x && x <= r.x + r.w && y >= r.y && y <= r.y + r.h && (!best || h.area < best.area)) best = h;
    });
    if (!best) { tip.style.display = 'none'; st.tip = null; return; }
    tip.textContent = best.text;
    tip.style.display = 'block';
    tip.style.left = Math.min(e.clientX + 14, w.innerWidth - 330) + 'px';
    tip.style.top = Math.min(e.clientY + 14, w.innerHeight - 140) + 'px';
    st.tip = best.text;
  }, { passive: true });

  // Layout changes (fonts, lazy content, resize): redraw when the page's size changes.
  var sig = '';
  function maybeRedraw() {
    var s = w.innerWidth + 'x' + docH();
    if (s !== sig) { sig = s; draw(); }
  }
  var timer = setInterval(maybeRedraw, 500);
  w.addEventListener('resize', maybeRedraw);

  (d.body || d.documentElement).appendChild(host);
  fetch(sl._overlay.api + 'v1/overlay?grant=' + encodeURIComponent(sl._overlay.grant), { mode: 'cors', credentials: 'omit' })
    .then(function (r) {
      return r.json().then(function (j) {
        if (!r.ok) throw new Error((j && j.reason) || ('HTTP ' + r.status));
        return j;
      });
    })
    .then(function (j) {
      data = j;
      st.page = j.page;
      draw();
      sig = w.innerWidth + 'x' + docH();
      st.ready = true;
      toolbar();
    }, function (e) {
      st.error = 'This overlay link cannot be shown: ' + e.message;
      st.ready = true;
      toolbar();
    });
})();
