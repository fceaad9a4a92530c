#![no_main]
//! See `sightline::fuzzing::parse_batch`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| sightline::fuzzing::parse_batch(data));
