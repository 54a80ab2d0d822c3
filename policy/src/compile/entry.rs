//! Flattening: selected policies become a list of entries per direction and allow/deny, in decision
//! order. One entry is one `toPorts` element of one rule (or a whole rule without `toPorts`), which
//! is the unit Cilium's decisions are made on: one peer set, one port set, optional L7 rules.

use std::sync::Arc;

use ipnet::IpNet;

use crate::dns::NamePattern;
use crate::kafka::KafkaMatcher;
use crate::model::{
    CidrRule, DnsRule, Entity, GrpcRule, HttpRule, KafkaRule, L7Rules, PeerSelector, Policy,
    PortProtocol, Rule, Section, Spec,
};
use crate::request::Direction;
use crate::verdict::{L7Kind, RuleId};

use super::CompileError;
use super::field::check_regex;

#[derive(Debug)]
pub(crate) struct Entry {
    /// Id of the entry itself (`…ingress[0]` or `…ingress[0].toPorts[1]`).
    pub(crate) id: RuleId,
    /// True when any peer matches (no L3 field, `{}` endpoints, entity `all`).
    pub(crate) all_peers: bool,
    pub(crate) cidrs: Vec<(IpNet, Arc<[IpNet]>)>,
    /// `toFQDNs`: the peer matches if an address learned for a name these match is its own.
    pub(crate) fqdns: Vec<NamePattern>,
    /// Empty = all ports and protocols.
    pub(crate) ports: Vec<PortProtocol>,
    /// `None` = L4 only.
    pub(crate) l7: Option<EntryL7>,
}

/// The L7 rules of an entry: the model's own rules (shared, not copied) and their ids.
#[derive(Debug)]
pub(crate) struct EntryL7 {
    pub(crate) rules: Arc<L7Rules>,
    /// `http_ids[i]` names `rules.http[i]`.
    pub(crate) http_ids: Vec<RuleId>,
    /// `grpc_ids[i]` names `rules.grpc[i]`.
    pub(crate) grpc_ids: Vec<RuleId>,
    /// `dns_ids[i]` names `rules.dns[i]`.
    pub(crate) dns_ids: Vec<RuleId>,
    /// `dns_patterns[i]`: the compiled `matchName`/`matchPattern` of `rules.dns[i]`.
    pub(crate) dns_patterns: Vec<Vec<NamePattern>>,
    /// `kafka_ids[i]` names `rules.kafka[i]`.
    pub(crate) kafka_ids: Vec<RuleId>,
    /// `kafka_matchers[i]`: the checked `rules.kafka[i]`.
    pub(crate) kafka_matchers: Vec<KafkaMatcher>,
}

impl EntryL7 {
    pub(crate) fn len(&self) -> usize {
        self.http_ids.len() + self.grpc_ids.len() + self.dns_ids.len() + self.kafka_ids.len()
    }

    /// The protocol these rules need parsed: one per entry (checked when compiled).
    pub(crate) fn kind(&self) -> L7Kind {
        if !self.dns_ids.is_empty() {
            L7Kind::Dns
        } else if !self.kafka_ids.is_empty() {
            L7Kind::Kafka
        } else {
            L7Kind::Http
        }
    }

    pub(crate) fn http(&self) -> impl Iterator<Item = (&RuleId, &HttpRule)> {
        self.http_ids.iter().zip(&self.rules.http)
    }

    pub(crate) fn grpc(&self) -> impl Iterator<Item = (&RuleId, &GrpcRule)> {
        self.grpc_ids.iter().zip(&self.rules.grpc)
    }

    pub(crate) fn dns(&self) -> impl Iterator<Item = (&RuleId, &DnsRule)> {
        self.dns_ids.iter().zip(&self.rules.dns)
    }

    pub(crate) fn kafka(&self) -> impl Iterator<Item = (&RuleId, &KafkaRule)> {
        self.kafka_ids.iter().zip(&self.rules.kafka)
    }

    /// Each `rules.kafka` entry's id and matcher.
    pub(crate) fn kafka_matchers(&self) -> impl Iterator<Item = (&RuleId, &KafkaMatcher)> {
        self.kafka_ids.iter().zip(&self.kafka_matchers)
    }

    /// Each `rules.dns` entry's id and compiled patterns.
    pub(crate) fn dns_patterns(&self) -> impl Iterator<Item = (&RuleId, &[NamePattern])> {
        self.dns_ids
            .iter()
            .zip(self.dns_patterns.iter().map(Vec::as_slice))
    }
}

