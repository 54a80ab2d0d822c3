use std::net::IpAddr;

use crate::cilium::parse_documents;
use crate::request::{ConnMeta, Direction, Headers, HttpRequest, L4Protocol, Labels};
use crate::verdict::L7Kind;

use super::{CompileError, CompiledPolicy};

mod dns;
mod kafka;
mod l7;

pub(super) const HEAD: &str =
    "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: p\n  namespace: ns\n";

pub(super) fn web() -> Labels {
    [("app".to_owned(), "web".to_owned())].into_iter().collect()
}

/// Compiles one policy whose `spec` body is `spec` (indented by the caller as YAML under `spec:`).
pub(super) fn compile(spec: &str) -> CompiledPolicy {
    let text = format!("{HEAD}spec:\n  endpointSelector: {{}}\n{spec}");
    let policies = parse_documents("t.yaml", &text).unwrap_or_else(|e| {
        panic!(
            "{}",
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    CompiledPolicy::compile(&policies, &web()).expect("compiles")
}

pub(super) fn conn(dir: Direction, peer: &str, port: u16) -> ConnMeta {
    ConnMeta {
        direction: dir,
        peer: peer.parse::<IpAddr>().expect("ip"),
        port,
        protocol: L4Protocol::Tcp,
        identity: None,
    }
}

pub(super) fn ing(peer: &str, port: u16) -> ConnMeta {
    conn(Direction::Ingress, peer, port)
}

pub(super) fn get<'a>(path: &'a str, headers: &'a &'a [(&'a str, &'a str)]) -> HttpRequest<'a> {
    HttpRequest {
        method: "GET",
        path,
        host: Some("web.example"),
        headers: headers as &dyn Headers,
        grpc: None,
    }
}

pub(super) fn req<'a>(method: &'a str, path: &'a str) -> HttpRequest<'a> {
    HttpRequest {
        method,
        path,
        host: None,
        headers: &crate::NoHeaders,
        grpc: None,
    }
}

#[test]
fn no_policy_allows_with_default_allow() {
    let c = CompiledPolicy::compile(&[] as &[crate::model::Policy], &web()).expect("compiles");
    let v = c.check_connection(&ing("10.0.0.1", 80));
    assert!(v.allowed);
    assert_eq!(
        v.rule.as_str(),
        "default-allow (ingress: no policy selects this workload for ingress)"
    );
    assert_eq!(v.l7, L7Kind::None);
    assert_eq!(c.rule_count(), 0);
    let d = CompiledPolicy::default();
    assert_eq!(d.check_connection(&ing("10.0.0.1", 80)), v);
    assert_eq!(d.describe(), c.describe());
}

#[test]
fn ingress_section_puts_ingress_only_into_default_deny() {
    let c = compile("  ingress:\n  - toPorts:\n    - ports: [{port: 80, protocol: TCP}]\n");
    let v = c.check_connection(&ing("10.0.0.1", 81));
    assert!(!v.allowed);
    assert_eq!(v.rule.as_str(), "default-deny (ingress)");
    let v = c.check_connection(&ing("10.0.0.1", 80));
    assert!(v.allowed);
    assert_eq!(v.rule.as_str(), "ns/p: ingress[0].toPorts[0]");
    assert_eq!(v.l7, L7Kind::None);
    let v = c.check_connection(&conn(Direction::Egress, "10.0.0.1", 81));
    assert!(v.allowed);
    assert!(v.rule.as_str().starts_with("default-allow (egress"));
}

#[test]
fn empty_section_is_default_deny() {
    let c = compile("  ingress: []\n");
    let v = c.check_connection(&ing("10.0.0.1", 80));
    assert!(!v.allowed);
    assert_eq!(v.rule.as_str(), "default-deny (ingress)");
}

#[test]
fn rule_without_l3_or_ports_allows_everything() {
    let c = compile("  ingress:\n  - {}\n");
    let v = c.check_connection(&ing("192.0.2.1", 4242));
    assert!(v.allowed);
    assert_eq!(v.rule.as_str(), "ns/p: ingress[0]");
}

#[test]
fn protocol_and_port_ranges() {
    let c = compile(
        "  ingress:\n  - toPorts:\n    - ports: [{port: 5000, endPort: 5010, protocol: UDP}]\n    - ports: [{port: \"0\", protocol: SCTP}]\n",
    );
    let mut m = ing("10.0.0.1", 5005);
    assert!(!c.check_connection(&m).allowed, "TCP not in UDP range");
    m.protocol = L4Protocol::Udp;
    assert!(c.check_connection(&m).allowed);
    m.port = 5011;
    assert!(!c.check_connection(&m).allowed);
    m.port = 5010;
    assert!(c.check_connection(&m).allowed);
    m.protocol = L4Protocol::Sctp;
    m.port = 1;
    let v = c.check_connection(&m);
    assert!(v.allowed);
    assert_eq!(v.rule.as_str(), "ns/p: ingress[0].toPorts[1]");
}

#[test]
fn cidr_and_cidr_set_with_except_and_mapped_ipv6() {
    let c = compile(
        "  ingress:\n  - fromCIDR: [192.0.2.7]\n  - fromCIDRSet:\n    - cidr: 10.0.0.0/8\n      except: [10.1.0.0/16]\n  - fromCIDR: ['2001:db8::/32']\n",
    );
    let check = |peer: &str| {
        let v = c.check_connection(&ing(peer, 80));
        v.allowed.then(|| v.rule.to_string())
    };
    assert_eq!(check("192.0.2.7").as_deref(), Some("ns/p: ingress[0]"));
    assert_eq!(check("192.0.2.8"), None);
    assert_eq!(check("10.2.3.4").as_deref(), Some("ns/p: ingress[1]"));
    assert_eq!(check("10.1.3.4"), None, "except");
    assert_eq!(
        check("::ffff:10.2.3.4").as_deref(),
        Some("ns/p: ingress[1]")
    );
    assert_eq!(check("::ffff:10.1.3.4"), None);
    assert_eq!(check("2001:db8::5").as_deref(), Some("ns/p: ingress[2]"));
    assert_eq!(check("2001:db9::5"), None);
}

#[test]
fn endpoints_all_and_entity_all_match_every_peer() {
    let c = compile("  ingress:\n  - fromEndpoints: [{}]\n  egress:\n  - toEntities: [all]\n");
    assert!(c.check_connection(&ing("203.0.113.9", 1)).allowed);
    assert_eq!(
        c.check_connection(&conn(Direction::Egress, "203.0.113.9", 1))
            .rule
            .as_str(),
        "ns/p: egress[0]"
    );
}

#[test]
fn deny_wins_over_allow_and_names_the_deny_rule() {
    let c = compile(
        "  ingress:\n  - {}\n  ingressDeny:\n  - fromCIDR: [10.0.0.0/8]\n    toPorts:\n    - ports: [{port: 22}]\n",
    );
    let v = c.check_connection(&ing("10.1.1.1", 22));
    assert!(!v.allowed);
    assert_eq!(v.rule.as_str(), "ns/p: ingressDeny[0].toPorts[0]");
    let v = c.check_http(&ing("10.1.1.1", 22), &get("/", &&[][..]));
    assert!(!v.allowed);
    assert_eq!(v.rule.as_str(), "ns/p: ingressDeny[0].toPorts[0]");
    assert!(c.check_connection(&ing("11.1.1.1", 22)).allowed);
    assert!(c.check_connection(&ing("10.1.1.1", 23)).allowed);
}

#[test]
fn deny_only_policy_enables_default_deny_like_cilium() {
    let c = compile("  ingressDeny:\n  - fromCIDR: [10.0.0.0/8]\n");
    let v = c.check_connection(&ing("10.0.0.1", 80));
    assert_eq!(v.rule.as_str(), "ns/p: ingressDeny[0]");
    let v = c.check_connection(&ing("11.0.0.1", 80));
    assert!(!v.allowed);
    assert_eq!(v.rule.as_str(), "default-deny (ingress)");
}

#[test]
fn enable_default_deny_false_makes_a_block_list() {
    let c = compile(
        "  enableDefaultDeny: {ingress: false}\n  ingressDeny:\n  - fromCIDR: [10.0.0.0/8]\n",
    );
    assert!(!c.check_connection(&ing("10.0.0.1", 80)).allowed);
    let v = c.check_connection(&ing("11.0.0.1", 80));
    assert!(v.allowed);
    assert_eq!(
        v.rule.as_str(),
        "default-allow (ingress: enableDefaultDeny is false)"
    );
}

#[test]
fn enable_default_deny_true_without_rules() {
    let c = compile("  enableDefaultDeny: {egress: true}\n");
    assert!(
        !c.check_connection(&conn(Direction::Egress, "1.1.1.1", 443))
            .allowed
    );
    assert!(c.check_connection(&ing("1.1.1.1", 443)).allowed);
}

#[test]
fn any_policy_requesting_default_deny_wins() {
    let text = format!(
        "{HEAD}spec:\n  endpointSelector: {{}}\n  enableDefaultDeny: {{ingress: false}}\n  ingressDeny: [{{fromCIDR: [10.0.0.0/8]}}]\n---\napiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {{name: q}}\nspec:\n  endpointSelector: {{}}\n  ingress: [{{toPorts: [{{ports: [{{port: 80}}]}}]}}]\n"
    );
    let p = parse_documents("t.yaml", &text).expect("parses");
    let c = CompiledPolicy::compile(&p, &web()).expect("compiles");
    assert!(!c.check_connection(&ing("11.0.0.1", 81)).allowed);
    assert_eq!(
        c.check_connection(&ing("11.0.0.1", 80)).rule.as_str(),
        "q: ingress[0].toPorts[0]"
    );
}

#[test]
fn unselected_policy_is_dropped() {
    let text =
        format!("{HEAD}spec:\n  endpointSelector:\n    matchLabels: {{app: db}}\n  ingress: []\n");
    let p = parse_documents("t.yaml", &text).expect("parses");
    let c = CompiledPolicy::compile(&p, &web()).expect("compiles");
    assert!(c.check_connection(&ing("1.1.1.1", 80)).allowed);
    let labels: Labels = [("app".to_owned(), "db".to_owned())].into_iter().collect();
    let c = CompiledPolicy::compile(&p, &labels).expect("compiles");
    assert!(!c.check_connection(&ing("1.1.1.1", 80)).allowed);
}

#[test]
fn namespaced_policy_selects_only_its_namespace() {
    let text = format!("{HEAD}spec:\n  endpointSelector: {{}}\n  ingress: []\n");
    let p = parse_documents("t.yaml", &text).expect("parses");
    let mut labels = web();
    labels
        .0
        .insert(crate::NAMESPACE_LABEL.to_owned(), "other".to_owned());
    let c = CompiledPolicy::compile(&p, &labels).expect("compiles");
    assert!(c.check_connection(&ing("1.1.1.1", 80)).allowed);
    labels
        .0
        .insert(crate::NAMESPACE_LABEL.to_owned(), "ns".to_owned());
    let c = CompiledPolicy::compile(&p, &labels).expect("compiles");
    assert!(!c.check_connection(&ing("1.1.1.1", 80)).allowed);
}

#[test]
fn first_matching_rule_in_order_decides() {
    let c = compile(
        "  ingress:\n  - fromCIDR: [10.0.0.0/8]\n  - fromCIDR: [10.1.0.0/16]\n  ingressDeny:\n  - fromCIDR: [192.0.2.0/24]\n    toPorts: [{ports: [{port: 1}]}]\n  - fromCIDR: [192.0.2.0/25]\n",
    );
    assert_eq!(
        c.check_connection(&ing("10.1.1.1", 1)).rule.as_str(),
        "ns/p: ingress[0]"
    );
    assert_eq!(
        c.check_connection(&ing("192.0.2.1", 1)).rule.as_str(),
        "ns/p: ingressDeny[0].toPorts[0]"
    );
    assert_eq!(
        c.check_connection(&ing("192.0.2.1", 2)).rule.as_str(),
        "ns/p: ingressDeny[1]"
    );
}

#[test]
fn specs_list_prefixes_ids() {
    let text = "apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {name: cw}\nspecs:\n- endpointSelector: {matchLabels: {app: db}}\n  ingress: [{}]\n- endpointSelector: {}\n  ingress: [{fromCIDR: [10.0.0.0/8]}]\n";
    let p = parse_documents("t.yaml", text).expect("parses");
    let c = CompiledPolicy::compile(&p, &web()).expect("compiles");
    assert_eq!(
        c.check_connection(&ing("10.0.0.1", 1)).rule.as_str(),
        "cw: specs[1].ingress[0]"
    );
    assert!(!c.check_connection(&ing("11.0.0.1", 1)).allowed);
}

#[test]
fn compile_rejects_what_it_cannot_enforce() {
    use crate::model::*;
    let rule = |l7: L7Rules| Rule {
        peers: Vec::new(),
        to_ports: vec![PortRule {
            ports: Vec::new(),
            rules: Some(std::sync::Arc::new(l7)),
        }],
    };
    let policy = |r: Rule| Policy {
        name: "x".into(),
        namespace: None,
        clusterwide: false,
        specs: vec![Spec {
            ingress: Some(vec![r]),
            ..Spec::default()
        }],
    };
    let bad = L7Rules {
        http: vec![HttpRule {
            path: Some("(".into()),
            ..HttpRule::default()
        }],
        ..L7Rules::default()
    };
    let err = CompiledPolicy::compile(&[policy(rule(bad))], &web()).expect_err("regex");
    assert!(
        matches!(err, CompileError::InvalidRegex { field: "path", .. }),
        "{err}"
    );
    assert!(err.to_string().contains("policy `x`"));
    let sel = Rule {
        peers: vec![PeerSelector::Endpoints(LabelSelector {
            match_labels: [("app".to_owned(), "a".to_owned())].into_iter().collect(),
            ..LabelSelector::default()
        })],
        to_ports: Vec::new(),
    };
    let err = CompiledPolicy::compile(&[policy(sel)], &web()).expect_err("selector");
    assert!(matches!(err, CompileError::Unsupported { .. }), "{err}");
}

#[test]
fn many_exact_ports_and_a_wildcard_share_the_index() {
    let mut spec = String::from("  ingress:\n");
    for p in 1..=300u16 {
        spec.push_str(&format!(
            "  - toPorts: [{{ports: [{{port: {p}, protocol: TCP}}]}}]\n"
        ));
    }
    spec.push_str("  - fromCIDR: [10.0.0.0/8]\n");
    let c = compile(&spec);
    assert_eq!(
        c.check_connection(&ing("1.1.1.1", 150)).rule.as_str(),
        "ns/p: ingress[149].toPorts[0]"
    );
    assert_eq!(
        c.check_connection(&ing("10.1.1.1", 150)).rule.as_str(),
        "ns/p: ingress[149].toPorts[0]"
    );
    assert_eq!(
        c.check_connection(&ing("10.1.1.1", 301)).rule.as_str(),
        "ns/p: ingress[300]"
    );
    assert!(!c.check_connection(&ing("1.1.1.1", 301)).allowed);
    assert_eq!(
        c.check_connection(&ing("1.1.1.1", 65535)).rule.as_str(),
        "default-deny (ingress)"
    );
    let mut m = ing("10.0.0.1", 65535);
    m.protocol = L4Protocol::Udp;
    assert_eq!(c.check_connection(&m).rule.as_str(), "ns/p: ingress[300]");
}

#[test]
fn duplicate_policy_names_are_refused() {
    let text = format!("{HEAD}spec:\n  endpointSelector: {{}}\n");
    let mut p = parse_documents("t.yaml", &text).expect("parses");
    p.extend(p.clone());
    let err = CompiledPolicy::compile(&p, &web()).expect_err("duplicate");
    assert_eq!(
        err,
        CompileError::DuplicatePolicy {
            policy: "ns/p".into()
        }
    );
}

#[test]
fn a_pattern_cannot_escape_its_anchoring() {
    // Wrapped as `^(?:a)|(?:b)$` this would parse, and match "starts with a" or "ends with b".
    let err = super::check_regex("a)|(?:b").expect_err("unbalanced pattern accepted");
    assert!(
        err.contains("unopened group") || err.contains("parse"),
        "{err}"
    );
    assert!(super::check_regex("(a|b)").is_ok());
    assert!(super::check_regex("/x/[0-9]{3}").is_ok());
}
