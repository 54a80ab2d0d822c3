//! The reference for `rules.dns` and `toFQDNs`. Names are matched the way Cilium matches them:
//! by its translation of `matchName`/`matchPattern` into a regular expression over the name's
//! text form (pkg/fqdn/matchpattern), not by the crate's label matcher.
//!
//! A name is written out as Cilium's DNS library presents it: lower-cased labels, each followed
//! by `.`, every byte outside `[-a-z0-9_]` escaped as `\DDD` (a `.` inside a label included).
//! The text therefore has one unescaped `.` per label boundary, and an odd byte is never read as
//! a label character: Cilium's `*` (`[-a-z0-9_]*`) cannot match it, which is what allow rules
//! keep. Deny rules (our extension) let a `*` and a leading `**.` stand for any label character,
//! escapes included, so no byte escapes them. `*` alone matches every name (Cilium's
//! `MatchAllAnchoredPattern`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;

use regex::Regex;
use sockmesh_policy::model::*;
use sockmesh_policy::{ConnMeta, Labels};

use super::{default, l7_rules, peer_ok, port_ok, sec_name, section, selected};

/// A name as wire labels (any bytes, any case), leftmost first; no label is the root. Shown as
/// its text form.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Name(pub &'static [&'static [u8]]);

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Name({})", text(*self))
    }
}

/// One entry of the learned table: `ip` answered for `name`, and has not expired if `live`.
#[derive(Clone, Copy, Debug)]
pub struct Learnt {
    pub name: Name,
    pub ip: IpAddr,
    pub live: bool,
}

/// The presentation text (see the module docs).
pub fn text(name: Name) -> String {
    if name.0.is_empty() {
        return ".".to_owned();
    }
    let mut out = String::new();
    for label in name.0 {
        for b in label.iter().map(u8::to_ascii_lowercase) {
            if b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("\\{b:03}"));
            }
        }
        out.push('.');
    }
    out
}

/// Cilium's label character, and ours for deny rules (any byte: plain or escaped).
const CILIUM_CHAR: &str = "[-a-z0-9_]";
const ANY_CHAR: &str = r"(?:[-a-z0-9_]|\\[0-9]{3})";

/// Cilium's `matchPattern` translation, with `*` standing for `chars`.
fn pattern_regex(pattern: &str, deny: bool) -> String {
    let c = if deny { ANY_CHAR } else { CILIUM_CHAR };
    let p = pattern.trim().to_ascii_lowercase();
    if p == "*" {
        return "^.*$".to_owned();
    }
    let mut p = p.trim_end_matches('.').to_owned() + ".";
    let multi = p.starts_with("**.");
    if multi {
        p = p[3..].to_owned();
    }
    let body = p.replace('.', "[.]").replace('*', &format!("{c}*"));
    let prefix = if multi {
        format!("(?:{c}+(?:[.]{c}+)*)[.]")
    } else {
        String::new()
    };
    format!("^{prefix}{body}$")
}

/// Cilium's `matchName`: the quoted name, lower-cased, as a fully qualified name.
fn name_regex(name: &str) -> String {
    let n = name.trim().to_ascii_lowercase();
    format!(
        "^{}$",
        regex::escape(&(n.trim_end_matches('.').to_owned() + "."))
    )
}

thread_local! {
    static REGEXES: RefCell<HashMap<String, Regex>> = RefCell::new(HashMap::new());
}

fn is_match(re: String, text: &str) -> bool {
    REGEXES.with(|c| {
        c.borrow_mut()
            .entry(re)
            .or_insert_with_key(|re| Regex::new(re).expect("reference regex"))
            .is_match(text)
    })
}

/// Whether a `rules.dns` entry or a `toFQDNs` selector matches `name`: its `matchName` or its
/// `matchPattern` (Cilium joins the two with `|`).
pub fn selector_matches(r: &DnsRule, name: Name, deny: bool) -> bool {
    let t = text(name);
    r.match_name
        .as_deref()
        .is_some_and(|n| is_match(name_regex(n), &t))
        || r.match_pattern
            .as_deref()
            .is_some_and(|p| is_match(pattern_regex(p, deny), &t))
}

/// A `toFQDNs` selector matches the peer when the peer's address (IPv4-mapped folded, as every
/// peer address is) was learned, and has not expired, for a name the selector matches.
pub fn fqdn_peer(sel: &DnsRule, ip: IpAddr, learned: &[Learnt], deny: bool) -> bool {
    let ip = ip.to_canonical();
    learned
        .iter()
        .any(|e| e.live && e.ip.to_canonical() == ip && selector_matches(sel, e.name, deny))
}

/// `check_dns`: deny entries first, then allow entries, then the default. Within each, the first
/// element in decision order that matches the connection at L3/L4 and either has no L7 rule (it
/// allows or denies every name) or has a `rules.dns` entry matching `name` decides; entries with
/// HTTP/gRPC rules never decide a query.
pub fn reference_dns(
    policies: &[Policy],
    labels: &Labels,
    learned: &[Learnt],
    conn: &ConnMeta,
    name: Name,
) -> (bool, String) {
    let sel = selected(policies, labels);
    let d = conn.direction;
    for deny in [true, false] {
        for (prefix, spec) in &sel {
            for (ri, rule) in section(spec, d, deny).unwrap_or(&[]).iter().enumerate() {
                if !peer_ok(rule, conn.peer, learned, deny) {
                    continue;
                }
                let base = format!("{prefix}{}[{ri}]", sec_name(d, deny));
                if rule.to_ports.is_empty() {
                    return (!deny, base);
                }
                for (pi, pr) in rule.to_ports.iter().enumerate() {
                    if !port_ok(pr, conn) {
                        continue;
                    }
                    let id = format!("{base}.toPorts[{pi}]");
                    let Some(l7) = l7_rules(pr) else {
                        return (!deny, id);
                    };
                    for (k, r) in l7.dns.iter().enumerate() {
                        if selector_matches(r, name, deny) {
                            return (!deny, format!("{id}.rules.dns[{k}]"));
                        }
                    }
                }
            }
        }
    }
    default(&sel, d)
}

/// Whether a selected spec has a `toFQDNs` selector (the DNS path learns only then).
pub fn reference_has_fqdn(policies: &[Policy], labels: &Labels) -> bool {
    selected(policies, labels).iter().any(|(_, s)| {
        [&s.egress, &s.egress_deny, &s.ingress, &s.ingress_deny]
            .into_iter()
            .flatten()
            .flatten()
            .any(|r| r.peers.iter().any(|p| matches!(p, PeerSelector::Fqdn(_))))
    })
}