/// Entries of one direction, allow or deny, in decision order.
pub(crate) fn flatten(
    policies: &[(&Policy, Vec<&Spec>)],
    direction: Direction,
    deny: bool,
) -> Result<Vec<Entry>, CompileError> {
    let mut out = Vec::new();
    for (policy, specs) in policies {
        let qname = policy.qualified_name();
        for (si, spec) in specs.iter().enumerate() {
            let section = if deny {
                spec.deny(direction)
            } else {
                spec.allow(direction)
            };
            let Some(rules) = section else { continue };
            let spec_prefix = if policy.specs.len() > 1 {
                // Index in the policy, not among the selected specs: ids must point into the file.
                let idx = policy
                    .specs
                    .iter()
                    .position(|s| std::ptr::eq(s, *spec))
                    .unwrap_or(si);
                format!("specs[{idx}].")
            } else {
                String::new()
            };
            let sec = Section::of(direction, deny).as_str();
            for (ri, rule) in rules.iter().enumerate() {
                let base = format!("{qname}: {spec_prefix}{sec}[{ri}]");
                if direction == Direction::Ingress
                    && rule
                        .peers
                        .iter()
                        .any(|p| matches!(p, PeerSelector::Fqdn(_)))
                {
                    return Err(CompileError::Invalid {
                        policy: qname.clone(),
                        rule: base,
                        field: "toFQDNs",
                        message: "FQDN selectors select destinations: egress only".to_owned(),
                    });
                }
                flatten_rule(&qname, &base, rule, &mut out)?;
            }
        }
    }
    Ok(out)
}

fn flatten_rule(
    policy: &str,
    base: &str,
    rule: &Rule,
    out: &mut Vec<Entry>,
) -> Result<(), CompileError> {
    let mut all_peers = rule.peers.is_empty();
    let mut cidrs = Vec::new();
    let mut fqdns = Vec::new();
    for peer in &rule.peers {
        match peer {
            PeerSelector::Endpoints(sel) if sel.is_empty() => all_peers = true,
            PeerSelector::Endpoints(_) => {
                return Err(CompileError::Unsupported {
                    policy: policy.to_owned(),
                    rule: base.to_owned(),
                    field: "fromEndpoints/toEndpoints",
                    reason: "identity selectors need mTLS identities; use `[{}]` (all endpoints) \
                             or CIDR rules for now"
                        .to_owned(),
                });
            }
            PeerSelector::Entity(Entity::All) => all_peers = true,
            PeerSelector::Fqdn(sel) => {
                let patterns =
                    NamePattern::selector(sel.match_name.as_deref(), sel.match_pattern.as_deref())
                        .map_err(|(field, message)| CompileError::Invalid {
                            policy: policy.to_owned(),
                            rule: base.to_owned(),
                            field,
                            message: format!("toFQDNs: {message}"),
                        })?;
                fqdns.extend(patterns);
            }
            PeerSelector::Cidr(CidrRule { cidr, except }) => {
                for e in except {
                    if !cidr.contains(e) {
                        return Err(CompileError::Invalid {
                            policy: policy.to_owned(),
                            rule: base.to_owned(),
                            field: "except",
                            message: format!(
                                "`{e}` is not inside `{cidr}`; list only sub-ranges of the cidr"
                            ),
                        });
                    }
                }
                cidrs.push((cidr.trunc(), Arc::from(except.as_slice())));
            }
        }
    }
    if rule.to_ports.is_empty() {
        out.push(Entry {
            id: RuleId::new(base),
            all_peers,
            cidrs,
            fqdns,
            ports: Vec::new(),
            l7: None,
        });
        return Ok(());
    }
    for (pi, pr) in rule.to_ports.iter().enumerate() {
        let id = format!("{base}.toPorts[{pi}]");
        for p in &pr.ports {
            if let Some(end) = p.end_port
                && p.port != 0
                && end < p.port
            {
                return Err(CompileError::Invalid {
                    policy: policy.to_owned(),
                    rule: id,
                    field: "endPort",
                    message: format!("endPort {end} is below port {}; swap them", p.port),
                });
            }
        }
        let l7 = match &pr.rules {
            Some(r) if !r.is_empty() => Some(compile_l7(policy, &id, r.clone())?),
            _ => None,
        };
        out.push(Entry {
            id: RuleId::new(id),
            all_peers,
            cidrs: cidrs.clone(),
            fqdns: fqdns.clone(),
            ports: pr.ports.clone(),
            l7,
        });
    }
    Ok(())
}

