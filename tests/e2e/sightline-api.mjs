// The Sightline server the browser scenarios talk to, and its query/admin API with the
// token: one client for every scenario.

/** Base URL of the server (`SIGHTLINE_URL`, no trailing slash). */
export const SL = (process.env.SIGHTLINE_URL || 'http://127.0.0.1:18080').replace(/\/$/, '');
/** Bearer token of the query/admin API (`SIGHTLINE_TOKEN`). */
export const TOKEN = process.env.SIGHTLINE_TOKEN || '';

/** Call the API: `method` and path, an optional JSON body; resolves to
 * `{ status, json (null when the body is not JSON), text }`. */
export async function api(method, p, body) {
  const r = await fetch(SL + p, {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, json, text };
}
