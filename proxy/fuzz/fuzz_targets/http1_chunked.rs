//! `http1_chunked`: see `sockmesh::fuzzing::http1_chunked` and docs/FUZZING.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockmesh::fuzzing::http1_chunked(data));
