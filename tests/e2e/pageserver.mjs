// A tiny static server for the e2e test: serves the SB Admin 2 theme's built pages from
// node_modules and injects the Sightline snippet tag into every .html response.
import http from 'node:http';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SITE_ROOT = path.join(here, 'node_modules', 'startbootstrap-sb-admin-2');

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.jpg': 'image/jpeg', '.ico': 'image/x-icon',
  '.woff': 'font/woff', '.woff2': 'font/woff2', '.ttf': 'font/ttf', '.eot': 'application/vnd.ms-fontobject',
  '.map': 'application/json', '.json': 'application/json',
};

/** Start the page server; resolves to { server, origin, close() }. `tagAttrs`: extra attributes
 * of the snippet tag (e.g. `data-require-consent`). `headHtml`: injected instead of the
 * snippet tag (another tracker's tag); `files`: extra { '/url/path': absolute file } served. */
export function startPageServer({ port, sightlineUrl, site, root = SITE_ROOT, host = '127.0.0.1', tagAttrs = '', headHtml, files = {} }) {
  const tagHtml = headHtml ?? `<script defer src="${sightlineUrl.replace(/\/$/, '')}/s.js" data-site="${site}"${tagAttrs ? ' ' + tagAttrs : ''}></script>`;
  const server = http.createServer(async (req, res) => {
    try {
      const u = new URL(req.url, 'http://x');
      let rel = decodeURIComponent(u.pathname);
      if (rel.endsWith('/')) rel += 'index.html';
      const file = files[rel] || path.normalize(path.join(root, rel));
      if (!files[rel] && !file.startsWith(root + path.sep)) { res.writeHead(403); return res.end(); }
      let data = await fs.readFile(file);
      const ext = path.extname(file).toLowerCase();
      if (ext === '.html') {
        const s = data.toString('utf8');
        const i = s.indexOf('</head>');
        data = Buffer.from(i >= 0 ? s.slice(0, i) + tagHtml + '\n' + s.slice(i) : s, 'utf8');
      }
      res.writeHead(200, { 'Content-Type': TYPES[ext] || 'application/octet-stream', 'Cache-Control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : data);
    } catch (e) {
      res.writeHead(e.code === 'ENOENT' || e.code === 'EISDIR' ? 404 : 500, { 'Content-Type': 'text/plain' });
      res.end(String(e.code || e.message));
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve({
      server,
      origin: `http://${host}:${port}`,
      close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
    }));
  });
}

import crypto from 'node:crypto';

/** A proxy on `port` in front of the page server at `target` (its origin) that serves every
 * HTML page under a strict Content-Security-Policy, as a site with one would:
 * `script-src 'self' 'nonce-N'; style-src 'self' 'nonce-N'` with a fresh N per page, set
 * on the page's own <script>, <style> and <link> tags (the snippet tag's included). Other
 * responses pass unchanged. Resolves to { origin, close() }. */
export function startCspProxy({ port, target, host = '127.0.0.1' }) {
  const server = http.createServer(async (req, res) => {
    try {
      const r = await fetch(target + req.url, { method: req.method });
      const type = r.headers.get('content-type') || 'application/octet-stream';
      const headers = { 'Content-Type': type, 'Cache-Control': 'no-store' };
      let body = Buffer.from(await r.arrayBuffer());
      if (type.startsWith('text/html')) {
        const nonce = crypto.randomBytes(16).toString('base64');
        body = Buffer.from(body.toString('utf8').replace(/<(script|style|link)\b/g, `<$1 nonce="${nonce}"`), 'utf8');
        headers['Content-Security-Policy'] = `script-src 'self' 'nonce-${nonce}'; style-src 'self' 'nonce-${nonce}'`;
      }
      res.writeHead(r.status, headers);
      res.end(body);
    } catch (e) {
      res.writeHead(502, { 'Content-Type': 'text/plain' });
      res.end(String(e.message));
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve({
      origin: `http://${host}:${port}`,
      close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
    }));
  });
}
