//! Conversion tests: YAML policy == policy resource (model and compiled), validation errors name the
//! resource and field, and real Envoy-format resources (after Envoy's documented examples) decode.

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
use envoy_types::pb::google::protobuf::{Any, Duration as PbDuration};
use prost::{Message, Name};
use sockmesh_policy::{CompiledPolicy, ConnMeta, Direction, HttpRequest, L4Protocol, Labels};

use super::*;
use crate::domain::{ListenerProtocol, SecretKind, UpstreamProtocol};

const POLICY_YAML: &str = r#"
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: web
  namespace: shop
spec:
  endpointSelector:
    matchLabels:
      app: web
    matchExpressions:
      - key: tier
        operator: NotIn
        values: [db]
  ingress:
    - fromCIDRSet:
        - cidr: 10.0.0.0/8
          except: [10.1.0.0/16]
      toPorts:
        - ports:
            - port: "8080"
              protocol: TCP
            - port: "9000"
              endPort: 9010
          rules:
            http:
              - method: GET
                path: "/api/.*"
                host: "shop\\.example"
                headers: ["X-Team: blue"]
                headerMatches:
                  - name: x-env
                    value: prod
                    mismatch: LOG
            grpc:
              - service: shop.Cart
                methodRegex: "Get.*"
    - fromEntities: [all]
      toPorts:
        - ports:
            - port: "8443"
  ingressDeny:
    - fromCIDR: [192.168.0.0/16]
  egress:
    - toEndpoints: [{}]
  enableDefaultDeny:
    egress: false
"#;

fn any_of<T: Message + Name>(m: &T) -> Any {
    Any {
        type_url: T::type_url(),
        value: m.encode_to_vec(),
    }
}

fn labels() -> Labels {
    [("app".to_owned(), "web".to_owned())].into_iter().collect()
}

#[test]
fn policy_resource_equals_yaml_policy_model_and_compiled() {
    let from_yaml =
        sockmesh_policy::cilium::parse_documents("web.yaml", POLICY_YAML).expect("fixture parses");
    assert_eq!(from_yaml.len(), 1);
    let yaml_policy = &from_yaml[0];

    // Control plane direction, over the wire, and back through the sidecar's decoder.
    let resource = policy::from_model(yaml_policy);
    let any = any_of(&resource);
    let (name, converted) =
        decode_resource(ResourceType::NetworkPolicy, &any, &labels()).expect("valid resource");
    assert_eq!(name, "shop/web");
    let Converted::Policy(xds_policy) = converted else {
        panic!("not a policy: {converted:?}");
    };
    assert_eq!(&xds_policy, yaml_policy, "model differs");

    let a =
        CompiledPolicy::compile(std::slice::from_ref(yaml_policy), &labels()).expect("compiles");
    let b =
        CompiledPolicy::compile(std::slice::from_ref(&xds_policy), &labels()).expect("compiles");
    assert_eq!(a.describe(), b.describe(), "compiled policies differ");
    assert_eq!(a.rule_count(), b.rule_count());
    assert!(a.rule_count() > 0);
    // And they decide alike, naming the same rules.
    let headers = [("x-team", "blue"), ("x-env", "dev")];
    for (peer, port, method, path) in [
        ("10.0.0.5", 8080, "GET", "/api/items"),
        ("10.0.0.5", 8080, "POST", "/api/items"),
        ("10.1.2.3", 8080, "GET", "/api/items"),
        ("192.168.1.1", 8443, "GET", "/"),
        ("8.8.8.8", 8443, "GET", "/"),
        ("8.8.8.8", 22, "GET", "/"),
    ] {
        let conn = ConnMeta {
            direction: Direction::Ingress,
            peer: peer.parse().unwrap(),
            port,
            protocol: L4Protocol::Tcp,
        };
        let req = HttpRequest {
            method,
            path,
            host: Some("shop.example"),
            headers: &headers,
            grpc: None,
        };
        assert_eq!(
            a.check_connection(&conn),
            b.check_connection(&conn),
            "{peer}:{port}"
        );
        assert_eq!(
            a.check_http(&conn, &req),
            b.check_http(&conn, &req),
            "{peer}:{port} {method} {path}"
        );
    }
}

#[test]
fn model_round_trips_through_the_resource_for_every_fixture() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../policy/tests/fixtures");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(policies) = sockmesh_policy::cilium::parse_documents("f", &text) else {
            continue;
        };
        for p in policies {
            let bytes = policy::from_model(&p).encode_to_vec();
            let back = crate::proto::NetworkPolicy::decode(bytes.as_slice()).unwrap();
            assert_eq!(policy::to_model(&back).unwrap(), p, "{}", path.display());
            checked += 1;
        }
    }
    let own = sockmesh_policy::cilium::parse_documents("web.yaml", POLICY_YAML).unwrap();
    assert_eq!(
        policy::to_model(&policy::from_model(&own[0])).unwrap(),
        own[0]
    );
    let _ = checked;
}

#[test]
fn invalid_regex_is_rejected_with_resource_and_field() {
    let yaml = sockmesh_policy::cilium::parse_documents("web.yaml", POLICY_YAML).unwrap();
    let mut resource = policy::from_model(&yaml[0]);
    let http = &mut resource.specs[0].ingress.as_mut().unwrap().rules[0].to_ports[0]
        .rules
        .as_mut()
        .unwrap()
        .http_rules[0];
    http.path = Some("/api/[".to_owned());
    let err = decode_resource(ResourceType::NetworkPolicy, &any_of(&resource), &labels())
        .expect_err("bad regex must be rejected");
    assert_eq!(err.name.as_deref(), Some("shop/web"));
    let msg = err.to_string();
    assert!(msg.contains("resource `shop/web`"), "{msg}");
    assert!(
        msg.contains("specs[0].ingress[0].toPorts[0].rules.http[0].path"),
        "{msg}"
    );
    assert!(msg.contains("invalid regex `/api/[`"), "{msg}");
}

