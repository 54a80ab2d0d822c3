//! Conversion tests: YAML policy == policy resource (model and compiled), validation errors name the
//! resource and field. Envoy-format resources are in `envoy_tests.rs`.

use envoy_types::pb::google::protobuf::Any;
use prost::Message;

use crate::proto::any_of;
use sockmesh_policy::{CompiledPolicy, ConnMeta, Direction, HttpRequest, L4Protocol, Labels};

use super::*;

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
    - toPorts:
        - ports:
            - port: "53"
              protocol: ANY
          rules:
            dns:
              - matchName: api.example.com
              - matchPattern: "*.cdn.example"
    - toCIDR: [10.9.0.0/16]
      toPorts:
        - ports:
            - port: "9092"
              protocol: TCP
          rules:
            kafka:
              - role: produce
                topic: orders
              - apiKey: fetch
                apiVersion: "12"
                clientID: billing
              - {}
    - toFQDNs:
        - matchName: api.example.com
        - matchPattern: "**.cdn.example"
      toPorts:
        - ports:
            - port: "443"
  enableDefaultDeny:
    egress: false
"#;

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
    assert_eq!(&*xds_policy, yaml_policy, "model differs");

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
            identity: None,
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
    assert!(checked > 0, "no fixture policy in {dir} parsed");
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
    let kafka = |k: KafkaNetworkPolicyRule| {
        let mut p = base();
        p.specs[0].ingress.as_mut().unwrap().rules[0].to_ports = vec![PortNetworkPolicy {
            ports: vec![],
            rules: Some(L7NetworkPolicyRules {
                kafka_rules: vec![k],
                ..Default::default()
            }),
        }];
        p
    };
    check(
        kafka(KafkaNetworkPolicyRule {
            role: Some("produce".into()),
            api_key: Some("fetch".into()),
            ..Default::default()
        }),
        "specs[0].ingress[0].toPorts[0].rules.kafka[0].apiKey: `role: produce` and `apiKey: fetch`",
    );
    check(
        kafka(KafkaNetworkPolicyRule {
            topic: Some("a b".into()),
            ..Default::default()
        }),
        "rules.kafka[0].topic: invalid Kafka topic `a b`",
    );
    check(
        kafka(KafkaNetworkPolicyRule {
            role: Some("admin".into()),
            ..Default::default()
        }),
        "rules.kafka[0].role: unknown Kafka role `admin`",
    );
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
