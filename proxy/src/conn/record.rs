//! The access record of a connection served (or refused) at L4: metrics and one access-log line.
//! Requests on the L7 paths are recorded per request by their own path instead.

use std::net::SocketAddr;
use std::time::Duration;

use super::ConnCtx;
use crate::metrics::{Protocol, VerdictLabel};
use crate::telemetry::access_log;

/// Records a finished (or refused) TCP connection.
pub fn connection(
    ctx: &ConnCtx,
    endpoint: SocketAddr,
    label: VerdictLabel,
    rule: &str,
    bytes: (u64, u64),
    duration: Duration,
    note: &str,
) {
    access_log::record(
        &ctx.shared.metrics,
        label,
        &access_log::Entry {
            listener: &ctx.listener.name,
            protocol: Protocol::Tcp,
            client: ctx.client,
            method: "",
            path: "",
            authority: "",
            allowed: label != VerdictLabel::Deny,
            rule,
            upstream: Some(endpoint),
            status: 0,
            grpc_status: None,
            bytes_in: bytes.0,
            bytes_out: bytes.1,
            duration,
            note,
        },
    );
}
