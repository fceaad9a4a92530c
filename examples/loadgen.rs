//! Inputs and CPU-only floors of the load harness (`scripts/load`), all from
//! [`sightline::loadgen`]:
//!
//!     loadgen bodies SITE N FILE         N 50-event batch bodies, one per line, every id
//!                                        starting with loadgen::TEMPLATE_TAG (wrk's script
//!                                        replaces it per request)
//!     loadgen compat-bodies SITE N KEY DIR
//!                                        for posthog and segment: DIR/v1-CLIENT.txt, N
//!                                        bodies of the events that client can send, and
//!                                        DIR/CLIENT.txt, the same events as it sends them
//!                                        (key KEY; loadgen::as_client)
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
//!                                        of 100 sessions already stored) and time the rollup
//!                                        passes that take them in: CPU seconds (this
//!                                        process, plus a local ClickHouse server's) and
//!                                        wall seconds. Embedded (SQLite in a scratch dir),
//!                                        or ClickHouse with a scratch database.
//!
//!     loadgen fill EVENTS DATA_DIR | fill EVENTS CLICKHOUSE_URL DATABASE [--no-rebuild]
//!                                        one day of EVENTS events of site sl_load into
//!                                        the warehouse, rolled up; then the day marked
//!                                        and rolled up again, timed (a `rollup rebuild`;
//!                                        not with --no-rebuild: its figures are null)
//!
//! The floors, `rollup`, `growth` and `fill` print one JSON line.

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
        Some("compat-bodies") if a.len() == 6 => {
            // The same events for /v1/events and for a tracker's route (scripts/load compat):
            // DIR/v1-CLIENT.txt and DIR/CLIENT.txt, one body per line.
            let (n, key, dir): (u32, &str, &str) = (a[3].parse()?, &a[4], &a[5]);
            for client in ["posthog", "segment"] {
                let mut gen = TrafficGen::new(42);
                let mut v1 = std::io::BufWriter::new(std::fs::File::create(format!("{dir}/v1-{client}.txt"))?);
                let mut theirs = std::io::BufWriter::new(std::fs::File::create(format!("{dir}/{client}.txt"))?);
                for k in 0..n {
                    let (a1, b1) = sightline::loadgen::as_client(&gen.batch(&a[2], TEMPLATE_TAG, k, 50, now), client, key);
                    serde_json::to_writer(&mut v1, &a1)?;
                    v1.write_all(b"\n")?;
                    serde_json::to_writer(&mut theirs, &b1)?;
                    theirs.write_all(b"\n")?;
                }
                v1.flush()?;
                theirs.flush()?;
            }
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
        Some("fill") if (4..=6).contains(&a.len()) => {
            let rebuild = !a.iter().any(|x| x == "--no-rebuild");
            let a: Vec<&String> = a.iter().filter(|x| *x != "--no-rebuild").collect();
            let n: usize = a[2].parse()?;
            tokio::runtime::Runtime::new()?.block_on(fill(n, a[3], a.get(4).map(|s| s.as_str()), now, rebuild))?;
        }
        Some("growth") if a.len() == 3 || a.len() == 4 => {
            let sizes: Vec<usize> = a[2].split(',').map(str::parse).collect::<Result<_, _>>()?;
            tokio::runtime::Runtime::new()?.block_on(growth(&sizes, a.get(3).map(String::as_str), now))?;
        }
        _ => anyhow::bail!(
            "usage: loadgen bodies SITE N FILE | parse-floor FILE SECONDS | rollup EVENTS PER_DAY | growth SIZES [CLICKHOUSE_URL] | fill EVENTS DATA_DIR|CLICKHOUSE_URL [DATABASE] [--no-rebuild]"
        ),
    }
    Ok(())
}

/// This process's resource usage so far.
fn rusage() -> libc::rusage {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    u
}

/// CPU seconds this process used so far (user + system).
fn cpu_seconds() -> f64 {
    let u = rusage();
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// CPU seconds used so far by the local ClickHouse server processes (`/proc/*/comm`
/// starting with `clickhouse`), 0 when there are none: the warehouse's share of a pass.
fn clickhouse_cpu_seconds() -> f64 {
    let tick = 100.0; // USER_HZ on Linux
    let mut total = 0.0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let dir = entry.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if !comm.starts_with("clickhouse") {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
        // Fields after the command's closing parenthesis: state is field 3, utime 14, stime 15.
        let rest: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, r)| r.split_whitespace().collect())
            .unwrap_or_default();
        let field = |n: usize| rest.get(n - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        total += (field(14) + field(15)) / tick;
    }
    total
}

