//! The naive reference evaluator: Cilium's decision procedure written straight from the model,
//! walking every policy, spec, rule and port entry in order. No indexes, no shared code with the
//! crate's compiler (only the model types), so the two can disagree.

use std::net::IpAddr;

use regex::Regex;
use sockmesh_policy::model::*;
use sockmesh_policy::{ConnMeta, Direction, HeaderAction, L7Kind, Labels};

pub mod dns;
pub mod kafka;

use dns::{Learnt, Name, fqdn_peer};

/// The rules of one section of a spec.
fn section(spec: &Spec, d: Direction, deny: bool) -> Option<&[Rule]> {
    match (d, deny) {
        (Direction::Ingress, false) => spec.ingress.as_deref(),
        (Direction::Ingress, true) => spec.ingress_deny.as_deref(),
        (Direction::Egress, false) => spec.egress.as_deref(),
        (Direction::Egress, true) => spec.egress_deny.as_deref(),
    }
}

/// Cilium: `enableDefaultDeny.<dir>` if given, else "the spec has rules for that direction".
fn default_deny(spec: &Spec, d: Direction) -> bool {
    let explicit = match d {
        Direction::Ingress => spec.enable_default_deny.ingress,
        Direction::Egress => spec.enable_default_deny.egress,
    };
    explicit.unwrap_or(section(spec, d, false).is_some() || section(spec, d, true).is_some())
}

/// The YAML name of a section.
fn sec_name(d: Direction, deny: bool) -> &'static str {
    match (d, deny) {
        (Direction::Ingress, false) => "ingress",
        (Direction::Ingress, true) => "ingressDeny",
        (Direction::Egress, false) => "egress",
        (Direction::Egress, true) => "egressDeny",
    }
}

/// The L7 rules of a port entry, `None` when it has none (`rules: {}` is L4 only too).
fn l7_rules(pr: &PortRule) -> Option<&L7Rules> {
    pr.rules.as_deref().filter(|r| {
        !(r.http.is_empty() && r.grpc.is_empty() && r.dns.is_empty() && r.kafka.is_empty())
    })
}

/// What a port entry with L7 rules makes the proxy parse: DNS for `rules.dns`, Kafka for
/// `rules.kafka`, else HTTP.
fn kind(pr: &PortRule) -> L7Kind {
    match l7_rules(pr) {
        Some(r) if !r.dns.is_empty() => L7Kind::Dns,
        Some(r) if !r.kafka.is_empty() => L7Kind::Kafka,
        _ => L7Kind::Http,
    }
}

/// One generated request with its connection.
#[derive(Clone, Debug)]
pub struct Req {
    pub conn: ConnMeta,
    pub method: &'static str,
    pub path: &'static str,
    pub host: Option<&'static str>,
    pub headers: Vec<(String, String)>,
    pub grpc: Option<(&'static str, &'static str)>,
    /// The name of a DNS query on the same connection.
    pub name: Name,
    /// A Kafka request on the same connection.
    pub kafka: kafka::KReq,
}

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

/// The values of field `name`, in order.
fn values<'a>(req: &'a Req, name: &str) -> Vec<&'a str> {
    req.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Envoy's view: the values joined with `,`; `None` if absent.
fn header(req: &Req, name: &str) -> Option<String> {
    let vs = values(req, name);
    (!vs.is_empty()).then(|| vs.join(","))
}

/// Whether header `name` meets `want` (`None`: present). Allow rules compare the joined value;
/// deny rules also take any field value or any trimmed comma-separated member of one.
fn header_ok(req: &Req, name: &str, want: Option<&str>, deny: bool) -> bool {
    let Some(joined) = header(req, name) else {
        return false;
    };
    let Some(want) = want else { return true };
    if joined == want {
        return true;
    }
    deny && values(req, name).iter().any(|v| {
        *v == want
            || v.split(',')
                .any(|m| m.trim_matches(|c| c == ' ' || c == '\t') == want)
    })
}

fn http_matches(r: &HttpRule, req: &Req, deny: bool) -> bool {
    // A CONNECT has no path (RFC 9110 section 9.3.6).
    let path = (req.method != "CONNECT").then_some(req.path);
    full(&r.method, Some(req.method))
        && full(&r.path, path)
        && full(&r.host, req.host)
        && r.headers.iter().all(|line| match line.split_once(' ') {
            // Cilium: split at the first space, drop a trailing ':' from the name.
            Some((n, v)) => header_ok(req, n.trim_end_matches(':'), Some(v.trim()), deny),
            None => match line.split_once(':') {
                Some((n, v)) => header_ok(req, n, Some(v), deny),
                None => header_ok(req, line, None, deny),
            },
        })
        && r.header_matches
            .iter()
            .filter(|m| m.mismatch.is_none())
            .all(|m| header_ok(req, &m.name, m.value.as_deref(), deny))
}

