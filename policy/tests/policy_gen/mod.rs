//! Generators for whole policies and for requests: specs, rules, peers, ports and HTTP/gRPC
//! rules, with `rules.dns` and `rules.kafka` entries from `dns_gen` and `kafka_gen`. A [`Mix`]
//! weighs the kinds of port entry and peer, so that each property can make the rules it checks
//! overlap often; the value universe is deliberately small for the same reason.

use std::net::IpAddr;

use proptest::prelude::*;
use sockmesh_policy::model::*;
use sockmesh_policy::{ConnMeta, Direction, L4Protocol};

use crate::reference::Req;
use crate::{dns_gen, kafka_gen};

fn net(s: &str) -> ipnet::IpNet {
    s.parse().expect("test CIDR")
}

fn opt<T: Clone + std::fmt::Debug + 'static>(
    items: &'static [T],
) -> impl Strategy<Value = Option<T>> {
    prop_oneof![Just(None), proptest::sample::select(items).prop_map(Some)]
}

/// How often each kind of port entry and peer comes up.
#[derive(Clone, Copy, Debug)]
pub struct Mix {
    /// Weights of L4-only, HTTP/gRPC, DNS and Kafka port entries.
    l4: u32,
    http: u32,
    dns: u32,
    kafka: u32,
    /// Weight of `toFQDNs` among an egress rule's peers (the other kinds weigh 8 together).
    fqdn: u32,
    /// Fewest `toPorts` entries of a rule (none: the rule is L4 only on every port).
    min_ports: usize,
}

/// Mostly HTTP, with some DNS and Kafka entries and `toFQDNs` peers among them.
pub const HTTP_MIX: Mix = Mix {
    l4: 2,
    http: 3,
    dns: 1,
    kafka: 1,
    fqdn: 2,
    min_ports: 0,
};

/// Mostly DNS, and few L4-only entries to shadow them, so that queries meet several
/// overlapping `rules.dns` entries.
pub const DNS_MIX: Mix = Mix {
    l4: 1,
    http: 1,
    dns: 5,
    kafka: 0,
    fqdn: 3,
    min_ports: 1,
};

/// Mostly Kafka, and few L4-only entries to shadow them, so that requests meet several
/// overlapping `rules.kafka` entries, allow and deny.
pub const KAFKA_MIX: Mix = Mix {
    l4: 1,
    http: 1,
    dns: 0,
    kafka: 6,
    fqdn: 1,
    min_ports: 1,
};

/// One L3 peer selector; `toFQDNs` only on egress (ingress refuses it).
fn peer_selector(mix: Mix, egress: bool) -> BoxedStrategy<PeerSelector> {
    let others = other_peer_selector();
    if egress {
        prop_oneof![
            8 => others,
            mix.fqdn => dns_gen::dns_rule().prop_map(PeerSelector::Fqdn),
        ]
        .boxed()
    } else {
        others.boxed()
    }
}

fn other_peer_selector() -> impl Strategy<Value = PeerSelector> {
    const CIDRS: &[&str] = &[
        "10.0.0.0/8",
        "10.0.0.0/16",
        "10.1.0.0/16",
        "10.0.0.1/32",
        "192.168.0.0/24",
        "2001:db8::/32",
        "0.0.0.0/0",
    ];
    prop_oneof![
        1 => Just(PeerSelector::Endpoints(LabelSelector::default())),
        1 => Just(PeerSelector::Entity(Entity::All)),
        6 => (proptest::sample::select(CIDRS), proptest::collection::vec(proptest::sample::select(&["10.0.0.0/24", "10.0.0.1/32", "10.1.2.0/24"][..]), 0..2))
            .prop_map(|(c, ex)| {
                let cidr = net(c);
                let except = ex.into_iter().map(net).filter(|e| cidr.contains(e)).collect();
                PeerSelector::Cidr(CidrRule { cidr, except })
            }),
    ]
}

fn port() -> impl Strategy<Value = PortProtocol> {
    (
        proptest::sample::select(&[0u16, 80, 81, 443][..]),
        opt(&[85u16, 444]),
        opt(&[L4Protocol::Tcp, L4Protocol::Udp]),
    )
        .prop_map(|(port, end, protocol)| PortProtocol {
            port,
            end_port: end.filter(|e| port != 0 && *e >= port),
            protocol,
        })
}

