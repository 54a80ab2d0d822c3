//! The Kafka connection path: a client's connection, checked request by request, to one broker.
//!
//! Two halves run side by side on one task, joined by a queue of what each request is owed, in
//! the order the client sent them ([`order`]):
//! - [`requests`]: reads whole frames, checks each against `rules.kafka` ([`check`]), forwards
//!   the allowed ones as the client's own bytes, queues the proxy's answer to the others;
//! - [`responses`]: sends the client, in turn, the broker's responses (paired by correlation
//!   id, streamed unread but for ApiVersions and Metadata) and the proxy's answers.
//!
//! The queue is bounded ([`MAX_IN_FLIGHT`]): a client that pipelines more than that waits for
//! answers before the proxy reads on, so what the proxy holds per connection is one request
//! frame (at most `kafka.maxRequestBytes`) and the queue's small entries.
//!
//! When the client closes its side (or the sidecar drains), the responses owed are still sent,
//! then the connection closes. When either side fails, or a frame cannot be read, it closes at
//! once with one log line.

mod check;
mod order;
mod record;
mod requests;
mod responses;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Instant;

use sockmesh_policy::RuleId;
use tokio::io::{BufReader, BufWriter};
use tokio::sync::mpsc;

use crate::conn::{self, ConnCtx};
use crate::metrics::{Protocol, VerdictLabel};
use crate::transport::{Io, PrefixedIo};

use requests::{Ended, Requests};
use responses::Responses;

/// Requests one connection may have waiting for their response.
pub const MAX_IN_FLIGHT: usize = 1024;

/// Serves one client connection to `endpoint`, admitted under `rule`; `l7` says whether rules
/// on the port read Kafka requests.
pub async fn serve(
    client: PrefixedIo<Io>,
    ctx: Arc<ConnCtx>,
    endpoint: SocketAddr,
    rule: RuleId,
    l7: bool,
) {
    let start = Instant::now();
    let metrics = &ctx.shared.metrics;
    metrics.count_connection(Protocol::Kafka);
    let broker = match conn::dial(&ctx, endpoint).await {
        Ok(broker) => broker,
        Err(error) => {
            client.into_inner().reset();
            conn::record::connection(
                &ctx,
                endpoint,
                VerdictLabel::Error,
                rule.as_str(),
                (0, 0),
                start.elapsed(),
                &error.to_string(),
            );
            return;
        }
    };
    metrics.upstream_active.inc();
    let (client_rd, client_wr) = tokio::io::split(client);
    let (broker_rd, broker_wr) = tokio::io::split(broker);
    let (tx, rx) = mpsc::channel(MAX_IN_FLIGHT);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_frame = ctx.shared.kafka.max_request_bytes;
    let requests = Requests {
        ctx: &ctx,
        meta: ctx.meta(endpoint),
        client: client_rd,
        broker: broker_wr,
        endpoint,
        l7,
        queue: tx,
        in_flight: in_flight.clone(),
        max_frame,
    };
    let responses = Responses {
        ctx: &ctx,
        broker: BufReader::with_capacity(64 * 1024, broker_rd),
        client: BufWriter::with_capacity(64 * 1024, client_wr),
        queue: rx,
        in_flight,
        endpoint,
        max_frame,
    };
    let requests = requests.run();
    let responses = responses.run();
    tokio::pin!(requests, responses);
    let ended = tokio::select! {
        ended = &mut requests => match ended {
            // The client is done asking (or the sidecar drains): what it is owed still goes.
            Ended::Clean => {
                let drain = conn::drain_grace(&ctx.shared.limits);
                match tokio::time::timeout(drain.max(ctx.shared.limits.idle_timeout), &mut responses).await {
                    Ok(ended) => ended,
                    Err(_) => Ended::Abort("responses still owed at the timeout".to_owned()),
                }
            }
            abort => abort,
        },
        ended = &mut responses => ended,
    };
    metrics.upstream_active.dec();
    if let Ended::Abort(why) = &ended {
        tracing::info!(listener = %ctx.listener.name, client = %ctx.client, broker = %endpoint, reason = %why, "kafka connection closed");
    }
}
