//! One access-log line and one request series per query, through [`access_log::record`] like
//! every other path: the name as `path`, the type as `method`, the RCODE as `status` (its name
//! in `note`), the resolver as `upstream` and its latency as `duration`.

use std::net::SocketAddr;
use std::time::Instant;

use hickory_proto::rr::RecordType;

use crate::metrics::{Metrics, Protocol, VerdictLabel};
use crate::telemetry::access_log::{self, Entry};

use super::message::{Query, rcode_name};

/// How one query ended.
pub(super) struct Outcome<'a> {
    pub listener: &'a str,
    pub client: SocketAddr,
    pub query: Option<&'a Query>,
    pub verdict: VerdictLabel,
    pub rule: &'a str,
    pub upstream: Option<SocketAddr>,
    /// The RCODE the client got.
    pub rcode: u8,
    pub started: Instant,
    pub bytes_in: usize,
    pub bytes_out: usize,
    /// Why, when the proxy answered for the resolver (`timeout`, `malformed message`, ...).
    pub why: &'a str,
}

pub(super) fn record(metrics: &Metrics, o: &Outcome<'_>) {
    // The name's text is for the log line only: not made when the access log is off.
    let name = match o.query {
        Some(q) if access_log::enabled() => q.name.to_string(),
        _ => String::new(),
    };
    let qtype: &'static str = o.query.map_or("", |q| RecordType::from(q.qtype).into());
    let rcode = rcode_name(o.rcode);
    let note;
    let note = if o.why.is_empty() {
        rcode
    } else {
        note = format!("{rcode} {}", o.why);
        note.as_str()
    };
    let entry = Entry {
        listener: o.listener,
        protocol: Protocol::Dns,
        client: o.client,
        method: qtype,
        path: &name,
        authority: "",
        // A query policy allowed stays allowed when the resolver failed it.
        allowed: o.verdict != VerdictLabel::Deny,
        rule: o.rule,
        upstream: o.upstream,
        status: u32::from(o.rcode),
        grpc_status: None,
        bytes_in: o.bytes_in as u64,
        bytes_out: o.bytes_out as u64,
        duration: o.started.elapsed(),
        note,
    };
    access_log::record(metrics, o.verdict, &entry);
}
