//! The delta variant of a served stream (driven by `stream.rs`).
//!
//! Per type: wildcard or explicit names, and what the client holds (`name -> version`, seeded from
//! `initial_resource_versions` on reconnect, then from what was sent). A response carries only
//! resources whose version differs from what the client holds and the names it holds that are gone.
//! The first request for a type is always answered (possibly empty) so the client knows it is
//! synced.

use std::collections::{BTreeSet, HashMap};

use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, Resource,
};

use super::stream::{Ctx, Variant};
use crate::types::ResourceType;

#[derive(Debug, Default)]
pub(super) struct Delta {
    /// A request for this type arrived before.
    subscribed: bool,
    wildcard: bool,
    names: BTreeSet<String>,
    known: HashMap<String, String>,
    sent_nonce: String,
    sent_version: String,
}

impl Variant for Delta {
    type Request = DeltaDiscoveryRequest;
    type Response = DeltaDiscoveryResponse;
    const NAME: &'static str = "delta";
    const LOG_PREFIX: &'static str = "delta ";

    fn on_request(&mut self, ctx: &Ctx, ty: ResourceType, req: Self::Request) -> Option<bool> {
        let first = !self.subscribed;
        self.subscribed = true;
        if first {
            self.wildcard = req.resource_names_subscribe.is_empty();
            self.known = req.initial_resource_versions.clone();
        }
        for n in &req.resource_names_subscribe {
            if n == "*" {
                self.wildcard = true;
            } else {
                self.names.insert(n.clone());
            }
        }
        for n in &req.resource_names_unsubscribe {
            if n == "*" {
                self.wildcard = false;
            } else {
                self.names.remove(n);
            }
        }
        if !req.response_nonce.is_empty() {
            if req.response_nonce != self.sent_nonce {
                tracing::debug!(node = %ctx.node, type_url = %req.type_url, nonce = %req.response_nonce, "control-plane: stale nonce; ACK/NACK ignored");
            } else {
                ctx.ack_or_nack(
                    ty,
                    &req.response_nonce,
                    req.error_detail.as_ref().map(|e| e.message.as_str()),
                    "",
                    &self.sent_version,
                );
            }
        }
        Some(first)
    }

    /// The changes of `ty` the client does not hold yet (sent even if none when `force`).
    fn push(&mut self, ctx: &mut Ctx, ty: ResourceType, force: bool) -> Option<Self::Response> {
        let snapshot = &ctx.snapshot;
        let wanted = |name: &str| self.wildcard || self.names.contains(name);
        let mut resources = Vec::new();
        for (name, v) in snapshot.resources(ty) {
            if wanted(name) && self.known.get(name) != Some(&v.version) {
                resources.push(Resource {
                    name: name.clone(),
                    version: v.version.clone(),
                    resource: Some(v.any.clone()),
                    ..Default::default()
                });
            }
        }
        let removed: Vec<String> = self
            .known
            .keys()
            .filter(|n| !wanted(n) || !snapshot.contains(ty, n))
            .cloned()
            .collect();
        if !force && resources.is_empty() && removed.is_empty() {
            return None;
        }
        for r in &resources {
            self.known.insert(r.name.clone(), r.version.clone());
        }
        for n in &removed {
            self.known.remove(n);
        }
        let version = snapshot.version(ty, None);
        let nonce = ctx.next_nonce(ty, &version);
        self.sent_nonce = nonce.clone();
        self.sent_version = version.clone();
        Some(DeltaDiscoveryResponse {
            system_version_info: version,
            resources,
            type_url: ty.url().to_owned(),
            removed_resources: removed,
            nonce,
            ..Default::default()
        })
    }
}
