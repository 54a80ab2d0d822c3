//! Compilation of the selected policies into per-direction indexes, and the decisions made on them.
//!
//! Decision order is fixed (see the crate docs): deny entries first, then allow entries, then the
//! direction's default. Inside each, the first matching rule in decision order names the verdict;
//! the indexes only find candidates, the order decides.

mod bits;
mod cidr;
mod describe;
mod dns;
mod entry;
mod field;
mod group;
mod header;
mod kafka;
mod l7;
mod owners;
mod ports;
mod regexes;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

use crate::dns::{DnsName, Strictness};
use crate::fqdn::Learned;
use crate::kafka::TopicKeys;
use crate::model::Policy;
use crate::request::{ConnMeta, Direction, HttpRequest, KafkaRequest, Labels};
use crate::selector::selects;
use crate::verdict::{ConnVerdict, L7Kind, RuleId, Verdict};

use entry::Entry;
use group::Group;
use header::HeaderMatching;
use kafka::TopicMatching;
use ports::PortIndex;

pub use field::check_regex;

/// Why a set of policies cannot be enforced. Each variant names the policy, the rule and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    #[error(
        "policy `{policy}`: invalid regex in `{field}` of {rule}: {message}\n  help: regexes are \
         full-match (anchored at both ends); escape metacharacters such as `.` with `\\`"
    )]
    InvalidRegex {
        policy: String,
        rule: String,
        field: &'static str,
        message: String,
    },
    #[error("policy `{policy}`: `{field}` in {rule} is not supported yet: {reason}")]
    Unsupported {
        policy: String,
        rule: String,
        field: &'static str,
        reason: String,
    },
    #[error("policy `{policy}`: invalid `{field}` in {rule}: {message}")]
    Invalid {
        policy: String,
        rule: String,
        field: &'static str,
        message: String,
    },
    #[error(
        "policy `{policy}` is given twice\n  help: policy names (namespace/name) must be unique \
         across all files, since verdicts name rules by them"
    )]
    DuplicatePolicy { policy: String },
    #[error(
        "the {direction} rules on one port compile to regexes that are too large ({message})\n  \
         help: use fewer or simpler regexes (literal paths cost nothing), or split the port"
    )]
    TooLarge {
        direction: Direction,
        message: String,
    },
}

/// One side (allow or deny) of a direction.
#[derive(Debug)]
struct Side {
    entries: Vec<Entry>,
    ports: PortIndex,
    /// How its L7 rules' header conditions are met: joined for allow, any value for deny.
    headers: HeaderMatching,
    /// What a wildcard of its name patterns (`rules.dns`, `toFQDNs`) stands for: Cilium's set
    /// for allow, any byte for deny.
    names: Strictness,
    /// How its `rules.kafka` meet a request's topics: every one allowed, or any one denied.
    topics: TopicMatching,
}

/// A rule that matched: (entry index in decision order, id, L7 rule if it decided).
struct Hit<'a> {
    order: usize,
    id: &'a RuleId,
    l7: Option<&'a l7::L7Rule>,
}

impl Side {
    fn build(entries: Vec<Entry>, direction: Direction, deny: bool) -> Result<Side, CompileError> {
        let ports = PortIndex::build(&entries).map_err(|e| CompileError::TooLarge {
            direction,
            message: e.to_string(),
        })?;
        Ok(Side {
            entries,
            ports,
            headers: Side::header_matching(deny),
            names: Side::strictness(deny),
            topics: Side::topic_matching(deny),
        })
    }

    fn empty(deny: bool) -> Side {
        Side {
            entries: Vec::new(),
            ports: PortIndex::default(),
            headers: Side::header_matching(deny),
            names: Side::strictness(deny),
            topics: Side::topic_matching(deny),
        }
    }

    /// Deny rules match any value of a header, so repeating a field or listing values cannot
    /// sidestep them; allow rules match the joined value (see [`HeaderMatching`]).
    fn header_matching(deny: bool) -> HeaderMatching {
        if deny {
            HeaderMatching::AnyValue
        } else {
            HeaderMatching::Joined
        }
    }

