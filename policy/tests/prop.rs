//! Property test: the compiled, indexed evaluation must agree with a naive evaluator written
//! straight from the model (same allowed flag, same deciding rule, same header actions) on random
//! policies and requests. The value universe is deliberately small so that rules overlap often.

use std::net::IpAddr;

use proptest::prelude::*;
use regex::Regex;
use sockmesh_policy::model::*;
use sockmesh_policy::{
    CompiledPolicy, ConnMeta, ConnVerdict, Direction, GrpcCall, HeaderAction, HttpRequest,
    L4Protocol, L7Kind, Labels,
};

// ---------- generators ----------

fn net(s: &str) -> ipnet::IpNet {
    s.parse().expect("test CIDR")
}

fn opt<T: Clone + std::fmt::Debug + 'static>(
    items: &'static [T],
) -> impl Strategy<Value = Option<T>> {
    prop_oneof![Just(None), proptest::sample::select(items).prop_map(Some)]
}

fn peer_selector() -> impl Strategy<Value = PeerSelector> {
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

const HEADER_SETS: &[&[&str]] = &[&[], &["x-a"], &["X-A: 1"], &["x-a: 2", "x-b"]];

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
        opt(&["GET", "GET|POST", "P.*", "PUT"]),
        opt(&["/a", "/a/.*", "/b", "/[ab]", "/a/x", "/.*"]),
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

fn port_rule() -> impl Strategy<Value = PortRule> {
    (
        proptest::collection::vec(port(), 0..3),
        prop_oneof![
            2 => Just(None),
            3 => (proptest::collection::vec(http_rule(), 0..4), proptest::collection::vec(grpc_rule(), 0..2))
                .prop_map(|(http, grpc)| Some(L7Rules { http, grpc, ..L7Rules::default() })),
        ],
    )
        .prop_map(|(ports, rules)| PortRule { ports, rules })
}

fn rule() -> impl Strategy<Value = Rule> {
    (
        proptest::collection::vec(peer_selector(), 0..3),
        proptest::collection::vec(port_rule(), 0..3),
    )
        .prop_map(|(peers, to_ports)| Rule { peers, to_ports })
}

fn section() -> impl Strategy<Value = Option<Vec<Rule>>> {
    prop_oneof![2 => Just(None), 3 => proptest::collection::vec(rule(), 0..4).prop_map(Some)]
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        opt(&["web", "db"]),
        (section(), section(), section(), section()),
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

fn policies() -> impl Strategy<Value = Vec<Policy>> {
    proptest::collection::vec(proptest::collection::vec(spec(), 1..3), 0..4).prop_map(|ps| {
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

#[derive(Clone, Debug)]
struct Req {
    conn: ConnMeta,
    method: &'static str,
    path: &'static str,
    host: Option<&'static str>,
    headers: Vec<(String, String)>,
    grpc: Option<(&'static str, &'static str)>,
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
    ];
    (
        (
            proptest::sample::select(&[Direction::Ingress, Direction::Egress][..]),
            proptest::sample::select(PEERS),
            proptest::sample::select(&[80u16, 81, 84, 85, 443, 444, 9][..]),
            proptest::sample::select(&[L4Protocol::Tcp, L4Protocol::Udp, L4Protocol::Sctp][..]),
        ),
        proptest::sample::select(&["GET", "POST", "PUT"][..]),
        proptest::sample::select(&["/a", "/a/x", "/b", "/c", "/a/x?q=1"][..]),
        opt(&["h", "g"]),
        proptest::sample::subsequence(
            &[("X-A", "1"), ("x-b", "1"), ("x-c", "2"), ("x-d", "")][..],
            0..4,
        ),
        proptest::sample::select(&[false, true][..]),
        opt(&[("s.S", "M"), ("t.T", "N"), ("s.X", "N")]),
    )
        .prop_map(
            |((direction, peer, port, protocol), method, path, host, hs, a2, grpc)| {
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
                    },
                    method,
                    path,
                    host,
                    headers,
                    grpc,
                }
            },
        )
}

// ---------- the naive reference evaluator ----------

fn full(pattern: &Option<String>, value: Option<&str>) -> bool {
    match pattern {
        None => true,
        Some(p) => value.is_some_and(|v| {
            Regex::new(&format!("^(?:{p})$"))
                .expect("regex")
                .is_match(v)
        }),
    }
}

fn header<'a>(req: &'a Req, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn http_matches(r: &HttpRule, req: &Req) -> bool {
    full(&r.method, Some(req.method))
        && full(&r.path, Some(req.path))
        && full(&r.host, req.host)
        && r.headers.iter().all(|line| match line.split_once(':') {
            Some((n, v)) => header(req, n.trim()) == Some(v.trim()),
            None => header(req, line.trim()).is_some(),
        })
        && r.header_matches
            .iter()
            .filter(|m| m.mismatch.is_none())
            .all(|m| match (&m.value, header(req, &m.name)) {
                (_, None) => false,
                (None, Some(_)) => true,
                (Some(want), Some(got)) => want == got,
            })
}

fn actions(r: &HttpRule, req: &Req) -> Vec<HeaderAction> {
    let mut out = Vec::new();
    for m in &r.header_matches {
        let Some(action) = m.mismatch else { continue };
        let got = header(req, &m.name);
        let matched = match (&m.value, got) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(w), Some(g)) => w == g,
        };
        if matched {
            continue;
        }
        let name = m.name.to_ascii_lowercase();
        let value = m.value.clone().unwrap_or_default();
        out.push(match action {
            MismatchAction::Log => HeaderAction::Log {
                name,
                expected: value,
            },
            MismatchAction::Add => HeaderAction::Add { name, value },
            MismatchAction::Delete => HeaderAction::Delete { name },
            MismatchAction::Replace => HeaderAction::Replace { name, value },
        });
    }
    out
}

