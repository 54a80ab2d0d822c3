//! `dns_name`: see `sockmesh::fuzzing::dns_name` and docs/FUZZING.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockmesh::fuzzing::dns_name(data));
