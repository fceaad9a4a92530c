#!/usr/bin/env python3
"""Write the seed corpus (corpus/<target>/seed-*) from the inputs of the shared fault cases
(cases/ingest.md, cases/analytics.md) and the api.md example batch. Re-run after editing;
libFuzzer adds what it finds next to these."""
import gzip, json, os, zlib

here = os.path.dirname(os.path.abspath(__file__))
T0 = 1764412800000

def ev(typ, **kw):
    e = {"id": "0190a000-0000-7000-8000-0000000000a1", "type": typ, "ts": T0, "session_id": "s1",
         "visitor_id": "v1", "url": "https://shop.example/pricing?plan=pro", "viewport": {"w": 1280, "h": 720}}
    e.update(kw)
    return e

api_batch = {"site": "fuzz", "sent_at": T0 + 123, "events": [
    ev("pageview", referrer="https://search.example/", title="Pricing", screen={"w": 1920, "h": 1080}),
    ev("click", x=640, y=1480, selector="section#pricing > button.buy", el={"x": 0.42, "y": 0.5}, tag="button",
       zone="pricing-cta", reaction_ms=120, seq=7),
    ev("scroll", depth=75, doc_h=4200),
    ev("zone", zone="pricing-cta", visible_ms=5400, hover_ms=800),
    ev("replay", recording_id="r1", started_at=T0, ended_at=T0 + 9000, pages=3, events=420, bytes=18000, clicks=9, errors=0),
    ev("survey_response", survey_id="exit-nps", question_id="q1", kind="nps", value=9, trigger="exit_intent"),
    ev("feedback", rating=2, comment="card 4111 1111 1111 1111 was declined, write me at jo.doe@mail.example",
       category="bug", url="https://shop.example/checkout?email=jo.doe%40mail.example"),
    ev("custom", name="signup", props={"plan": "pro"}),
]}
body = json.dumps(api_batch).encode()
batches = {
    "api": body,
    "i4-broken-percent": json.dumps({"site": "fuzz", "events": [ev("pageview", url="https://shop.example/a%ZZ?q=%b")]}).encode(),
    "i5-hosts": json.dumps({"site": "fuzz", "events": [ev("pageview", url=u) for u in
                            ["http://intranet/", "http://localhost:8080/x", "http://192.0.2.10/"]]}).encode(),
    "i5-extra-and-ill-typed": json.dumps({"site": "fuzz", "events": [ev("click", x=1, y=2, selector="a", extra=1, el="no", reaction_ms=-1)]}).encode(),
    "i7-future": json.dumps({"site": "fuzz", "sent_at": T0 + 5 * 365 * 86400000 + 2000,
                             "events": [ev("pageview", ts=T0 + 5 * 365 * 86400000)]}).encode(),
    "i8-same-id-two-types": json.dumps({"site": "fuzz", "events": [ev("pageview"), ev("click", x=1, y=1, selector="a")]}).encode(),
    "a1-hash-router": json.dumps({"site": "fuzz", "events": [ev("pageview", url="https://app.example/#/cart"),
                                                             ev("pageview", url="https://app.example/#/cart", ts=T0 + 15)]}).encode(),
    "a4-headless": json.dumps({"site": "fuzz", "webdriver": True, "events": [ev("pageview")]}).encode(),
    "lone-surrogate": b'{"site":"fuzz","events":[{"id":"x","type":"pageview","ts":1,"session_id":"s","visitor_id":"v","url":"https://a.example/","title":"cut \\ud83d"}]}',
    "deep": b'{"site":"fuzz","events":[' + b'[' * 200 + b']' * 200 + b']}',
    "nulls": b'{"site":"fuzz","sent_at":null,"events":[{"id":null,"type":"click","x":null}]}',
    "huge-numbers": b'{"site":"fuzz","events":[{"id":"x","type":"click","ts":1e308,"x":1e400,"y":-0,"selector":"a","session_id":"s","visitor_id":"v","url":"u"}]}',
}
urls = [
    "https://app.example/#/cart", "https://App.Example/merchant/1234/dashboard?b=2&a=1&utm_source=x",
    "https://shop.example/checkout?email=jo.doe%40mail.example", "https://shop.example/a%ZZ?q=%b",
    "http://intranet/", "http://localhost:8080/x", "http://192.0.2.10/", "http://[::1]:80/a/../b?%zz",
    "https://xn--bcher-kva.example/ü/ß?x=%E2%82%AC#frag", "javascript:alert(1)", "data:text/html,<b>x</b>",
    "https://a.example/u/0190a000-0000-7000-8000-0000000000a1/x", "https://a.example/?gclid=1&fbclid=2&msclkid=3&utm_medium=x",
    "card 4111 1111 1111 1111 was declined, write me at jo.doe@mail.example",
    "order 4111111111111112 is not a card", "call +44 20 7946 0958", "", "?", "#", "https://", "//x",
]

def write(target, name, data):
    d = os.path.join(here, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)

for name, b in batches.items():
    write("parse_batch", name, b)
# decode_body: the selector byte picks the encoding (see sightline::fuzzing::decode_body).
write("decode_body", "plain", b"\x00" + body)
write("decode_body", "gzip", b"\x01" + gzip.compress(body))
write("decode_body", "deflate-zlib", b"\x02" + zlib.compress(body))
write("decode_body", "deflate-raw", b"\x02" + zlib.compress(body)[2:-4])
write("decode_body", "gzip-magic-no-header", b"\x00" + gzip.compress(body))
write("decode_body", "gzip-query", b"\x80" + gzip.compress(body))
write("decode_body", "i3-bomb", b"\x01" + gzip.compress(b"\0" * (4 << 20), 9))
write("decode_body", "truncated-gzip", b"\x01" + gzip.compress(body)[:40])
write("decode_body", "i3-base64-twice", b"\x00" + __import__("base64").b64encode(__import__("base64").b64encode(body)))
for i, u in enumerate(urls):
    write("canonical_url", f"{i:02}", u.encode())
