//! DNS (`rules.dns`) decisions.

use super::{HEAD, conn, web};
use crate::cilium::parse_documents;
use crate::dns::DnsName;
use crate::request::{ConnMeta, Direction, L4Protocol};
use crate::verdict::L7Kind;
use crate::{CompileError, CompiledPolicy};

fn compile_egress(egress: &str) -> Result<CompiledPolicy, CompileError> {
    let text = format!("{HEAD}spec:\n  endpointSelector: {{}}\n{egress}");
    let policies = parse_documents("t.yaml", &text).unwrap_or_else(|e| panic!("{}", e[0]));
    CompiledPolicy::compile(&policies, &web())
}

fn udp53(peer: &str) -> ConnMeta {
    ConnMeta {
        protocol: L4Protocol::Udp,
        ..conn(Direction::Egress, peer, 53)
    }
}

fn verdict(c: &CompiledPolicy, m: &ConnMeta, name: &str) -> (bool, String) {
    let v = c.check_dns(m, &DnsName::parse(name).expect("name"));
    (v.allowed, v.rule.to_string())
}

const DNS: &str = "  egress:\n  - toPorts:\n    - ports: [{port: \"53\", protocol: ANY}]\n      rules:\n        dns:\n        - matchPattern: \"*.allowed.test\"\n        - matchName: Exact.Test.\n        - {matchName: both.test, matchPattern: \"**.both.test\"}\n";

#[test]
fn dns_rules_need_dns_and_decide_by_name() {
    let c = compile_egress(DNS).expect("compiles");
    let m = udp53("10.0.0.53");
    let cv = c.check_connection(&m);
    assert!(cv.allowed);
    assert_eq!(cv.l7, L7Kind::Dns);
    let rule = |i: usize| format!("ns/p: egress[0].toPorts[0].rules.dns[{i}]");
    assert_eq!(verdict(&c, &m, "api.allowed.test"), (true, rule(0)));
    assert_eq!(verdict(&c, &m, "API.Allowed.Test."), (true, rule(0)));
    assert_eq!(verdict(&c, &m, "exact.test"), (true, rule(1)));
    assert_eq!(verdict(&c, &m, "both.test"), (true, rule(2)));
    assert_eq!(verdict(&c, &m, "a.b.both.test"), (true, rule(2)));
    for denied in [
        "allowed.test",
        "a.b.allowed.test",
        "x.exact.test",
        "other.test",
        ".",
    ] {
        assert_eq!(
            verdict(&c, &m, denied),
            (false, "default-deny (egress)".to_owned()),
            "{denied}"
        );
    }
    // TCP too (protocol ANY), and no other port.
    let tcp = conn(Direction::Egress, "10.0.0.53", 53);
    assert!(verdict(&c, &tcp, "api.allowed.test").0);
    let other = conn(Direction::Egress, "10.0.0.53", 5353);
    assert!(!verdict(&c, &other, "api.allowed.test").0);
    assert!(!c.check_connection(&other).allowed);
}

#[test]
fn the_first_rule_in_order_decides_and_l4_entries_allow_every_name() {
    let c = compile_egress(
        "  egress:\n  - toCIDR: [10.0.0.0/8]\n    toPorts:\n    - ports: [{port: \"53\"}]\n      rules:\n        dns: [{matchName: a.test}]\n  - toCIDR: [10.9.0.0/16]\n    toPorts:\n    - ports: [{port: \"53\"}]\n",
    )
    .expect("compiles");
    let inside = udp53("10.9.0.1");
    assert_eq!(
        verdict(&c, &inside, "a.test"),
        (true, "ns/p: egress[0].toPorts[0].rules.dns[0]".to_owned())
    );
    assert_eq!(
        verdict(&c, &inside, "b.test"),
        (true, "ns/p: egress[1].toPorts[0]".to_owned())
    );
    let outside = udp53("10.1.0.1");
    assert!(verdict(&c, &outside, "a.test").0);
    assert!(
        !verdict(&c, &outside, "b.test").0,
        "the L4 entry is for 10.9/16 only"
    );
    assert!(!verdict(&c, &udp53("192.168.0.1"), "a.test").0);
}

