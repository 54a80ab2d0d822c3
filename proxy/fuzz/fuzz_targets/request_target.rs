//! `request_target`: see `sockmesh::fuzzing::request_target` and docs/FUZZING.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockmesh::fuzzing::request_target(data));