fn compile_l7(policy: &str, id: &str, r: Arc<L7Rules>) -> Result<EntryL7, CompileError> {
    if let Some(message) = mixed_protocols(&r) {
        return Err(CompileError::Invalid {
            policy: policy.to_owned(),
            rule: id.to_owned(),
            field: "rules",
            message,
        });
    }
    let check =
        |rule: &str, field: &'static str, pat: &Option<String>| -> Result<(), CompileError> {
            match pat {
                Some(p) => check_regex(p).map_err(|message| CompileError::InvalidRegex {
                    policy: policy.to_owned(),
                    rule: rule.to_owned(),
                    field,
                    message,
                }),
                None => Ok(()),
            }
        };
    let mut http_ids = Vec::with_capacity(r.http.len());
    for (i, h) in r.http.iter().enumerate() {
        let rid = format!("{id}.rules.http[{i}]");
        check(&rid, "method", &h.method)?;
        check(&rid, "path", &h.path)?;
        check(&rid, "host", &h.host)?;
        for line in &h.headers {
            if let Err(e) = crate::model::parse_header_line(line) {
                return Err(CompileError::Invalid {
                    policy: policy.to_owned(),
                    rule: rid,
                    field: "headers",
                    message: format!("`{line}`: {}; {}", e.message, e.help),
                });
            }
        }
        for m in &h.header_matches {
            if m.name.trim().is_empty() {
                return Err(CompileError::Invalid {
                    policy: policy.to_owned(),
                    rule: rid,
                    field: "headerMatches.name",
                    message: "the header name is empty; give the header to match".to_owned(),
                });
            }
        }
        http_ids.push(RuleId::new(rid));
    }
    let mut grpc_ids = Vec::with_capacity(r.grpc.len());
    for (i, g) in r.grpc.iter().enumerate() {
        let rid = format!("{id}.rules.grpc[{i}]");
        check(&rid, "serviceRegex", &g.service_regex)?;
        check(&rid, "methodRegex", &g.method_regex)?;
        grpc_ids.push(RuleId::new(rid));
    }
    let mut dns_ids = Vec::with_capacity(r.dns.len());
    let mut dns_patterns = Vec::with_capacity(r.dns.len());
    for (i, d) in r.dns.iter().enumerate() {
        let rid = format!("{id}.rules.dns[{i}]");
        let patterns = NamePattern::selector(d.match_name.as_deref(), d.match_pattern.as_deref())
            .map_err(|(field, message)| CompileError::Invalid {
            policy: policy.to_owned(),
            rule: rid.clone(),
            field,
            message,
        })?;
        dns_ids.push(RuleId::new(rid));
        dns_patterns.push(patterns);
    }
    let mut kafka_ids = Vec::with_capacity(r.kafka.len());
    let mut kafka_matchers = Vec::with_capacity(r.kafka.len());
    for (i, k) in r.kafka.iter().enumerate() {
        let rid = format!("{id}.rules.kafka[{i}]");
        let m = KafkaMatcher::new(k).map_err(|e| CompileError::Invalid {
            policy: policy.to_owned(),
            rule: rid.clone(),
            field: e.field,
            message: format!("{}; {}", e.message, e.help),
        })?;
        kafka_ids.push(RuleId::new(rid));
        kafka_matchers.push(m);
    }
    Ok(EntryL7 {
        rules: r,
        http_ids,
        grpc_ids,
        dns_ids,
        dns_patterns,
        kafka_ids,
        kafka_matchers,
    })
}

/// Why the rules of one port entry cannot be enforced together, if they cannot: a port speaks
/// one L7 protocol (HTTP with gRPC, DNS, or Kafka), so its proxy knows what to parse.
pub(crate) fn mixed_protocols(r: &L7Rules) -> Option<String> {
    let kinds: Vec<&str> = [
        (!r.http.is_empty() || !r.grpc.is_empty(), "`http`/`grpc`"),
        (!r.dns.is_empty(), "`dns`"),
        (!r.kafka.is_empty(), "`kafka`"),
    ]
    .into_iter()
    .filter_map(|(present, name)| present.then_some(name))
    .collect();
    (kinds.len() > 1).then(|| {
        format!(
            "{} rules on one port: a port speaks one L7 protocol; put them in separate \
             `toPorts` entries",
            kinds.join(" and ")
        )
    })
}
