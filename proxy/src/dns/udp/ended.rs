//! How a query ends: the answer the proxy makes for it when it cannot get the resolver's, and
//! its access-log line and request series.

use std::net::SocketAddr;
use std::time::Instant;

use crate::failure::Failure;
use crate::metrics::VerdictLabel;

use super::{Pending, State};
use crate::dns::message::Query;
use crate::dns::record::{Outcome, record};

impl State {
    /// Answers a query the proxy could not get answered, with the failure's RCODE.
    pub(super) fn fail(&mut self, seen: &Seen<'_>, failure: Failure, why: &str) {
        let rcode = failure.dns_rcode();
        let Some(query) = seen.query else { return };
        let answer = query.answer(rcode);
        self.reply(&answer, seen.client);
        self.log(seen, VerdictLabel::Error, rcode as u8, answer.len(), why);
    }

    pub(super) fn log(
        &self,
        seen: &Seen<'_>,
        verdict: VerdictLabel,
        rcode: u8,
        bytes_out: usize,
        why: &str,
    ) {
        let outcome = Outcome {
            listener: &self.listener.name,
            client: seen.client,
            query: seen.query,
            verdict,
            rule: seen.rule,
            upstream: seen.upstream,
            rcode,
            started: seen.started,
            bytes_in: seen.bytes_in,
            bytes_out,
            why,
        };
        record(&self.shared.metrics, &outcome);
    }
}

/// What is known of a query when it ends, for its answer and its log line.
pub(super) struct Seen<'a> {
    pub(super) client: SocketAddr,
    pub(super) query: Option<&'a Query>,
    pub(super) rule: &'a str,
    pub(super) upstream: Option<SocketAddr>,
    pub(super) started: Instant,
    pub(super) bytes_in: usize,
}

impl Pending {
    pub(super) fn seen(&self, upstream: Option<SocketAddr>) -> Seen<'_> {
        Seen {
            client: self.client,
            query: Some(&self.query),
            rule: self.rule.as_str(),
            upstream,
            started: self.started,
            bytes_in: self.bytes_in,
        }
    }
}
