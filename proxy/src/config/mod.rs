//! Sidecar configuration: loaded from a YAML file or built from `sockmesh run` flags, validated
//! once into [`Config`], which the runtime consumes.
//!
//! Listeners and clusters use the same domain types as xDS (`sockmesh_xds::domain`), so local
//! development and a control plane configure the data path through one set of types.

mod dns;
pub(crate) mod duration;
mod file;
mod http;
mod kafka;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sockmesh_policy::Labels;
use sockmesh_xds::domain::{Cluster, Direction, Listener, ListenerProtocol, UpstreamProtocol};

use crate::cli::{
    DirectionArg, EscapedSlashesArg, LogFormatArg, ProtocolArg, RunArgs, UnderscoresArg,
    UpstreamProtocolArg, XdsModeArg,
};
pub use dns::{DnsSettings, RejectCode};
use file::FileConfig;
pub use file::LogFormat;
pub use http::{EscapedSlashes, HeadersWithUnderscores, HttpSettings};
pub use kafka::KafkaSettings;

/// Default admin address: loopback only, like Envoy's and linkerd's admin ports.
pub const DEFAULT_ADMIN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 15000);

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}\n  help: see examples/sidecar.yaml for every field")]
    Parse {
        path: PathBuf,
        source: yaml_serde::Error,
    },
    #[error("`--listen` needs at least one `--upstream ADDR`, or pass `--config FILE`")]
    NoUpstream,
    #[error(
        "nothing to run: pass `--config FILE`, `--listen ADDR --upstream ADDR`, or `--xds ADDR` for listeners from a control plane"
    )]
    NoListener,
    #[error(
        "policies come from the control plane when `xds` is set: remove the local policy files (or `--policy`), or drop `xds` to use them"
    )]
    PoliciesWithXds,
    /// The message says which `dns` setting and what it takes.
    #[error("{0}")]
    Dns(String),
    /// The message says which `kafka` setting and what it takes.
    #[error("{0}")]
    Kafka(String),
    /// The message names the label and the expected form.
    #[error("{0}")]
    Label(String),
    #[error(
        "listener `{listener}` refers to cluster `{cluster}`, which is not defined under `clusters`"
    )]
    UnknownCluster { listener: String, cluster: String },
    #[error("cluster `{0}` has no endpoints: list at least one `host:port`")]
    EmptyCluster(String),
    #[error("{kind} `{name}` is defined twice: names must be unique")]
    Duplicate { kind: &'static str, name: String },
    #[error("two listeners bind {0}: each listener needs its own address")]
    DuplicateAddress(SocketAddr),
    #[error("inbound listener `{0}` needs a `cluster` (the local workload) to send traffic to")]
    InboundWithoutCluster(String),
    #[error("`workers` must be between 1 and 64, got {0}")]
    Workers(usize),
    #[error("limit `{name}` must be greater than zero")]
    ZeroLimit { name: &'static str },
    #[error(
        "cluster `{cluster}`: `circuitBreakers.{name}` must be greater than zero (0 refuses every request)"
    )]
    ZeroBreaker { cluster: String, name: &'static str },
}

/// Resource limits and timeouts, with sane defaults.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Limits {
    /// Largest request head (HTTP/1.1) or header list (HTTP/2) accepted; larger gets 431 / reset.
    pub max_header_bytes: usize,
    /// Largest request body forwarded; larger gets 413 (or a stream reset once streaming).
    pub max_request_body_bytes: u64,
    /// HTTP/2 concurrent streams per downstream connection.
    pub max_concurrent_streams: u32,
    /// Downstream connections open at once per listener; further accepts wait.
    pub max_connections: usize,
    /// Upstream connections one downstream connection may hold at once: HTTP/2 streams to an
    /// HTTP/1.1 upstream each need one, and those past this wait for a turn. A bounded share of
    /// a cluster's `maxConnections` per client.
    pub max_upstream_per_connection: usize,
    /// How long protocol detection waits for the client's first bytes before treating the
    /// connection as opaque TCP (server-first protocols send nothing).
    pub detect_timeout: Duration,
    /// How long a client may take to send a complete HTTP/1.1 request head.
    pub header_read_timeout: Duration,
    /// A connection with no traffic in either direction for this long is closed.
    pub idle_timeout: Duration,
    /// Upper bound on one request from receipt to the upstream's response head.
    pub request_timeout: Duration,
    /// On shutdown, how long in-flight requests may take before connections are closed.
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: 64 * 1024,
            max_request_body_bytes: 64 * 1024 * 1024,
            max_concurrent_streams: 256,
            max_connections: 100_000,
            max_upstream_per_connection: 100,
            detect_timeout: Duration::from_millis(500),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            request_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(5),
        }
    }
}