fn grpc_matches(r: &GrpcRule, req: &Req) -> bool {
    let Some((service, method)) = req.grpc else {
        return false;
    };
    r.service.as_deref().is_none_or(|s| s == service)
        && r.method.as_deref().is_none_or(|m| m == method)
        && full(&r.service_regex, Some(service))
        && full(&r.method_regex, Some(method))
}

fn peer_ok(rule: &Rule, ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    rule.peers.is_empty()
        || rule.peers.iter().any(|p| match p {
            PeerSelector::Endpoints(_) | PeerSelector::Entity(_) => true,
            PeerSelector::Cidr(c) => {
                c.cidr.contains(&ip) && !c.except.iter().any(|e| e.contains(&ip))
            }
        })
}

fn port_ok(pr: &PortRule, c: &ConnMeta) -> bool {
    pr.ports.is_empty()
        || pr.ports.iter().any(|p| {
            let lo = p.port;
            let hi = if p.port == 0 {
                u16::MAX
            } else {
                p.end_port.unwrap_or(p.port)
            };
            let lo = if p.port == 0 { 0 } else { lo };
            (lo..=hi).contains(&c.port) && p.protocol.is_none_or(|x| x == c.protocol)
        })
}

fn selected<'a>(policies: &'a [Policy], labels: &Labels) -> Vec<(String, &'a Spec)> {
    let mut out = Vec::new();
    for p in policies {
        for (i, s) in p.specs.iter().enumerate() {
            let ok = s
                .endpoint_selector
                .match_labels
                .iter()
                .all(|(k, v)| labels.0.get(k) == Some(v));
            if ok {
                let name = match &p.namespace {
                    Some(ns) => format!("{ns}/{}", p.name),
                    None => p.name.clone(),
                };
                let prefix = if p.specs.len() > 1 {
                    format!("specs[{i}].")
                } else {
                    String::new()
                };
                out.push((format!("{name}: {prefix}"), s));
            }
        }
    }
    out
}

/// A matching element of a section, in decision order.
enum Found {
    L4(String),
    L7(String, Vec<HeaderAction>),
}

/// The first element of the `deny`/allow sections matching `req` (full request semantics).
fn first(sel: &[(String, &Spec)], req: &Req, deny: bool, l4_only: bool) -> Option<Found> {
    let d = req.conn.direction;
    let sec = match (d, deny) {
        (Direction::Ingress, false) => "ingress",
        (Direction::Ingress, true) => "ingressDeny",
        (Direction::Egress, false) => "egress",
        (Direction::Egress, true) => "egressDeny",
    };
    for (prefix, spec) in sel {
        let rules = if deny { spec.deny(d) } else { spec.allow(d) };
        for (ri, rule) in rules.unwrap_or(&[]).iter().enumerate() {
            if !peer_ok(rule, req.conn.peer) {
                continue;
            }
            let base = format!("{prefix}{sec}[{ri}]");
            if rule.to_ports.is_empty() {
                return Some(Found::L4(base));
            }
            for (pi, pr) in rule.to_ports.iter().enumerate() {
                if !port_ok(pr, &req.conn) {
                    continue;
                }
                let id = format!("{base}.toPorts[{pi}]");
                let l7 = pr
                    .rules
                    .as_ref()
                    .filter(|r| !r.http.is_empty() || !r.grpc.is_empty());
                let Some(l7) = l7 else {
                    return Some(Found::L4(id));
                };
                if l4_only {
                    // Connection-level query: "an L7 entry matches at L3/L4".
                    return Some(Found::L7(id, Vec::new()));
                }
                for (k, h) in l7.http.iter().enumerate() {
                    if http_matches(h, req) {
                        return Some(Found::L7(format!("{id}.rules.http[{k}]"), actions(h, req)));
                    }
                }
                for (k, g) in l7.grpc.iter().enumerate() {
                    if grpc_matches(g, req) {
                        return Some(Found::L7(format!("{id}.rules.grpc[{k}]"), Vec::new()));
                    }
                }
            }
        }
    }
    None
}

