//! The sidecar config file as written by users (YAML, camelCase), before validation.
//!
//! It mirrors what a control plane sends over xDS (listeners, clusters, policies), so a config
//! that works locally means the same thing when it comes from the control plane.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use sockmesh_xds::domain::{CircuitBreakers, Direction, ListenerProtocol, UpstreamProtocol};

use super::duration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FileConfig {
    #[serde(default)]
    pub workload: WorkloadFile,
    #[serde(default)]
    pub admin: Option<AdminFile>,
    #[serde(default)]
    pub log: LogFile,
    pub workers: Option<usize>,
    /// Policy files, relative to the config file's directory.
    #[serde(default)]
    pub policies: Vec<PathBuf>,
    #[serde(default)]
    pub listeners: Vec<ListenerFile>,
    #[serde(default)]
    pub clusters: Vec<ClusterFile>,
    #[serde(default)]
    pub limits: LimitsFile,
    /// How requests are read before policy sees them; every field has a default.
    #[serde(default)]
    pub http: super::HttpSettings,
    /// How the DNS path answers and how much it holds; every field has a default.
    #[serde(default)]
    pub dns: super::dns::DnsFile,
    /// How much of a Kafka stream the proxy holds; every field has a default.
    #[serde(default)]
    pub kafka: super::kafka::KafkaFile,
    pub acceleration: Option<crate::bpf::AccelConfig>,
    /// Configuration from a control plane instead of (or on top of) local files.
    pub xds: Option<sockmesh_xds::client::ClientConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WorkloadFile {
    pub name: Option<String>,
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AdminFile {
    pub address: SocketAddr,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LogFile {
    pub format: Option<LogFormat>,
    pub level: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListenerFile {
    pub name: Option<String>,
    pub address: SocketAddr,
    pub direction: Direction,
    #[serde(default)]
    pub protocol: ListenerProtocol,
    /// Where connections go when no original destination is known.
    pub cluster: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterFile {
    pub name: String,
    pub endpoints: Vec<SocketAddr>,
    #[serde(default, deserialize_with = "duration::de_opt")]
    pub connect_timeout: Option<Duration>,
    #[serde(default)]
    pub protocol: UpstreamProtocol,
    /// Caps on what the cluster holds at once; each has a default (see [`CircuitBreakers`]).
    #[serde(default)]
    pub circuit_breakers: CircuitBreakers,
}

/// Resource limits and timeouts; every field has a default (see [`super::Limits`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LimitsFile {
    pub max_header_bytes: Option<usize>,
    pub max_request_body_bytes: Option<u64>,
    pub max_concurrent_streams: Option<u32>,
    pub max_connections: Option<usize>,
    pub max_upstream_per_connection: Option<usize>,
    #[serde(default, deserialize_with = "duration::de_opt")]
    pub detect_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "duration::de_opt")]
    pub header_read_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "duration::de_opt")]
    pub idle_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "duration::de_opt")]
    pub request_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "duration::de_opt")]
    pub drain_timeout: Option<Duration>,
}