const HEADER_SETS: &[&[&str]] = &[
    &[],
    &["x-a"],
    &["X-A: 1"],
    &["x-a: 2", "x-b"],
    &["x-a 1"],
    &["x-c:2"],
    &["x-a: 1,2"],
    &["X-B: 0, 1"],
];

fn http_rule() -> impl Strategy<Value = HttpRule> {
    let hm = prop_oneof![
        Just(vec![]),
        Just(vec![HeaderMatch {
            name: "X-B".into(),
            value: Some("1".into()),
            mismatch: None
        }]),
        Just(vec![HeaderMatch {
            name: "x-b".into(),
            value: None,
            mismatch: None
        }]),
        Just(vec![HeaderMatch {
            name: "x-c".into(),
            value: Some("2".into()),
            mismatch: Some(MismatchAction::Replace)
        }]),
        Just(vec![
            HeaderMatch {
                name: "x-a".into(),
                value: Some("1".into()),
                mismatch: Some(MismatchAction::Log)
            },
            HeaderMatch {
                name: "x-d".into(),
                value: None,
                mismatch: Some(MismatchAction::Add)
            },
            HeaderMatch {
                name: "x-c".into(),
                value: Some("9".into()),
                mismatch: Some(MismatchAction::Delete)
            },
        ]),
    ];
    (
        opt(&["GET", "GET|POST", "P.*", "PUT", "CONNECT|GET"]),
        opt(&[
            "/a",
            "/a/.*",
            "/b",
            "/[ab]",
            "/a/x",
            "/.*",
            "/a/x|/b",
            "/a/x*",
            "/a/x/?",
            "/.*/x",
            "(?i)/A/X",
            "/b/.*",
            "/a/x\\?q=[0-9]",
        ]),
        opt(&["h", "h|g"]),
        proptest::sample::select(HEADER_SETS),
        hm,
    )
        .prop_map(|(method, path, host, headers, header_matches)| HttpRule {
            method: method.map(Into::into),
            path: path.map(Into::into),
            host: host.map(Into::into),
            headers: headers.iter().map(|s| (*s).to_owned()).collect(),
            header_matches,
        })
}

fn grpc_rule() -> impl Strategy<Value = GrpcRule> {
    (
        opt(&["s.S", "t.T"]),
        opt(&["M"]),
        opt(&["s\\..*"]),
        opt(&["M|N"]),
    )
        .prop_map(|(service, method, service_regex, method_regex)| GrpcRule {
            service: service.map(Into::into),
            method: method.map(Into::into),
            service_regex: service_regex.map(Into::into),
            method_regex: method_regex.map(Into::into),
        })
}

/// A `toPorts` entry: L4 only, HTTP/gRPC rules, DNS rules or Kafka rules (a port speaks one
/// L7 protocol; no rule at all is L4 only too).
fn port_rule(mix: Mix) -> impl Strategy<Value = PortRule> {
    (
        proptest::collection::vec(port(), 0..3),
        prop_oneof![
            mix.l4 => Just(None),
            mix.http => (proptest::collection::vec(http_rule(), 0..4), proptest::collection::vec(grpc_rule(), 0..2))
                .prop_map(|(http, grpc)| Some(std::sync::Arc::new(L7Rules { http, grpc, ..L7Rules::default() }))),
            mix.dns => proptest::collection::vec(dns_gen::dns_rule(), 0..4)
                .prop_map(|dns| Some(std::sync::Arc::new(L7Rules { dns, ..L7Rules::default() }))),
            mix.kafka => proptest::collection::vec(kafka_gen::kafka_rule(), 0..5)
                .prop_map(|kafka| Some(std::sync::Arc::new(L7Rules { kafka, ..L7Rules::default() }))),
        ],
    )
        .prop_map(|(ports, rules)| PortRule { ports, rules })
}

