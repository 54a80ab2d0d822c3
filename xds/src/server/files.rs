//! Reading the control plane's inputs: a directory of policy files and one clusters file.
//!
//! Policy files: `*.yaml`/`*.yml` are CiliumNetworkPolicy documents (parsed and checked by
//! `sockmesh-policy`, exactly as the sidecar reads local files); `*.json` are `NetworkPolicy`
//! resources in their JSON form, served as they are. A file that fails to parse keeps serving its
//! last good content (the error is logged), so a half-saved edit never withdraws a policy.
//!
//! The clusters file (YAML) lists clusters, sidecar listeners, api listeners for proxyless gRPC
//! clients and secrets; its schema is in `docs/xds.md`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use envoy_types::pb::google::protobuf::Any;

use crate::proto::any_of;
use serde::Deserialize;

use super::snapshot::Snapshot;
use crate::convert::{cluster, listener, policy, secret};
use crate::domain::{self, DataSource, Direction, ListenerProtocol, SecretKind, UpstreamProtocol};
use crate::proto::{self, NetworkPolicy};
use crate::types::ResourceType;

/// Why an input file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0}: {1}")]
    Policy(PathBuf, String),
    #[error("{0}: invalid clusters file: {1}; see docs/xds.md for the schema")]
    Clusters(PathBuf, String),
}

