#![no_main]
//! See `sightline::fuzzing::canonical_url`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| sightline::fuzzing::canonical_url(data));
