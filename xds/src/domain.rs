//! The domain state a sidecar is configured with, whether it comes from a local config file or from
//! a control plane: listeners, upstream clusters and (in `sockmesh-policy`) network policies.
//!
//! Plain data, no transport types: the proxy consumes these and never sees xDS messages.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Which policy sections a listener enforces. (De)serialised as in config files: `inbound`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Traffic from peers to the workload: `ingress` / `ingressDeny`.
    Inbound,
    /// Traffic from the workload to peers: `egress` / `egressDeny`.
    Outbound,
}

/// How a listener treats the bytes of an accepted connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ListenerProtocol {
    /// Peek at the first bytes (bounded, with a timeout) and pick HTTP/1.1, HTTP/2 or opaque TCP.
    #[default]
    Detect,
    /// HTTP/1.1 or HTTP/2 (prior knowledge), no opaque fallback.
    Http,
    /// HTTP/2 carrying gRPC.
    Grpc,
    /// Opaque TCP: L3/L4 policy only.
    Tcp,
    /// DNS over UDP and TCP at the listener's address: each query is checked against
    /// `rules.dns`.
    Dns,
    /// Kafka: each request is checked against `rules.kafka`.
    Kafka,
}

/// One port the sidecar accepts connections on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listener {
    pub name: String,
    pub address: SocketAddr,
    pub direction: Direction,
    pub protocol: ListenerProtocol,
    /// The cluster connections go to when the original destination is not known (explicit mode).
    pub cluster: Option<String>,
}

/// The HTTP version the proxy speaks to a cluster's endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamProtocol {
    /// Same as the downstream request (HTTP/1.1 stays HTTP/1.1, HTTP/2 stays HTTP/2).
    #[default]
    Auto,
    Http1,
    Http2,
}

/// A named group of upstream endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cluster {
    pub name: String,
    pub endpoints: Vec<SocketAddr>,
    pub connect_timeout: Duration,
    pub protocol: UpstreamProtocol,
    pub circuit_breakers: CircuitBreakers,
}

/// What one cluster may hold at once, as Envoy's circuit breakers (its default-priority
/// thresholds, with Envoy's defaults). A request over a cap is refused (503, gRPC UNAVAILABLE)
/// rather than queued without bound. (De)serialised as in config files: `maxConnections`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct CircuitBreakers {
    /// Connections open to the cluster's endpoints, idle ones included. A request that needs a
    /// new one past this waits, as a pending request, for one to close or come back.
    pub max_connections: u32,
    /// Requests waiting for a connection at once.
    pub max_pending_requests: u32,
    /// Requests in flight to the cluster at once (sent, or waiting for a connection).
    pub max_requests: u32,
}

impl Default for CircuitBreakers {
    fn default() -> Self {
        CircuitBreakers {
            max_connections: 1024,
            max_pending_requests: 1024,
            max_requests: 1024,
        }
    }
}

impl CircuitBreakers {
    /// The name of the first threshold that is zero (which would refuse every request).
    pub fn zero(&self) -> Option<&'static str> {
        [
            ("maxConnections", self.max_connections),
            ("maxPendingRequests", self.max_pending_requests),
            ("maxRequests", self.max_requests),
        ]
        .into_iter()
        .find_map(|(name, v)| (v == 0).then_some(name))
    }
}

impl Cluster {
    /// Default connect timeout, as Envoy's `connect_timeout` default.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
}

/// Where a piece of TLS material comes from. Inline bytes never appear in `Debug` or serialized
/// output (`/config_dump` must not leak private keys).
#[derive(Clone, PartialEq, Eq)]
pub enum DataSource {
    Inline(Vec<u8>),
    File(std::path::PathBuf),
}

impl std::fmt::Debug for DataSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataSource::Inline(b) => write!(f, "Inline(<{} bytes>)", b.len()),
            DataSource::File(p) => f.debug_tuple("File").field(p).finish(),
        }
    }
}

impl Serialize for DataSource {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            DataSource::Inline(b) => s.serialize_str(&format!("<inline, {} bytes>", b.len())),
            DataSource::File(p) => s.serialize_str(&p.display().to_string()),
        }
    }
}

/// What a secret holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SecretKind {
    /// A certificate chain (PEM) and its private key (PEM): the sidecar's identity.
    Certificate {
        certificate_chain: DataSource,
        private_key: DataSource,
    },
    /// Trusted CA certificates (PEM) to verify peers with.
    ValidationContext { trusted_ca: DataSource },
}

/// A named piece of TLS material, as SDS delivers it (used by the mTLS issue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Secret {
    pub name: String,
    pub kind: SecretKind,
}
