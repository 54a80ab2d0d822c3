//! Serving one state-of-the-world stream.
//!
//! Per type: the subscribed names (empty = wildcard), the version and nonce last sent. A request
//! whose nonce is not the last one sent for its type is stale and its ACK/NACK is ignored, as the
//! xDS protocol prescribes. A request without a nonce (a new subscription or a reconnect) is always
//! answered, so every subscriber learns the current state; other requests are answered only when
//! the state or the subscription changed. Snapshot changes are pushed to every subscription whose
//! version moved.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use tokio::sync::{mpsc, watch};
use tonic::{Status, Streaming};

use super::snapshot::Snapshot;
use super::tracker::Tracker;
use crate::types::ResourceType;

#[derive(Debug, Default)]
struct Sub {
    /// `None`: wildcard.
    names: Option<BTreeSet<String>>,
    sent_version: Option<String>,
    sent_nonce: String,
}

pub(super) struct Stream {
    pub(super) node: String,
    pub(super) tracker: Tracker,
    pub(super) snapshots: watch::Receiver<Arc<Snapshot>>,
    pub(super) tx: mpsc::Sender<Result<DiscoveryResponse, Status>>,
    subs: HashMap<ResourceType, Sub>,
    nonce: u64,
}

impl Stream {
    pub(super) fn new(
        node: String,
        tracker: Tracker,
        snapshots: watch::Receiver<Arc<Snapshot>>,
        tx: mpsc::Sender<Result<DiscoveryResponse, Status>>,
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

    /// Serves requests until the client goes away. `first` is the request already read (it carried
    /// the node id).
    pub(super) async fn run(
        mut self,
        first: DiscoveryRequest,
        mut inbound: Streaming<DiscoveryRequest>,
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
                        tracing::info!(node = %self.node, error = %e, "control-plane: stream ended");
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

    async fn on_request(&mut self, req: DiscoveryRequest) -> Result<(), ()> {
        let Some(ty) = ResourceType::from_url(&req.type_url) else {
            tracing::warn!(node = %self.node, type_url = %req.type_url, "control-plane: request for a type this control plane does not serve; ignored");
            return Ok(());
        };
        let sub = self.subs.entry(ty).or_default();
        let initial = req.response_nonce.is_empty();
        if !initial && req.response_nonce != sub.sent_nonce {
            tracing::debug!(node = %self.node, type_url = %req.type_url, nonce = %req.response_nonce, expected = %sub.sent_nonce, "control-plane: stale nonce; request ignored");
            return Ok(());
        }
        if !initial {
            match &req.error_detail {
                Some(e) => self.tracker.nack(
                    &self.node,
                    ty.url(),
                    &req.response_nonce,
                    &req.version_info,
                    &e.message,
                ),
                None => self.tracker.ack(&self.node, ty.url(), &req.version_info),
            }
        }
        let names: Option<BTreeSet<String>> =
            if req.resource_names.is_empty() || req.resource_names.iter().any(|n| n == "*") {
                None
            } else {
                Some(req.resource_names.into_iter().collect())
            };
        let names_changed = sub.names != names;
        sub.names = names;
        self.push(ty, initial || names_changed).await
    }

    /// Sends the current state of `ty` if its version moved (or `force`).
    async fn push(&mut self, ty: ResourceType, force: bool) -> Result<(), ()> {
        let snapshot = self.snapshots.borrow_and_update().clone();
        let Some(sub) = self.subs.get_mut(&ty) else {
            return Ok(());
        };
        let version = snapshot.version(ty, sub.names.as_ref());
        if !force && sub.sent_version.as_deref() == Some(version.as_str()) {
            return Ok(());
        }
        self.nonce += 1;
        let nonce = self.nonce.to_string();
        let resources: Vec<_> = snapshot
            .select(ty, sub.names.as_ref())
            .map(|(_, v)| v.any.clone())
            .collect();
        sub.sent_version = Some(version.clone());
        sub.sent_nonce = nonce.clone();
        self.tracker.sent(&self.node, ty.url(), &version, &nonce);
        let resp = DiscoveryResponse {
            version_info: version,
            resources,
            type_url: ty.url().to_owned(),
            nonce,
            ..Default::default()
        };
        self.tx.send(Ok(resp)).await.map_err(|_| ())
    }
}
