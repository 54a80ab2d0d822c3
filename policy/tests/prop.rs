//! Property test: the compiled, indexed evaluation must agree with a naive evaluator written
//! straight from the model (same allowed flag, same deciding rule, same header actions) on random
//! policies, learned DNS answers, requests and DNS queries. The value universe is deliberately
//! small so that rules overlap often.

use std::net::IpAddr;

use proptest::prelude::*;
use sockmesh_policy::model::*;
use sockmesh_policy::{
    CompiledPolicy, ConnMeta, ConnVerdict, Direction, GrpcCall, HttpRequest, KafkaRequest,
    L4Protocol, Labels,
};

mod dns_gen;
mod kafka_gen;
mod reference;

use reference::dns::{Learnt, reference_dns, reference_has_fqdn};
use reference::kafka::reference_kafka;
use reference::{Req, reference_conn, reference_http};

// ---------- generators ----------

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
struct Mix {
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
const HTTP_MIX: Mix = Mix {
    l4: 2,
    http: 3,
    dns: 1,
    kafka: 1,
    fqdn: 2,
    min_ports: 0,
};

/// Mostly DNS, and few L4-only entries to shadow them, so that queries meet several
/// overlapping `rules.dns` entries.
const DNS_MIX: Mix = Mix {
    l4: 1,
    http: 1,
    dns: 5,
    kafka: 0,
    fqdn: 3,
    min_ports: 1,
};

/// Mostly Kafka, and few L4-only entries to shadow them, so that requests meet several
/// overlapping `rules.kafka` entries, allow and deny.
const KAFKA_MIX: Mix = Mix {
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

fn policies(mix: Mix) -> impl Strategy<Value = Vec<Policy>> {
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

fn request() -> impl Strategy<Value = Req> {
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

/// Compiles `policies` with the table `learned` describes and checks every request against the
/// reference: its connection, the request as HTTP, and a DNS query for its name.
fn agrees(
    policies: &[Policy],
    learned: &[Learnt],
    reqs: &[Req],
    app: &str,
) -> Result<(), TestCaseError> {
    let labels: Labels = [("app".to_owned(), app.to_owned())].into_iter().collect();
    let compiled = CompiledPolicy::compile_with(policies, &labels, dns_gen::table(learned))
        .expect("generated policies compile");
    prop_assert_eq!(compiled.has_fqdn(), reference_has_fqdn(policies, &labels));
    for req in reqs {
        let grpc = req
            .grpc
            .map(|(service, method)| GrpcCall { service, method });
        let http = HttpRequest {
            method: req.method,
            path: req.path,
            host: req.host,
            headers: &req.headers,
            grpc,
        };
        let v = compiled.check_http(&req.conn, &http);
        let (allowed, rule, actions) = reference_http(policies, &labels, learned, req);
        prop_assert_eq!(
            (v.allowed, v.rule.as_str(), &v.header_actions),
            (allowed, rule.as_str(), &actions),
            "request {:?}",
            req
        );
        let c = compiled.check_connection(&req.conn);
        let (allowed, rule, l7) = reference_conn(policies, &labels, learned, req);
        prop_assert_eq!(
            c,
            ConnVerdict {
                allowed,
                rule: sockmesh_policy::RuleId::new(rule),
                l7
            },
            "connection {:?}",
            req.conn
        );
        let name = dns_gen::dns_name(req.name);
        let v = compiled.check_dns(&req.conn, &name);
        let (allowed, rule) = reference_dns(policies, &labels, learned, &req.conn, req.name);
        prop_assert_eq!(
            (v.allowed, v.rule.as_str()),
            (allowed, rule.as_str()),
            "query for {:?} on {:?}",
            name,
            req.conn
        );
        prop_assert!(v.header_actions.is_empty());
        agrees_on_kafka(&compiled, policies, &labels, learned, req)?;
    }
    Ok(())
}

/// `check_kafka` against the reference; and for a key `kafka_topic_keys` leaves out, the same
/// verdict without the topics (the proxy skips those bodies).
fn agrees_on_kafka(
    compiled: &CompiledPolicy,
    policies: &[Policy],
    labels: &Labels,
    learned: &[Learnt],
    req: &Req,
) -> Result<(), TestCaseError> {
    let q = &req.kafka;
    let kreq = KafkaRequest {
        api_key: q.key,
        api_version: q.version,
        client_id: q.client,
        topics: &q.topics,
        all_topics: q.all,
    };
    let v = compiled.check_kafka(&req.conn, &kreq);
    let (allowed, rule) = reference_kafka(policies, labels, learned, &req.conn, q);
    prop_assert_eq!(
        (v.allowed, v.rule.as_str()),
        (allowed, rule.as_str()),
        "kafka {:?} on {:?}",
        q,
        req.conn
    );
    prop_assert!(v.header_actions.is_empty());
    if !compiled.kafka_topic_keys(&req.conn).contains(q.key) {
        let bare = compiled.check_kafka(
            &req.conn,
            &KafkaRequest {
                topics: &[],
                all_topics: false,
                ..kreq
            },
        );
        prop_assert_eq!(bare, v, "topics of key {} decided", q.key);
    }
    Ok(())
}

fn apps() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(&["web", "db", "other"][..])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn compiled_equals_reference(policies in policies(HTTP_MIX), learned in dns_gen::learned(), reqs in proptest::collection::vec(request(), 1..8), app in apps()) {
        agrees(&policies, &learned, &reqs, app)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// The same with mostly `rules.dns` entries and `toFQDNs` peers: `check_dns` and the
    /// connection verdict (`l7: Dns`) against the reference.
    #[test]
    fn compiled_equals_reference_for_dns(policies in policies(DNS_MIX), learned in dns_gen::learned(), reqs in proptest::collection::vec(request(), 1..8), app in apps()) {
        agrees(&policies, &learned, &reqs, app)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// The same with mostly `rules.kafka` entries: `check_kafka` and the connection verdict
    /// (`l7: Kafka`) against Cilium's rule-by-rule walk.
    #[test]
    fn compiled_equals_reference_for_kafka(policies in policies(KAFKA_MIX), learned in dns_gen::learned(), reqs in proptest::collection::vec(request(), 1..8), app in apps()) {
        agrees(&policies, &learned, &reqs, app)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// A gRPC call is read from exactly `/Service/Method` (dot-separated words of letters,
    /// digits and `_`, then one such word), and from nothing else: what the policy matches is
    /// then the method a server dispatching on the whole path finds.
    #[test]
    fn grpc_calls_come_only_from_plain_paths(path in "[/a-zA-Z0-9_.?;%# -]{0,24}") {
        let plain = regex::Regex::new(r"^/[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*/[A-Za-z0-9_]+$").expect("regex");
        match GrpcCall::from_path(&path) {
            Some(call) => {
                prop_assert!(plain.is_match(&path), "{} read as {:?}", path, call);
                prop_assert_eq!(format!("/{}/{}", call.service, call.method), path);
            }
            None => prop_assert!(!plain.is_match(&path), "{} is a call", path),
        }
    }
}

const FIXTURE: &str = include_str!("fixtures/web.yaml");

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Arbitrary text never panics the parser.
    #[test]
    fn parser_never_panics(text in "\\PC{0,300}") {
        let _ = sockmesh_policy::cilium::parse_documents("f.yaml", &text);
    }

    /// A real policy with a random splice stays panic-free through parse, compile and evaluation,
    /// and every error it yields is positioned inside the file.
    #[test]
    fn mutated_fixture_never_panics(
        at in 0usize..FIXTURE.len(),
        cut in 0usize..40,
        insert in "[ :\\-\\[\\]{}'\"#&*!|>,.0-9a-z\n]{0,6}",
    ) {
        let at = (0..=at).rev().find(|i| FIXTURE.is_char_boundary(*i)).unwrap_or(0);
        let end = (at + cut).min(FIXTURE.len());
        let end = (end..=FIXTURE.len()).find(|i| FIXTURE.is_char_boundary(*i)).unwrap_or(FIXTURE.len());
        let text = format!("{}{}{}", &FIXTURE[..at], insert, &FIXTURE[end..]);
        let lines = text.lines().count().max(1) + 1;
        match sockmesh_policy::cilium::parse_documents("f.yaml", &text) {
            Err(errors) => {
                prop_assert!(!errors.is_empty());
                for e in errors {
                    prop_assert!(e.line >= 1 && e.line <= lines, "{} (file has {} lines)", e, lines);
                    prop_assert!(e.column >= 1);
                    prop_assert!(e.help.is_some(), "every error says what to do: {}", e);
                }
            }
            Ok(policies) => {
                let labels: Labels = [("app".to_owned(), "web".to_owned())].into_iter().collect();
                if let Ok(c) = CompiledPolicy::compile(&policies, &labels) {
                    let conn = ConnMeta { direction: Direction::Ingress, peer: "10.0.0.1".parse().expect("ip"), port: 8080, protocol: L4Protocol::Tcp, identity: None };
                    let _ = c.check_connection(&conn);
                    let _ = c.check_http(&conn, &HttpRequest { method: "GET", path: "/api/v1/x", host: None, headers: &sockmesh_policy::NoHeaders, grpc: None });
                }
            }
        }
    }
}
