//! Types shared between Sockmesh's eBPF programs (in `programs/`, built for `bpfel-unknown-none`)
//! and the user-space loader in the proxy: map keys, configuration and counters, defined once so
//! that both sides agree on the layout. `no_std`: the programs link it too.
//!
//! Built by the sockmap issue.
#![no_std]
