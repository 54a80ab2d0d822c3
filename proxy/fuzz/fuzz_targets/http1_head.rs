//! `http1_head`: see `sockmesh::fuzzing::http1_head` and docs/FUZZING.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockmesh::fuzzing::http1_head(data));
