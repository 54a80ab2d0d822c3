//! xDS for Sockmesh: the ADS transport (state-of-the-world and delta) and the conversion of Envoy and
//! Sockmesh resources into the proxy's domain types.
//!
//! Why a crate of its own: the transport (streams, versions, nonces, ACK/NACK, backoff) is protocol
//! machinery that must not leak into the data path; the proxy only sees the resulting domain state,
//! exactly as it would from local policy files. Built by the xDS issue.

pub mod domain;
