//! `Listener` <-> [`domain::Listener`], plus the api listener and `RouteConfiguration` that
//! proxyless gRPC clients need.
//!
//! A sidecar listener's protocol is read from `metadata.filter_metadata["sockmesh"]["protocol"]`
//! (`detect`, `http`, `grpc`, `tcp`) when present, because Envoy has no notion of "gRPC listener";
//! otherwise it is inferred the way an Envoy config reads: an `http_inspector` listener filter means
//! detect, an `http_connection_manager` means HTTP, a `tcp_proxy` means TCP. The default cluster is
//! `metadata.sockmesh.cluster`, else the `tcp_proxy` cluster, else the single cluster of an inline
//! route configuration. Listeners with an `api_listener` are for proxyless gRPC clients and carry no
//! port: they convert to `None`.

use std::collections::HashMap;

use envoy_types::pb::envoy::config::core::v3::{Metadata, TrafficDirection};
use envoy_types::pb::envoy::config::listener::v3::{
    ApiListener, Filter, FilterChain, Listener, ListenerFilter, filter, listener_filter,
};
use envoy_types::pb::envoy::config::route::v3::{
    Route, RouteAction, RouteConfiguration, RouteMatch, VirtualHost, route, route_action,
    route_match,
};
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter, Rds, http_connection_manager, http_filter,
};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy, tcp_proxy};
use envoy_types::pb::google::protobuf::{Any, Struct, Value, value};
use prost::{Message, Name};

use crate::proto::any_of;

use super::cluster::{ads_config_source, pb_address, socket_addr};
use crate::domain::{self, Direction, ListenerProtocol};

/// The `filter_metadata` key Sockmesh reads listener hints from.
pub const METADATA_KEY: &str = "sockmesh";
const HTTP_INSPECTOR: &str = "envoy.filters.listener.http_inspector";
const HCM: &str = "envoy.filters.network.http_connection_manager";
const TCP_PROXY: &str = "envoy.filters.network.tcp_proxy";

/// Why a Listener cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListenerConvertError {
    #[error("empty name; every listener needs a name")]
    EmptyName,
    #[error("address: {0}")]
    Address(String),
    #[error("metadata.sockmesh.protocol `{0}` is unknown; use detect, http, grpc or tcp")]
    UnknownProtocol(String),
    #[error(
        "cannot tell the protocol: no http_inspector listener filter, http_connection_manager or tcp_proxy filter, and no metadata.sockmesh.protocol; add one"
    )]
    NoProtocol,
    #[error("filter `{name}`: cannot decode typed_config: {reason}")]
    Filter { name: String, reason: String },
}

fn metadata_string<'a>(m: Option<&'a Metadata>, key: &str) -> Option<&'a str> {
    let fields = &m?.filter_metadata.get(METADATA_KEY)?.fields;
    match fields.get(key)?.kind.as_ref()? {
        value::Kind::StringValue(s) => Some(s.as_str()),
        _ => None,
    }
}

fn decode_filter<T: Message + Name + Default>(
    f: &Filter,
) -> Result<Option<T>, ListenerConvertError> {
    match &f.config_type {
        Some(filter::ConfigType::TypedConfig(any)) if any.type_url == T::type_url() => {
            T::decode(any.value.as_slice())
                .map(Some)
                .map_err(|e| ListenerConvertError::Filter {
                    name: f.name.clone(),
                    reason: e.to_string(),
                })
        }
        _ => Ok(None),
    }
}

fn is_filter<T: Name>(f: &Filter, name: &str) -> bool {
    f.name == name
        || matches!(&f.config_type, Some(filter::ConfigType::TypedConfig(a)) if a.type_url == T::type_url())
}

