//! Opaque TCP: connections that are not HTTP (or listeners set to `tcp`) are proxied byte for byte
//! after the L3/L4 policy check, with an idle timeout, and logged once when they end.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use sockmesh_policy::RuleId;

use crate::conn::{self, ConnCtx};
use crate::metrics::{Protocol, VerdictLabel};
use crate::transport::{Io, PrefixedIo};

pub async fn proxy(
    downstream: PrefixedIo<Io>,
    ctx: Arc<ConnCtx>,
    endpoint: SocketAddr,
    rule: RuleId,
) {
    let start = Instant::now();
    let metrics = &ctx.shared.metrics;
    metrics.count_connection(Protocol::Tcp);
    let (label, bytes, note) = match conn::dial(&ctx, endpoint).await {
        Ok(upstream) => {
            metrics.upstream_active.inc();
            let result = conn::relay(downstream, upstream, &ctx).await;
            metrics.upstream_active.dec();
            match result {
                Ok(bytes) => (VerdictLabel::Allow, bytes, String::new()),
                Err(e) => (VerdictLabel::Allow, (0, 0), e.to_string()),
            }
        }
        Err(error) => {
            downstream.into_inner().reset();
            (VerdictLabel::Error, (0, 0), error.to_string())
        }
    };
    let rule = rule.as_str();
    conn::record::connection(&ctx, endpoint, label, rule, bytes, start.elapsed(), &note);
}
