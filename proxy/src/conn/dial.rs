//! The upstream connection of a connection-long path (opaque TCP, Kafka): one connect, counted
//! and, on failure, logged once per endpoint and error kind, the same for every such path.

use std::net::SocketAddr;

use crate::telemetry::ratelimit::warn_limited;
use crate::transport::Io;

use super::ConnCtx;

/// Connects to `endpoint` with the target's connect timeout; counts the attempt in
/// `sockmesh_upstream_connects_total` or `..._connect_errors_total`.
pub async fn dial(ctx: &ConnCtx, endpoint: SocketAddr) -> std::io::Result<Io> {
    let metrics = &ctx.shared.metrics;
    let connected = ctx
        .shared
        .pool
        .connector()
        .connect(endpoint, ctx.target.connect_timeout())
        .await;
    match &connected {
        Ok(_) => {
            metrics.upstream_connects.inc();
        }
        Err(error) => {
            metrics.upstream_connect_errors.inc();
            warn_limited!((endpoint, error.kind()), %endpoint, %error, "upstream connect failed");
        }
    }
    connected
}