/// Wait (at most 120 s) until the ClickHouse server at `url` runs no merge.
async fn settle_merges(url: Option<&str>) {
    let Some(url) = url else { return };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let n = match client.post(url).body("SELECT count() FROM system.merges").send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => return,
        };
        if n.trim() == "0" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// New events added at each size.
const GROWTH_STEP: usize = 10_000;

/// Generated events of one site on one UTC day (yesterday, around noon), in batches as
/// ingest accepts them; optionally some of them late events of sessions already made.
struct Filler {
    gen: TrafficGen,
    site: String,
    noon: i64,
    batch_no: u32,
    /// A sample of events made so far, for late events of their sessions.
    known: Vec<sightline::event::Event>,
}

impl Filler {
    fn new(site: &str, now: i64) -> Filler {
        Filler {
            gen: TrafficGen::new(11),
            site: site.to_string(),
            // Noon of yesterday: every event on one UTC day, whatever the time now.
            noon: day_of(now) - DAY_MS / 2,
            batch_no: 0,
            known: Vec::new(),
        }
    }

    /// `n` new events; with `late`, one in ten of them are late events of [`LATE_SESSIONS`]
    /// sessions made earlier (spread over the whole day so far, ten late events each), so
    /// every step touches the same number of old sessions whatever the day's size.
    fn next(&mut self, n: usize, late: bool) -> Vec<sightline::event::Event> {
        let mut out = Vec::with_capacity(n + 50);
        while out.len() < n {
            let body = self.gen.batch(&self.site, "0000beef", self.batch_no, 50, self.noon);
            self.batch_no += 1;
            out.extend(accept(&body, self.noon));
        }
        out.truncate(n);
        if late && !self.known.is_empty() {
            let step = (self.known.len() / LATE_SESSIONS).max(1);
            let offset = self.batch_no as usize % step;
            for (k, e) in out.iter_mut().step_by(10).enumerate() {
                let old = &self.known[(offset + (k % LATE_SESSIONS) * step) % self.known.len()];
                e.session_id = old.session_id.clone();
                e.visitor_id = old.visitor_id.clone();
                e.ts = old.ts + 1;
            }
        }
        if self.known.len() < 100_000 && !late {
            self.known.extend(out.iter().step_by(50).cloned());
        }
        out
    }
}

/// Old sessions a step of late events touches.
const LATE_SESSIONS: usize = 100;

/// The embedded warehouse in `dir`, or ClickHouse at `url` in database `db`.
async fn open_warehouse(
    clickhouse: Option<&str>,
    db: &str,
    dir: &std::path::Path,
) -> anyhow::Result<std::sync::Arc<dyn sightline::warehouse::Warehouse>> {
    Ok(match clickhouse {
        Some(url) => sightline::warehouse::clickhouse::ClickHouseWarehouse::connect(url, db).await?,
        None => sightline::warehouse::sqlite::SqliteWarehouse::open(dir)?,
    })
}

/// Run rollup passes until one finds nothing; returns the sessions recomputed.
async fn roll_up_all(wh: &dyn sightline::warehouse::Warehouse) -> anyhow::Result<u64> {
    // The stored sites' rules (the big day's goal), as `sightline rollup` uses them.
    let sites = sightline::sites::SiteCache::default();
    sites.replace(wh.sites().await?);
    let mut n = 0;
    loop {
        let r = sightline::rollup::job::run_once(wh, &sites, sightline::warehouse::Shard::ALL, false).await?;
        if r.sessions == 0 {
            return Ok(n);
        }
        n += r.sessions;
    }
}

