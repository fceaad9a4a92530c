//! Overload (issue 10): clients offering several times what the server is allowed to take at
//! once. No crash, no `500`, every refusal a `429`/`503` with `Retry-After`, memory bounded,
//! and every event the clients saw acknowledged stored exactly once.

mod common;
use common::*;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Peak resident memory of a process, KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn several_times_the_capacity_is_refused_cleanly_with_memory_bounded() {
    // Capacity: 4 requests at once, 2,000 events a second for the site (bursts of 1,000 a
    // minute's worth at least). 24 clients post 50-event batches as fast as they can: far
    // more than 3× either limit.
    let s = Server::start(&["--max-inflight", "4", "--quota-site-eps", "2000"]);
    s.site("ovl", &["*"]);
    let pid = s.child.as_ref().unwrap().id();
    let base_rss = peak_rss_kib(pid);
    let accepted = Arc::new(AtomicU64::new(0));
    let (r429, r503, other) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let url = s.url("/v1/events");
    let stop = Instant::now() + Duration::from_secs(8);
    let clients: Vec<_> = (0..24)
        .map(|c| {
            let (url, accepted, r429, r503, other) =
                (url.clone(), accepted.clone(), r429.clone(), r503.clone(), other.clone());
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::new();
                let mut n = 0;
                while Instant::now() < stop {
                    n += 1;
                    let events: Vec<_> = (0..50)
                        .map(|i| {
                            event(
                                "click",
                                &format!("c{c}-{n}"),
                                "https://ovl.example/",
                                now_ms(),
                                json!({"x": i, "y": i, "selector": "#b"}),
                            )
                        })
                        .collect();
                    let r = http
                        .post(&url)
                        .header("content-type", "text/plain")
                        .body(serde_json::to_vec(&batch("ovl", events)).unwrap())
                        .send()
                        .unwrap();
                    let code = r.status().as_u16();
                    let retry = r.headers().contains_key("retry-after");
                    match code {
                        202 => {
                            let body: serde_json::Value = r.json().unwrap();
                            accepted.fetch_add(body["accepted"].as_u64().unwrap(), Ordering::Relaxed);
                        }
                        429 if retry => {
                            r429.fetch_add(1, Ordering::Relaxed);
                        }
                        503 if retry => {
                            r503.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            eprintln!(
                                "unexpected answer {code} (Retry-After: {retry}): {}",
                                r.text().unwrap_or_default()
                            );
                            other.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let (acked, r429, r503, other) = (
        accepted.load(Ordering::Relaxed),
        r429.load(Ordering::Relaxed),
        r503.load(Ordering::Relaxed),
        other.load(Ordering::Relaxed),
    );
    let peak = peak_rss_kib(pid);
    eprintln!(
        "overload: acknowledged {acked} events; refused {r429} × 429 and {r503} × 503; other {other}; \
         peak RSS {} MiB (at start {} MiB)",
        peak / 1024,
        base_rss / 1024
    );
    assert_eq!(other, 0, "every answer is 202, or 429/503 with Retry-After");
    assert!(r429 + r503 > 0, "the offered load was above capacity");
    assert!(acked > 0);
    assert!(peak < 512 * 1024, "peak RSS {} MiB", peak / 1024);
    // Still alive and serving, and every acknowledged event is stored once.
    s.settle_within("ovl", acked, 120);
}
