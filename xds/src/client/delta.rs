//! The delta variant of the client's stream (`DeltaAggregatedResources`), driven by `stream.rs`:
//! responses carry only changes; a reconnect resends what we hold per resource.

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse,
};
use tokio_stream::wrappers::ReceiverStream;

use super::Ctx;
use super::stream::{AdsClient, Opened, Variant, nack_detail};
use crate::types::ResourceType;

pub(super) struct Delta;

impl Variant for Delta {
    type Request = DeltaDiscoveryRequest;
    type Response = DeltaDiscoveryResponse;
    const LOG_PREFIX: &'static str = "delta ";

    fn subscribe(ctx: &Ctx, ty: ResourceType, node: Option<Node>) -> DeltaDiscoveryRequest {
        DeltaDiscoveryRequest {
            node,
            type_url: ty.url().to_owned(),
            resource_names_subscribe: vec!["*".to_owned()],
            // Reconnect: what we hold, so the server sends only what changed.
            initial_resource_versions: ctx.store.known_versions(ty),
            ..Default::default()
        }
    }

    fn open(
        client: &mut AdsClient,
        requests: ReceiverStream<DeltaDiscoveryRequest>,
    ) -> impl Future<Output = Opened<DeltaDiscoveryResponse>> + Send {
        client.delta_aggregated_resources(requests)
    }

    fn type_url(resp: &DeltaDiscoveryResponse) -> &str {
        &resp.type_url
    }

    fn apply(
        ctx: &mut Ctx,
        ty: ResourceType,
        resp: DeltaDiscoveryResponse,
    ) -> DeltaDiscoveryRequest {
        let applied = ctx.store.apply_delta(
            ty,
            &resp.resources,
            &resp.removed_resources,
            &resp.system_version_info,
        );
        ctx.after_apply(ty, &applied, &resp.system_version_info, &resp.nonce);
        DeltaDiscoveryRequest {
            type_url: resp.type_url,
            response_nonce: resp.nonce,
            error_detail: nack_detail(&applied),
            ..Default::default()
        }
    }
}