    /// A deny pattern must not be escaped by an odd byte in a name, neither a name asked
    /// (`rules.dns`) nor a name learned from an answer (`toFQDNs`), whose CNAME targets the
    /// answering server chose; allow patterns allow nothing Cilium would not.
    fn strictness(deny: bool) -> Strictness {
        if deny {
            Strictness::AnyByte
        } else {
            Strictness::Cilium
        }
    }

    /// An allow side lets a request through only when every topic it names is allowed (Cilium);
    /// a deny side denies it when any one is denied, so added topics cannot sidestep a deny.
    fn topic_matching(deny: bool) -> TopicMatching {
        if deny {
            TopicMatching::Any
        } else {
            TopicMatching::Every
        }
    }

    fn group(&self, conn: &ConnMeta) -> Option<&Group> {
        self.ports.lookup(conn.protocol, conn.port)
    }

    fn entry_id(&self, g: &Group, local: usize) -> Option<(usize, &RuleId)> {
        let idx = *g.entries.get(local)?;
        Some((idx, &self.entries.get(idx)?.id))
    }

    /// First L4 hit and whether some L7 entry matches at L3/L4.
    fn l4(&self, conn: &ConnMeta, learned: &Learned) -> (Option<Hit<'_>>, Option<Hit<'_>>) {
        let Some(g) = self.group(conn) else {
            return (None, None);
        };
        let peers = g.peers(cidr::fold(conn.peer), learned, self.names);
        let hit = |local: Option<usize>| {
            local
                .and_then(|l| self.entry_id(g, l))
                .map(|(order, id)| Hit {
                    order,
                    id,
                    l7: None,
                })
        };
        (
            hit(peers.entries.first_and(&g.l4_only)),
            hit(peers.entries.first_and_not(&g.l4_only)),
        )
    }

    /// The L7 protocol of the entry at `order` (`Http` for an L4-only one, which never asks).
    fn kind(&self, order: usize) -> L7Kind {
        self.entries
            .get(order)
            .and_then(|e| e.l7.as_ref())
            .map_or(L7Kind::Http, |l| l.kind())
    }

    /// The first L4-only entry of `g` the peer matches.
    fn first_l4_only<'s>(&'s self, g: &'s Group, peers: &group::Peers) -> Option<Hit<'s>> {
        let local = peers.entries.first_and(&g.l4_only)?;
        let (order, id) = self.entry_id(g, local)?;
        Some(Hit {
            order,
            id,
            l7: None,
        })
    }

    /// First hit for a DNS query: an L4-only entry or a `rules.dns` rule, whichever comes first.
    fn query(&self, conn: &ConnMeta, name: &DnsName, learned: &Learned) -> Option<Hit<'_>> {
        let g = self.group(conn)?;
        let peers = g.peers(cidr::fold(conn.peer), learned, self.names);
        let l4 = self.first_l4_only(g, &peers);
        let dns = g.dns.as_ref().and_then(|idx| {
            let r = idx.first_match(name, &idx.rules_of(&peers.hits), self.names)?;
            let order = *g.entries.get(r.local_entry)?;
            Some(Hit {
                order,
                id: &r.id,
                l7: None,
            })
        });
        earlier(l4, dns)
    }

    /// First hit for a Kafka request: an L4-only entry or a `rules.kafka` rule, whichever
    /// comes first.
    fn kafka(&self, conn: &ConnMeta, req: &KafkaRequest<'_>, learned: &Learned) -> Option<Hit<'_>> {
        let g = self.group(conn)?;
        let peers = g.peers(cidr::fold(conn.peer), learned, self.names);
        let l4 = self.first_l4_only(g, &peers);
        let kafka = g.kafka.as_ref().and_then(|idx| {
            let r = idx.first_match(req, &idx.rules_of(&peers.hits), self.topics)?;
            let order = *g.entries.get(r.local_entry)?;
            Some(Hit {
                order,
                id: &r.id,
                l7: None,
            })
        });
        earlier(l4, kafka)
    }

    /// The keys whose topics a `rules.kafka` rule on the connection's port looks at.
    fn topic_keys(&self, conn: &ConnMeta) -> TopicKeys {
        self.group(conn)
            .and_then(|g| g.kafka.as_ref())
            .map_or(TopicKeys::NONE, |k| k.topic_keys())
    }

    /// First hit for a full request: an L4-only entry or an L7 rule, whichever comes first.
    fn request(
        &self,
        conn: &ConnMeta,
        req: &HttpRequest<'_>,
        learned: &Learned,
    ) -> Option<Hit<'_>> {
        let g = self.group(conn)?;
        let peers = g.peers(cidr::fold(conn.peer), learned, self.names);
        let l4 = self.first_l4_only(g, &peers);
        let l7 = g.l7.as_ref().and_then(|idx| {
            let r = idx.first_match(req, &idx.rules_of(&peers.hits), self.headers)?;
            let order = *g.entries.get(r.local_entry)?;
            Some(Hit {
                order,
                id: &r.id,
                l7: Some(r),
            })
        });
        earlier(l4, l7)
    }
}

