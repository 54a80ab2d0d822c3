//! xDS for Sockmesh: the ADS transport (state-of-the-world and delta) and the conversion of Envoy and
//! Sockmesh resources into the proxy's domain types.
//!
//! Why a crate of its own: the transport (streams, versions, nonces, ACK/NACK, backoff) is protocol
//! machinery that must not leak into the data path; the proxy only sees the resulting
//! [`DomainState`], exactly as it would from local policy files.
//!
//! Layout (ztunnel style, transport apart from domain state):
//! * [`types`]: the type URLs we speak.
//! * [`proto`]: our own `sockmesh.policy.v1.NetworkPolicy` resource (hand-written prost).
//! * [`convert`]: resources <-> domain types, with per-resource validation for NACKs.
//! * [`client`]: the sidecar's ADS client ([`client::spawn`]).
//! * [`server`]: `sockmesh control-plane`, serving policy and cluster files over ADS.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod client;
pub mod convert;
pub mod domain;
pub mod proto;
pub mod server;
pub mod types;

pub use client::state::DomainState;