#[test]
fn deny_rules_with_dns_cannot_be_sidestepped_by_odd_bytes() {
    let c = compile_egress(
        "  egress:\n  - toPorts:\n    - ports: [{port: \"53\"}]\n      rules:\n        dns: [{matchPattern: \"*\"}]\n  egressDeny:\n  - toPorts:\n    - ports: [{port: \"53\"}]\n      rules:\n        dns: [{matchPattern: \"*.evil.test\"}]\n",
    )
    .expect("compiles");
    let m = udp53("10.0.0.53");
    let deny = "ns/p: egressDeny[0].toPorts[0].rules.dns[0]".to_owned();
    assert_eq!(verdict(&c, &m, "x.EVIL.test"), (false, deny.clone()));
    let odd = DnsName::from_labels([&b"a b"[..], b"evil", b"test"]).expect("name");
    let v = c.check_dns(&m, &odd);
    assert!(!v.allowed, "{v:?}");
    assert_eq!(v.rule.as_str(), deny);
    assert!(verdict(&c, &m, "evil.test").0);
    assert!(verdict(&c, &m, "good.test").0);
}

#[test]
fn dns_and_http_rules_on_one_port_are_refused() {
    let e = compile_egress(
        "  egress:\n  - toPorts:\n    - ports: [{port: \"53\"}]\n      rules:\n        dns: [{matchName: a.test}]\n        http: [{method: GET}]\n",
    )
    .expect_err("refused");
    assert!(e.to_string().contains("one L7 protocol"), "{e}");
}

#[test]
fn bad_names_and_patterns_are_refused_where_they_are_written() {
    for (rule, want) in [
        ("{matchName: \"*.a.test\"}", "matchPattern"),
        ("{matchPattern: \"a.**.test\"}", "only allowed at the start"),
        (
            "{matchPattern: \"a[0-9].test\"}",
            "not allowed in a matchPattern",
        ),
        ("{}", "neither `matchName` nor `matchPattern`"),
        ("{matchNames: a.test}", "matchName"),
    ] {
        let text = format!(
            "{HEAD}spec:\n  endpointSelector: {{}}\n  egress:\n  - toPorts:\n    - ports: [{{port: \"53\"}}]\n      rules:\n        dns: [{rule}]\n"
        );
        let errors = parse_documents("t.yaml", &text).expect_err("refused");
        let text = errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n");
        assert!(text.contains(want), "{rule}: {text}");
        assert!(text.contains("t.yaml:12:"), "{rule}: a position: {text}");
    }
}

