//! One ADS stream of the client, state-of-the-world or delta.
//!
//! Why one driver for both: the variants differ only in the request that subscribes to a type, the
//! RPC they open and how a response is applied and acknowledged ([`Variant`], in `sotw.rs` and
//! `delta.rs`). The rest must behave the same whichever the user configured: subscribing to every
//! sidecar type up front, the connect and sync timeouts, ignoring types we did not subscribe to,
//! the bounded request queue and the NACK status code.

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::google::rpc::Status;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;
use tonic::transport::Channel;

use super::state::Applied;
use super::{ClientError, Ctx};
use crate::types::ResourceType;

/// `google.rpc.Code.INVALID_ARGUMENT`, the code Envoy puts into NACKs.
const INVALID_ARGUMENT: i32 = 3;
/// Bound of the outgoing request queue; a control plane that does not read is dropped.
const REQUEST_QUEUE: usize = 64;

pub(super) type AdsClient = AggregatedDiscoveryServiceClient<Channel>;
/// What opening a stream yields.
pub(super) type Opened<T> = Result<tonic::Response<Streaming<T>>, tonic::Status>;

/// The variant-specific half of a stream.
pub(super) trait Variant {
    type Request: Send + 'static;
    type Response: Send + 'static;
    /// Qualifies "response" in the log of an ignored type (`""` or `"delta "`).
    const LOG_PREFIX: &'static str;

    /// The request subscribing to `ty` on a new stream; on a reconnect it tells what we hold.
    fn subscribe(ctx: &Ctx, ty: ResourceType, node: Option<Node>) -> Self::Request;
    /// Opens the RPC, sending `requests`.
    fn open(
        client: &mut AdsClient,
        requests: ReceiverStream<Self::Request>,
    ) -> impl Future<Output = Opened<Self::Response>> + Send;
    fn type_url(resp: &Self::Response) -> &str;
    /// Applies a response for `ty` (through [`Ctx::after_apply`]) and builds its ACK or NACK.
    fn apply(ctx: &mut Ctx, ty: ResourceType, resp: Self::Response) -> Self::Request;
}

/// The `error_detail` of the answer to a response that applied as `applied` (`None`: an ACK).
pub(super) fn nack_detail(applied: &Applied) -> Option<Status> {
    applied.error_message().map(|message| Status {
        code: INVALID_ARGUMENT,
        message,
        details: Vec::new(),
    })
}

fn send<T>(tx: &mpsc::Sender<T>, req: T) -> Result<(), ClientError> {
    tx.try_send(req).map_err(|_| ClientError::RequestQueueFull)
}

/// Runs one stream until it fails. Returns only with an error (a stream never ends cleanly).
pub(super) async fn run<V: Variant>(ctx: &mut Ctx, channel: Channel) -> Result<(), ClientError> {
    let mut client =
        AdsClient::new(channel).max_decoding_message_size(ctx.config.max_message_bytes);
    let (tx, rx) = mpsc::channel(REQUEST_QUEUE);
    let node = ctx.config.node();
    for (i, ty) in ResourceType::SIDECAR.into_iter().enumerate() {
        send(&tx, V::subscribe(ctx, ty, (i == 0).then(|| node.clone())))?;
    }
    let response = tokio::time::timeout(
        ctx.connect_timeout(),
        V::open(&mut client, ReceiverStream::new(rx)),
    )
    .await
    .map_err(|_| ClientError::ConnectTimeout(ctx.config.address.clone()))??;
    let mut inbound = response.into_inner();
    let deadline = tokio::time::Instant::now() + ctx.sync_timeout();
    loop {
        // Types answered on this stream or an earlier one (the last good state survives).
        let message = if ctx.fully_synced() {
            inbound.message().await?
        } else {
            match tokio::time::timeout_at(deadline, inbound.message()).await {
                Ok(m) => m?,
                Err(_) => return Err(ClientError::SyncTimeout(ctx.missing())),
            }
        };
        let Some(resp) = message else {
            return Err(ClientError::Closed);
        };
        if let Some(req) = handle_response::<V>(ctx, resp) {
            send(&tx, req)?;
        }
    }
}

/// Applies one response and builds the ACK or NACK (`None` for types we never subscribed to).
fn handle_response<V: Variant>(ctx: &mut Ctx, resp: V::Response) -> Option<V::Request> {
    let ty = match ResourceType::from_url(V::type_url(&resp)) {
        Some(t) if ResourceType::SIDECAR.contains(&t) => t,
        _ => {
            // As Envoy does: a response for a type nobody watches is ignored, not NACKed.
            tracing::warn!(type_url = %V::type_url(&resp), "xds: ignoring a {}response for a type this sidecar did not subscribe to", V::LOG_PREFIX);
            return None;
        }
    };
    Some(V::apply(ctx, ty, resp))
}
