//! `sockmesh control-plane`: serves policy and cluster files over ADS (SotW and delta) for local
//! development and tests, pushes every file change to every connected sidecar, and tracks each
//! sidecar's ACKs and NACKs.
//!
//! Why a control plane in the repo: the sidecar's xDS client must be exercised against a real
//! server through the same binary users run, and developers want to try xDS-driven policy without
//! deploying Istio or Cilium. It is deliberately small: snapshots of whole files, content-hashed
//! versions, no per-node customisation.

mod delta;
pub mod files;
pub mod snapshot;
mod sotw;
mod stream;
#[cfg(test)]
mod tests;
pub mod tracker;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::{
    AggregatedDiscoveryService, AggregatedDiscoveryServiceServer,
};
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
};
use futures_util::Stream;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status, Streaming};

pub use files::{ClustersFile, FilesError, Inputs};
pub use snapshot::Snapshot;
pub use tracker::Tracker;

/// Responses queued per stream before the stream task waits for the sidecar to read.
const RESPONSE_QUEUE: usize = 16;
/// How long a new stream may take to send its first request.
const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// `sockmesh control-plane` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct ControlPlaneArgs {
    /// Directory of policy files: CiliumNetworkPolicy YAML (`*.yaml`, `*.yml`) and NetworkPolicy
    /// resources in JSON (`*.json`). Watched for changes.
    #[arg(long, value_name = "DIR")]
    pub policies: PathBuf,
    /// Clusters, listeners, gRPC api listeners and secrets (YAML, see docs/xds.md). Watched.
    #[arg(long, value_name = "FILE")]
    pub clusters: Option<PathBuf>,
    /// Address to serve ADS (gRPC, plaintext) on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:18000")]
    pub listen: SocketAddr,
    /// Quiet period after a file change before re-reading, in milliseconds (editors write files in
    /// several steps).
    #[arg(long, value_name = "MS", default_value_t = 20)]
    pub debounce_ms: u64,
}

/// Why the control plane stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {0}: {1}; is another process using the port?")]
    Bind(SocketAddr, std::io::Error),
    #[error(transparent)]
    Files(#[from] FilesError),
    #[error("cannot watch {0} for changes: {1}")]
    Watch(PathBuf, notify::Error),
    #[error("the gRPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
    #[error("the control plane task failed: {0}")]
    Task(String),
}

/// The ADS service over a snapshot channel. Publish new snapshots with [`Server::publish`].
#[derive(Debug, Clone)]
pub struct Server {
    snapshots: Arc<watch::Sender<Arc<Snapshot>>>,
    tracker: Tracker,
}

impl Server {
    pub fn new(initial: Snapshot) -> Server {
        Server {
            snapshots: Arc::new(watch::channel(Arc::new(initial)).0),
            tracker: Tracker::default(),
        }
    }

    /// Replaces the served snapshot; streams push what changed. Returns whether anything changed.
    pub fn publish(&self, snapshot: Snapshot) -> bool {
        self.snapshots.send_if_modified(|cur| {
            if **cur == snapshot {
                false
            } else {
                *cur = Arc::new(snapshot);
                true
            }
        })
    }

    /// The served snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshots.borrow().clone()
    }

    /// Per-sidecar ACK/NACK state.
    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    /// Serves ADS on `listener` until the future is dropped or the server fails.
    pub async fn serve(self, listener: TcpListener) -> Result<(), ServerError> {
        tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(Duration::from_secs(10)))
            .http2_keepalive_timeout(Some(Duration::from_secs(5)))
            .add_service(AggregatedDiscoveryServiceServer::new(self))
            .serve_with_incoming(TcpListenerStream::new(listener).map(nodelay))
            .await?;
        Ok(())
    }
}

