//! `h2_frames`: see `sockmesh::fuzzing::h2_frames` and docs/FUZZING.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockmesh::fuzzing::h2_frames(data));
