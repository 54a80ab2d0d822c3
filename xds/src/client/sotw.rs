//! The state-of-the-world stream (`StreamAggregatedResources`).

use std::collections::BTreeSet;

use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use envoy_types::pb::google::rpc::Status;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use super::{ClientError, Ctx};
use crate::types::ResourceType;

/// `google.rpc.Code.INVALID_ARGUMENT`, the code Envoy puts into NACKs.
pub(crate) const INVALID_ARGUMENT: i32 = 3;
/// Bound of the outgoing request queue; a control plane that does not read is dropped.
pub(crate) const REQUEST_QUEUE: usize = 64;

fn send(tx: &mpsc::Sender<DiscoveryRequest>, req: DiscoveryRequest) -> Result<(), ClientError> {
    tx.try_send(req).map_err(|_| ClientError::RequestQueueFull)
}

/// Runs one stream until it fails. Returns only with an error (a stream never ends cleanly).
pub(super) async fn run_stream(ctx: &mut Ctx, channel: Channel) -> Result<(), ClientError> {
    let mut client = AggregatedDiscoveryServiceClient::new(channel)
        .max_decoding_message_size(ctx.config.max_message_bytes);
    let (tx, rx) = mpsc::channel(REQUEST_QUEUE);
    let node = ctx.config.node();
    for (i, ty) in ResourceType::SIDECAR.into_iter().enumerate() {
        // Reconnect: the known version per type tells the server what we have.
        send(
            &tx,
            DiscoveryRequest {
                node: (i == 0).then(|| node.clone()),
                type_url: ty.url().to_owned(),
                version_info: ctx.store.accepted_version(ty).to_owned(),
                ..Default::default()
            },
        )?;
    }
    let response = tokio::time::timeout(
        ctx.connect_timeout(),
        client.stream_aggregated_resources(ReceiverStream::new(rx)),
    )
    .await
    .map_err(|_| ClientError::ConnectTimeout(ctx.config.address.clone()))??;
    let mut inbound = response.into_inner();
    let mut received: BTreeSet<ResourceType> = ctx.synced.clone();
    let deadline = tokio::time::Instant::now() + ctx.sync_timeout();
    loop {
        let synced = ResourceType::SIDECAR.iter().all(|t| received.contains(t));
        let message = if synced {
            inbound.message().await?
        } else {
            match tokio::time::timeout_at(deadline, inbound.message()).await {
                Ok(m) => m?,
                Err(_) => return Err(ClientError::SyncTimeout(missing(&received))),
            }
        };
        let Some(resp) = message else {
            return Err(ClientError::Closed);
        };
        if let Some(req) = handle_response(ctx, resp, &mut received) {
            send(&tx, req)?;
        }
    }
}

pub(crate) fn missing(received: &BTreeSet<ResourceType>) -> String {
    ResourceType::SIDECAR
        .iter()
        .filter(|t| !received.contains(t))
        .map(|t| t.short_name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Applies one response and builds the ACK or NACK (`None` for types we never subscribed to).
fn handle_response(
    ctx: &mut Ctx,
    resp: DiscoveryResponse,
    received: &mut BTreeSet<ResourceType>,
) -> Option<DiscoveryRequest> {
    let ty = match ResourceType::from_url(&resp.type_url) {
        Some(t) if ResourceType::SIDECAR.contains(&t) => t,
        _ => {
            // As Envoy does: a response for a type nobody watches is ignored, not NACKed.
            tracing::warn!(type_url = %resp.type_url, "xds: ignoring a response for a type this sidecar did not subscribe to");
            return None;
        }
    };
    let applied = ctx
        .store
        .apply_sotw(ty, &resp.resources, &resp.version_info);
    ctx.after_apply(ty, &applied, &resp.version_info, &resp.nonce, received);
    Some(DiscoveryRequest {
        // ACK: the new version; NACK: the last accepted one.
        version_info: ctx.store.accepted_version(ty).to_owned(),
        type_url: resp.type_url,
        response_nonce: resp.nonce,
        error_detail: applied.error_message().map(|message| Status {
            code: INVALID_ARGUMENT,
            message,
            details: Vec::new(),
        }),
        ..Default::default()
    })
}
