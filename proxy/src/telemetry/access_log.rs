//! The access log: one `tracing` event with target `access` per HTTP request, gRPC call or opaque
//! TCP connection, carrying the verdict and the rule that decided it.
//!
//! Filter it like any target (`access=info`, `access=off`); with `--log-format json` each line is a
//! JSON object ready for a log pipeline.

use std::net::SocketAddr;
use std::time::Duration;

use crate::metrics::{Metrics, Protocol, VerdictLabel};

/// What one access-log line says.
pub struct Entry<'a> {
    pub listener: &'a str,
    pub protocol: Protocol,
    pub client: SocketAddr,
    /// `GET /path`, `/pkg.Service/Method`, or empty for TCP.
    pub method: &'a str,
    pub path: &'a str,
    pub authority: &'a str,
    pub allowed: bool,
    pub rule: &'a str,
    /// The upstream endpoint, or `-` when the request was not forwarded.
    pub upstream: Option<SocketAddr>,
    /// HTTP status, gRPC status or 0 for TCP.
    pub status: u32,
    pub grpc_status: Option<u32>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub duration: Duration,
    /// Policy header actions and other notes, e.g. `headerMismatch(x-token)`.
    pub note: &'a str,
}

/// Whether access-log lines are wanted at all.
pub fn enabled() -> bool {
    tracing::enabled!(target: "access", tracing::Level::INFO)
}

/// Records one finished request or TCP connection: its request series (and denial by rule) in
/// `metrics`, and its access-log line when the access log is on. Every data path ends here.
pub fn record(metrics: &Metrics, label: VerdictLabel, e: &Entry<'_>) {
    metrics.record(e.protocol, label, Some(e.rule), e.duration.as_secs_f64());
    log(e);
}

pub fn log(e: &Entry<'_>) {
    if !enabled() {
        return;
    }
    let upstream = e
        .upstream
        .map(|u| u.to_string())
        .unwrap_or_else(|| "-".into());
    tracing::info!(
        target: "access",
        listener = e.listener,
        protocol = e.protocol.as_str(),
        client = %e.client,
        method = e.method,
        path = e.path,
        authority = e.authority,
        verdict = if e.allowed { "allow" } else { "deny" },
        rule = e.rule,
        upstream = %upstream,
        status = e.status,
        grpc_status = e.grpc_status,
        bytes_in = e.bytes_in,
        bytes_out = e.bytes_out,
        duration_us = e.duration.as_micros() as u64,
        note = e.note,
    );
}
