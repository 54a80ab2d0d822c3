//! Per-sidecar ACK/NACK bookkeeping: what each connected node was sent, what it accepted, and the
//! last error it reported. Logged as it happens and exposed as JSON.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::watch;

use crate::client::now_secs;

/// Prefix of the tracker key of a sidecar that sent no `node.id`.
pub(crate) const UNIDENTIFIED: &str = "unidentified@";

/// One type URL of one sidecar.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TypeTrack {
    pub sent_version: String,
    pub sent_nonce: String,
    pub acked_version: Option<String>,
    pub last_ack: Option<f64>,
    pub last_nack: Option<NackTrack>,
    pub acks: u64,
    pub nacks: u64,
}

/// A NACK a sidecar sent.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NackTrack {
    pub nonce: String,
    /// The version the sidecar says it still runs (SotW `version_info`; empty for delta).
    pub client_version: String,
    pub error: String,
    pub at: f64,
}

/// One sidecar.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SidecarTrack {
    pub connected_streams: u32,
    pub types: BTreeMap<String, TypeTrack>,
}

/// Shared, cheaply cloneable tracker. Every change bumps a counter tests can wait on.
#[derive(Debug, Clone)]
pub struct Tracker {
    inner: Arc<Mutex<BTreeMap<String, SidecarTrack>>>,
    changes: Arc<watch::Sender<u64>>,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker {
            inner: Arc::default(),
            changes: Arc::new(watch::channel(0).0),
        }
    }
}

impl Tracker {
    fn update<R>(&self, node: &str, f: impl FnOnce(&mut SidecarTrack) -> R) -> R {
        let r = {
            let mut g = match self.inner.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            f(g.entry(node.to_owned()).or_default())
        };
        self.changes.send_modify(|c| *c += 1);
        r
    }

    pub(crate) fn stream_opened(&self, node: &str) {
        self.update(node, |s| s.connected_streams += 1);
    }

    pub(crate) fn stream_closed(&self, node: &str) {
        self.update(node, |s| {
            s.connected_streams = s.connected_streams.saturating_sub(1)
        });
        // Nodes without an id are keyed by peer address: forget them once gone, or every anonymous
        // connection would leave an entry behind.
        if node.starts_with(UNIDENTIFIED) {
            let mut g = match self.inner.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            if g.get(node).is_some_and(|s| s.connected_streams == 0) {
                g.remove(node);
            }
        }
    }

    pub(crate) fn sent(&self, node: &str, type_url: &str, version: &str, nonce: &str) {
        self.update(node, |s| {
            let t = s.types.entry(type_url.to_owned()).or_default();
            t.sent_version = version.to_owned();
            t.sent_nonce = nonce.to_owned();
        });
    }

    pub(crate) fn ack(&self, node: &str, type_url: &str, version: &str) {
        tracing::info!(node, type_url, version, "control-plane: ACK");
        self.update(node, |s| {
            let t = s.types.entry(type_url.to_owned()).or_default();
            t.acked_version = Some(version.to_owned());
            t.last_ack = Some(now_secs());
            t.acks += 1;
        });
    }

    pub(crate) fn nack(
        &self,
        node: &str,
        type_url: &str,
        nonce: &str,
        client_version: &str,
        error: &str,
    ) {
        tracing::warn!(
            node,
            type_url,
            nonce,
            client_version,
            error,
            "control-plane: NACK"
        );
        self.update(node, |s| {
            let t = s.types.entry(type_url.to_owned()).or_default();
            t.last_nack = Some(NackTrack {
                nonce: nonce.to_owned(),
                client_version: client_version.to_owned(),
                error: error.to_owned(),
                at: now_secs(),
            });
            t.nacks += 1;
        });
    }

    /// The state of one sidecar.
    pub fn sidecar(&self, node: &str) -> Option<SidecarTrack> {
        match self.inner.lock() {
            Ok(g) => g.get(node).cloned(),
            Err(p) => p.into_inner().get(node).cloned(),
        }
    }

    /// Every sidecar, as JSON.
    pub fn status(&self) -> serde_json::Value {
        let g = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        serde_json::to_value(&*g).unwrap_or(serde_json::Value::Null)
    }

    /// Waits (at most `timeout`) until `pred` holds for sidecar `node`.
    pub async fn wait_for(
        &self,
        node: &str,
        timeout: std::time::Duration,
        mut pred: impl FnMut(&SidecarTrack) -> bool,
    ) -> bool {
        let mut rx = self.changes.subscribe();
        tokio::time::timeout(timeout, async {
            loop {
                if self.sidecar(node).is_some_and(|s| pred(&s)) {
                    return true;
                }
                if rx.changed().await.is_err() {
                    return false;
                }
            }
        })
        .await
        .unwrap_or(false)
    }
}
