//! `Cluster` and `ClusterLoadAssignment` <-> [`domain::Cluster`].
//!
//! A cluster's endpoints come either inline (`STATIC` with `load_assignment`) or from EDS (`EDS`, then
//! a `ClusterLoadAssignment` named after `eds_cluster_config.service_name` or the cluster). The client
//! keeps both resource kinds and joins them into [`domain::Cluster`]s when it publishes state.
//! Only IP endpoints are accepted: the data path dials socket addresses and does no DNS.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use envoy_types::pb::envoy::config::cluster::v3::{
    CircuitBreakers, Cluster, circuit_breakers, cluster,
};
use envoy_types::pb::envoy::config::core::v3::{
    Address, ConfigSource, Locality, RoutingPriority, SocketAddress, address, config_source,
    socket_address,
};
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint,
};
use envoy_types::pb::envoy::extensions::upstreams::http::v3::{
    HttpProtocolOptions, http_protocol_options,
};
use envoy_types::pb::google::protobuf::{Duration as PbDuration, UInt32Value};
use prost::{Message, Name};

use crate::domain::{self, UpstreamProtocol};

/// Key of the upstream HTTP protocol options in `typed_extension_protocol_options`.
pub const HTTP_PROTOCOL_OPTIONS: &str = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/// Why a Cluster or ClusterLoadAssignment cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterConvertError {
    #[error("empty name; every cluster needs a name")]
    EmptyName,
    #[error(
        "discovery type {0} is not supported; use STATIC (inline load_assignment) or EDS with IP endpoints"
    )]
    UnsupportedType(String),
    #[error("invalid connect_timeout: {0}")]
    Timeout(String),
    #[error("endpoint {index}: {reason}")]
    Endpoint { index: usize, reason: String },
    #[error("typed_extension_protocol_options[{HTTP_PROTOCOL_OPTIONS}]: {0}")]
    ProtocolOptions(String),
    #[error(
        "circuit_breakers: {0} is 0, which refuses every request; leave it unset for the default (1024)"
    )]
    ZeroThreshold(&'static str),
}

/// A converted `Cluster`: the domain cluster (with inline endpoints, if any) and, for EDS clusters,
/// the `ClusterLoadAssignment` name that supplies its endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterResource {
    pub cluster: domain::Cluster,
    pub eds_service: Option<String>,
}

/// A converted `ClusterLoadAssignment`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointResource {
    pub cluster_name: String,
    pub endpoints: Vec<SocketAddr>,
}

/// Converts a `Duration` into a std one, refusing negative or absurd values.
pub(crate) fn duration(d: &PbDuration) -> Result<Duration, String> {
    if d.seconds < 0 || d.nanos < 0 || d.nanos >= 1_000_000_000 {
        return Err(format!(
            "{}s {}ns is not a valid duration",
            d.seconds, d.nanos
        ));
    }
    let secs = u64::try_from(d.seconds).map_err(|e| e.to_string())?;
    Ok(Duration::new(secs, d.nanos.unsigned_abs()))
}

pub(crate) fn pb_duration(d: Duration) -> PbDuration {
    PbDuration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

/// `SocketAddress` with an IP and a numeric port -> `SocketAddr`.
pub(crate) fn socket_addr(a: Option<&Address>) -> Result<SocketAddr, String> {
    let Some(address::Address::SocketAddress(sa)) = a.and_then(|a| a.address.as_ref()) else {
        return Err(
            "missing socket_address (pipes and internal addresses are not supported)".into(),
        );
    };
    let ip: IpAddr = sa.address.parse().map_err(|_| {
        format!(
            "`{}` is not an IP address; hostnames need DNS, which Sockmesh does not do: use IPs",
            sa.address
        )
    })?;
    match sa.port_specifier {
        Some(socket_address::PortSpecifier::PortValue(p)) => {
            let port = u16::try_from(p).map_err(|_| format!("port {p} is out of range"))?;
            Ok(SocketAddr::new(ip, port))
        }
        _ => Err("missing port_value (named ports are not supported)".into()),
    }
}

pub(crate) fn pb_address(a: SocketAddr) -> Address {
    Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: a.ip().to_string(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(u32::from(
                a.port(),
            ))),
            ..Default::default()
        })),
    }
}

