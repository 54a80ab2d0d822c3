//! `kafka_request`: see `sockmesh::fuzzing::kafka_request` and docs/FUZZING.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockmesh::fuzzing::kafka_request(data));
