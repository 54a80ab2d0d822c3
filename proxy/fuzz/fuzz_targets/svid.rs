//! `svid`: see `sockmesh::fuzzing::svid` and docs/FUZZING.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockmesh::fuzzing::svid(data));