/// The clusters file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClustersFile {
    #[serde(default)]
    pub clusters: Vec<ClusterEntry>,
    #[serde(default)]
    pub listeners: Vec<ListenerEntry>,
    /// Api listeners for proxyless gRPC clients (`xds:///NAME`), each routing to one cluster.
    #[serde(default)]
    pub grpc_listeners: Vec<GrpcListenerEntry>,
    #[serde(default)]
    pub secrets: Vec<SecretEntry>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterEntry {
    pub name: String,
    pub endpoints: Vec<SocketAddr>,
    #[serde(default)]
    pub connect_timeout_ms: Option<u64>,
    #[serde(default)]
    pub protocol: UpstreamProtocol,
    #[serde(default)]
    pub circuit_breakers: domain::CircuitBreakers,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListenerEntry {
    pub name: String,
    pub address: SocketAddr,
    pub direction: Direction,
    pub protocol: ListenerProtocol,
    #[serde(default)]
    pub cluster: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrpcListenerEntry {
    pub name: String,
    pub cluster: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretEntry {
    pub name: String,
    #[serde(default)]
    pub certificate_chain_file: Option<PathBuf>,
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    #[serde(default)]
    pub trusted_ca_file: Option<PathBuf>,
}

impl ClustersFile {
    /// Parses and checks the file's text.
    pub fn parse(path: &Path, text: &str) -> Result<ClustersFile, FilesError> {
        let f: ClustersFile = yaml_serde::from_str(text)
            .map_err(|e| FilesError::Clusters(path.to_owned(), e.to_string()))?;
        // Directions and protocols are checked by the parse itself (the domain enums).
        let bad = |m: String| FilesError::Clusters(path.to_owned(), m);
        for c in &f.clusters {
            if let Some(name) = c.circuit_breakers.zero() {
                return Err(bad(format!(
                    "cluster `{}`: circuitBreakers.{name} must be greater than zero",
                    c.name
                )));
            }
        }
        for s in &f.secrets {
            let cert = s.certificate_chain_file.is_some() && s.private_key_file.is_some();
            if cert == s.trusted_ca_file.is_some() {
                return Err(bad(format!(
                    "secret `{}`: give either certificateChainFile + privateKeyFile, or trustedCaFile",
                    s.name
                )));
            }
        }
        Ok(f)
    }

    fn domain_clusters(&self) -> Vec<domain::Cluster> {
        self.clusters
            .iter()
            .map(|c| domain::Cluster {
                name: c.name.clone(),
                endpoints: c.endpoints.clone(),
                connect_timeout: c.connect_timeout_ms.map_or(
                    domain::Cluster::DEFAULT_CONNECT_TIMEOUT,
                    Duration::from_millis,
                ),
                protocol: c.protocol,
                circuit_breakers: c.circuit_breakers,
            })
            .collect()
    }

    fn domain_listeners(&self) -> Vec<domain::Listener> {
        self.listeners
            .iter()
            .map(|l| domain::Listener {
                name: l.name.clone(),
                address: l.address,
                direction: l.direction,
                protocol: l.protocol,
                cluster: l.cluster.clone(),
            })
            .collect()
    }

    fn domain_secrets(&self) -> Vec<domain::Secret> {
        self.secrets
            .iter()
            .map(|s| domain::Secret {
                name: s.name.clone(),
                kind: match (
                    &s.certificate_chain_file,
                    &s.private_key_file,
                    &s.trusted_ca_file,
                ) {
                    (Some(c), Some(k), _) => SecretKind::Certificate {
                        certificate_chain: DataSource::File(c.clone()),
                        private_key: DataSource::File(k.clone()),
                    },
                    (_, _, ca) => SecretKind::ValidationContext {
                        trusted_ca: DataSource::File(ca.clone().unwrap_or_default()),
                    },
                },
            })
            .collect()
    }
}

/// Parses one policy file by extension; `Ok(None)` for files that are not policies.
pub fn parse_policy_file(
    path: &Path,
    text: &str,
) -> Result<Option<Vec<NetworkPolicy>>, FilesError> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let source = path.display().to_string();
    match ext {
        "yaml" | "yml" => sockmesh_policy::cilium::parse_documents(&source, text)
            .map(|ps| Some(ps.iter().map(policy::from_model).collect()))
            .map_err(|errs| {
                let msgs: Vec<String> = errs.iter().map(ToString::to_string).collect();
                FilesError::Policy(path.to_owned(), msgs.join("\n"))
            }),
        "json" => proto::json::parse(text).map(Some).map_err(|e| {
            FilesError::Policy(path.to_owned(), format!("invalid NetworkPolicy JSON: {e}"))
        }),
        _ => Ok(None),
    }
}

#[derive(Debug, Clone)]
struct Cached<T> {
    stamp: (SystemTime, u64),
    value: T,
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// The inputs, re-read incrementally: a file whose mtime and size did not change is not re-parsed.
#[derive(Debug, Default)]
pub struct Inputs {
    policies_dir: PathBuf,
    clusters_path: Option<PathBuf>,
    /// Per file: its policies as (resource name, encoded resource), encoded once per change.
    policy_files: BTreeMap<PathBuf, Cached<Vec<(String, Any)>>>,
    /// The clusters file's resources, built once per change of the file.
    clusters: Option<Cached<Snapshot>>,
}

impl Inputs {
    pub fn new(policies_dir: PathBuf, clusters_path: Option<PathBuf>) -> Inputs {
        Inputs {
            policies_dir,
            clusters_path,
            ..Default::default()
        }
    }

    /// Re-reads what changed. Errors of single files are returned (for logging) while their last
    /// good content stays; only an unreadable policies directory fails the whole load.
    pub fn reload(&mut self) -> Result<Vec<FilesError>, FilesError> {
        let mut errors = Vec::new();
        let entries = std::fs::read_dir(&self.policies_dir)
            .map_err(|e| FilesError::Read(self.policies_dir.clone(), e))?;
        let mut present = Vec::new();
        let clusters_file = self
            .clusters_path
            .as_ref()
            .and_then(|p| std::fs::canonicalize(p).ok());
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_file() {
                continue;
            }
            // The clusters file may live next to the policies; it is not a policy.
            if clusters_file.is_some() && std::fs::canonicalize(&path).ok() == clusters_file {
                continue;
            }
            present.push(path.clone());
            let Some(st) = stamp(&path) else { continue };
            if self.policy_files.get(&path).is_some_and(|c| c.stamp == st) {
                continue;
            }
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) => {
                    errors.push(FilesError::Read(path, e));
                    continue;
                }
            };
            match parse_policy_file(&path, &text) {
                Ok(Some(policies)) => {
                    let value = policies
                        .iter()
                        .map(|p| {
                            let name = if p.namespace.is_empty() {
                                p.name.clone()
                            } else {
                                format!("{}/{}", p.namespace, p.name)
                            };
                            (name, any_of(p))
                        })
                        .collect();
                    self.policy_files.insert(path, Cached { stamp: st, value });
                }
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
        self.policy_files.retain(|p, _| present.contains(p));
        if let Some(path) = &self.clusters_path {
            match stamp(path) {
                Some(st) if self.clusters.as_ref().is_some_and(|c| c.stamp == st) => {}
                _ => match std::fs::read_to_string(path) {
                    Ok(text) => match ClustersFile::parse(path, &text) {
                        Ok(file) => {
                            let st = stamp(path).unwrap_or((SystemTime::UNIX_EPOCH, 0));
                            let mut value = Snapshot::default();
                            build_clusters(&mut value, &file);
                            self.clusters = Some(Cached { stamp: st, value });
                        }
                        Err(e) => errors.push(e),
                    },
                    Err(e) => errors.push(FilesError::Read(path.clone(), e)),
                },
            }
        }
        Ok(errors)
    }

    /// The snapshot of everything loaded. Policy names that appear in two files are served from
    /// the first file (by path order), with a warning.
    pub fn snapshot(&self) -> Snapshot {
        let mut snap = Snapshot::default();
        let mut origin: BTreeMap<String, &Path> = BTreeMap::new();
        for (path, cached) in &self.policy_files {
            for (name, any) in &cached.value {
                if let Some(first) = origin.get(name) {
                    tracing::warn!(policy = %name, first = %first.display(), duplicate = %path.display(), "control-plane: duplicate policy name; serving the first");
                    continue;
                }
                origin.insert(name.clone(), path);
                snap.insert(ResourceType::NetworkPolicy, name.clone(), any.clone());
            }
        }
        if let Some(c) = &self.clusters {
            snap.merge(&c.value);
        }
        snap
    }
}

/// Adds the resources of a clusters file to a snapshot. Their versions derive from the file's
/// values, not from the encoded bytes: Envoy messages with maps (listener metadata, protocol
/// options) encode in hash-map order, which differs between runs, and a version must not.
pub fn build_clusters(snap: &mut Snapshot, f: &ClustersFile) {
    for c in f.domain_clusters() {
        let (cl, cla) = cluster::cluster_from_domain(&c);
        let seed = format!("{c:?}");
        snap.insert_seeded(ResourceType::Cluster, c.name.clone(), any_of(&cl), &seed);
        snap.insert_seeded(ResourceType::Endpoint, c.name.clone(), any_of(&cla), &seed);
    }
    for l in f.domain_listeners() {
        let any = any_of(&listener::listener_from_domain(&l));
        snap.insert_seeded(
            ResourceType::Listener,
            l.name.clone(),
            any,
            &format!("{l:?}"),
        );
    }
    for g in &f.grpc_listeners {
        let route_name = format!("{}-route", g.name);
        let seed = format!("{g:?}");
        let api = any_of(&listener::grpc_api_listener(&g.name, &route_name));
        snap.insert_seeded(ResourceType::Listener, g.name.clone(), api, &seed);
        let route = any_of(&listener::route_configuration(&route_name, &g.cluster));
        snap.insert_seeded(ResourceType::Route, route_name.clone(), route, &seed);
    }
    for s in f.domain_secrets() {
        let any = any_of(&secret::secret_from_domain(&s));
        snap.insert_seeded(ResourceType::Secret, s.name.clone(), any, &format!("{s:?}"));
    }
}