fn default(sel: &[(String, &Spec)], d: Direction) -> (bool, String) {
    if sel.iter().any(|(_, s)| s.default_deny(d)) {
        (false, format!("default-deny ({})", d.as_str()))
    } else if sel
        .iter()
        .any(|(_, s)| s.allow(d).is_some() || s.deny(d).is_some())
    {
        (
            true,
            format!("default-allow ({}: enableDefaultDeny is false)", d.as_str()),
        )
    } else {
        (
            true,
            format!(
                "default-allow ({0}: no policy selects this workload for {0})",
                d.as_str()
            ),
        )
    }
}

fn reference_http(
    policies: &[Policy],
    labels: &Labels,
    req: &Req,
) -> (bool, String, Vec<HeaderAction>) {
    let sel = selected(policies, labels);
    match first(&sel, req, true, false) {
        Some(Found::L4(id) | Found::L7(id, _)) => return (false, id, Vec::new()),
        None => {}
    }
    match first(&sel, req, false, false) {
        Some(Found::L4(id)) => (true, id, Vec::new()),
        Some(Found::L7(id, a)) => (true, id, a),
        None => {
            let (allowed, id) = default(&sel, req.conn.direction);
            (allowed, id, Vec::new())
        }
    }
}

/// Connection semantics: L4-only entries decide; entries with L7 rules only demand inspection.
fn reference_conn(policies: &[Policy], labels: &Labels, req: &Req) -> (bool, String, L7Kind) {
    let sel = selected(policies, labels);
    let first_where = |deny: bool, want_l7: bool| -> Option<String> {
        // Walk entries in order, returning the first L4-only (or L7) entry matching at L3/L4.
        let d = req.conn.direction;
        let sec = match (d, deny) {
            (Direction::Ingress, false) => "ingress",
            (Direction::Ingress, true) => "ingressDeny",
            (Direction::Egress, false) => "egress",
            (Direction::Egress, true) => "egressDeny",
        };
        for (prefix, spec) in &sel {
            let rules = if deny { spec.deny(d) } else { spec.allow(d) };
            for (ri, rule) in rules.unwrap_or(&[]).iter().enumerate() {
                if !peer_ok(rule, req.conn.peer) {
                    continue;
                }
                let base = format!("{prefix}{sec}[{ri}]");
                if rule.to_ports.is_empty() {
                    if !want_l7 {
                        return Some(base);
                    }
                    continue;
                }
                for (pi, pr) in rule.to_ports.iter().enumerate() {
                    let has_l7 = pr
                        .rules
                        .as_ref()
                        .is_some_and(|r| !r.http.is_empty() || !r.grpc.is_empty());
                    if port_ok(pr, &req.conn) && has_l7 == want_l7 {
                        return Some(format!("{base}.toPorts[{pi}]"));
                    }
                }
            }
        }
        None
    };
    if let Some(id) = first_where(true, false) {
        return (false, id, L7Kind::None);
    }
    let deny_l7 = if first_where(true, true).is_some() {
        L7Kind::Http
    } else {
        L7Kind::None
    };
    if let Some(id) = first_where(false, false) {
        return (true, id, deny_l7);
    }
    if let Some(id) = first_where(false, true) {
        return (true, id, L7Kind::Http);
    }
    let (allowed, id) = default(&sel, req.conn.direction);
    (allowed, id, if allowed { deny_l7 } else { L7Kind::None })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn compiled_equals_reference(policies in policies(), reqs in proptest::collection::vec(request(), 1..8), app in proptest::sample::select(&["web", "db", "other"][..])) {
        let labels: Labels = [("app".to_owned(), app.to_owned())].into_iter().collect();
        let compiled = CompiledPolicy::compile(&policies, &labels).expect("generated policies compile");
        for req in &reqs {
            let grpc = req.grpc.map(|(service, method)| GrpcCall { service, method });
            let http = HttpRequest { method: req.method, path: req.path, host: req.host, headers: &req.headers, grpc };
            let v = compiled.check_http(&req.conn, &http);
            let (allowed, rule, actions) = reference_http(&policies, &labels, req);
            prop_assert_eq!((v.allowed, v.rule.as_str(), &v.header_actions), (allowed, rule.as_str(), &actions), "request {:?}", req);
            let c = compiled.check_connection(&req.conn);
            let (allowed, rule, l7) = reference_conn(&policies, &labels, req);
            prop_assert_eq!(c, ConnVerdict { allowed, rule: sockmesh_policy::RuleId::new(rule), l7 }, "connection {:?}", req.conn);
        }
    }
}
