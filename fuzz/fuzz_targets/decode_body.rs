#![no_main]
//! See `sightline::fuzzing::decode_body`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| sightline::fuzzing::decode_body(data));