/// Whichever hit comes first in decision order.
fn earlier<'s>(a: Option<Hit<'s>>, b: Option<Hit<'s>>) -> Option<Hit<'s>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if a.order <= b.order { a } else { b }),
        (a, b) => a.or(b),
    }
}

#[derive(Debug)]
struct DirIndex {
    allow: Side,
    deny: Side,
    default_allowed: bool,
    default_id: RuleId,
}

/// The policies selecting one workload, compiled for fast decisions. `Send + Sync`, immutable:
/// the proxy shares it behind an `ArcSwap` and replaces it whole on reload.
pub struct CompiledPolicy {
    ingress: DirIndex,
    egress: DirIndex,
    rule_count: usize,
    /// Selected policies (name, specs), for [`CompiledPolicy::describe`].
    selected: Vec<(String, usize)>,
    /// What DNS answers taught about `toFQDNs` names (shared across reloads).
    learned: Arc<Learned>,
    /// Whether any rule has a `toFQDNs` selector (the DNS path learns only then).
    has_fqdn: bool,
}

impl Default for CompiledPolicy {
    /// Same as [`CompiledPolicy::allow_all`].
    fn default() -> Self {
        CompiledPolicy::allow_all()
    }
}

impl fmt::Debug for CompiledPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledPolicy")
            .field("rule_count", &self.rule_count)
            .field("ingress_default_allowed", &self.ingress.default_allowed)
            .field("egress_default_allowed", &self.egress.default_allowed)
            .finish_non_exhaustive()
    }
}

impl CompiledPolicy {
    /// Selects the policies (and specs) that apply to `workload` and compiles them. Takes
    /// `Policy` values or shared ones (`Arc<Policy>`), so callers holding models need no copy.
    pub fn compile<P: std::borrow::Borrow<Policy>>(
        policies: &[P],
        workload: &Labels,
    ) -> Result<CompiledPolicy, CompileError> {
        CompiledPolicy::compile_with(policies, workload, Arc::new(Learned::default()))
    }

