//! Serving one delta stream.
//!
//! Per type: wildcard or explicit names, and what the client holds (`name -> version`, seeded from
//! `initial_resource_versions` on reconnect, then from what was sent). A response carries only
//! resources whose version differs from what the client holds and the names it holds that are gone.
//! The first request for a type is always answered (possibly empty) so the client knows it is
//! synced.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, Resource,
};
use tokio::sync::{mpsc, watch};
use tonic::{Status, Streaming};

use super::snapshot::Snapshot;
use super::tracker::Tracker;
use crate::types::ResourceType;

#[derive(Debug, Default)]
struct Sub {
    wildcard: bool,
    names: BTreeSet<String>,
    known: HashMap<String, String>,
    sent_nonce: String,
    sent_version: String,
}

pub(super) struct Stream {
    pub(super) node: String,
    pub(super) tracker: Tracker,
    pub(super) snapshots: watch::Receiver<Arc<Snapshot>>,
    pub(super) tx: mpsc::Sender<Result<DeltaDiscoveryResponse, Status>>,
    subs: HashMap<ResourceType, Sub>,
    nonce: u64,
}

impl Stream {
    pub(super) fn new(
        node: String,
        tracker: Tracker,
        snapshots: watch::Receiver<Arc<Snapshot>>,
        tx: mpsc::Sender<Result<DeltaDiscoveryResponse, Status>>,
    ) -> Stream {
        Stream {
            node,
            tracker,
            snapshots,
            tx,
            subs: HashMap::new(),
            nonce: 0,
        }
    }

    pub(super) async fn run(
        mut self,
        first: DeltaDiscoveryRequest,
        mut inbound: Streaming<DeltaDiscoveryRequest>,
    ) {
        if self.on_request(first).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                msg = inbound.message() => match msg {
                    Ok(Some(req)) => {
                        if self.on_request(req).await.is_err() {
                            return;
                        }
                    }
                    Ok(None) => return,
                    Err(e) => {
                        tracing::info!(node = %self.node, error = %e, "control-plane: delta stream ended");
                        return;
                    }
                },
                changed = self.snapshots.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let types: Vec<ResourceType> = self.subs.keys().copied().collect();
                    for ty in types {
                        if self.push(ty, false).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    }

    async fn on_request(&mut self, req: DeltaDiscoveryRequest) -> Result<(), ()> {
        let Some(ty) = ResourceType::from_url(&req.type_url) else {
            tracing::warn!(node = %self.node, type_url = %req.type_url, "control-plane: delta request for a type this control plane does not serve; ignored");
            return Ok(());
        };
        let first = !self.subs.contains_key(&ty);
        let sub = self.subs.entry(ty).or_default();
        if first {
            sub.wildcard = req.resource_names_subscribe.is_empty();
            sub.known = req.initial_resource_versions.clone();
        }
        for n in &req.resource_names_subscribe {
            if n == "*" {
                sub.wildcard = true;
            } else {
                sub.names.insert(n.clone());
            }
        }
        for n in &req.resource_names_unsubscribe {
            if n == "*" {
                sub.wildcard = false;
            } else {
                sub.names.remove(n);
            }
        }
        if !req.response_nonce.is_empty() {
            if req.response_nonce != sub.sent_nonce {
                tracing::debug!(node = %self.node, type_url = %req.type_url, nonce = %req.response_nonce, "control-plane: stale nonce; ACK/NACK ignored");
            } else {
                match &req.error_detail {
                    Some(e) => {
                        self.tracker
                            .nack(&self.node, ty.url(), &req.response_nonce, "", &e.message)
                    }
                    None => self.tracker.ack(&self.node, ty.url(), &sub.sent_version),
                }
            }
        }
        self.push(ty, first).await
    }

    async fn push(&mut self, ty: ResourceType, force: bool) -> Result<(), ()> {
        let snapshot = self.snapshots.borrow_and_update().clone();
        let Some(sub) = self.subs.get_mut(&ty) else {
            return Ok(());
        };
        let wanted = |name: &str| sub.wildcard || sub.names.contains(name);
        let mut resources = Vec::new();
        for (name, v) in snapshot.resources(ty) {
            if wanted(name) && sub.known.get(name) != Some(&v.version) {
                resources.push(Resource {
                    name: name.clone(),
                    version: v.version.clone(),
                    resource: Some(v.any.clone()),
                    ..Default::default()
                });
            }
        }
        let removed: Vec<String> = sub
            .known
            .keys()
            .filter(|n| !wanted(n) || !snapshot.contains(ty, n))
            .cloned()
            .collect();
        if !force && resources.is_empty() && removed.is_empty() {
            return Ok(());
        }
        for r in &resources {
            sub.known.insert(r.name.clone(), r.version.clone());
        }
        for n in &removed {
            sub.known.remove(n);
        }
        self.nonce += 1;
        let nonce = self.nonce.to_string();
        sub.sent_nonce = nonce.clone();
        let version = snapshot.version(ty, None);
        sub.sent_version = version.clone();
        self.tracker.sent(&self.node, ty.url(), &version, &nonce);
        let resp = DeltaDiscoveryResponse {
            system_version_info: version,
            resources,
            type_url: ty.url().to_owned(),
            removed_resources: removed,
            nonce,
            ..Default::default()
        };
        self.tx.send(Ok(resp)).await.map_err(|_| ())
    }
}