fn actions(r: &HttpRule, req: &Req) -> Vec<HeaderAction> {
    let mut out = Vec::new();
    for m in &r.header_matches {
        let Some(action) = m.mismatch else { continue };
        let got = header(req, &m.name);
        let matched = match (&m.value, got) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(w), Some(g)) => *w == g,
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

/// Whether `rule`'s peers take `ip`; a `toFQDNs` selector of a deny rule matches learned names
/// with any byte for a wildcard, as deny patterns do.
fn peer_ok(rule: &Rule, ip: IpAddr, learned: &[Learnt], deny: bool) -> bool {
    let ip = ip.to_canonical();
    rule.peers.is_empty()
        || rule.peers.iter().any(|p| match p {
            PeerSelector::Endpoints(_) | PeerSelector::Entity(_) => true,
            PeerSelector::Fqdn(sel) => fqdn_peer(sel, ip, learned, deny),
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
fn first(
    sel: &[(String, &Spec)],
    learned: &[Learnt],
    req: &Req,
    deny: bool,
    l4_only: bool,
) -> Option<Found> {
    let d = req.conn.direction;
    let sec = sec_name(d, deny);
    for (prefix, spec) in sel {
        let rules = section(spec, d, deny);
        for (ri, rule) in rules.unwrap_or(&[]).iter().enumerate() {
            if !peer_ok(rule, req.conn.peer, learned, deny) {
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
                // An entry with `rules.dns` or `rules.kafka` has no HTTP or gRPC rule: it
                // decides no request.
                let Some(l7) = l7_rules(pr) else {
                    return Some(Found::L4(id));
                };
                if l4_only {
                    // Connection-level query: "an L7 entry matches at L3/L4".
                    return Some(Found::L7(id, Vec::new()));
                }
                for (k, h) in l7.http.iter().enumerate() {
                    if http_matches(h, req, deny) {
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
    if sel.iter().any(|(_, s)| default_deny(s, d)) {
        (false, format!("default-deny ({})", d.as_str()))
    } else if sel
        .iter()
        .any(|(_, s)| section(s, d, false).is_some() || section(s, d, true).is_some())
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

pub fn reference_http(
    policies: &[Policy],
    labels: &Labels,
    learned: &[Learnt],
    req: &Req,
) -> (bool, String, Vec<HeaderAction>) {
    let sel = selected(policies, labels);
    match first(&sel, learned, req, true, false) {
        Some(Found::L4(id) | Found::L7(id, _)) => return (false, id, Vec::new()),
        None => {}
    }
    match first(&sel, learned, req, false, false) {
        Some(Found::L4(id)) => (true, id, Vec::new()),
        Some(Found::L7(id, a)) => (true, id, a),
        None => {
            let (allowed, id) = default(&sel, req.conn.direction);
            (allowed, id, Vec::new())
        }
    }
}

/// Connection semantics: L4-only entries decide; entries with L7 rules only demand inspection,
/// in the protocol of the first such entry in decision order (`rules.dns`: DNS, else HTTP).
pub fn reference_conn(
    policies: &[Policy],
    labels: &Labels,
    learned: &[Learnt],
    req: &Req,
) -> (bool, String, L7Kind) {
    let sel = selected(policies, labels);
    let first_where = |deny: bool, want_l7: bool| -> Option<(String, L7Kind)> {
        // Walk entries in order, returning the first L4-only (or L7) entry matching at L3/L4.
        let d = req.conn.direction;
        let sec = sec_name(d, deny);
        for (prefix, spec) in &sel {
            let rules = section(spec, d, deny);
            for (ri, rule) in rules.unwrap_or(&[]).iter().enumerate() {
                if !peer_ok(rule, req.conn.peer, learned, deny) {
                    continue;
                }
                let base = format!("{prefix}{sec}[{ri}]");
                if rule.to_ports.is_empty() {
                    if !want_l7 {
                        return Some((base, L7Kind::None));
                    }
                    continue;
                }
                for (pi, pr) in rule.to_ports.iter().enumerate() {
                    let has_l7 = l7_rules(pr).is_some();
                    if port_ok(pr, &req.conn) && has_l7 == want_l7 {
                        return Some((format!("{base}.toPorts[{pi}]"), kind(pr)));
                    }
                }
            }
        }
        None
    };
    if let Some((id, _)) = first_where(true, false) {
        return (false, id, L7Kind::None);
    }
    let deny_l7 = first_where(true, true).map_or(L7Kind::None, |(_, k)| k);
    if let Some((id, _)) = first_where(false, false) {
        return (true, id, deny_l7);
    }
    if let Some((id, k)) = first_where(false, true) {
        return (true, id, k);
    }
    let (allowed, id) = default(&sel, req.conn.direction);
    (allowed, id, if allowed { deny_l7 } else { L7Kind::None })
}
