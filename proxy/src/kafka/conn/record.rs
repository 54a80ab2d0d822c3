//! One access-log line and one request series per Kafka request, through
//! [`access_log::record`] like every other path: `Produce v9` as `method`, the topics as `path`,
//! the client id as `authority`, the error code the proxy answered with as `status` (0 when the
//! broker answered: its response is relayed unread), and the time to the response's last byte.

use std::net::SocketAddr;

use crate::conn::ConnCtx;
use crate::metrics::{KafkaKeyLabels, Protocol, VerdictLabel};
use crate::telemetry::access_log::{self, Entry};

use super::order::Line;

/// Records `line`'s request, answered with `bytes_out` bytes; `note` says why the proxy
/// answered or failed, if it did.
pub(super) fn record(
    ctx: &ConnCtx,
    line: &Line,
    upstream: Option<SocketAddr>,
    bytes_out: usize,
    note: &str,
) {
    let metrics = &ctx.shared.metrics;
    let key_name = line.api_key.map_or("Unknown", crate::kafka::key_name);
    metrics
        .kafka_requests
        .get_or_create(&KafkaKeyLabels { api_key: key_name })
        .inc();
    let label = match (line.allowed, note.is_empty()) {
        (false, _) => VerdictLabel::Deny,
        (true, true) => VerdictLabel::Allow,
        (true, false) => VerdictLabel::Error,
    };
    let method = if access_log::enabled() {
        match line.api_key {
            Some(_) => format!("{key_name} v{}", line.api_version),
            None => format!("ApiKey({}) v{}", line.raw_key, line.api_version),
        }
    } else {
        String::new()
    };
    let entry = Entry {
        listener: &ctx.listener.name,
        protocol: Protocol::Kafka,
        client: ctx.client,
        method: &method,
        path: &line.topics,
        authority: &line.client_id,
        allowed: line.allowed,
        rule: line.rule.as_str(),
        upstream,
        status: u32::from(line.error_code.unsigned_abs()),
        grpc_status: None,
        bytes_in: line.bytes_in as u64,
        bytes_out: bytes_out as u64,
        duration: line.started.elapsed(),
        note,
    };
    access_log::record(metrics, label, &entry);
}