fn endpoints(cla: &ClusterLoadAssignment) -> Result<Vec<SocketAddr>, ClusterConvertError> {
    let mut out = Vec::new();
    for lle in &cla.endpoints {
        for lb in &lle.lb_endpoints {
            let index = out.len();
            let addr = match &lb.host_identifier {
                Some(lb_endpoint::HostIdentifier::Endpoint(e)) => socket_addr(e.address.as_ref()),
                _ => Err("named endpoints are not supported; give an endpoint address".into()),
            }
            .map_err(|reason| ClusterConvertError::Endpoint { index, reason })?;
            out.push(addr);
        }
    }
    Ok(out)
}

/// Converts a `ClusterLoadAssignment`.
pub fn endpoint_to_domain(
    cla: &ClusterLoadAssignment,
) -> Result<EndpointResource, ClusterConvertError> {
    if cla.cluster_name.is_empty() {
        return Err(ClusterConvertError::EmptyName);
    }
    Ok(EndpointResource {
        cluster_name: cla.cluster_name.clone(),
        endpoints: endpoints(cla)?,
    })
}

/// Converts a `Cluster`.
pub fn cluster_to_domain(c: &Cluster) -> Result<ClusterResource, ClusterConvertError> {
    if c.name.is_empty() {
        return Err(ClusterConvertError::EmptyName);
    }
    let discovery = match &c.cluster_discovery_type {
        None => cluster::DiscoveryType::Static,
        Some(cluster::ClusterDiscoveryType::Type(t)) => cluster::DiscoveryType::try_from(*t)
            .map_err(|_| ClusterConvertError::UnsupportedType(format!("value {t}")))?,
        Some(cluster::ClusterDiscoveryType::ClusterType(ct)) => {
            return Err(ClusterConvertError::UnsupportedType(ct.name.clone()));
        }
    };
    let (inline, eds_service) = match discovery {
        cluster::DiscoveryType::Static => (
            c.load_assignment
                .as_ref()
                .map(endpoints)
                .transpose()?
                .unwrap_or_default(),
            None,
        ),
        cluster::DiscoveryType::Eds => {
            let service = c
                .eds_cluster_config
                .as_ref()
                .map(|e| e.service_name.clone())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| c.name.clone());
            (Vec::new(), Some(service))
        }
        other => {
            return Err(ClusterConvertError::UnsupportedType(
                other.as_str_name().to_owned(),
            ));
        }
    };
    let connect_timeout = c
        .connect_timeout
        .as_ref()
        .map(duration)
        .transpose()
        .map_err(ClusterConvertError::Timeout)?
        .unwrap_or(domain::Cluster::DEFAULT_CONNECT_TIMEOUT);
    let protocol = match c
        .typed_extension_protocol_options
        .get(HTTP_PROTOCOL_OPTIONS)
    {
        None => UpstreamProtocol::Auto,
        Some(any) => {
            if any.type_url != HttpProtocolOptions::type_url() {
                return Err(ClusterConvertError::ProtocolOptions(format!(
                    "unexpected type {}",
                    any.type_url
                )));
            }
            let opts = HttpProtocolOptions::decode(any.value.as_slice())
                .map_err(|e| ClusterConvertError::ProtocolOptions(e.to_string()))?;
            use http_protocol_options::UpstreamProtocolOptions as U;
            use http_protocol_options::explicit_http_config::ProtocolConfig as P;
            match opts.upstream_protocol_options {
                Some(U::ExplicitHttpConfig(e)) => match e.protocol_config {
                    Some(P::HttpProtocolOptions(_)) => UpstreamProtocol::Http1,
                    Some(P::Http2ProtocolOptions(_)) => UpstreamProtocol::Http2,
                    Some(P::Http3ProtocolOptions(_)) => {
                        return Err(ClusterConvertError::ProtocolOptions(
                            "HTTP/3 upstreams are not supported; use HTTP/1.1 or HTTP/2".into(),
                        ));
                    }
                    None => UpstreamProtocol::Auto,
                },
                _ => UpstreamProtocol::Auto,
            }
        }
    };
    Ok(ClusterResource {
        cluster: domain::Cluster {
            name: c.name.clone(),
            endpoints: inline,
            connect_timeout,
            protocol,
            circuit_breakers: breakers(c.circuit_breakers.as_ref())?,
        },
        eds_service,
    })
}