    /// [`CompiledPolicy::compile`] with the table `toFQDNs` selectors read: the one the DNS
    /// path fills, so that what was learned outlives a reload.
    pub fn compile_with<P: std::borrow::Borrow<Policy>>(
        policies: &[P],
        workload: &Labels,
        learned: Arc<Learned>,
    ) -> Result<CompiledPolicy, CompileError> {
        let policies: Vec<&Policy> = policies.iter().map(|p| p.borrow()).collect();
        let mut names = std::collections::HashSet::new();
        for p in &policies {
            if !names.insert(p.qualified_name()) {
                return Err(CompileError::DuplicatePolicy {
                    policy: p.qualified_name(),
                });
            }
        }
        let selected: Vec<(&Policy, Vec<&crate::model::Spec>)> = policies
            .iter()
            .map(|&p| {
                let specs = p
                    .specs
                    .iter()
                    .filter(|s| selects(p, &s.endpoint_selector, workload))
                    .collect::<Vec<_>>();
                (p, specs)
            })
            .filter(|(_, specs)| !specs.is_empty())
            .collect();
        let build = |direction: Direction| -> Result<DirIndex, CompileError> {
            let allow = entry::flatten(&selected, direction, false)?;
            let deny = entry::flatten(&selected, direction, true)?;
            let any_selects = selected.iter().any(|(_, specs)| {
                specs
                    .iter()
                    .any(|s| s.allow(direction).is_some() || s.deny(direction).is_some())
            });
            let default_deny = selected
                .iter()
                .any(|(_, specs)| specs.iter().any(|s| s.default_deny(direction)));
            let default_id = if default_deny {
                RuleId::default_deny(direction)
            } else if any_selects {
                RuleId::default_allow(direction, "enableDefaultDeny is false")
            } else {
                RuleId::default_allow(
                    direction,
                    &format!("no policy selects this workload for {direction}"),
                )
            };
            Ok(DirIndex {
                allow: Side::build(allow, direction, false)?,
                deny: Side::build(deny, direction, true)?,
                default_allowed: !default_deny,
                default_id,
            })
        };
        let ingress = build(Direction::Ingress)?;
        let egress = build(Direction::Egress)?;
        let rule_count = [&ingress, &egress]
            .iter()
            .flat_map(|d| d.allow.entries.iter().chain(&d.deny.entries))
            .map(|e| e.l7.as_ref().map_or(1, |l| l.len()))
            .sum();
        let has_fqdn = [&ingress, &egress]
            .iter()
            .flat_map(|d| d.allow.entries.iter().chain(&d.deny.entries))
            .any(|e| !e.fqdns.is_empty());
        Ok(CompiledPolicy {
            ingress,
            egress,
            rule_count,
            selected: describe::summarize(&selected),
            learned,
            has_fqdn,
        })
    }

    /// The decision set when no policy selects the workload: everything allowed, each verdict
    /// naming `default-allow`. Handy before the first policy load.
    pub fn allow_all() -> CompiledPolicy {
        let dir = |direction: Direction| DirIndex {
            allow: Side::empty(false),
            deny: Side::empty(true),
            default_allowed: true,
            default_id: RuleId::default_allow(
                direction,
                &format!("no policy selects this workload for {direction}"),
            ),
        };
        let (ingress, egress) = (dir(Direction::Ingress), dir(Direction::Egress));
        CompiledPolicy {
            ingress,
            egress,
            rule_count: 0,
            selected: Vec::new(),
            learned: Arc::new(Learned::default()),
            has_fqdn: false,
        }
    }