/// The one cluster all routes of an inline route configuration send to, if there is exactly one.
fn single_route_cluster(rc: &RouteConfiguration) -> Option<String> {
    let mut clusters = rc
        .virtual_hosts
        .iter()
        .flat_map(|vh| &vh.routes)
        .filter_map(|r| match &r.action {
            Some(route::Action::Route(RouteAction {
                cluster_specifier: Some(route_action::ClusterSpecifier::Cluster(c)),
                ..
            })) => Some(c.clone()),
            _ => None,
        });
    let first = clusters.next()?;
    clusters.all(|c| c == first).then_some(first)
}

/// Converts a `Listener`; `Ok(None)` for api listeners (proxyless gRPC), which have no port.
pub fn listener_to_domain(l: &Listener) -> Result<Option<domain::Listener>, ListenerConvertError> {
    if l.name.is_empty() {
        return Err(ListenerConvertError::EmptyName);
    }
    if l.api_listener.is_some() && l.address.is_none() {
        return Ok(None);
    }
    let address = socket_addr(l.address.as_ref()).map_err(ListenerConvertError::Address)?;
    let direction = match TrafficDirection::try_from(l.traffic_direction) {
        Ok(TrafficDirection::Outbound) => Direction::Outbound,
        _ => Direction::Inbound,
    };
    let filters: Vec<&Filter> = l.filter_chains.iter().flat_map(|fc| &fc.filters).collect();
    let mut inferred = None;
    let mut cluster = None;
    for f in &filters {
        if is_filter::<TcpProxy>(f, TCP_PROXY) {
            inferred.get_or_insert(ListenerProtocol::Tcp);
            if let Some(tp) = decode_filter::<TcpProxy>(f)?
                && let Some(tcp_proxy::ClusterSpecifier::Cluster(c)) = tp.cluster_specifier
            {
                cluster.get_or_insert(c);
            }
        } else if is_filter::<HttpConnectionManager>(f, HCM) {
            inferred.get_or_insert(ListenerProtocol::Http);
            if let Some(hcm) = decode_filter::<HttpConnectionManager>(f)?
                && let Some(http_connection_manager::RouteSpecifier::RouteConfig(rc)) =
                    &hcm.route_specifier
                && let Some(c) = single_route_cluster(rc)
            {
                cluster.get_or_insert(c);
            }
        }
    }
    if l.listener_filters.iter().any(|f| f.name == HTTP_INSPECTOR) {
        inferred = Some(ListenerProtocol::Detect);
    }
    let protocol = match metadata_string(l.metadata.as_ref(), "protocol") {
        Some("detect") => ListenerProtocol::Detect,
        Some("http") => ListenerProtocol::Http,
        Some("grpc") => ListenerProtocol::Grpc,
        Some("tcp") => ListenerProtocol::Tcp,
        Some("dns") => ListenerProtocol::Dns,
        Some("kafka") => ListenerProtocol::Kafka,
        Some(other) => return Err(ListenerConvertError::UnknownProtocol(other.to_owned())),
        None => inferred.ok_or(ListenerConvertError::NoProtocol)?,
    };
    if let Some(c) = metadata_string(l.metadata.as_ref(), "cluster") {
        cluster = Some(c.to_owned());
    }
    Ok(Some(domain::Listener {
        name: l.name.clone(),
        address,
        direction,
        protocol,
        cluster,
    }))
}

fn string_value(s: &str) -> Value {
    Value {
        kind: Some(value::Kind::StringValue(s.to_owned())),
    }
}

