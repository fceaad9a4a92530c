//! The fuzz targets (`fuzz/`, `sightline::fuzzing`) on stable, in every test run: each
//! committed corpus input (seeded from the shared fault cases; libFuzzer adds what it finds),
//! then seeded random mutations of them (bit flips, byte changes, cuts, splices, repeats).
//! The coverage-guided runs are `cargo +nightly fuzz run <target>` in `fuzz/`.
//!
//! A longer seeded run, where cargo-fuzz is not installed:
//!
//! ```sh
//! SIGHTLINE_FUZZ_MUTATIONS=10000000 SIGHTLINE_FUZZ_SEED=7 \
//!   cargo test --release --test fuzz_corpus parse_batch -- --nocapture
//! ```
//!
//! - `SIGHTLINE_FUZZ_MUTATIONS`: mutations per target (default 20,000);
//! - `SIGHTLINE_FUZZ_SEED`: the random seed (default `0x5157_4c1e`), so a run is repeatable.
//!
//! Every input runs even after a failure; failing inputs are written to
//! `target/fuzz-failures/<target>/` and the test fails naming how many there were.

use rand::{Rng, SeedableRng};
use std::path::Path;
use std::time::Instant;

/// Mutations per target in an ordinary test run.
const MUTATIONS: usize = 20_000;
/// The seed of an ordinary test run.
const SEED: u64 = 0x5157_4c1e;

/// A number from the environment variable `name` (decimal, `_` allowed), or `default`.
fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .replace('_', "")
            .parse()
            .unwrap_or_else(|e| panic!("{name}={v:?}: {e}")),
        Err(_) => default,
    }
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut v: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|f| std::fs::read(f.unwrap().path()).unwrap())
        .collect();
    assert!(!v.is_empty(), "no corpus for {target}");
    v.sort();
    v
}

fn mutate(rng: &mut rand::rngs::StdRng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut d = seeds[rng.random_range(0..seeds.len())].clone();
    for _ in 0..rng.random_range(1..=4) {
        let len = d.len();
        match rng.random_range(0..6) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                d[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                d[i] = rng.random();
            }
            2 if len > 0 => d.truncate(rng.random_range(0..len)),
            3 => {
                let other = &seeds[rng.random_range(0..seeds.len())];
                let at = rng.random_range(0..=len);
                let from = rng.random_range(0..=other.len());
                d.splice(at..at, other[from..].iter().copied().take(256));
            }
            4 if len > 0 => {
                let i = rng.random_range(0..len);
                let j = (i + rng.random_range(1..=16)).min(len);
                let chunk = d[i..j].to_vec();
                for _ in 0..rng.random_range(1..64) {
                    d.splice(j..j, chunk.iter().copied());
                }
            }
            _ => {
                let special: &[&[u8]] = &[b"\\ud800", b"%", b"\xff", b"\0", b"[[[[", b"1e999", b"\"", b"@", b"#"];
                let s = special[rng.random_range(0..special.len())];
                let at = rng.random_range(0..=d.len());
                d.splice(at..at, s.iter().copied());
            }
        }
    }
    d
}

/// How deep a `parse_batch` input gets: (its envelope parsed, events in it, events accepted),
/// so a long run can show it reached validation and enrichment, not only the JSON parser.
fn batch_depth(data: &[u8]) -> (u64, u64, u64) {
    use sightline::event::enrich::{Context, PageKeyRules, Skew};
    let mut scratch = Vec::new();
    let Ok(env) = sightline::event::validate::parse_envelope(data, &mut scratch) else {
        return (0, 0, 0);
    };
    let rules = PageKeyRules::default();
    let ctx = Context {
        received_at: 1_764_412_800_000,
        oldest_ts: i64::MIN,
        skew: Skew::for_batch(env.sent_at, 1_764_412_800_000),
        bot_reason: None,
        page_keys: &rules,
        request_id: "fuzz",
        client: None,
    };
    let accepted = env
        .events
        .iter()
        .enumerate()
        .filter(|(i, raw)| {
            let wire = sightline::event::wire::WireEvent::parse(raw);
            sightline::ingest::accept_event(*i, &wire, "fuzz", &ctx, 256 << 10).is_ok()
        })
        .count();
    (1, env.events.len() as u64, accepted as u64)
}

fn run(target: &str, f: fn(&[u8])) {
    let seeds = corpus(target);
    for s in &seeds {
        f(s);
    }
    let mutations = env_number("SIGHTLINE_FUZZ_MUTATIONS", MUTATIONS as u64);
    let seed = env_number("SIGHTLINE_FUZZ_SEED", SEED);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let failures_dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/fuzz-failures")
        .join(target);
    let mut failures = 0u64;
    // Inputs whose envelope parsed, events in them, events accepted (`parse_batch` only).
    let mut depth = (0u64, 0u64, 0u64);
    // Panics are caught per input, so a long run reports every failing input, not the first.
    for n in 0..mutations {
        let input = mutate(&mut rng, &seeds);
        if target == "parse_batch" && mutations > MUTATIONS as u64 {
            let (a, b, c) = std::panic::catch_unwind(|| batch_depth(&input)).unwrap_or_default();
            depth = (depth.0 + a, depth.1 + b, depth.2 + c);
        }
        if std::panic::catch_unwind(|| f(&input)).is_err() {
            failures += 1;
            std::fs::create_dir_all(&failures_dir).unwrap();
            std::fs::write(failures_dir.join(format!("seed-{seed}-mutation-{n}")), &input).unwrap();
        }
        if mutations > MUTATIONS as u64 && (n + 1) % 1_000_000 == 0 {
            eprintln!(
                "{target}: {} mutations, {failures} failures, {:.1} s",
                n + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    eprintln!(
        "{target}: {} corpus inputs + {mutations} mutations (seed {seed}): {failures} failures in {:.1} s",
        seeds.len(),
        started.elapsed().as_secs_f64()
    );
    if depth.0 > 0 {
        eprintln!(
            "{target}: {} inputs had a valid envelope, holding {} events, {} accepted",
            depth.0, depth.1, depth.2
        );
    }
    assert_eq!(
        failures,
        0,
        "{target}: failing inputs are in {}",
        failures_dir.display()
    );
}

#[test]
fn decode_body_survives_its_corpus_and_mutations() {
    run("decode_body", sightline::fuzzing::decode_body);
}

#[test]
fn parse_batch_survives_its_corpus_and_mutations() {
    run("parse_batch", sightline::fuzzing::parse_batch);
}

#[test]
fn canonical_url_survives_its_corpus_and_mutations() {
    run("canonical_url", sightline::fuzzing::canonical_url);
}