#[test]
fn policy_validation_errors_are_specific() {
    use crate::proto::*;
    let base = || NetworkPolicy {
        name: "p".into(),
        specs: vec![PolicySpec {
            ingress: Some(RuleSection {
                rules: vec![PortNetworkPolicyRule::default()],
            }),
            ..Default::default()
        }],
        ..Default::default()
    };
    let check = |p: NetworkPolicy, want: &str| {
        let e = decode_resource(ResourceType::NetworkPolicy, &any_of(&p), &labels()).unwrap_err();
        assert!(e.to_string().contains(want), "{e} does not contain {want}");
    };
    let mut p = base();
    p.name.clear();
    check(p, "empty policy name");
    let mut p = base();
    p.specs[0].ingress.as_mut().unwrap().rules[0].peers = vec![PeerSelector {
        kind: Some(peer_selector::Kind::Cidr(CidrRule {
            cidr: "10.0.0.300/8".into(),
            except: vec![],
        })),
    }];
    check(p, "invalid CIDR `10.0.0.300/8`");
    let mut p = base();
    p.specs[0].ingress.as_mut().unwrap().rules[0].to_ports = vec![PortNetworkPolicy {
        ports: vec![PortProtocol {
            port: 70000,
            end_port: None,
            protocol: 1,
        }],
        rules: None,
    }];
    check(p, "port 70000 is out of range");
    let mut p = base();
    p.specs[0].ingress.as_mut().unwrap().rules[0].to_ports = vec![PortNetworkPolicy {
        ports: vec![PortProtocol {
            port: 80,
            end_port: None,
            protocol: 42,
        }],
        rules: None,
    }];
    check(p, "unknown protocol value 42");
    let mut p = base();
    p.specs[0].ingress.as_mut().unwrap().rules[0].peers = vec![PeerSelector { kind: None }];
    check(p, "peer selector without a kind");
}

#[test]
fn malformed_and_mistyped_payloads_are_errors_not_panics() {
    let garbage = Any {
        type_url: crate::types::NETWORK_POLICY.to_owned(),
        value: vec![0xff, 0xff, 0xff, 0xff, 0x0f, 0x01],
    };
    for ty in ResourceType::SIDECAR {
        let mut any = garbage.clone();
        any.type_url = ty.url().to_owned();
        let e = decode_resource(ty, &any, &labels()).unwrap_err();
        assert!(e.name.is_none());
        assert!(e.to_string().contains("cannot decode"), "{e}");
    }
    let e = decode_resource(ResourceType::Cluster, &garbage, &labels()).unwrap_err();
    assert!(
        e.to_string().contains("the control plane mixed types"),
        "{e}"
    );
    // Truncations of a valid resource never panic.
    let good = any_of(&policy::from_model(
        &sockmesh_policy::cilium::parse_documents("w", POLICY_YAML).unwrap()[0],
    ));
    for cut in 0..good.value.len() {
        let any = Any {
            type_url: good.type_url.clone(),
            value: good.value[..cut].to_vec(),
        };
        let _ = decode_resource(ResourceType::NetworkPolicy, &any, &labels());
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
    };
    let (cl, cla) = super::cluster::cluster_from_domain(&c);
    let back = super::cluster::cluster_to_domain(&cl).unwrap();
    assert_eq!(back.eds_service.as_deref(), Some("web"));
    assert_eq!(back.cluster.protocol, UpstreamProtocol::Http2);
    assert_eq!(back.cluster.connect_timeout, c.connect_timeout);
    assert_eq!(
        super::cluster::endpoint_to_domain(&cla).unwrap().endpoints,
        c.endpoints
    );

    for protocol in [
        ListenerProtocol::Detect,
        ListenerProtocol::Http,
        ListenerProtocol::Grpc,
        ListenerProtocol::Tcp,
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

#[test]
fn json_policy_form_parses_enums_by_name() {
    let text = r#"{"name": "p", "namespace": "ns", "specs": [{"ingress": {"rules": [{
        "peers": [{"cidr": {"cidr": "10.0.0.0/8"}}, {"entity": "all"}],
        "toPorts": [{"ports": [{"port": 80, "protocol": "TCP"}],
                     "rules": {"httpRules": [{"path": "/a[", "headerMatches": [{"name": "x", "mismatch": "LOG"}]}]}}]}]}}]}"#;
    let ps = crate::proto::json::parse(text).unwrap();
    assert_eq!(ps.len(), 1);
    let p = &ps[0];
    let port = &p.specs[0].ingress.as_ref().unwrap().rules[0].to_ports[0];
    assert_eq!(port.ports[0].protocol, crate::proto::L4Protocol::Tcp as i32);
    assert_eq!(
        port.rules.as_ref().unwrap().http_rules[0].header_matches[0].mismatch,
        1
    );
    // Served as is; the sidecar's conversion rejects the bad regex.
    let e = policy::to_model(p).unwrap_err();
    assert!(e.to_string().contains("invalid regex `/a[`"), "{e}");
    let e = crate::proto::json::parse(r#"{"name": "p", "bogus": 1}"#).unwrap_err();
    assert!(e.to_string().contains("bogus"), "{e}");
    let e = crate::proto::json::parse(r#"{"name": "p", "specs": [{"ingress": {"rules": [{"toPorts": [{"ports": [{"protocol": "QUIC"}]}]}]}}]}"#).unwrap_err();
    assert!(e.to_string().contains("unknown protocol `QUIC`"), "{e}");
}