/// The validated sidecar configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub workload_name: String,
    pub labels: Labels,
    pub admin: SocketAddr,
    pub log_format: LogFormat,
    pub log_level: String,
    pub workers: usize,
    pub policy_files: Vec<PathBuf>,
    pub listeners: Vec<Listener>,
    pub clusters: Vec<Cluster>,
    pub limits: Limits,
    /// How requests are read before policy sees them (see [`HttpSettings`]).
    pub http: HttpSettings,
    /// How the DNS path answers and how much it holds (see [`DnsSettings`]).
    pub dns: DnsSettings,
    /// How much of a Kafka stream the proxy holds (see [`KafkaSettings`]).
    pub kafka: KafkaSettings,
    pub acceleration: Option<crate::bpf::AccelConfig>,
    /// When set, policies (and any listeners and clusters it sends) come from this control plane.
    pub xds: Option<sockmesh_xds::client::ClientConfig>,
}

impl Config {
    /// Builds the config from `sockmesh run` arguments: a file, or flags alone.
    pub fn from_args(args: &RunArgs) -> Result<Config, ConfigError> {
        let mut config = match &args.config {
            Some(path) => Config::load(path)?,
            None => Config::from_flags(args)?,
        };
        if let Some(admin) = args.admin {
            config.admin = admin;
        }
        if let Some(format) = args.log_format {
            config.log_format = match format {
                LogFormatArg::Human => LogFormat::Human,
                LogFormatArg::Json => LogFormat::Json,
            };
        }
        if let Some(level) = &args.log_level {
            config.log_level = level.clone();
        }
        if let Some(workers) = args.workers {
            config.workers = workers;
        }
        if let Some(slashes) = args.escaped_slashes {
            config.http.escaped_slashes = match slashes {
                EscapedSlashesArg::Reject => EscapedSlashes::Reject,
                EscapedSlashesArg::Decode => EscapedSlashes::Decode,
            };
        }
        if let Some(underscores) = args.headers_with_underscores {
            config.http.headers_with_underscores = match underscores {
                UnderscoresArg::Allow => HeadersWithUnderscores::Allow,
                UnderscoresArg::Drop => HeadersWithUnderscores::Drop,
                UnderscoresArg::Reject => HeadersWithUnderscores::Reject,
            };
        }
        if let Some(address) = &args.xds {
            let node_id = args
                .node_id
                .clone()
                .unwrap_or_else(|| format!("{}-{}", config.workload_name, std::process::id()));
            let mut xds = sockmesh_xds::client::ClientConfig::new(address.clone(), node_id);
            xds.mode = match args.xds_mode {
                XdsModeArg::Sotw => sockmesh_xds::client::Mode::Sotw,
                XdsModeArg::Delta => sockmesh_xds::client::Mode::Delta,
            };
            config.xds = Some(xds);
        }
        if let Some(xds) = &mut config.xds
            && xds.labels.is_empty()
        {
            xds.labels = config.labels.0.clone();
        }
        config.validate()?;
        Ok(config)
    }

