//! Serving one ADS stream, state-of-the-world or delta.
//!
//! Why one driver for both: the variants differ only in how a request changes a subscription and
//! how a response is built ([`Variant`], in `sotw.rs` and `delta.rs`). Everything around that is
//! the same protocol machinery and must behave the same on both: waiting for the first request,
//! naming the node, tracking the stream, ignoring unknown types, interleaving requests with
//! snapshot changes, numbering nonces and telling the [`Tracker`] what was sent.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::{DeltaDiscoveryRequest, DiscoveryRequest};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Status, Streaming};

use super::snapshot::Snapshot;
use super::tracker::{self, Tracker};
use super::{BoxStream, FIRST_REQUEST_TIMEOUT, RESPONSE_QUEUE};
use crate::types::ResourceType;

/// The fields the driver reads from a request of either variant.
pub(super) trait AdsRequest: Send + 'static {
    fn node(&self) -> Option<&Node>;
    fn type_url(&self) -> &str;
}

macro_rules! ads_request {
    ($($t:ty),*) => {$(
        impl AdsRequest for $t {
            fn node(&self) -> Option<&Node> {
                self.node.as_ref()
            }
            fn type_url(&self) -> &str {
                &self.type_url
            }
        }
    )*};
}
ads_request!(DiscoveryRequest, DeltaDiscoveryRequest);

/// A variant's state for one subscribed type of one stream, and how it answers. Its methods do no
/// I/O: the driver reads requests and sends what they return.
pub(super) trait Variant: Default + Send + 'static {
    type Request: AdsRequest;
    type Response: Send + 'static;
    /// Names the variant in the "stream opened/closed" logs.
    const NAME: &'static str;
    /// Qualifies "stream ended" and "request for a type ..." in the logs (`""` or `"delta "`).
    const LOG_PREFIX: &'static str;

    /// Applies a request for `ty` (ACK/NACK, subscription). `Some(force)`: push `ty`, even if
    /// nothing changed when `force`; `None`: send nothing.
    fn on_request(&mut self, ctx: &Ctx, ty: ResourceType, req: Self::Request) -> Option<bool>;
    /// The response bringing `ty` up to `ctx.snapshot`, if there is anything to send (or `force`).
    fn push(&mut self, ctx: &mut Ctx, ty: ResourceType, force: bool) -> Option<Self::Response>;
}

/// What the driver lends a variant: the sidecar at the other end, the nonce counter and the
/// snapshot being served.
pub(super) struct Ctx {
    pub(super) node: String,
    tracker: Tracker,
    nonce: u64,
    /// Refreshed before every push.
    pub(super) snapshot: Arc<Snapshot>,
}

impl Ctx {
    /// A fresh nonce for a response carrying `version` of `ty`, recorded as sent.
    pub(super) fn next_nonce(&mut self, ty: ResourceType, version: &str) -> String {
        self.nonce += 1;
        let nonce = self.nonce.to_string();
        self.tracker.sent(&self.node, ty.url(), version, &nonce);
        nonce
    }

    /// Records the ACK (`error` is `None`) or NACK of the response `nonce` of `ty`.
    pub(super) fn ack_or_nack(
        &self,
        ty: ResourceType,
        nonce: &str,
        error: Option<&str>,
        nacked_version: &str,
        acked_version: &str,
    ) {
        match error {
            Some(e) => self
                .tracker
                .nack(&self.node, ty.url(), nonce, nacked_version, e),
            None => self.tracker.ack(&self.node, ty.url(), acked_version),
        }
    }
}

/// Opens a stream: a task serves `request` with `V` and the returned stream carries its responses.
pub(super) fn open<V: Variant>(
    request: Request<Streaming<V::Request>>,
    tracker: Tracker,
    snapshots: watch::Receiver<Arc<Snapshot>>,
) -> BoxStream<V::Response> {
    let peer = request.remote_addr();
    let mut inbound = request.into_inner();
    let (tx, rx) = mpsc::channel(RESPONSE_QUEUE);
    tokio::spawn(async move {
        let first = match first_request(&mut inbound).await {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        let node = node_id(first.node(), peer);
        tracing::info!(%node, "control-plane: {} stream opened", V::NAME);
        tracker.stream_opened(&node);
        let snapshot = snapshots.borrow().clone();
        let mut driver = Driver::<V> {
            ctx: Ctx {
                node: node.clone(),
                tracker: tracker.clone(),
                nonce: 0,
                snapshot,
            },
            subs: HashMap::new(),
            snapshots,
            tx,
        };
        driver.run(first, inbound).await;
        tracker.stream_closed(&node);
        tracing::info!(%node, "control-plane: {} stream closed", V::NAME);
    });
    Box::pin(ReceiverStream::new(rx))
}

fn node_id(node: Option<&Node>, peer: Option<SocketAddr>) -> String {
    match node {
        Some(n) if !n.id.is_empty() => n.id.clone(),
        _ => format!(
            "{}{}",
            tracker::UNIDENTIFIED,
            peer.map_or_else(|| "?".to_owned(), |p| p.to_string())
        ),
    }
}

async fn first_request<T>(inbound: &mut Streaming<T>) -> Result<T, Status> {
    match tokio::time::timeout(FIRST_REQUEST_TIMEOUT, inbound.message()).await {
        Err(_) => Err(Status::deadline_exceeded(
            "no discovery request within 30 s",
        )),
        Ok(Err(e)) => Err(e),
        Ok(Ok(None)) => Err(Status::cancelled("stream closed before the first request")),
        Ok(Ok(Some(r))) => Ok(r),
    }
}

struct Driver<V: Variant> {
    ctx: Ctx,
    subs: HashMap<ResourceType, V>,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    tx: mpsc::Sender<Result<V::Response, Status>>,
}

impl<V: Variant> Driver<V> {
    /// Serves requests until the client goes away. `first` is the request already read (it carried
    /// the node id).
    async fn run(&mut self, first: V::Request, mut inbound: Streaming<V::Request>) {
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
                        tracing::info!(node = %self.ctx.node, error = %e, "control-plane: {}stream ended", V::LOG_PREFIX);
                        return;
                    }
                },
                changed = self.snapshots.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    // Mark this snapshot seen once, and push it to every subscribed type: a
                    // snapshot published while these sends wait fires `changed` again.
                    self.ctx.snapshot = self.snapshots.borrow_and_update().clone();
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

    async fn on_request(&mut self, req: V::Request) -> Result<(), ()> {
        let Some(ty) = ResourceType::from_url(req.type_url()) else {
            tracing::warn!(node = %self.ctx.node, type_url = %req.type_url(), "control-plane: {}request for a type this control plane does not serve; ignored", V::LOG_PREFIX);
            return Ok(());
        };
        let sub = self.subs.entry(ty).or_default();
        match sub.on_request(&self.ctx, ty, req) {
            Some(force) => {
                // The latest snapshot, without marking it seen: if it is new, the other
                // subscribed types still need it, and only `changed` pushes to all of them.
                self.ctx.snapshot = self.snapshots.borrow().clone();
                self.push(ty, force).await
            }
            None => Ok(()),
        }
    }

    /// Sends what the subscription to `ty` lacks of `ctx.snapshot` (a response even if it lacks
    /// nothing, when `force`). Errs when the client is gone.
    async fn push(&mut self, ty: ResourceType, force: bool) -> Result<(), ()> {
        let Some(sub) = self.subs.get_mut(&ty) else {
            return Ok(());
        };
        match sub.push(&mut self.ctx, ty, force) {
            Some(resp) => self.tx.send(Ok(resp)).await.map_err(|_| ()),
            None => Ok(()),
        }
    }
}
