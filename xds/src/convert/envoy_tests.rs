//! Real Envoy-format resources, built with envoy-types after Envoy's documented examples, decode
//! into the expected domain values; the control plane's forms convert back exactly.

use std::net::SocketAddr;
use std::time::Duration;

use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster};
use envoy_types::pb::envoy::config::core::v3::{
    Address, SocketAddress, TrafficDirection, address, socket_address,
};
use envoy_types::pb::envoy::config::core::v3::{DataSource as PbDataSource, data_source};
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint,
};
use envoy_types::pb::envoy::config::listener::v3::{Filter, FilterChain, Listener, filter};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager,
};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy, tcp_proxy};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    Secret, TlsCertificate, secret,
};
use envoy_types::pb::google::protobuf::Duration as PbDuration;

use crate::proto::any_of;
use sockmesh_policy::Labels;

use super::*;
use crate::domain::{ListenerProtocol, SecretKind, UpstreamProtocol};

fn labels() -> Labels {
    Labels::default()
}

fn sock(ip: &str, port: u32) -> Option<Address> {
    Some(Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: ip.into(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(port)),
            ..Default::default()
        })),
    })
}

/// After Envoy's "Configuration: Static" quick start: `listener_0` on 0.0.0.0:10000 with an
/// http_connection_manager whose inline route sends everything to `service_envoyproxy_io`; here the
/// cluster is STATIC with IP endpoints (the example's LOGICAL_DNS needs DNS, which we refuse).
#[test]
fn envoy_documented_static_example_decodes() {
    let hcm = HttpConnectionManager {
        stat_prefix: "ingress_http".into(),
        route_specifier: Some(http_connection_manager::RouteSpecifier::RouteConfig(
            listener::route_configuration("local_route", "service_envoyproxy_io"),
        )),
        ..Default::default()
    };
    let l = Listener {
        name: "listener_0".into(),
        address: sock("0.0.0.0", 10000),
        filter_chains: vec![FilterChain {
            filters: vec![Filter {
                name: "envoy.filters.network.http_connection_manager".into(),
                config_type: Some(filter::ConfigType::TypedConfig(any_of(&hcm))),
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let (name, conv) = decode_resource(ResourceType::Listener, &any_of(&l), &labels()).unwrap();
    assert_eq!(name, "listener_0");
    let Converted::Listener(Some(dl)) = conv else {
        panic!("{conv:?}")
    };
    assert_eq!(dl.address, "0.0.0.0:10000".parse::<SocketAddr>().unwrap());
    assert_eq!(dl.protocol, ListenerProtocol::Http);
    assert_eq!(dl.cluster.as_deref(), Some("service_envoyproxy_io"));
    assert_eq!(dl.direction, crate::domain::Direction::Inbound);

    let c = Cluster {
        name: "service_envoyproxy_io".into(),
        connect_timeout: Some(PbDuration {
            seconds: 30,
            nanos: 0,
        }),
        cluster_discovery_type: Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::Static as i32,
        )),
        load_assignment: Some(ClusterLoadAssignment {
            cluster_name: "service_envoyproxy_io".into(),
            endpoints: vec![LocalityLbEndpoints {
                lb_endpoints: vec![LbEndpoint {
                    host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
                        address: sock("127.0.0.1", 8080),
                        ..Default::default()
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    let (_, conv) = decode_resource(ResourceType::Cluster, &any_of(&c), &labels()).unwrap();
    let Converted::Cluster(dc) = conv else {
        panic!()
    };
    assert_eq!(
        dc.cluster.endpoints,
        vec!["127.0.0.1:8080".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!(dc.cluster.connect_timeout, Duration::from_secs(30));
    assert_eq!(dc.cluster.protocol, UpstreamProtocol::Auto);
    assert_eq!(dc.eds_service, None);

    // The same example with the documented LOGICAL_DNS cluster and hostname is refused clearly.
    let mut dns = c.clone();
    dns.cluster_discovery_type = Some(cluster::ClusterDiscoveryType::Type(
        cluster::DiscoveryType::LogicalDns as i32,
    ));
    let e = decode_resource(ResourceType::Cluster, &any_of(&dns), &labels()).unwrap_err();
    assert!(
        e.to_string().contains("LOGICAL_DNS is not supported"),
        "{e}"
    );
}

/// After Envoy's circuit breaking docs (`circuit_breakers.thresholds` with a DEFAULT and a HIGH
/// priority): the DEFAULT thresholds are the cluster's caps, Envoy's defaults (1024) for what is
/// unset; HIGH is not used. A cap of 0 would refuse everything and is refused.
#[test]
fn envoy_circuit_breakers_decode_from_the_default_priority() {
    use envoy_types::pb::envoy::config::cluster::v3::{CircuitBreakers, circuit_breakers};
    use envoy_types::pb::envoy::config::core::v3::RoutingPriority;
    use envoy_types::pb::google::protobuf::UInt32Value;

    let threshold =
        |priority: RoutingPriority, requests, pending: Option<u32>| circuit_breakers::Thresholds {
            priority: priority as i32,
            max_requests: Some(UInt32Value { value: requests }),
            max_pending_requests: pending.map(|value| UInt32Value { value }),
            ..Default::default()
        };
    let mut c = Cluster {
        name: "web".into(),
        circuit_breakers: Some(CircuitBreakers {
            thresholds: vec![
                threshold(RoutingPriority::High, 2000, None),
                threshold(RoutingPriority::Default, 75, Some(35)),
            ],
            ..Default::default()
        }),
        ..Default::default()
    };
    let (_, conv) = decode_resource(ResourceType::Cluster, &any_of(&c), &labels()).unwrap();
    let Converted::Cluster(dc) = conv else {
        panic!()
    };
    let expected = crate::domain::CircuitBreakers {
        max_connections: 1024,
        max_pending_requests: 35,
        max_requests: 75,
    };
    assert_eq!(dc.cluster.circuit_breakers, expected);

    c.circuit_breakers = None;
    let (_, conv) = decode_resource(ResourceType::Cluster, &any_of(&c), &labels()).unwrap();
    let Converted::Cluster(dc) = conv else {
        panic!()
    };
    assert_eq!(dc.cluster.circuit_breakers, Default::default());

    c.circuit_breakers = Some(CircuitBreakers {
        thresholds: vec![threshold(RoutingPriority::Default, 0, None)],
        ..Default::default()
    });
    let e = decode_resource(ResourceType::Cluster, &any_of(&c), &labels()).unwrap_err();
    assert!(e.to_string().contains("max_requests is 0"), "{e}");
}

/// After Envoy's "Configuration: Dynamic from control plane" docs: an EDS cluster
/// (`eds_cluster_config` over ADS with a `service_name`), its ClusterLoadAssignment, a tcp_proxy
/// listener marked OUTBOUND, and an SDS TLS certificate with inline PEM strings.
#[test]
fn envoy_documented_dynamic_examples_decode() {
    let c = Cluster {
        name: "example_proxy_cluster".into(),
        cluster_discovery_type: Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::Eds as i32,
        )),
        eds_cluster_config: Some(cluster::EdsClusterConfig {
            eds_config: Some(super::cluster::ads_config_source()),
            service_name: "example_service".into(),
        }),
        ..Default::default()
    };
    let (_, conv) = decode_resource(ResourceType::Cluster, &any_of(&c), &labels()).unwrap();
    let Converted::Cluster(dc) = conv else {
        panic!()
    };
    assert_eq!(dc.eds_service.as_deref(), Some("example_service"));
    assert_eq!(
        dc.cluster.connect_timeout,
        crate::domain::Cluster::DEFAULT_CONNECT_TIMEOUT
    );

    let cla = ClusterLoadAssignment {
        cluster_name: "example_service".into(),
        endpoints: vec![LocalityLbEndpoints {
            lb_endpoints: ["10.0.0.1", "::1"]
                .iter()
                .map(|ip| LbEndpoint {
                    host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
                        address: sock(ip, 80),
                        ..Default::default()
                    })),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let (name, conv) = decode_resource(ResourceType::Endpoint, &any_of(&cla), &labels()).unwrap();
    assert_eq!(name, "example_service");
    let Converted::Endpoint(e) = conv else {
        panic!()
    };
    assert_eq!(
        e.endpoints,
        vec![
            "10.0.0.1:80".parse::<SocketAddr>().unwrap(),
            "[::1]:80".parse().unwrap()
        ]
    );

    let mut bad = cla.clone();
    bad.endpoints[0].lb_endpoints[1] = LbEndpoint {
        host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
            address: sock("service.local", 80),
            ..Default::default()
        })),
        ..Default::default()
    };
    let err = decode_resource(ResourceType::Endpoint, &any_of(&bad), &labels()).unwrap_err();
    assert!(
        err.to_string()
            .contains("endpoint 1: `service.local` is not an IP address"),
        "{err}"
    );

    let tp = TcpProxy {
        stat_prefix: "tcp".into(),
        cluster_specifier: Some(tcp_proxy::ClusterSpecifier::Cluster(
            "example_proxy_cluster".into(),
        )),
        ..Default::default()
    };
    let l = Listener {
        name: "outbound_tcp".into(),
        address: sock("127.0.0.1", 15001),
        traffic_direction: TrafficDirection::Outbound as i32,
        filter_chains: vec![FilterChain {
            filters: vec![Filter {
                name: "envoy.filters.network.tcp_proxy".into(),
                config_type: Some(filter::ConfigType::TypedConfig(any_of(&tp))),
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let (_, conv) = decode_resource(ResourceType::Listener, &any_of(&l), &labels()).unwrap();
    let Converted::Listener(Some(dl)) = conv else {
        panic!()
    };
    assert_eq!(dl.protocol, ListenerProtocol::Tcp);
    assert_eq!(dl.direction, crate::domain::Direction::Outbound);
    assert_eq!(dl.cluster.as_deref(), Some("example_proxy_cluster"));

    let s = Secret {
        name: "server_cert".into(),
        r#type: Some(secret::Type::TlsCertificate(TlsCertificate {
            certificate_chain: Some(PbDataSource {
                specifier: Some(data_source::Specifier::InlineString(
                    "-----BEGIN CERTIFICATE-----".into(),
                )),
                ..Default::default()
            }),
            private_key: Some(PbDataSource {
                specifier: Some(data_source::Specifier::Filename(
                    "/etc/certs/key.pem".into(),
                )),
                ..Default::default()
            }),
            ..Default::default()
        })),
    };
    let (_, conv) = decode_resource(ResourceType::Secret, &any_of(&s), &labels()).unwrap();
    let Converted::Secret(ds) = conv else {
        panic!()
    };
    let SecretKind::Certificate {
        certificate_chain,
        private_key,
    } = &ds.kind
    else {
        panic!()
    };
    assert_eq!(
        *certificate_chain,
        crate::domain::DataSource::Inline(b"-----BEGIN CERTIFICATE-----".to_vec())
    );
    assert_eq!(
        *private_key,
        crate::domain::DataSource::File("/etc/certs/key.pem".into())
    );
    assert!(
        !format!("{ds:?}").contains("BEGIN"),
        "inline material leaks into Debug"
    );
}

#[test]
fn control_plane_forms_convert_back_to_the_same_domain_values() {
    let c = crate::domain::Cluster {
        name: "web".into(),
        endpoints: vec!["127.0.0.1:8080".parse().unwrap()],
        connect_timeout: Duration::from_millis(1500),
        protocol: UpstreamProtocol::Http2,
        circuit_breakers: crate::domain::CircuitBreakers {
            max_connections: 10,
            max_pending_requests: 20,
            max_requests: 30,
        },
    };
    let (cl, cla) = super::cluster::cluster_from_domain(&c);
    let back = super::cluster::cluster_to_domain(&cl).unwrap();
    assert_eq!(back.eds_service.as_deref(), Some("web"));
    assert_eq!(back.cluster.protocol, UpstreamProtocol::Http2);
    assert_eq!(back.cluster.connect_timeout, c.connect_timeout);
    assert_eq!(back.cluster.circuit_breakers, c.circuit_breakers);
    assert_eq!(
        super::cluster::endpoint_to_domain(&cla).unwrap().endpoints,
        c.endpoints
    );

    for protocol in [
        ListenerProtocol::Detect,
        ListenerProtocol::Http,
        ListenerProtocol::Grpc,
        ListenerProtocol::Tcp,
        ListenerProtocol::Dns,
        ListenerProtocol::Kafka,
    ] {
        let l = crate::domain::Listener {
            name: "in".into(),
            address: "127.0.0.1:15006".parse().unwrap(),
            direction: crate::domain::Direction::Outbound,
            protocol,
            cluster: Some("web".into()),
        };
        let pb = listener::listener_from_domain(&l);
        assert_eq!(listener::listener_to_domain(&pb).unwrap(), Some(l));
    }
    let api = listener::grpc_api_listener("echo", "echo-route");
    assert_eq!(listener::listener_to_domain(&api).unwrap(), None);
}
