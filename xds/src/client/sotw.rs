//! The state-of-the-world variant of the client's stream (`StreamAggregatedResources`), driven by
//! `stream.rs`: every response carries all resources of its type; a reconnect resends the accepted
//! version per type.

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use tokio_stream::wrappers::ReceiverStream;

use super::Ctx;
use super::stream::{AdsClient, Opened, Variant, nack_detail};
use crate::types::ResourceType;

pub(super) struct Sotw;

impl Variant for Sotw {
    type Request = DiscoveryRequest;
    type Response = DiscoveryResponse;
    const LOG_PREFIX: &'static str = "";

    fn subscribe(ctx: &Ctx, ty: ResourceType, node: Option<Node>) -> DiscoveryRequest {
        DiscoveryRequest {
            node,
            type_url: ty.url().to_owned(),
            // Reconnect: the known version per type tells the server what we have.
            version_info: ctx.store.accepted_version(ty).to_owned(),
            ..Default::default()
        }
    }

    fn open(
        client: &mut AdsClient,
        requests: ReceiverStream<DiscoveryRequest>,
    ) -> impl Future<Output = Opened<DiscoveryResponse>> + Send {
        client.stream_aggregated_resources(requests)
    }

    fn type_url(resp: &DiscoveryResponse) -> &str {
        &resp.type_url
    }

    fn apply(ctx: &mut Ctx, ty: ResourceType, resp: DiscoveryResponse) -> DiscoveryRequest {
        let applied = ctx
            .store
            .apply_sotw(ty, &resp.resources, &resp.version_info);
        ctx.after_apply(ty, &applied, &resp.version_info, &resp.nonce);
        DiscoveryRequest {
            // ACK: the new version; NACK: the last accepted one.
            version_info: ctx.store.accepted_version(ty).to_owned(),
            type_url: resp.type_url,
            response_nonce: resp.nonce,
            error_detail: nack_detail(&applied),
            ..Default::default()
        }
    }
}