/// The default-priority `circuit_breakers` thresholds, Envoy's defaults where unset. HIGH
/// priority and per-host thresholds are not used: Sockmesh routes no request at high priority.
fn breakers(cb: Option<&CircuitBreakers>) -> Result<domain::CircuitBreakers, ClusterConvertError> {
    let mut out = domain::CircuitBreakers::default();
    let Some(t) = cb.and_then(|cb| {
        cb.thresholds
            .iter()
            .find(|t| t.priority == RoutingPriority::Default as i32)
    }) else {
        return Ok(out);
    };
    for (name, value, field) in [
        (
            "max_connections",
            t.max_connections,
            &mut out.max_connections,
        ),
        (
            "max_pending_requests",
            t.max_pending_requests,
            &mut out.max_pending_requests,
        ),
        ("max_requests", t.max_requests, &mut out.max_requests),
    ] {
        match value {
            Some(UInt32Value { value: 0 }) => return Err(ClusterConvertError::ZeroThreshold(name)),
            Some(UInt32Value { value }) => *field = value,
            None => {}
        }
    }
    Ok(out)
}

/// An ADS config source (`ads: {}`), as EDS and RDS references use.
pub fn ads_config_source() -> ConfigSource {
    ConfigSource {
        config_source_specifier: Some(
            config_source::ConfigSourceSpecifier::Ads(Default::default()),
        ),
        resource_api_version: 2, // V3
        ..Default::default()
    }
}

/// The control plane's form of a domain cluster: an `EDS` cluster (endpoints via ADS) plus its
/// `ClusterLoadAssignment`. Proxyless gRPC clients require exactly this shape.
pub fn cluster_from_domain(c: &domain::Cluster) -> (Cluster, ClusterLoadAssignment) {
    let mut cluster = Cluster {
        name: c.name.clone(),
        cluster_discovery_type: Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::Eds as i32,
        )),
        eds_cluster_config: Some(cluster::EdsClusterConfig {
            eds_config: Some(ads_config_source()),
            service_name: String::new(),
        }),
        connect_timeout: Some(pb_duration(c.connect_timeout)),
        lb_policy: cluster::LbPolicy::RoundRobin as i32,
        circuit_breakers: Some(CircuitBreakers {
            thresholds: vec![circuit_breakers::Thresholds {
                priority: RoutingPriority::Default as i32,
                max_connections: Some(UInt32Value {
                    value: c.circuit_breakers.max_connections,
                }),
                max_pending_requests: Some(UInt32Value {
                    value: c.circuit_breakers.max_pending_requests,
                }),
                max_requests: Some(UInt32Value {
                    value: c.circuit_breakers.max_requests,
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    use http_protocol_options::UpstreamProtocolOptions as U;
    use http_protocol_options::explicit_http_config::ProtocolConfig as P;
    let explicit = match c.protocol {
        UpstreamProtocol::Auto => None,
        UpstreamProtocol::Http1 => Some(P::HttpProtocolOptions(Default::default())),
        UpstreamProtocol::Http2 => Some(P::Http2ProtocolOptions(Default::default())),
    };
    if let Some(pc) = explicit {
        let opts = HttpProtocolOptions {
            upstream_protocol_options: Some(U::ExplicitHttpConfig(
                http_protocol_options::ExplicitHttpConfig {
                    protocol_config: Some(pc),
                },
            )),
            ..Default::default()
        };
        cluster.typed_extension_protocol_options.insert(
            HTTP_PROTOCOL_OPTIONS.to_owned(),
            envoy_types::pb::google::protobuf::Any {
                type_url: HttpProtocolOptions::type_url(),
                value: opts.encode_to_vec(),
            },
        );
    }
    let cla = ClusterLoadAssignment {
        cluster_name: c.name.clone(),
        endpoints: vec![LocalityLbEndpoints {
            // gRPC ignores localities without a weight.
            locality: Some(Locality {
                region: "sockmesh".to_owned(),
                ..Default::default()
            }),
            load_balancing_weight: Some(UInt32Value { value: 1 }),
            lb_endpoints: c
                .endpoints
                .iter()
                .map(|a| LbEndpoint {
                    host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
                        address: Some(pb_address(*a)),
                        ..Default::default()
                    })),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    };
    (cluster, cla)
}