async fn growth(sizes: &[usize], clickhouse: Option<&str>, now: i64) -> anyhow::Result<()> {
    let tmp = std::env::temp_dir().join(format!("sightline-growth-{}", std::process::id()));
    let wh = open_warehouse(clickhouse, &format!("growth_{}", std::process::id()), &tmp).await?;
    let mut fill = Filler::new("sl_growth", now);
    let mut stored = 0usize;
    let mut results = Vec::new();
    for &size in sizes {
        while stored < size {
            let evs = fill.next((size - stored).min(GROWTH_STEP), false);
            stored += evs.len();
            wh.insert_events(&evs).await?;
            // Keep the backlog bounded while filling.
            if stored % 200_000 < GROWTH_STEP {
                roll_up_all(wh.as_ref()).await?;
            }
        }
        roll_up_all(wh.as_ref()).await?;
        // ClickHouse: the merges of the fill's parts finish first (not the new events' cost).
        settle_merges(clickhouse).await;
        let evs = fill.next(GROWTH_STEP, true);
        wh.insert_events(&evs).await?;
        stored += evs.len();
        let (cpu, server, wall) = (cpu_seconds(), clickhouse_cpu_seconds(), Instant::now());
        let sessions = roll_up_all(wh.as_ref()).await?;
        let (cpu, wall) = (cpu_seconds() - cpu, wall.elapsed().as_secs_f64());
        // ... and the merges of what this step inserted, waited for and counted.
        settle_merges(clickhouse).await;
        // The warehouse's CPU counts too when it is a server of its own.
        let server = if clickhouse.is_some() {
            clickhouse_cpu_seconds() - server
        } else {
            0.0
        };
        let cpu = cpu + server;
        eprintln!(
            "growth: day of {size} events: 10k new events rolled up in {cpu:.2} CPU s ({server:.2} of them \
             ClickHouse's), {wall:.2} s ({sessions} sessions)"
        );
        results.push(
            serde_json::json!({"day_events": size, "new_events": GROWTH_STEP, "sessions": sessions,
                                        "cpu_seconds": cpu, "server_cpu_seconds": server, "wall_seconds": wall}),
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

/// Peak resident set of this process so far, MiB.
fn peak_rss_mib() -> f64 {
    rusage().ru_maxrss as f64 / 1024.0
}

/// `fill`: one day of `n` events for site `sl_load` into the warehouse (the data dir
/// `target`, or ClickHouse at `target` in database `db`), rolled up; then the whole day
/// marked and rolled up again, timed: what `sightline rollup rebuild` of that day costs.
async fn fill(n: usize, target: &str, db: Option<&str>, now: i64, rebuild: bool) -> anyhow::Result<()> {
    let clickhouse = target.starts_with("http").then_some(target);
    let wh = open_warehouse(clickhouse, db.unwrap_or("sightline"), std::path::Path::new(target)).await?;
    let mut f = Filler::new("sl_load", now);
    let started = Instant::now();
    let mut stored = 0;
    while stored < n {
        let evs = f.next((n - stored).min(GROWTH_STEP), false);
        stored += evs.len();
        wh.insert_events(&evs).await?;
    }
    let insert_s = started.elapsed().as_secs_f64();
    let t = Instant::now();
    let sessions = roll_up_all(wh.as_ref()).await?;
    let first_rollup_s = t.elapsed().as_secs_f64();
    let day = day_of(f.noon);
    let (mut rebuilt, mut rebuild_cpu, mut rebuild_s) = (None, None, None);
    if rebuild {
        wh.mark_dirty("sl_load", day, day + DAY_MS).await?;
        let (cpu, t) = (cpu_seconds(), Instant::now());
        rebuilt = Some(roll_up_all(wh.as_ref()).await?);
        (rebuild_cpu, rebuild_s) = (Some(cpu_seconds() - cpu), Some(t.elapsed().as_secs_f64()));
    }
    eprintln!(
        "fill: {stored} events in {insert_s:.1} s; rollup {sessions} sessions in {first_rollup_s:.1} s; \
         rebuild {rebuilt:?} sessions in {rebuild_s:?} s ({rebuild_cpu:?} CPU s)"
    );
    println!(
        "{}",
        serde_json::json!({"events": stored, "day": day, "insert_seconds": insert_s, "sessions": sessions,
                           "rollup_seconds": first_rollup_s, "rebuild_sessions": rebuilt,
                           "rebuild_seconds": rebuild_s, "rebuild_cpu_seconds": rebuild_cpu,
                           "peak_rss_mib": peak_rss_mib()})
    );
    Ok(())
}
