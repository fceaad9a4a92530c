#!/usr/bin/env python3
"""Reference implementation of Sightline's journeys and funnels (stdlib only).

Written from the definitions in reference/analytics.md ("Sessions and pages", "Journeys and
funnels") and api.md, NOT from the Rust code, so that tests/journeys.rs can check the
server's answers against an independent computation.

Usage:
    journeys.py EVENTS.jsonl QUERIES.json  ->  prints a JSON list, one answer per query

EVENTS.jsonl holds the raw events as sent (api.md event objects), in any order, duplicates
allowed. QUERIES.json is a list of objects:
    {"kind": "journeys", "from": "YYYY-MM-DD", "to": "YYYY-MM-DD",
     "device": "mobile"|null, "entry": "<page key>"|null}
    {"kind": "funnel", "from": ..., "to": ..., "device": ..., "steps": ["<page key>",
     "event:<name>", ...], "window_ms": n, "count": "sessions"|"visitors"}

Definitions used (analytics.md unless said otherwise):
- An event id counts once (api.md: "An event whose id was already accepted ... is stored
  once"); the first copy wins.
- Page key: lower-case host (port kept); fragment dropped (the test site does not route by
  fragment); tracking parameters utm_*, gclid, fbclid, msclkid dropped; remaining query
  parameters sorted; numeric and UUID path segments replaced by ":id"; no scheme.
- Device class by viewport width: mobile < 768, tablet 768-1023, desktop >= 1024.
- Session: the events of one snippet session id ordered by (ts, seq) (a missing seq
  first; the data set has no ties beyond that), cut before an event more than 30 min after
  the previous one, and cut so that no session lasts 4 h or more: an event at or after
  start + 4 h starts a new session.
- Page views: the pageview events of a session, except that a pageview event with the same
  page key as the session's previous pageview event and at most 500 ms after it is the same
  page view ("page view dedup"). Events of a session before its first pageview event (its
  page view was cut off into the previous session by the cap) make one page view of the page
  of the first of them, at its time.
- A session belongs to the UTC day of its first event; a date range [from, to) selects
  sessions by that day; the device filter selects sessions by the device class of their
  first event.
- Path: the page keys of the page views in order, consecutive repeats collapsed.
  Transitions: consecutive pairs of the path. Entry: first page; exit: last page; bounce:
  exactly one page view. Paths report: the first 5 pages of the path.
- Funnel: the timeline of a session is its page views (at their time) and custom events
  (by name), in order. A session reaches step k when steps 1..k occur in that order in its
  timeline (anything may lie between) and step k is at most window_ms after step 1. Counted
  in sessions, or in distinct visitor ids of the sessions that reached the step.
"""

import json
import re
import sys
from collections import Counter, defaultdict
from datetime import datetime, timezone
from urllib.parse import urlsplit

GAP_MS = 30 * 60 * 1000
CAP_MS = 4 * 60 * 60 * 1000
DEDUP_MS = 500
DAY_MS = 86_400_000
PATH_PAGES = 5
TRACKING = {"gclid", "fbclid", "msclkid"}
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def page_key(url):
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.port is not None:
        host += ":%d" % parts.port
    segments = []
    for seg in (parts.path or "/").split("/"):
        if seg and (seg.isdigit() and seg.isascii() or UUID_RE.match(seg)):
            segments.append(":id")
        else:
            segments.append(seg)
    path = "/".join(segments)
    if not path.startswith("/"):
        path = "/" + path
    params = [p for p in parts.query.split("&") if p]
    kept = []
    for p in params:
        name = p.split("=", 1)[0].lower()
        if name.startswith("utm_") or name in TRACKING:
            continue
        kept.append(p)
    kept.sort()
    return host + path + ("?" + "&".join(kept) if kept else "")


def device_class(ev):
    vp = ev.get("viewport")
    if not vp:
        return "unknown"
    w = vp["w"]
    if w < 768:
        return "mobile"
    if w < 1024:
        return "tablet"
    return "desktop"


