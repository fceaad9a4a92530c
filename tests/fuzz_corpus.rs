//! The fuzz targets (`fuzz/`, `sightline::fuzzing`) on stable, in every test run: each
//! committed corpus input (seeded from the shared fault cases; libFuzzer adds what it finds),
//! then seeded random mutations of them (bit flips, byte changes, cuts, splices, repeats).
//! The coverage-guided runs are `cargo +nightly fuzz run <target>` in `fuzz/`.

use rand::{Rng, SeedableRng};
use std::path::Path;

const MUTATIONS: usize = 20_000;

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

fn run(target: &str, f: fn(&[u8])) {
    let seeds = corpus(target);
    for s in &seeds {
        f(s);
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5157_4c1e);
    for _ in 0..MUTATIONS {
        f(&mutate(&mut rng, &seeds));
    }
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