fn rule(mix: Mix, egress: bool) -> impl Strategy<Value = Rule> {
    (
        proptest::collection::vec(peer_selector(mix, egress), 0..3),
        proptest::collection::vec(port_rule(mix), mix.min_ports..3),
    )
        .prop_map(|(peers, to_ports)| Rule { peers, to_ports })
}

fn section(mix: Mix, egress: bool) -> impl Strategy<Value = Option<Vec<Rule>>> {
    prop_oneof![2 => Just(None), 3 => proptest::collection::vec(rule(mix, egress), 0..4).prop_map(Some)]
}

fn spec(mix: Mix) -> impl Strategy<Value = Spec> {
    (
        opt(&["web", "db"]),
        (
            section(mix, false),
            section(mix, false),
            section(mix, true),
            section(mix, true),
        ),
        (opt(&[true, false]), opt(&[true, false])),
    )
        .prop_map(
            |(app, (ingress, ingress_deny, egress, egress_deny), (i, e))| Spec {
                endpoint_selector: LabelSelector {
                    match_labels: app
                        .map(|a| ("app".to_owned(), a.to_owned()))
                        .into_iter()
                        .collect(),
                    match_expressions: Vec::new(),
                },
                description: None,
                ingress,
                ingress_deny,
                egress,
                egress_deny,
                enable_default_deny: DefaultDeny {
                    ingress: i,
                    egress: e,
                },
            },
        )
}

pub fn policies(mix: Mix) -> impl Strategy<Value = Vec<Policy>> {
    proptest::collection::vec(proptest::collection::vec(spec(mix), 1..3), 0..4).prop_map(|ps| {
        ps.into_iter()
            .enumerate()
            .map(|(i, specs)| Policy {
                name: format!("p{i}"),
                namespace: (i % 2 == 0).then(|| "ns".to_owned()),
                clusterwide: false,
                specs,
            })
            .collect()
    })
}

pub fn request() -> impl Strategy<Value = Req> {
    const PEERS: &[&str] = &[
        "10.0.0.1",
        "10.0.0.2",
        "10.0.1.5",
        "10.1.2.3",
        "10.1.3.3",
        "192.168.0.9",
        "172.16.0.1",
        "2001:db8::1",
        "::ffff:10.0.0.1",
        "::1",
        "203.0.113.7",
    ];
    (
        (
            proptest::sample::select(&[Direction::Ingress, Direction::Egress][..]),
            proptest::sample::select(PEERS),
            proptest::sample::select(&[80u16, 81, 84, 85, 443, 444, 9][..]),
            proptest::sample::select(&[L4Protocol::Tcp, L4Protocol::Udp, L4Protocol::Sctp][..]),
        ),
        proptest::sample::select(&["GET", "POST", "PUT", "CONNECT"][..]),
        proptest::sample::select(
            &[
                "/a", "/a/x", "/b", "/c", "/a/x?q=1", "/a/", "/a/x/", "/b/x", "/A/x",
            ][..],
        ),
        opt(&["h", "g"]),
        // Repeated names and comma lists, so deny rules meet values hidden behind others.
        proptest::sample::subsequence(
            &[
                ("X-A", "1"),
                ("x-b", "1"),
                ("x-c", "2"),
                ("x-d", ""),
                ("x-a", "2"),
                ("X-B", "0, 1"),
                ("x-c", "9,2"),
                ("x-a", "1 ,\t2"),
            ][..],
            0..6,
        )
        .prop_shuffle(),
        proptest::sample::select(&[false, true][..]),
        opt(&[("s.S", "M"), ("t.T", "N"), ("s.X", "N")]),
        dns_gen::name(),
        kafka_gen::request(),
    )
        .prop_map(
            |((direction, peer, port, protocol), method, path, host, hs, a2, grpc, name, kafka)| {
                let mut headers: Vec<(String, String)> = hs
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                if a2 && let Some(h) = headers.iter_mut().find(|h| h.0 == "X-A") {
                    h.1 = "2".to_owned();
                }
                Req {
                    conn: ConnMeta {
                        direction,
                        peer: peer.parse::<IpAddr>().expect("ip"),
                        port,
                        protocol,
                        identity: None,
                    },
                    method,
                    path,
                    host,
                    headers,
                    grpc,
                    name,
                    kafka,
                }
            },
        )
}