/// The control plane's form of a domain listener: address, direction, a `tcp_proxy` (to the default
/// cluster) or `http_connection_manager` filter chain as an Envoy would read it, and the exact
/// protocol and cluster in `metadata.sockmesh`.
pub fn listener_from_domain(l: &domain::Listener) -> Listener {
    let mut fields = HashMap::new();
    let protocol = match l.protocol {
        ListenerProtocol::Detect => "detect",
        ListenerProtocol::Http => "http",
        ListenerProtocol::Grpc => "grpc",
        ListenerProtocol::Tcp => "tcp",
        ListenerProtocol::Dns => "dns",
        ListenerProtocol::Kafka => "kafka",
    };
    fields.insert("protocol".to_owned(), string_value(protocol));
    if let Some(c) = &l.cluster {
        fields.insert("cluster".to_owned(), string_value(c));
    }
    let filter = match l.protocol {
        ListenerProtocol::Tcp => Filter {
            name: TCP_PROXY.to_owned(),
            config_type: Some(filter::ConfigType::TypedConfig(any_of(&TcpProxy {
                stat_prefix: l.name.clone(),
                cluster_specifier: l.cluster.clone().map(tcp_proxy::ClusterSpecifier::Cluster),
                ..Default::default()
            }))),
        },
        _ => Filter {
            name: HCM.to_owned(),
            config_type: Some(filter::ConfigType::TypedConfig(any_of(
                &HttpConnectionManager {
                    stat_prefix: l.name.clone(),
                    http_filters: vec![router_filter()],
                    route_specifier: l.cluster.as_ref().map(|c| {
                        http_connection_manager::RouteSpecifier::RouteConfig(route_configuration(
                            &l.name, c,
                        ))
                    }),
                    ..Default::default()
                },
            ))),
        },
    };
    Listener {
        name: l.name.clone(),
        address: Some(pb_address(l.address)),
        traffic_direction: match l.direction {
            Direction::Inbound => TrafficDirection::Inbound,
            Direction::Outbound => TrafficDirection::Outbound,
        } as i32,
        listener_filters: if l.protocol == ListenerProtocol::Detect {
            vec![ListenerFilter {
                name: HTTP_INSPECTOR.to_owned(),
                config_type: Some(listener_filter::ConfigType::TypedConfig(Any {
                    type_url: "type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector".to_owned(),
                    value: Vec::new(),
                })),
                ..Default::default()
            }]
        } else {
            Vec::new()
        },
        filter_chains: vec![FilterChain {
            filters: vec![filter],
            ..Default::default()
        }],
        metadata: Some(Metadata {
            filter_metadata: HashMap::from([(METADATA_KEY.to_owned(), Struct { fields })]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn router_filter() -> HttpFilter {
    HttpFilter {
        name: "envoy.filters.http.router".to_owned(),
        config_type: Some(http_filter::ConfigType::TypedConfig(any_of(
            &Router::default(),
        ))),
        ..Default::default()
    }
}

/// A route configuration sending every request, for any authority, to `cluster`.
pub fn route_configuration(name: &str, cluster: &str) -> RouteConfiguration {
    RouteConfiguration {
        name: name.to_owned(),
        virtual_hosts: vec![VirtualHost {
            name: name.to_owned(),
            domains: vec!["*".to_owned()],
            routes: vec![Route {
                r#match: Some(RouteMatch {
                    path_specifier: Some(route_match::PathSpecifier::Prefix(String::new())),
                    ..Default::default()
                }),
                action: Some(route::Action::Route(RouteAction {
                    cluster_specifier: Some(route_action::ClusterSpecifier::Cluster(
                        cluster.to_owned(),
                    )),
                    ..Default::default()
                })),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// An api listener named `name` (the `xds:///name` target of a proxyless gRPC client) whose routes
/// come over RDS from the route configuration `route_name`.
pub fn grpc_api_listener(name: &str, route_name: &str) -> Listener {
    let hcm = HttpConnectionManager {
        stat_prefix: name.to_owned(),
        http_filters: vec![router_filter()],
        route_specifier: Some(http_connection_manager::RouteSpecifier::Rds(Rds {
            config_source: Some(ads_config_source()),
            route_config_name: route_name.to_owned(),
        })),
        ..Default::default()
    };
    Listener {
        name: name.to_owned(),
        api_listener: Some(ApiListener {
            api_listener: Some(any_of(&hcm)),
        }),
        ..Default::default()
    }
}
