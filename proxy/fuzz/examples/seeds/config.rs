//! Seeds of the policy files and xDS resources.

use std::fs;
use std::path::Path;

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
    CertificateValidationContext, Secret, TlsCertificate, secret,
};
use envoy_types::pb::google::protobuf::{Any, Duration as PbDuration};
use prost::Message;
use sockmesh_xds::convert::listener;
use sockmesh_xds::proto::{NetworkPolicy, any_of};
use sockmesh_xds::server::{ClustersFile, Snapshot};
use sockmesh_xds::types::ResourceType;

use super::Seeds;

pub fn cilium_policy(s: &mut Seeds, repo: &Path) {
    for (name, path) in [
        ("examples-web", "examples/policies/web.yaml"),
        ("examples-demo", "examples/policies/demo.yaml"),
        ("fixture-web", "policy/tests/fixtures/web.yaml"),
    ] {
        let text = fs::read(repo.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        s.put("cilium_policy", name, &text);
    }
    s.put("cilium_policy", "flow-style-anchors", FLOW_STYLE.as_bytes());
    s.put("cilium_policy", "errors", ERRORS.as_bytes());
    s.put("cilium_policy", "grpc-deny", GRPC_DENY.as_bytes());
}

/// Flow style, an anchor and its alias, a folded scalar, quoting of every kind.
const FLOW_STYLE: &str = r#"apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: api, namespace: shop, labels: {team: a}}
spec:
  endpointSelector: &sel {matchLabels: {app: web}}
  egress:
  - toCIDRSet: [{cidr: 0.0.0.0/0, except: [169.254.0.0/16]}]
    toPorts: [{ports: [{port: '53', protocol: UDP}]}]
  - toEndpoints: [*sel]
    toPorts:
    - ports: [{port: "8080", endPort: 8090}]
      rules:
        http:
        - method: >-
            GET
          path: '/v[0-9]+/.*'
          host: "api\\.shop"
"#;

/// One of each kind of error: version, kind, a misspelt field, a bad port, a bad regex, an
/// unsupported protocol.
const ERRORS: &str = r#"apiVersion: cilium.io/v1
kind: NetworkPolicy
metadata:
  name: bad
spec:
  endpointSelecter: {}
  ingress:
  - toPorts:
    - ports: [{port: x}]
      rules:
        http: [{path: '/a/(v3'}]
        kafka: [{topic: t}]
"#;

/// A clusterwide deny on gRPC methods, with selector expressions and document markers.
const GRPC_DENY: &str = r#"---
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata:
  name: grpc
spec:
  endpointSelector:
    matchExpressions:
    - {key: app, operator: NotIn, values: [db]}
    - {key: tier, operator: Exists}
  ingressDeny:
  - fromCIDR: ['::1/128']
    toPorts:
    - ports: [{port: '50051'}]
      rules:
        grpc:
        - serviceRegex: 'shop\..*'
          methodRegex: 'Delete.*'
...
"#;

// ---- xDS resources: byte 0 = type (mod 5) and labels, then the protobuf payload. ----

/// Byte 0 of a seed: the type's place in `ResourceType::SIDECAR`, plus 5 for labels `app=web`.
fn xds_control(ty: ResourceType, web: bool) -> u8 {
    let i = ResourceType::SIDECAR
        .iter()
        .position(|t| *t == ty)
        .expect("a sidecar type") as u8;
    i + if web { 5 } else { 0 }
}

fn put_xds(s: &mut Seeds, name: &str, ty: ResourceType, web: bool, any: &Any) {
    assert_eq!(any.type_url, ty.url());
    let seed = [&[xds_control(ty, web)][..], &any.value].concat();
    s.put_if("xds_resources", name, &seed, |old| {
        old.first() == seed.first() && same_message(ty, &old[1..], &seed[1..])
    });
}

/// Whether two payloads decode to the same message (map order aside).
fn same_message(ty: ResourceType, a: &[u8], b: &[u8]) -> bool {
    fn eq<T: Message + Default + PartialEq>(a: &[u8], b: &[u8]) -> bool {
        matches!((T::decode(a), T::decode(b)), (Ok(x), Ok(y)) if x == y)
    }
    match ty {
        ResourceType::Cluster => eq::<Cluster>(a, b),
        ResourceType::Endpoint => eq::<ClusterLoadAssignment>(a, b),
        ResourceType::Listener => eq::<Listener>(a, b),
        ResourceType::Secret => eq::<Secret>(a, b),
        ResourceType::NetworkPolicy => eq::<NetworkPolicy>(a, b),
        ResourceType::Route => a == b,
    }
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

/// The clusters file of docs/xds.md, as the control plane serves it.
const CLUSTERS: &str = r#"
clusters:
- name: web
  endpoints: ["127.0.0.1:8080", "[::1]:8080"]
  protocol: http1
  connectTimeoutMs: 1000
- name: api
  endpoints: ["10.0.0.7:9090"]
  protocol: http2
listeners:
- name: inbound
  address: 127.0.0.1:15006
  direction: inbound
  protocol: detect
- name: outbound-tcp
  address: 127.0.0.1:15001
  direction: outbound
  protocol: tcp
  cluster: api
grpcListeners:
- name: echo
  cluster: web
secrets:
- name: default
  certificateChainFile: /etc/sockmesh/cert.pem
  privateKeyFile: /etc/sockmesh/key.pem
- name: ca
  trustedCaFile: /etc/sockmesh/ca.pem
"#;

pub fn xds_resources(s: &mut Seeds, repo: &Path) {
    // What `sockmesh control-plane` serves: the example policies and a clusters file.
    for (name, path) in [
        ("policy-examples-web", "examples/policies/web.yaml"),
        ("policy-examples-demo", "examples/policies/demo.yaml"),
        ("policy-fixture-web", "policy/tests/fixtures/web.yaml"),
    ] {
        let full = repo.join(path);
        let text = fs::read_to_string(&full).unwrap_or_else(|e| panic!("{path}: {e}"));
        let policies = sockmesh_xds::server::files::parse_policy_file(&full, &text)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .expect("a policy file");
        for (i, p) in policies.iter().enumerate() {
            let web = i % 2 == 0;
            put_xds(
                s,
                &format!("{name}-{i}"),
                ResourceType::NetworkPolicy,
                web,
                &any_of(p),
            );
        }
    }
    let file = ClustersFile::parse(Path::new("clusters.yaml"), CLUSTERS).expect("clusters file");
    let mut snap = Snapshot::default();
    sockmesh_xds::server::files::build_clusters(&mut snap, &file);
    for ty in ResourceType::SIDECAR {
        for (name, versioned) in snap.resources(ty) {
            put_xds(
                s,
                &format!("{}-{name}", ty.short_name()),
                ty,
                false,
                &versioned.any,
            );
        }
    }

    // After Envoy's documented examples (as xds/src/convert/envoy_tests.rs builds them).
    let hcm = HttpConnectionManager {
        stat_prefix: "ingress_http".into(),
        route_specifier: Some(http_connection_manager::RouteSpecifier::RouteConfig(
            listener::route_configuration("local_route", "service_envoyproxy_io"),
        )),
        ..Default::default()
    };
    let static_listener = Listener {
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
    put_xds(
        s,
        "envoy-static-listener",
        ResourceType::Listener,
        true,
        &any_of(&static_listener),
    );
    let tcp = TcpProxy {
        stat_prefix: "tcp".into(),
        cluster_specifier: Some(tcp_proxy::ClusterSpecifier::Cluster(
            "example_proxy_cluster".into(),
        )),
        ..Default::default()
    };
    let tcp_listener = Listener {
        name: "outbound_tcp".into(),
        address: sock("127.0.0.1", 15001),
        traffic_direction: TrafficDirection::Outbound as i32,
        filter_chains: vec![FilterChain {
            filters: vec![Filter {
                name: "envoy.filters.network.tcp_proxy".into(),
                config_type: Some(filter::ConfigType::TypedConfig(any_of(&tcp))),
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    put_xds(
        s,
        "envoy-tcp-listener",
        ResourceType::Listener,
        false,
        &any_of(&tcp_listener),
    );
    let static_cluster = Cluster {
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
    put_xds(
        s,
        "envoy-static-cluster",
        ResourceType::Cluster,
        false,
        &any_of(&static_cluster),
    );
    let mut dns = static_cluster.clone();
    dns.cluster_discovery_type = Some(cluster::ClusterDiscoveryType::Type(
        cluster::DiscoveryType::LogicalDns as i32,
    ));
    put_xds(
        s,
        "envoy-dns-cluster",
        ResourceType::Cluster,
        false,
        &any_of(&dns),
    );
    let eds = Cluster {
        name: "example_proxy_cluster".into(),
        cluster_discovery_type: Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::Eds as i32,
        )),
        eds_cluster_config: Some(cluster::EdsClusterConfig {
            eds_config: Some(sockmesh_xds::convert::cluster::ads_config_source()),
            service_name: "example_service".into(),
        }),
        ..Default::default()
    };
    put_xds(
        s,
        "envoy-eds-cluster",
        ResourceType::Cluster,
        false,
        &any_of(&eds),
    );
    let cla = ClusterLoadAssignment {
        cluster_name: "example_service".into(),
        endpoints: vec![LocalityLbEndpoints {
            lb_endpoints: ["10.0.0.1", "::1", "service.local"]
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
    put_xds(
        s,
        "envoy-endpoints",
        ResourceType::Endpoint,
        false,
        &any_of(&cla),
    );
    let inline = |text: &str| {
        Some(PbDataSource {
            specifier: Some(data_source::Specifier::InlineString(text.into())),
            ..Default::default()
        })
    };
    let cert = Secret {
        name: "server_cert".into(),
        r#type: Some(secret::Type::TlsCertificate(TlsCertificate {
            certificate_chain: inline("-----BEGIN CERTIFICATE-----"),
            private_key: Some(PbDataSource {
                specifier: Some(data_source::Specifier::Filename(
                    "/etc/certs/key.pem".into(),
                )),
                ..Default::default()
            }),
            ..Default::default()
        })),
    };
    put_xds(
        s,
        "envoy-secret-cert",
        ResourceType::Secret,
        false,
        &any_of(&cert),
    );
    let ca = Secret {
        name: "validation".into(),
        r#type: Some(secret::Type::ValidationContext(
            CertificateValidationContext {
                trusted_ca: inline("-----BEGIN CERTIFICATE-----"),
                ..Default::default()
            },
        )),
    };
    put_xds(
        s,
        "envoy-secret-ca",
        ResourceType::Secret,
        true,
        &any_of(&ca),
    );
}
