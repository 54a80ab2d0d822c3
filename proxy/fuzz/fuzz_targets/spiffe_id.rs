//! `spiffe_id`: see `sockmesh::fuzzing::spiffe_id` and docs/FUZZING.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockmesh::fuzzing::spiffe_id(data));
