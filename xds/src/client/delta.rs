//! The delta stream (`DeltaAggregatedResources`).

use std::collections::BTreeSet;

use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse,
};
use envoy_types::pb::google::rpc::Status;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use super::sotw::{INVALID_ARGUMENT, REQUEST_QUEUE, missing};
use super::{ClientError, Ctx};
use crate::types::ResourceType;

fn send(
    tx: &mpsc::Sender<DeltaDiscoveryRequest>,
    req: DeltaDiscoveryRequest,
) -> Result<(), ClientError> {
    tx.try_send(req).map_err(|_| ClientError::RequestQueueFull)
}

/// Runs one stream until it fails.
pub(super) async fn run_stream(ctx: &mut Ctx, channel: Channel) -> Result<(), ClientError> {
    let mut client = AggregatedDiscoveryServiceClient::new(channel)
        .max_decoding_message_size(ctx.config.max_message_bytes);
    let (tx, rx) = mpsc::channel(REQUEST_QUEUE);
    let node = ctx.config.node();
    for (i, ty) in ResourceType::SIDECAR.into_iter().enumerate() {
        send(
            &tx,
            DeltaDiscoveryRequest {
                node: (i == 0).then(|| node.clone()),
                type_url: ty.url().to_owned(),
                resource_names_subscribe: vec!["*".to_owned()],
                // Reconnect: what we hold, so the server sends only what changed.
                initial_resource_versions: ctx.store.known_versions(ty),
                ..Default::default()
            },
        )?;
    }
    let response = tokio::time::timeout(
        ctx.connect_timeout(),
        client.delta_aggregated_resources(ReceiverStream::new(rx)),
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

fn handle_response(
    ctx: &mut Ctx,
    resp: DeltaDiscoveryResponse,
    received: &mut BTreeSet<ResourceType>,
) -> Option<DeltaDiscoveryRequest> {
    let ty = match ResourceType::from_url(&resp.type_url) {
        Some(t) if ResourceType::SIDECAR.contains(&t) => t,
        _ => {
            tracing::warn!(type_url = %resp.type_url, "xds: ignoring a delta response for a type this sidecar did not subscribe to");
            return None;
        }
    };
    let applied = ctx.store.apply_delta(
        ty,
        &resp.resources,
        &resp.removed_resources,
        &resp.system_version_info,
    );
    ctx.after_apply(
        ty,
        &applied,
        &resp.system_version_info,
        &resp.nonce,
        received,
    );
    Some(DeltaDiscoveryRequest {
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
