//! Configuration from an xDS control plane: wait for the first complete sync, then apply every
//! accepted state — policies, clusters, listeners — through the same stores local files feed.
//!
//! The xDS client only publishes accepted state and never clears it when the control plane goes
//! away, so the last good configuration keeps enforcing; this module just reconciles.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sockmesh_xds::client::{self, ClientConfig, DomainState, Generations, Handle};
use sockmesh_xds::domain::{Cluster, Listener};
use tokio::sync::watch;

use crate::conn::Shared;
use crate::listener::manager::Listeners;

/// A connected xDS client after its first complete sync.
pub struct Discovery {
    pub handle: Handle,
    rx: watch::Receiver<Arc<DomainState>>,
}

impl Discovery {
    /// Starts the client on a thread of its own: validating a large policy (compiling it) takes
    /// hundreds of milliseconds, which must not stall the data path's event loop.
    pub fn start(config: ClientConfig) -> std::io::Result<Discovery> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("xds-client".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    let started = client::spawn(config);
                    if tx.send(Ok(started)).is_ok() {
                        std::future::pending::<()>().await;
                    }
                });
            })?;
        let (rx, handle) = rx
            .recv()
            .map_err(|_| std::io::Error::other("the xDS client thread exited at start"))??;
        Ok(Discovery { handle, rx })
    }

    /// Waits (as long as it takes, logging every 10 s) for the first complete sync: serving
    /// before it would mean enforcing no policy at all.
    pub async fn first_sync(&self) {
        while !self.handle.wait_ready(Duration::from_secs(10)).await {
            tracing::warn!(status = %self.handle.status(), "waiting for the first xDS sync; not ready");
        }
        tracing::info!("first xDS sync complete");
    }

    pub fn state(&self) -> Arc<DomainState> {
        self.rx.borrow().clone()
    }

    /// Applies every later state until the client stops.
    /// `applied`: the generations of the state the proxy started with.
    pub fn spawn_apply(
        mut self,
        mut applied: Generations,
        shared: Arc<Shared>,
        listeners: Arc<Listeners>,
        local_listeners: Vec<Listener>,
        local_clusters: Vec<Cluster>,
    ) {
        tokio::spawn(async move {
            while self.rx.changed().await.is_ok() {
                let state = self.state();
                apply(
                    &state,
                    applied,
                    &shared,
                    &listeners,
                    &local_listeners,
                    &local_clusters,
                )
                .await;
                applied = state.generations;
            }
        });
    }
}

/// Applies the parts of `state` that changed since `applied` (policy compilation is the costly
/// part: a cluster or listener change must not redo it).
async fn apply(
    state: &Arc<DomainState>,
    applied: Generations,
    shared: &Shared,
    listeners: &Listeners,
    local_listeners: &[Listener],
    local_clusters: &[Cluster],
) {
    let changed = state.generations;
    if changed.policies != applied.policies {
        // Compiling is CPU-bound: keep it off the event loop. Errors are logged and counted by
        // the store; the last good policy stays.
        let store = Arc::clone(&shared.policy);
        let state = Arc::clone(state);
        let _ = tokio::task::spawn_blocking(move || store.apply(&state.policies)).await;
    }
    if changed.clusters != applied.clusters {
        shared
            .clusters
            .replace(&merge_clusters(local_clusters, &state.clusters));
    }
    if changed.listeners != applied.listeners {
        for error in listeners
            .apply(&merge_listeners(local_listeners, &state.listeners))
            .await
        {
            tracing::error!(%error, "listener from the control plane not started");
        }
    }
}

/// Local clusters plus the control plane's; the control plane wins on a name clash.
pub fn merge_clusters(local: &[Cluster], xds: &[Cluster]) -> Vec<Cluster> {
    let mut by_name: BTreeMap<&str, &Cluster> =
        local.iter().map(|c| (c.name.as_str(), c)).collect();
    for c in xds {
        by_name.insert(&c.name, c);
    }
    by_name.into_values().cloned().collect()
}

/// Local listeners plus the control plane's; the control plane wins on a name clash.
pub fn merge_listeners(local: &[Listener], xds: &[Listener]) -> Vec<Listener> {
    let mut by_name: BTreeMap<&str, &Listener> =
        local.iter().map(|l| (l.name.as_str(), l)).collect();
    for l in xds {
        by_name.insert(&l.name, l);
    }
    by_name.into_values().cloned().collect()
}
