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
//!     loadgen growth SIZES [CLICKHOUSE_URL]
//!                                        the rollup's cost as one (site, day) grows: for
//!                                        each size in SIZES (comma-separated, ascending),
//!                                        fill the day to that many events and roll it up,
//!                                        then add 10,000 new events (1 in 10 late events
//!                                        of sessions already stored) and time the rollup
//!                                        passes that take them in: process CPU seconds and
//!                                        wall seconds. Embedded (SQLite in a scratch dir),
//!                                        or ClickHouse with a scratch database.
//!
//! The floors, `rollup` and `growth` print one JSON line.

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
        Some("growth") if a.len() == 3 || a.len() == 4 => {
            let sizes: Vec<usize> = a[2].split(',').map(str::parse).collect::<Result<_, _>>()?;
            tokio::runtime::Runtime::new()?.block_on(growth(&sizes, a.get(3).map(String::as_str), now))?;
        }
        _ => anyhow::bail!(
            "usage: loadgen bodies SITE N FILE | parse-floor FILE SECONDS | rollup EVENTS PER_DAY | growth SIZES [CLICKHOUSE_URL]"
        ),
    }
    Ok(())
}

/// CPU seconds this process used so far (user + system).
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// New events added at each size.
const GROWTH_STEP: usize = 10_000;

async fn growth(sizes: &[usize], clickhouse: Option<&str>, now: i64) -> anyhow::Result<()> {
    use sightline::rollup::job::run_once;
    use sightline::sites::SiteCache;
    use sightline::warehouse::{Shard, Warehouse};
    use std::sync::Arc;
    let tmp = std::env::temp_dir().join(format!("sightline-growth-{}", std::process::id()));
    let wh: Arc<dyn Warehouse> = match clickhouse {
        Some(url) => {
            sightline::warehouse::clickhouse::ClickHouseWarehouse::connect(
                url,
                &format!("growth_{}", std::process::id()),
            )
            .await?
        }
        None => sightline::warehouse::sqlite::SqliteWarehouse::open(&tmp)?,
    };
    let sites = SiteCache::default();
    let site = "sl_growth";
    // Noon of yesterday: every event on one UTC day, whatever the time now.
    let noon = day_of(now) - DAY_MS / 2;
    let mut gen = TrafficGen::new(11);
    let mut batch_no = 0u32;
    let mut stored = 0usize;
    // Sessions stored so far (session id → its events), for late events.
    let mut known: Vec<sightline::event::Event> = Vec::new();
    let mut next = |n: usize, late: bool, known: &mut Vec<sightline::event::Event>| {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let body = gen.batch(site, "0000beef", batch_no, 50, noon);
            batch_no += 1;
            let mut evs = accept(&body, noon);
            if late && !known.is_empty() {
                // One in ten: the same event id scheme, moved into a stored session.
                for (i, e) in evs.iter_mut().enumerate().filter(|(i, _)| i % 10 == 0) {
                    let old = &known[(batch_no as usize * 31 + i * 7) % known.len()];
                    e.session_id = old.session_id.clone();
                    e.visitor_id = old.visitor_id.clone();
                    e.ts = old.ts + 1;
                }
            }
            out.extend(evs);
        }
        out.truncate(n);
        if known.len() < 100_000 {
            known.extend(out.iter().step_by(50).cloned());
        }
        out
    };
    let mut results = Vec::new();
    for &size in sizes {
        while stored < size {
            let evs = next((size - stored).min(GROWTH_STEP), false, &mut known);
            stored += evs.len();
            wh.insert_events(&evs).await?;
            // Keep the backlog bounded while filling.
            if stored % 200_000 < GROWTH_STEP {
                while run_once(wh.as_ref(), &sites, Shard::ALL, false).await?.sessions > 0 {}
            }
        }
        while run_once(wh.as_ref(), &sites, Shard::ALL, false).await?.sessions > 0 {}
        let evs = next(GROWTH_STEP, true, &mut known);
        wh.insert_events(&evs).await?;
        stored += evs.len();
        let (cpu, wall) = (cpu_seconds(), Instant::now());
        let mut sessions = 0;
        loop {
            let r = run_once(wh.as_ref(), &sites, Shard::ALL, false).await?;
            if r.sessions == 0 {
                break;
            }
            sessions += r.sessions;
        }
        let (cpu, wall) = (cpu_seconds() - cpu, wall.elapsed().as_secs_f64());
        eprintln!("growth: day of {size} events: 10k new events rolled up in {cpu:.2} CPU s, {wall:.2} s ({sessions} sessions)");
        results.push(
            serde_json::json!({"day_events": size, "new_events": GROWTH_STEP, "sessions": sessions,
                                        "cpu_seconds": cpu, "wall_seconds": wall}),
        );
    }
    let ratio = match (results.first(), results.last()) {
        (Some(f), Some(l)) => {
            l["cpu_seconds"].as_f64().unwrap_or(0.0) / f["cpu_seconds"].as_f64().unwrap_or(1.0).max(1e-9)
        }
        _ => 0.0,
    };
    println!(
        "{}",
        serde_json::json!({"steps": results, "last_over_first_cpu": ratio})
    );
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
