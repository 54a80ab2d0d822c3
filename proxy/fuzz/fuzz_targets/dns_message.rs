//! `dns_message`: see `sockmesh::fuzzing::dns_message` and docs/FUZZING.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockmesh::fuzzing::dns_message(data));
