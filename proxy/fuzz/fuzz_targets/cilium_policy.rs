//! `cilium_policy`: see `sockmesh::fuzzing::cilium_policy` and docs/FUZZING.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockmesh::fuzzing::cilium_policy(data));
