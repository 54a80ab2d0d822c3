//! `xds_resources`: see `sockmesh::fuzzing::xds_resources` and docs/FUZZING.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockmesh::fuzzing::xds_resources(data));
