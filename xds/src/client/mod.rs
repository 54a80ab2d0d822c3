//! The sidecar's ADS client: one gRPC stream to the control plane, state-of-the-world or delta.
//!
//! Why it is built this way:
//! * The proxy must keep enforcing the last good configuration whatever the control plane does, so
//!   the client only ever *publishes* accepted state ([`DomainState`] over a `watch` channel) and
//!   never clears it on disconnect.
//! * Readiness means "the first complete sync happened": every subscribed type got a response.
//! * Protocol behaviour follows Envoy's xDS documentation: per-type versions, ACK = new version +
//!   response nonce, NACK = last accepted version + nonce + `error_detail` naming each rejected
//!   resource; valid resources of a partly rejected response still apply (as ztunnel does);
//!   reconnects use jittered exponential backoff and resend what is known (`version_info` per type
//!   for SotW, `initial_resource_versions` for delta).
//! * Nothing a control plane sends can crash it: bad payloads are NACKed, bad streams are dropped
//!   and retried, a control plane that never completes the first sync is abandoned after
//!   `syncTimeoutMs`, request queues are bounded.

mod backoff;
mod delta;
mod sotw;
pub(crate) mod state;
mod stream;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::google::protobuf::{Struct, Value, value};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};

pub use backoff::Backoff;
pub use state::{DomainState, Generations};

use crate::types::ResourceType;

/// Which ADS variant to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// `StreamAggregatedResources`: every response carries all resources of its type.
    #[default]
    Sotw,
    /// `DeltaAggregatedResources`: responses carry only changes.
    Delta,
}

/// Reconnect backoff settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct BackoffConfig {
    /// First delay after a failure, in milliseconds (halved and jittered up to this).
    pub initial_ms: u64,
    /// Upper bound of the delay, in milliseconds.
    pub max_ms: u64,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            initial_ms: 250,
            max_ms: 15_000,
        }
    }
}

/// The `xds:` section of the sidecar config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientConfig {
    /// Control plane address: `http://host:port` or `host:port`.
    pub address: String,
    /// `node.id`: identifies this sidecar to the control plane (logs, per-sidecar ACK tracking).
    pub node_id: String,
    /// `node.cluster`.
    #[serde(default = "default_node_cluster")]
    pub node_cluster: String,
    /// Workload labels, sent as `node.metadata.labels`; policies are compile-checked against them
    /// before being ACKed.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub backoff: BackoffConfig,
    /// Timeout for connecting and opening the stream, in milliseconds.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// If a stream has not delivered a response for every type within this many milliseconds, it is
    /// dropped and retried (a stalled control plane).
    #[serde(default = "default_sync_timeout_ms")]
    pub sync_timeout_ms: u64,
    /// Largest accepted response message, in bytes.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
}

fn default_node_cluster() -> String {
    "sockmesh".to_owned()
}
fn default_connect_timeout_ms() -> u64 {
    5_000
}
fn default_sync_timeout_ms() -> u64 {
    15_000
}
fn default_max_message_bytes() -> usize {
    64 << 20
}

impl ClientConfig {
    /// A config with defaults for everything but the address and node id.
    pub fn new(address: impl Into<String>, node_id: impl Into<String>) -> ClientConfig {
        ClientConfig {
            address: address.into(),
            node_id: node_id.into(),
            node_cluster: default_node_cluster(),
            labels: BTreeMap::new(),
            mode: Mode::Sotw,
            backoff: BackoffConfig::default(),
            connect_timeout_ms: default_connect_timeout_ms(),
            sync_timeout_ms: default_sync_timeout_ms(),
            max_message_bytes: default_max_message_bytes(),
        }
    }

    fn uri(&self) -> String {
        if self.address.contains("://") {
            self.address.clone()
        } else {
            format!("http://{}", self.address)
        }
    }

    pub(crate) fn node(&self) -> Node {
        let labels = self
            .labels
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    Value {
                        kind: Some(value::Kind::StringValue(v.clone())),
                    },
                )
            })
            .collect();
        let mut fields = std::collections::HashMap::new();
        fields.insert(
            "labels".to_owned(),
            Value {
                kind: Some(value::Kind::StructValue(Struct { fields: labels })),
            },
        );
        Node {
            id: self.node_id.clone(),
            cluster: self.node_cluster.clone(),
            metadata: Some(Struct { fields }),
            user_agent_name: "sockmesh".to_owned(),
            ..Default::default()
        }
    }
}

