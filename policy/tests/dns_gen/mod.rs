//! Generators for `rules.dns`, `toFQDNs` and the learned table. The universe is small and
//! nested (`a.test`, `b.a.test`, `x.b.a.test`, ...) so that names and patterns overlap often;
//! names with odd bytes in a label (a blank, a NUL, a `.`, a `*`, 0xff), built from wire labels,
//! are what allow rules must not match and deny rules must.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::sample::select;
use sockmesh_policy::dns::DnsName;
use sockmesh_policy::fqdn::Learned;
use sockmesh_policy::model::DnsRule;

use crate::reference::dns::{Learnt, Name};

/// Query names and learned names.
pub const NAMES: &[Name] = &[
    Name(&[b"a", b"test"]),
    Name(&[b"b", b"a", b"test"]),
    Name(&[b"x", b"b", b"a", b"test"]),
    Name(&[b"c", b"a", b"test"]),
    Name(&[b"bb", b"a", b"test"]),
    Name(&[b"b-1", b"a", b"test"]),
    Name(&[b"B", b"A", b"Test"]),
    Name(&[b"_x", b"a", b"test"]),
    Name(&[b"y", b"x", b"b", b"a", b"test"]),
    Name(&[b"test"]),
    Name(&[b"b", b"a", b"other"]),
    Name(&[]),
    // Odd bytes: only `*` alone may allow them, deny wildcards must take them.
    Name(&[b"b c", b"a", b"test"]),
    Name(&[b"b\0", b"a", b"test"]),
    Name(&[b"B\xff", b"a", b"test"]),
    Name(&[b"b*", b"a", b"test"]),
    Name(&[b"x", b"b c", b"a", b"test"]),
    // A label holding a dot: as text `b.x.a.test`, as labels one level under `a.test`.
    Name(&[b"b.x", b"a", b"test"]),
    // As text `x.b.a.test`, as labels not under `b.a.test`.
    Name(&[b"x", b"b.a", b"test"]),
];

const MATCH_NAMES: &[&str] = &[
    "a.test",
    "b.a.test",
    "x.b.a.test",
    "B.A.Test.",
    "c.a.test",
    "test",
    "b.a.other",
];

const PATTERNS: &[&str] = &[
    "*",
    "*.a.test",
    "**.a.test",
    "b*.a.test",
    "*.b.a.test",
    "**.b.a.test",
    "**.test",
    "*.*.test",
    "*b*.a.test",
    "x*.*.a.test",
    "*-*.a.test",
    "B*.A.TEST.",
    "b.a.test",
    "*x.b.a.test",
    "*.a.*",
];

/// Addresses answers taught: some of them peers the CIDR rules also cover, one only reachable
/// through `toFQDNs`, and an IPv4-mapped one that must be the same peer as its IPv4 form.
const LEARNED_IPS: &[&str] = &[
    "10.0.0.1",
    "10.0.0.2",
    "172.16.0.1",
    "2001:db8::1",
    "203.0.113.7",
    "::ffff:10.1.3.3",
];

pub fn name() -> impl Strategy<Value = Name> {
    select(NAMES)
}

/// A `rules.dns` entry or `toFQDNs` selector: `matchName`, `matchPattern`, or both.
pub fn dns_rule() -> impl Strategy<Value = DnsRule> {
    let name = || select(MATCH_NAMES).prop_map(|s| s.to_owned());
    let pattern = || select(PATTERNS).prop_map(|s| s.to_owned());
    prop_oneof![
        2 => name().prop_map(|n| DnsRule { match_name: Some(n), match_pattern: None }),
        3 => pattern().prop_map(|p| DnsRule { match_name: None, match_pattern: Some(p) }),
        1 => (name(), pattern()).prop_map(|(n, p)| DnsRule { match_name: Some(n), match_pattern: Some(p) }),
    ]
}

/// A few learned entries, some expired.
pub fn learned() -> impl Strategy<Value = Vec<Learnt>> {
    proptest::collection::vec((name(), select(LEARNED_IPS), any::<bool>()), 0..7).prop_map(|v| {
        v.into_iter()
            .map(|(name, ip, live)| Learnt {
                name,
                ip: ip.parse::<IpAddr>().expect("ip"),
                live,
            })
            .collect()
    })
}

pub fn dns_name(name: Name) -> DnsName {
    DnsName::from_labels(name.0.iter().copied()).expect("generated names are valid")
}

/// The table the entries describe: live ones for an hour, expired ones with a TTL of 0 (the
/// compiled policy reads it at `Instant::now()`, later than `now`).
pub fn table(entries: &[Learnt]) -> Arc<Learned> {
    let table = Learned::default();
    let now = Instant::now();
    for e in entries {
        let ttl = Duration::from_secs(if e.live { 3600 } else { 0 });
        table.learn(&dns_name(e.name), e.ip, ttl, now);
    }
    Arc::new(table)
}
