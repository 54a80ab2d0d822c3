//! The state-of-the-world variant of a served stream (driven by `stream.rs`).
//!
//! Per type: the subscribed names (empty = wildcard), the version and nonce last sent. A request
//! whose nonce is not the last one sent for its type is stale and its ACK/NACK is ignored, as the
//! xDS protocol prescribes. A request without a nonce (a new subscription or a reconnect) is always
//! answered, so every subscriber learns the current state; other requests are answered only when
//! the state or the subscription changed. Snapshot changes are pushed to every subscription whose
//! version moved.

use std::collections::BTreeSet;

use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};

use super::stream::{Ctx, Variant};
use crate::types::ResourceType;

#[derive(Debug, Default)]
pub(super) struct Sotw {
    /// `None`: wildcard.
    names: Option<BTreeSet<String>>,
    sent_version: Option<String>,
    sent_nonce: String,
}

impl Variant for Sotw {
    type Request = DiscoveryRequest;
    type Response = DiscoveryResponse;
    const NAME: &'static str = "SotW";
    const LOG_PREFIX: &'static str = "";

    fn on_request(&mut self, ctx: &Ctx, ty: ResourceType, req: Self::Request) -> Option<bool> {
        let initial = req.response_nonce.is_empty();
        if !initial && req.response_nonce != self.sent_nonce {
            tracing::debug!(node = %ctx.node, type_url = %req.type_url, nonce = %req.response_nonce, expected = %self.sent_nonce, "control-plane: stale nonce; request ignored");
            return None;
        }
        if !initial {
            ctx.ack_or_nack(
                ty,
                &req.response_nonce,
                req.error_detail.as_ref().map(|e| e.message.as_str()),
                &req.version_info,
                &req.version_info,
            );
        }
        let names: Option<BTreeSet<String>> =
            if req.resource_names.is_empty() || req.resource_names.iter().any(|n| n == "*") {
                None
            } else {
                Some(req.resource_names.into_iter().collect())
            };
        let names_changed = self.names != names;
        self.names = names;
        Some(initial || names_changed)
    }

    /// The current state of `ty` if its version moved (or `force`).
    fn push(&mut self, ctx: &mut Ctx, ty: ResourceType, force: bool) -> Option<Self::Response> {
        let snapshot = &ctx.snapshot;
        let version = snapshot.version(ty, self.names.as_ref());
        if !force && self.sent_version.as_deref() == Some(version.as_str()) {
            return None;
        }
        let resources: Vec<_> = snapshot
            .select(ty, self.names.as_ref())
            .map(|(_, v)| v.any.clone())
            .collect();
        let nonce = ctx.next_nonce(ty, &version);
        self.sent_version = Some(version.clone());
        self.sent_nonce = nonce.clone();
        Some(DiscoveryResponse {
            version_info: version,
            resources,
            type_url: ty.url().to_owned(),
            nonce,
            ..Default::default()
        })
    }
}