/// Why a stream ended; the client logs it and reconnects after a backoff.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid control plane address `{0}`: {1}; use http://host:port or host:port")]
    Address(String, String),
    #[error("cannot connect to the control plane at {0}: {1}")]
    Connect(String, String),
    #[error("timed out connecting to the control plane at {0}; is it running and reachable?")]
    ConnectTimeout(String),
    #[error("the control plane refused the stream: {0}")]
    Rpc(#[from] tonic::Status),
    #[error("the control plane closed the stream")]
    Closed,
    #[error(
        "the control plane sent no response for {0} within the sync timeout; it is stalled or does not serve these types"
    )]
    SyncTimeout(String),
    #[error("the control plane is not reading requests (queue full); reconnecting")]
    RequestQueueFull,
}

/// Status of one type URL, as shown by `/config_dump`.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeStatus {
    pub accepted_version: String,
    pub nonce: String,
    pub resources: usize,
    /// Seconds since the Unix epoch of the last applied response.
    pub last_update: Option<f64>,
    pub last_ack: Option<f64>,
    pub last_nack: Option<NackStatus>,
}

/// The last NACK sent for a type.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NackStatus {
    /// The version the control plane offered and we rejected (SotW), or its system version (delta).
    pub rejected_version: String,
    pub nonce: String,
    pub error: String,
    pub at: f64,
}

/// Why the last stream (or connection attempt) ended, and when.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Disconnect {
    pub error: String,
    pub at: f64,
}

#[derive(Debug, Default)]
struct StatusInner {
    connected: bool,
    /// The error that stands: set when a stream or connection attempt fails, cleared once a
    /// stream delivers a response again (a connection alone proves little: a stalled control
    /// plane accepts it).
    last_error: Option<String>,
    /// The last failure, kept after it is cleared, for an operator asking why it reconnected.
    last_disconnect: Option<Disconnect>,
    connects: u64,
    types: BTreeMap<ResourceType, TypeStatus>,
}

#[derive(Debug)]
struct Shared {
    mode: Mode,
    address: String,
    ready_tx: watch::Sender<bool>,
    status: Mutex<StatusInner>,
}

pub(crate) fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Control over a running client; cheap to clone.
#[derive(Debug, Clone)]
pub struct Handle {
    shared: Arc<Shared>,
    task: Arc<JoinHandle<()>>,
}

impl Handle {
    /// True once every subscribed type got its first response (the first complete sync).
    pub fn ready(&self) -> bool {
        *self.shared.ready_tx.borrow()
    }

    /// Waits until [`Handle::ready`], at most `timeout`; returns whether it became ready.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let mut rx = self.shared.ready_tx.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|r| *r))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Per type URL: accepted version, nonce, resource count, last update, last NACK and its error;
    /// plus connection state. For `/config_dump`.
    pub fn status(&self) -> serde_json::Value {
        let inner = match self.shared.status.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let types: serde_json::Map<String, serde_json::Value> = inner
            .types
            .iter()
            .map(|(t, s)| {
                (
                    t.url().to_owned(),
                    serde_json::to_value(s).unwrap_or(serde_json::Value::Null),
                )
            })
            .collect();
        json!({
            "controlPlane": self.shared.address,
            "mode": self.shared.mode,
            "connected": inner.connected,
            "connects": inner.connects,
            "lastError": inner.last_error,
            "lastDisconnect": inner.last_disconnect,
            "ready": self.ready(),
            "types": types,
        })
    }

    /// Stops the client (the last published state stays in the watch channel).
    pub fn shutdown(&self) {
        self.task.abort();
    }
}

/// What the stream loops share: store, publication, status.
pub(crate) struct Ctx {
    pub(crate) config: ClientConfig,
    pub(crate) store: state::Store,
    state_tx: watch::Sender<Arc<DomainState>>,
    shared: Arc<Shared>,
    pub(crate) backoff: Backoff,
    /// Types that have had a response applied on any stream. A reconnected stream only has to
    /// deliver the others within the sync timeout: servers may stay silent about types whose
    /// version the client already holds, and that is not a stall.
    pub(crate) synced: std::collections::BTreeSet<ResourceType>,
}

impl Ctx {
    fn with_status(&self, f: impl FnOnce(&mut StatusInner)) {
        let mut g = match self.shared.status.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        f(&mut g);
    }

