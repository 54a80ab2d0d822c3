//! The Kafka connection path: a client's connection, checked request by request, to one broker.
//!
//! Two halves run side by side on one task, joined by a queue of what each request is owed, in
//! the order the client sent them ([`order`]):
//! - [`requests`]: reads whole frames, checks each against `rules.kafka` ([`check`]), forwards
//!   the allowed ones as the client's own bytes, queues the proxy's answer to the others;
//! - [`responses`]: sends the client, in turn, the broker's responses (paired by correlation
//!   id, streamed unread but for ApiVersions and Metadata) and the proxy's answers.
//!
//! What one connection holds is bounded: the queue has [`MAX_IN_FLIGHT`] entries (a client
//! that pipelines more waits for answers before the proxy reads on), one request frame is at
//! most `kafka.maxRequestBytes`, and the proxy's queued answers together hold at most as many
//! bytes again (a denial echoes the request's topics and partitions, so 1,024 of them for
//! large requests could otherwise hold gigabytes for a client that never reads).
//!
//! Time is bounded too. The connection closes when no byte has moved either way for
//! `limits.idleTimeout`: a client that stops reading stalls the answers, then the requests
//! behind them, then everything ([`Activity`]); a broker response is awaited that long at most
//! (a JoinGroup waits for its rebalance timeout, 300 s by default in Kafka's clients, the
//! default idle timeout).
//!
//! When the client closes its side, the responses owed are still sent, then the connection
//! closes. When the sidecar drains, the proxy stops reading requests and sends what it owes
//! for at most `limits.drainTimeout`. When either side fails, or a frame cannot be read, it
//! closes at once with one log line.

mod check;
mod order;
mod record;
mod requests;
mod responses;
mod scope;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use sockmesh_policy::RuleId;
use tokio::io::{BufReader, BufWriter};
use tokio::sync::{Semaphore, mpsc};

use crate::conn::{self, ConnCtx};
use crate::metrics::{Protocol, VerdictLabel};
use crate::transport::activity::Activity;
use crate::transport::{Io, PrefixedIo};

use requests::{Ended, Requests};
use responses::Responses;

/// Requests one connection may have waiting for their response.
pub const MAX_IN_FLIGHT: usize = 1024;

/// Serves one client connection to `endpoint`, admitted under `rule`.
pub async fn serve(client: PrefixedIo<Io>, ctx: Arc<ConnCtx>, endpoint: SocketAddr, rule: RuleId) {
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
    let activity = Activity::default();
    let client = client.track(activity.clone());
    let broker = PrefixedIo::new(bytes::Bytes::new(), broker).track(activity.clone());
    let (client_rd, client_wr) = tokio::io::split(client);
    let (broker_rd, broker_wr) = tokio::io::split(broker);
    let (tx, rx) = mpsc::channel(MAX_IN_FLIGHT);
    let max_frame = ctx.shared.kafka.max_request_bytes;
    let ids = scope::IdScope::of(&ctx, endpoint);
    let requests = Requests {
        ctx: &ctx,
        meta: ctx.meta(endpoint),
        client: client_rd,
        broker: broker_wr,
        endpoint,
        ids: ids.clone(),
        queue: tx,
        answers: Arc::new(Semaphore::new(max_frame.min(Semaphore::MAX_PERMITS))),
        max_frame,
    };
    let responses = Responses {
        ctx: &ctx,
        broker: BufReader::with_capacity(64 * 1024, broker_rd),
        client: BufWriter::with_capacity(64 * 1024, client_wr),
        queue: rx,
        endpoint,
        ids,
        max_frame,
    };
    let limits = &ctx.shared.limits;
    let ended = tokio::select! {
        ended = both_halves(requests, responses, limits.drain_timeout) => ended,
        _ = activity.idle_for(limits.idle_timeout) => {
            Ended::Abort("idle timeout: no bytes moved either way".to_owned())
        }
    };
    metrics.upstream_active.dec();
    if let Ended::Abort(why) = &ended {
        tracing::info!(listener = %ctx.listener.name, client = %ctx.client, broker = %endpoint, reason = %why, "kafka connection closed");
    }
}

/// Runs the two halves until both are done: when the client closes its side, the responses
/// owed still go; once the sidecar drains, everything ends `drain` later at the latest (the
/// request half may be waiting for room in the queue, behind a client that does not read).
async fn both_halves<R, W, BR, BW>(
    requests: Requests<'_, R, BW>,
    responses: Responses<'_, BR, W>,
    drain: std::time::Duration,
) -> Ended
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
    BR: tokio::io::AsyncRead + Unpin,
    BW: tokio::io::AsyncWrite + Unpin,
{
    let mut shutdown = requests.ctx.shutdown.clone();
    let requests = requests.run();
    let responses = responses.run();
    tokio::pin!(requests, responses);
    let halves = async {
        tokio::select! {
            ended = &mut requests => match ended {
                Ended::Clean => responses.await,
                abort => abort,
            },
            ended = &mut responses => ended,
        }
    };
    tokio::select! {
        ended = halves => ended,
        _ = conn::drained(&mut shutdown, drain) => {
            Ended::Abort("responses still owed when the drain timeout ran out".to_owned())
        }
    }
}