#[test]
fn to_fqdns_allows_what_allowed_answers_taught_until_it_expires() {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use crate::fqdn::Learned;

    let text = format!(
        "{HEAD}spec:\n  endpointSelector: {{}}\n  egress:\n  - toFQDNs: [{{matchPattern: \"*.api.test\"}}, {{matchName: db.test}}]\n    toPorts:\n    - ports: [{{port: \"443\"}}]\n  - toFQDNs: [{{matchName: web.test}}]\n    toPorts:\n    - ports: [{{port: \"80\"}}]\n      rules:\n        http: [{{method: GET}}]\n"
    );
    let policies = parse_documents("t.yaml", &text).unwrap_or_else(|e| panic!("{}", e[0]));
    let learned = Arc::new(Learned::default());
    let c =
        CompiledPolicy::compile_with(&policies, &web(), Arc::clone(&learned)).expect("compiles");
    assert!(c.has_fqdn());
    let to = |ip: &str, port| conn(Direction::Egress, ip, port);
    assert!(
        !c.check_connection(&to("10.0.0.1", 443)).allowed,
        "nothing learned yet"
    );
    let now = Instant::now();
    let ip = |s: &str| s.parse().expect("ip");
    learned.learn(
        &DnsName::parse("v1.api.test").expect("name"),
        ip("10.0.0.1"),
        Duration::from_secs(60),
        now,
    );
    learned.learn(
        &DnsName::parse("other.test").expect("name"),
        ip("10.0.0.2"),
        Duration::from_secs(60),
        now,
    );
    learned.learn(
        &DnsName::parse("db.test").expect("name"),
        ip("10.0.0.3"),
        Duration::ZERO,
        now,
    );
    learned.learn(
        &DnsName::parse("web.test").expect("name"),
        ip("10.0.0.4"),
        Duration::from_secs(60),
        now,
    );
    let v = c.check_connection(&to("10.0.0.1", 443));
    assert!(v.allowed, "{v:?}");
    assert_eq!(v.rule.as_str(), "ns/p: egress[0].toPorts[0]");
    assert!(
        !c.check_connection(&to("10.0.0.1", 80)).allowed,
        "another port"
    );
    assert!(
        !c.check_connection(&to("10.0.0.2", 443)).allowed,
        "a name no selector matches"
    );
    assert!(!c.check_connection(&to("10.0.0.3", 443)).allowed, "expired");
    // L7 rules under toFQDNs apply to the learned address.
    let web_conn = to("10.0.0.4", 80);
    assert_eq!(c.check_connection(&web_conn).l7, L7Kind::Http);
    assert!(c.check_http(&web_conn, &super::req("GET", "/")).allowed);
    assert!(!c.check_http(&web_conn, &super::req("POST", "/")).allowed);
    // A reload keeps the table.
    let again = CompiledPolicy::compile_with(&policies, &web(), learned).expect("compiles");
    assert!(again.check_connection(&to("10.0.0.1", 443)).allowed);
    // toFQDNs on ingress is refused.
    let ingress = format!(
        "{HEAD}spec:\n  endpointSelector: {{}}\n  ingress:\n  - toFQDNs: [{{matchName: a.test}}]\n"
    );
    assert!(parse_documents("t.yaml", &ingress).is_err());
}

/// A learned name is whatever the allowed answer said, CNAME targets included, so it may hold
/// any byte. A `toFQDNs` selector of a deny rule is a deny pattern: its wildcards take any byte
/// (as in `rules.dns`), or an answer for `a b.evil.test` would carry its address past it.
#[test]
fn deny_to_fqdns_cannot_be_sidestepped_by_odd_bytes_in_a_learned_name() {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use crate::fqdn::Learned;

    let text = format!(
        "{HEAD}spec:\n  endpointSelector: {{}}\n  egress:\n  - toFQDNs: [{{matchPattern: \"*\"}}]\n  egressDeny:\n  - toFQDNs: [{{matchPattern: \"*.evil.test\"}}, {{matchPattern: \"**.deep.test\"}}]\n"
    );
    let policies = parse_documents("t.yaml", &text).unwrap_or_else(|e| panic!("{}", e[0]));
    let learned = Arc::new(Learned::default());
    let c =
        CompiledPolicy::compile_with(&policies, &web(), Arc::clone(&learned)).expect("compiles");
    let now = Instant::now();
    let hour = Duration::from_secs(3600);
    let odd = |labels: &[&[u8]]| DnsName::from_labels(labels.iter().copied()).expect("name");
    let ip = |s: &str| s.parse().expect("ip");
    learned.learn(&odd(&[b"a b", b"evil", b"test"]), ip("10.0.0.1"), hour, now);
    learned.learn(
        &odd(&[b"x", b"a\0b", b"deep", b"test"]),
        ip("10.0.0.2"),
        hour,
        now,
    );
    learned.learn(&odd(&[b"a b", b"good", b"test"]), ip("10.0.0.3"), hour, now);
    let to = |peer: &str| conn(Direction::Egress, peer, 443);
    let v = c.check_connection(&to("10.0.0.1"));
    assert_eq!((v.allowed, v.rule.as_str()), (false, "ns/p: egressDeny[0]"));
    let v = c.check_connection(&to("10.0.0.2"));
    assert_eq!((v.allowed, v.rule.as_str()), (false, "ns/p: egressDeny[0]"));
    // The allow side keeps Cilium's set: only `*` alone takes the odd name.
    let v = c.check_connection(&to("10.0.0.3"));
    assert_eq!((v.allowed, v.rule.as_str()), (true, "ns/p: egress[0]"));
}
