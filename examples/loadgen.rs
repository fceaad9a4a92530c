//! Inputs and CPU-only floors of the load harness (`scripts/load`), all from
//! [`sightline::loadgen`]:
//!
//!     loadgen bodies SITE N FILE         N 50-event batch bodies, one per line, every id
//!                                        starting with loadgen::TEMPLATE_TAG (wrk's script
//!                                        replaces it per request)
//!     loadgen parse-floor FILE SECONDS   serde_json parsing of those bodies alone, on every
//!                                        core: the parse floor
//!     loadgen rollup EVENTS PER_DAY      compute_day over EVENTS generated events, PER_DAY
//!                                        events per (site, day) window, one window after
//!                                        the other as the rollup job does; only
//!                                        compute_day is timed
//!
//! The floors and `rollup` print one JSON line.

use sightline::loadgen::{accept, TrafficGen, TEMPLATE_TAG};
use sightline::rollup::{compute_day, day_of, Rules, DAY_MS};
use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    let now = chrono::Utc::now().timestamp_millis();
    match a.get(1).map(String::as_str) {
        Some("bodies") if a.len() == 5 => {
            let n: u32 = a[3].parse()?;
            let mut gen = TrafficGen::new(42);
            let mut out = std::io::BufWriter::new(std::fs::File::create(&a[4])?);
            for k in 0..n {
                serde_json::to_writer(&mut out, &gen.batch(&a[2], TEMPLATE_TAG, k, 50, now))?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
        }
        Some("parse-floor") if a.len() == 4 => {
            let bodies: Vec<Vec<u8>> = std::io::BufReader::new(std::fs::File::open(&a[2])?)
                .lines()
                .map(|l| l.map(String::into_bytes))
                .collect::<Result<_, _>>()?;
            let secs: f64 = a[3].parse()?;
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
            let started = Instant::now();
            let deadline = started + Duration::from_secs_f64(secs);
            let events: usize = std::thread::scope(|s| {
                let hs: Vec<_> = (0..threads)
                    .map(|t| {
                        let bodies = &bodies;
                        s.spawn(move || {
                            let mut n = 0;
                            let mut k = t;
                            while Instant::now() < deadline {
                                let v: serde_json::Value = serde_json::from_slice(&bodies[k % bodies.len()]).unwrap();
                                n += v["events"].as_array().map_or(0, Vec::len);
                                k += threads;
                            }
                            n
                        })
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap()).sum()
            });
            let s = started.elapsed().as_secs_f64();
            println!(
                "{}",
                serde_json::json!({"events": events, "seconds": s, "threads": threads, "events_per_s": events as f64 / s})
            );
        }
        Some("rollup") if a.len() == 4 => {
            let total: usize = a[2].parse()?;
            let per_day: usize = a[3].parse()?;
            let rules = Rules::default();
            let mut gen = TrafficGen::new(7);
            let (mut done, mut windows, mut k) = (0usize, 0usize, 0u32);
            let mut compute = Duration::ZERO;
            let started = Instant::now();
            while done < total {
                // One (site, day) window: its events, timed in that day.
                let day_now = day_of(now) - windows as i64 * DAY_MS + DAY_MS / 2;
                let n = per_day.min(total - done);
                let mut events = Vec::with_capacity(n + 50);
                while events.len() < n {
                    let tag = format!("{:08x}", k);
                    events.extend(accept(&gen.batch("sl_rollup", &tag, k, 50, day_now), day_now));
                    k += 1;
                }
                events.truncate(n);
                let t = Instant::now();
                let r = compute_day(&events, day_of(day_now), &rules);
                compute += t.elapsed();
                std::hint::black_box(&r);
                done += n;
                windows += 1;
            }
            println!(
                "{}",
                serde_json::json!({"events": done, "windows": windows, "compute_seconds": compute.as_secs_f64(),
                                   "wall_seconds": started.elapsed().as_secs_f64()})
            );
        }
        _ => anyhow::bail!("usage: loadgen bodies SITE N FILE | parse-floor FILE SECONDS | rollup EVENTS PER_DAY"),
    }
    Ok(())
}