    fn dir(&self, direction: Direction) -> &DirIndex {
        match direction {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }

    /// The L3/L4 decision at accept time; `l7 == Http` means every request must go through
    /// [`CompiledPolicy::check_http`] (`Dns`: [`CompiledPolicy::check_dns`], `Kafka`:
    /// [`CompiledPolicy::check_kafka`]).
    pub fn check_connection(&self, conn: &ConnMeta) -> ConnVerdict {
        let d = self.dir(conn.direction);
        let (deny_l4, deny_l7) = d.deny.l4(conn, &self.learned);
        if let Some(hit) = deny_l4 {
            return ConnVerdict {
                allowed: false,
                rule: hit.id.clone(),
                l7: L7Kind::None,
            };
        }
        let l7_if_deny = deny_l7.map_or(L7Kind::None, |hit| d.deny.kind(hit.order));
        match d.allow.l4(conn, &self.learned) {
            (Some(hit), _) => ConnVerdict {
                allowed: true,
                rule: hit.id.clone(),
                l7: l7_if_deny,
            },
            (None, Some(hit)) => ConnVerdict {
                allowed: true,
                rule: hit.id.clone(),
                l7: d.allow.kind(hit.order),
            },
            (None, None) => ConnVerdict {
                allowed: d.default_allowed,
                rule: d.default_id.clone(),
                l7: if d.default_allowed {
                    l7_if_deny
                } else {
                    L7Kind::None
                },
            },
        }
    }

    /// The full L3/L4/L7 decision for one request.
    pub fn check_http(&self, conn: &ConnMeta, req: &HttpRequest<'_>) -> Verdict {
        let d = self.dir(conn.direction);
        if let Some(hit) = d.deny.request(conn, req, &self.learned) {
            return Verdict {
                allowed: false,
                rule: hit.id.clone(),
                header_actions: Vec::new(),
            };
        }
        if let Some(hit) = d.allow.request(conn, req, &self.learned) {
            return Verdict {
                allowed: true,
                rule: hit.id.clone(),
                header_actions: hit.l7.map(|r| r.actions(req.headers)).unwrap_or_default(),
            };
        }
        Verdict {
            allowed: d.default_allowed,
            rule: d.default_id.clone(),
            header_actions: Vec::new(),
        }
    }

    /// The full L3/L4/L7 decision for one DNS query for `name` (a `check_connection` with
    /// `l7: Dns` asks for it). `rules.dns` of deny entries match with any byte standing for a
    /// wildcard, so an odd byte cannot sidestep them ([`Strictness::AnyByte`]).
    pub fn check_dns(&self, conn: &ConnMeta, name: &DnsName) -> Verdict {
        let d = self.dir(conn.direction);
        let (rule, allowed) = if let Some(hit) = d.deny.query(conn, name, &self.learned) {
            (hit.id, false)
        } else if let Some(hit) = d.allow.query(conn, name, &self.learned) {
            (hit.id, true)
        } else {
            (&d.default_id, d.default_allowed)
        };
        Verdict {
            allowed,
            rule: rule.clone(),
            header_actions: Vec::new(),
        }
    }

    /// The full L3/L4/L7 decision for one Kafka request (a `check_connection` with
    /// `l7: Kafka` asks for it). `req.topics` must hold the request's topics when its key is in
    /// [`CompiledPolicy::kafka_topic_keys`]; for other keys they decide nothing. Deny rules
    /// match a request naming any topic they name (see [`crate::kafka`]).
    pub fn check_kafka(&self, conn: &ConnMeta, req: &KafkaRequest<'_>) -> Verdict {
        let d = self.dir(conn.direction);
        let (rule, allowed) = if let Some(hit) = d.deny.kafka(conn, req, &self.learned) {
            (hit.id, false)
        } else if let Some(hit) = d.allow.kafka(conn, req, &self.learned) {
            (hit.id, true)
        } else {
            (&d.default_id, d.default_allowed)
        };
        Verdict {
            allowed,
            rule: rule.clone(),
            header_actions: Vec::new(),
        }
    }

    /// The API keys whose requests on `conn` must come with their topics
    /// ([`KafkaRequest::topics`], [`KafkaRequest::all_topics`]): those some `rules.kafka`
    /// rule with a `topic` on the connection's port (allow or deny, any peer) looks at. For
    /// every other key the proxy may skip the request body. Ask once per connection (and
    /// again after a policy reload): the answer belongs to this compiled policy.
    pub fn kafka_topic_keys(&self, conn: &ConnMeta) -> TopicKeys {
        let d = self.dir(conn.direction);
        d.allow.topic_keys(conn).union(d.deny.topic_keys(conn))
    }

    /// Whether a rule has a `toFQDNs` selector: only then must the DNS path learn addresses.
    pub fn has_fqdn(&self) -> bool {
        self.has_fqdn
    }

    /// The table `toFQDNs` selectors read.
    pub fn learned(&self) -> &Arc<Learned> {
        &self.learned
    }

    /// Number of rules that can decide a verdict: L4-only port entries plus L7 rules, both
    /// directions, allow and deny (defaults not counted).
    pub fn rule_count(&self) -> usize {
        self.rule_count
    }

    /// The effective compiled rules, for the admin `/policy` endpoint.
    pub fn describe(&self) -> serde_json::Value {
        describe::describe(&self.selected, [&self.ingress, &self.egress])
    }
}