    /// Loads a YAML config file; relative policy paths resolve against the file's directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let file: FileConfig =
            yaml_serde::from_str(&text).map_err(|source| ConfigError::Parse {
                path: path.to_owned(),
                source,
            })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::from_file(file, base)
    }

    fn from_file(file: FileConfig, base: &Path) -> Result<Config, ConfigError> {
        let defaults = Limits::default();
        let l = file.limits;
        let limits = Limits {
            max_header_bytes: l.max_header_bytes.unwrap_or(defaults.max_header_bytes),
            max_request_body_bytes: l
                .max_request_body_bytes
                .unwrap_or(defaults.max_request_body_bytes),
            max_concurrent_streams: l
                .max_concurrent_streams
                .unwrap_or(defaults.max_concurrent_streams),
            max_connections: l.max_connections.unwrap_or(defaults.max_connections),
            max_upstream_per_connection: l
                .max_upstream_per_connection
                .unwrap_or(defaults.max_upstream_per_connection),
            detect_timeout: l.detect_timeout.unwrap_or(defaults.detect_timeout),
            header_read_timeout: l
                .header_read_timeout
                .unwrap_or(defaults.header_read_timeout),
            idle_timeout: l.idle_timeout.unwrap_or(defaults.idle_timeout),
            request_timeout: l.request_timeout.unwrap_or(defaults.request_timeout),
            drain_timeout: l.drain_timeout.unwrap_or(defaults.drain_timeout),
        };
        let listeners = file
            .listeners
            .into_iter()
            .enumerate()
            .map(|(i, l)| Listener {
                name: l.name.unwrap_or_else(|| format!("listener-{i}")),
                address: l.address,
                direction: l.direction,
                protocol: l.protocol,
                cluster: l.cluster,
            })
            .collect();
        let clusters = file
            .clusters
            .into_iter()
            .map(|c| Cluster {
                name: c.name,
                endpoints: c.endpoints,
                connect_timeout: c
                    .connect_timeout
                    .unwrap_or(Cluster::DEFAULT_CONNECT_TIMEOUT),
                protocol: c.protocol,
                circuit_breakers: c.circuit_breakers,
            })
            .collect();
        Ok(Config {
            workload_name: file.workload.name.unwrap_or_else(|| "workload".into()),
            labels: file.workload.labels.into_iter().collect(),
            admin: file.admin.map(|a| a.address).unwrap_or(DEFAULT_ADMIN),
            log_format: file.log.format.unwrap_or(LogFormat::Human),
            log_level: file.log.level.unwrap_or_else(|| "info".into()),
            workers: file.workers.unwrap_or(1),
            policy_files: file.policies.into_iter().map(|p| base.join(p)).collect(),
            listeners,
            clusters,
            limits,
            http: file.http,
            dns: file.dns.settings().map_err(ConfigError::Dns)?,
            kafka: file.kafka.settings().map_err(ConfigError::Kafka)?,
            acceleration: file.acceleration,
            xds: file.xds,
        })
    }

    fn from_flags(args: &RunArgs) -> Result<Config, ConfigError> {
        let labels: Labels = args
            .labels
            .iter()
            .map(|kv| Labels::parse_kv(kv).map_err(ConfigError::Label))
            .collect::<Result<_, _>>()?;
        let mut config = Config {
            workload_name: args.name.clone().unwrap_or_else(|| "workload".into()),
            labels,
            admin: DEFAULT_ADMIN,
            log_format: LogFormat::Human,
            log_level: "info".into(),
            workers: 1,
            policy_files: args.policies.clone(),
            listeners: Vec::new(),
            clusters: Vec::new(),
            limits: Limits::default(),
            http: HttpSettings::default(),
            dns: DnsSettings::default(),
            kafka: KafkaSettings::default(),
            acceleration: None,
            xds: None,
        };
        let Some(listen) = args.listen else {
            if args.xds.is_none() {
                return Err(ConfigError::NoListener);
            }
            return Ok(config);
        };
        if args.upstream.is_empty() {
            return Err(ConfigError::NoUpstream);
        }
        let protocol = match args.protocol {
            ProtocolArg::Detect => ListenerProtocol::Detect,
            ProtocolArg::Http => ListenerProtocol::Http,
            ProtocolArg::Grpc => ListenerProtocol::Grpc,
            ProtocolArg::Tcp => ListenerProtocol::Tcp,
            ProtocolArg::Dns => ListenerProtocol::Dns,
            ProtocolArg::Kafka => ListenerProtocol::Kafka,
        };
        let direction = match args.direction {
            DirectionArg::Inbound => Direction::Inbound,
            DirectionArg::Outbound => Direction::Outbound,
        };
        config.listeners = vec![Listener {
            name: "main".into(),
            address: listen,
            direction,
            protocol,
            cluster: Some("upstream".into()),
        }];
        config.clusters = vec![Cluster {
            name: "upstream".into(),
            endpoints: args.upstream.clone(),
            connect_timeout: Cluster::DEFAULT_CONNECT_TIMEOUT,
            // `auto` follows the client's version (gRPC arrives as HTTP/2): see http::forward.
            protocol: match args.upstream_protocol {
                UpstreamProtocolArg::Http1 => UpstreamProtocol::Http1,
                UpstreamProtocolArg::Http2 => UpstreamProtocol::Http2,
                UpstreamProtocolArg::Auto => UpstreamProtocol::Auto,
            },
            circuit_breakers: Default::default(),
        }];
        Ok(config)
    }

    /// Checks cross-references and ranges; every error says what to change.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.listeners.is_empty() && self.xds.is_none() {
            return Err(ConfigError::NoListener);
        }
        if self.xds.is_some() && !self.policy_files.is_empty() {
            return Err(ConfigError::PoliciesWithXds);
        }
        if self.workers == 0 || self.workers > 64 {
            return Err(ConfigError::Workers(self.workers));
        }
        let mut names = HashSet::new();
        for cluster in &self.clusters {
            if !names.insert(cluster.name.as_str()) {
                return Err(ConfigError::Duplicate {
                    kind: "cluster",
                    name: cluster.name.clone(),
                });
            }
            if cluster.endpoints.is_empty() {
                return Err(ConfigError::EmptyCluster(cluster.name.clone()));
            }
            if let Some(name) = cluster.circuit_breakers.zero() {
                return Err(ConfigError::ZeroBreaker {
                    cluster: cluster.name.clone(),
                    name,
                });
            }
        }
        let mut listener_names = HashSet::new();
        let mut addresses = HashSet::new();
        for listener in &self.listeners {
            if !listener_names.insert(listener.name.as_str()) {
                return Err(ConfigError::Duplicate {
                    kind: "listener",
                    name: listener.name.clone(),
                });
            }
            if !addresses.insert(listener.address) {
                return Err(ConfigError::DuplicateAddress(listener.address));
            }
            match &listener.cluster {
                Some(c) if !names.contains(c.as_str()) => {
                    return Err(ConfigError::UnknownCluster {
                        listener: listener.name.clone(),
                        cluster: c.clone(),
                    });
                }
                None if listener.direction == Direction::Inbound => {
                    return Err(ConfigError::InboundWithoutCluster(listener.name.clone()));
                }
                _ => {}
            }
        }
        let l = &self.limits;
        for (name, zero) in [
            ("maxHeaderBytes", l.max_header_bytes == 0),
            ("maxRequestBodyBytes", l.max_request_body_bytes == 0),
            ("maxConcurrentStreams", l.max_concurrent_streams == 0),
            ("maxConnections", l.max_connections == 0),
            (
                "maxUpstreamPerConnection",
                l.max_upstream_per_connection == 0,
            ),
            ("detectTimeout", l.detect_timeout.is_zero()),
            ("headerReadTimeout", l.header_read_timeout.is_zero()),
            ("idleTimeout", l.idle_timeout.is_zero()),
            ("requestTimeout", l.request_timeout.is_zero()),
        ] {
            if zero {
                return Err(ConfigError::ZeroLimit { name });
            }
        }
        Ok(())
    }
}