def day_start(date_text):
    d = datetime.strptime(date_text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    return int(d.timestamp() * 1000)


def build_sessions(events):
    """Sessions as dicts: visitor, start, device, pageviews [(ts, key)], timeline."""
    unique = {}
    for ev in events:
        unique.setdefault(ev["id"], ev)
    by_snippet_session = defaultdict(list)
    for ev in unique.values():
        by_snippet_session[ev["session_id"]].append(ev)

    sessions = []
    for evs in by_snippet_session.values():
        evs.sort(key=lambda e: (e["ts"], -1 if e.get("seq") is None else e["seq"]))
        current = []
        for ev in evs:
            if current and (ev["ts"] - current[-1]["ts"] > GAP_MS or ev["ts"] - current[0]["ts"] >= CAP_MS):
                sessions.append(make_session(current))
                current = []
            current.append(ev)
        if current:
            sessions.append(make_session(current))
    return sessions


def make_session(evs):
    pageviews = []  # [ts, key]
    timeline = []  # (kind, name, ts) in order
    last_pv_event = None
    leading = []
    for ev in evs:
        if ev["type"] == "pageview":
            key = page_key(ev["url"])
            if last_pv_event is not None and last_pv_event[1] == key and ev["ts"] - last_pv_event[0] <= DEDUP_MS:
                last_pv_event = (ev["ts"], key)
                continue
            last_pv_event = (ev["ts"], key)
            pageviews.append((ev["ts"], key))
            timeline.append(("page", key, ev["ts"]))
        else:
            if last_pv_event is None:
                leading.append(ev)
            if ev["type"] == "custom":
                timeline.append(("event", ev["name"], ev["ts"]))
    if leading:
        first = leading[0]
        key = page_key(first["url"])
        pageviews.insert(0, (first["ts"], key))
        timeline.insert(0, ("page", key, first["ts"]))
    return {
        "visitor": evs[0]["visitor_id"],
        "start": evs[0]["ts"],
        "device": device_class(evs[0]),
        "pageviews": pageviews,
        "timeline": timeline,
    }


def select(sessions, q):
    lo = day_start(q["from"])
    hi = day_start(q["to"])
    out = []
    for s in sessions:
        day = s["start"] - s["start"] % DAY_MS
        if not (lo <= day < hi):
            continue
        if q.get("device") and s["device"] != q["device"]:
            continue
        out.append(s)
    return out


def journeys(sessions, q):
    transitions, entries, bounces_by_entry, exits, paths = Counter(), Counter(), Counter(), Counter(), Counter()
    total = bounces = 0
    for s in select(sessions, q):
        path = []
        for _, key in s["pageviews"]:
            if not path or path[-1] != key:
                path.append(key)
        if not path:
            continue
        if q.get("entry") and path[0] != q["entry"]:
            continue
        total += 1
        bounce = len(s["pageviews"]) == 1
        bounces += bounce
        for a, b in zip(path, path[1:]):
            transitions[(a, b)] += 1
        entries[path[0]] += 1
        bounces_by_entry[path[0]] += bounce
        exits[path[-1]] += 1
        paths[tuple(path[:PATH_PAGES])] += 1
    return {
        "sessions": total,
        "bounces": bounces,
        "transitions": [{"from": a, "to": b, "count": n} for (a, b), n in sorted(transitions.items())],
        "entries": [{"page": p, "sessions": n, "bounces": bounces_by_entry[p]} for p, n in sorted(entries.items())],
        "exits": [{"page": p, "sessions": n} for p, n in sorted(exits.items())],
        "paths": [{"pages": list(p), "sessions": n} for p, n in sorted(paths.items())],
    }


def matches(step, item):
    kind, name, _ = item
    if step.startswith("event:"):
        return kind == "event" and name == step[len("event:"):]
    return kind == "page" and name == step


def reached(timeline, steps, window_ms):
    """Deepest k such that steps 1..k occur in order with step k within the window."""
    best = 0
    for i, item in enumerate(timeline):
        if not matches(steps[0], item):
            continue
        start_ts = item[2]
        k = 1
        for later in timeline[i + 1:]:
            if k == len(steps):
                break
            if later[2] - start_ts > window_ms:
                break
            if matches(steps[k], later):
                k += 1
        best = max(best, k)
    return best


def funnel(sessions, q):
    steps = q["steps"]
    counts = [0] * len(steps)
    visitors = [set() for _ in steps]
    for s in select(sessions, q):
        depth = reached(s["timeline"], steps, q["window_ms"])
        for k in range(depth):
            counts[k] += 1
            visitors[k].add(s["visitor"])
    if q.get("count") == "visitors":
        counts = [len(v) for v in visitors]
    return {"steps": [{"step": st, "count": n} for st, n in zip(steps, counts)]}


def main():
    events = []
    with open(sys.argv[1]) as f:
        for line in f:
            if line.strip():
                events.append(json.loads(line))
    with open(sys.argv[2]) as f:
        queries = json.load(f)
    sessions = build_sessions(events)
    answers = []
    for q in queries:
        answers.append(journeys(sessions, q) if q["kind"] == "journeys" else funnel(sessions, q))
    json.dump(answers, sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main()