/// Accepted sockets send at once: a response ending in a partial segment otherwise waits for the
/// sidecar's delayed ACK (Nagle), which added 40 ms to pushes of mid-sized snapshots.
fn nodelay(conn: std::io::Result<tokio::net::TcpStream>) -> std::io::Result<tokio::net::TcpStream> {
    if let Ok(stream) = &conn
        && let Err(e) = stream.set_nodelay(true)
    {
        tracing::debug!(error = %e, "control-plane: cannot set TCP_NODELAY");
    }
    conn
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl AggregatedDiscoveryService for Server {
    type StreamAggregatedResourcesStream = BoxStream<DiscoveryResponse>;
    type DeltaAggregatedResourcesStream = BoxStream<DeltaDiscoveryResponse>;

    async fn stream_aggregated_resources(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamAggregatedResourcesStream>, Status> {
        let snapshots = self.snapshots.subscribe();
        let responses = stream::open::<sotw::Sotw>(request, self.tracker.clone(), snapshots);
        Ok(Response::new(responses))
    }

    async fn delta_aggregated_resources(
        &self,
        request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<Self::DeltaAggregatedResourcesStream>, Status> {
        let snapshots = self.snapshots.subscribe();
        let responses = stream::open::<delta::Delta>(request, self.tracker.clone(), snapshots);
        Ok(Response::new(responses))
    }
}

fn log_file_errors(errors: &[FilesError]) {
    for e in errors {
        tracing::error!(error = %e, "control-plane: keeping the last good content of this file");
    }
}

/// Loads the files, serves them on `args.listen`, and re-publishes on every change. Runs until the
/// server fails.
pub async fn run(args: ControlPlaneArgs) -> Result<(), ServerError> {
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|e| ServerError::Bind(args.listen, e))?;
    ControlPlane::start(args, listener).await?.wait().await
}

/// A running control plane: the served [`Server`] (snapshot, tracker) and its tasks. Dropping it
/// stops serving.
pub struct ControlPlane {
    pub server: Server,
    pub addr: Option<SocketAddr>,
    serve: Option<tokio::task::JoinHandle<Result<(), ServerError>>>,
    reloader: tokio::task::JoinHandle<()>,
    _watcher: Watcher,
}

impl ControlPlane {
    /// Loads the files, starts serving on `listener` (tests bind port 0) and watching the files.
    pub async fn start(
        args: ControlPlaneArgs,
        listener: TcpListener,
    ) -> Result<ControlPlane, ServerError> {
        let mut inputs = Inputs::new(args.policies.clone(), args.clusters.clone());
        log_file_errors(&inputs.reload()?);
        let server = Server::new(inputs.snapshot());
        let addr = listener.local_addr().ok();
        {
            let s = server.snapshot();
            tracing::info!(
                listen = ?addr,
                policies = s.len(crate::types::ResourceType::NetworkPolicy),
                clusters = s.len(crate::types::ResourceType::Cluster),
                listeners = s.len(crate::types::ResourceType::Listener),
                "control-plane: serving ADS (SotW and delta)"
            );
        }
        let (watcher, mut changes) = watch_inputs(&args)?;
        let publisher = server.clone();
        let debounce = Duration::from_millis(args.debounce_ms);
        let reloader = tokio::spawn(async move {
            while changes.recv().await.is_some() {
                tokio::time::sleep(debounce).await;
                while changes.try_recv().is_ok() {}
                match inputs.reload() {
                    Ok(errors) => log_file_errors(&errors),
                    Err(e) => {
                        tracing::error!(error = %e, "control-plane: cannot re-read the policies; serving the last good set");
                        continue;
                    }
                }
                if publisher.publish(inputs.snapshot()) {
                    tracing::info!("control-plane: files changed; pushing to connected sidecars");
                }
            }
        });
        let serve = tokio::spawn(server.clone().serve(listener));
        Ok(ControlPlane {
            server,
            addr,
            serve: Some(serve),
            reloader,
            _watcher: watcher,
        })
    }

    /// Runs until the server fails.
    pub async fn wait(mut self) -> Result<(), ServerError> {
        match self.serve.take() {
            Some(task) => match task.await {
                Ok(r) => r,
                Err(e) => Err(ServerError::Task(e.to_string())),
            },
            None => Ok(()),
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.reloader.abort();
        if let Some(s) = &self.serve {
            s.abort();
        }
    }
}

type Watcher = notify::RecommendedWatcher;

fn watch_inputs(args: &ControlPlaneArgs) -> Result<(Watcher, mpsc::Receiver<()>), ServerError> {
    use notify::{RecursiveMode, Watcher as _};
    let (tx, rx) = mpsc::channel(1);
    let clusters_name = args
        .clusters
        .as_ref()
        .and_then(|c| c.file_name())
        .map(ToOwned::to_owned);
    // Only policy files and the clusters file matter: other files in those directories (logs,
    // editor swap files) must not trigger reloads. Entries named `..*` do: a ConfigMap volume
    // updates by swapping its `..data` link, and no event then names the files themselves.
    let relevant = move |path: &std::path::Path| {
        matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) || (clusters_name.is_some() && path.file_name() == clusters_name.as_deref())
            || path
                .file_name()
                .is_some_and(|n| n.as_encoded_bytes().starts_with(b".."))
    };
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !e.kind.is_access() && e.paths.iter().any(|p| relevant(p))) {
            // Full means a reload is already pending, which will see this change too.
            let _ = tx.try_send(());
        }
    })
    .map_err(|e| ServerError::Watch(args.policies.clone(), e))?;
    watcher
        .watch(&args.policies, RecursiveMode::NonRecursive)
        .map_err(|e| ServerError::Watch(args.policies.clone(), e))?;
    if let Some(c) = &args.clusters {
        // Watch the directory: editors replace files by rename, which a file watch would miss.
        let dir = c
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), PathBuf::from);
        if dir != args.policies {
            watcher
                .watch(&dir, RecursiveMode::NonRecursive)
                .map_err(|e| ServerError::Watch(dir.clone(), e))?;
        }
    }
    Ok((watcher, rx))
}