    /// Records an applied response, publishes the new state and updates readiness.
    pub(crate) fn after_apply(
        &mut self,
        ty: ResourceType,
        applied: &state::Applied,
        offered_version: &str,
        nonce: &str,
    ) {
        self.backoff.reset();
        if applied.changed {
            self.store.bump(ty);
        }
        if applied.changed || !self.ready() {
            self.state_tx
                .send_replace(Arc::new(self.store.domain_state()));
        }
        let accepted = self.store.accepted_version(ty).to_owned();
        let count = self.store.len(ty);
        let error = applied.error_message();
        if let Some(e) = &error {
            tracing::warn!(type_url = ty.url(), version = offered_version, nonce, error = %e, "xds: NACK");
        } else {
            tracing::info!(
                type_url = ty.url(),
                version = offered_version,
                resources = count,
                "xds: ACK"
            );
        }
        self.with_status(|s| {
            // The control plane answers again: what made it go away no longer stands.
            s.last_error = None;
            let t = s.types.entry(ty).or_default();
            t.accepted_version = accepted;
            t.nonce = nonce.to_owned();
            t.resources = count;
            t.last_update = Some(now_secs());
            match error {
                Some(error) => {
                    t.last_nack = Some(NackStatus {
                        rejected_version: offered_version.to_owned(),
                        nonce: nonce.to_owned(),
                        error,
                        at: now_secs(),
                    })
                }
                None => t.last_ack = Some(now_secs()),
            }
        });
        self.synced.insert(ty);
        if self.fully_synced() && !self.ready() {
            tracing::info!("xds: first complete sync, ready");
            self.shared.ready_tx.send_replace(true);
        }
    }

    /// Every type a sidecar needs has had a response applied (on this stream or an earlier one).
    pub(crate) fn fully_synced(&self) -> bool {
        ResourceType::SIDECAR
            .iter()
            .all(|t| self.synced.contains(t))
    }

    /// The sidecar types with no response applied yet, for the sync-timeout error.
    pub(crate) fn missing(&self) -> String {
        ResourceType::SIDECAR
            .iter()
            .filter(|t| !self.synced.contains(t))
            .map(|t| t.short_name())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn ready(&self) -> bool {
        *self.shared.ready_tx.borrow()
    }

    pub(crate) fn sync_timeout(&self) -> Duration {
        Duration::from_millis(self.config.sync_timeout_ms)
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.config.connect_timeout_ms)
    }
}

async fn connect(config: &ClientConfig) -> Result<Channel, ClientError> {
    let uri = config.uri();
    let endpoint = Endpoint::from_shared(uri.clone())
        .map_err(|e| ClientError::Address(config.address.clone(), e.to_string()))?
        .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(5))
        .keep_alive_while_idle(true);
    tokio::time::timeout(
        Duration::from_millis(config.connect_timeout_ms),
        endpoint.connect(),
    )
    .await
    .map_err(|_| ClientError::ConnectTimeout(uri.clone()))?
    .map_err(|e| ClientError::Connect(uri, source_chain(&e)))
}

/// An error and its sources, `: `-joined (tonic's transport errors hide the cause otherwise).
pub(crate) fn source_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

async fn run(mut ctx: Ctx) {
    loop {
        let result = match connect(&ctx.config).await {
            Ok(channel) => {
                ctx.with_status(|s| {
                    s.connected = true;
                    s.connects += 1;
                });
                tracing::info!(address = %ctx.config.address, mode = ?ctx.config.mode, "xds: connected");
                match ctx.config.mode {
                    Mode::Sotw => stream::run::<sotw::Sotw>(&mut ctx, channel).await,
                    Mode::Delta => stream::run::<delta::Delta>(&mut ctx, channel).await,
                }
            }
            Err(e) => Err(e),
        };
        let delay = ctx.backoff.next_delay();
        let msg = match &result {
            Ok(()) => "stream ended".to_owned(),
            Err(e) => e.to_string(),
        };
        tracing::warn!(error = %msg, retry_in_ms = delay.as_millis() as u64, "xds: control plane unavailable; keeping the last good configuration");
        ctx.with_status(|s| {
            s.connected = false;
            s.last_disconnect = Some(Disconnect {
                error: msg.clone(),
                at: now_secs(),
            });
            s.last_error = Some(msg);
        });
        tokio::time::sleep(delay).await;
    }
}

/// Starts the client on the current tokio runtime. The receiver always holds the full accepted
/// state (initially empty); the handle reports readiness and status.
pub fn spawn(config: ClientConfig) -> (watch::Receiver<Arc<DomainState>>, Handle) {
    let (state_tx, state_rx) = watch::channel(Arc::new(DomainState::default()));
    let (ready_tx, _) = watch::channel(false);
    let shared = Arc::new(Shared {
        mode: config.mode,
        address: config.address.clone(),
        ready_tx,
        status: Mutex::new(StatusInner::default()),
    });
    let labels = config
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let ctx = Ctx {
        backoff: Backoff::new(
            Duration::from_millis(config.backoff.initial_ms),
            Duration::from_millis(config.backoff.max_ms),
        ),
        store: state::Store::new(labels),
        config,
        state_tx,
        shared: shared.clone(),
        synced: std::collections::BTreeSet::new(),
    };
    let task = tokio::spawn(run(ctx));
    (
        state_rx,
        Handle {
            shared,
            task: Arc::new(task),
        },
    )
}
