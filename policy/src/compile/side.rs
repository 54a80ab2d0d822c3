//! One side (allow or deny) of a direction and the lookups on it: the first hit in decision
//! order for a connection, an HTTP/gRPC request, a DNS query or a Kafka request.
//!
//! A side's indexes only find candidates; these lookups pick the earliest in decision order
//! among L4-only entries and the L7 rules that match, and fix how a side's rules match
//! (headers, name wildcards, topics), which differs between allow and deny. Kept apart from the
//! compilation in `mod.rs` and from the verdicts built on these hits in `check.rs`.

use crate::dns::{DnsName, Strictness};
use crate::fqdn::Learned;
use crate::kafka::TopicKeys;
use crate::request::{ConnMeta, Direction, HttpRequest, KafkaRequest};
use crate::verdict::{L7Kind, RuleId};

use super::CompileError;
use super::cidr;
use super::entry::Entry;
use super::group::{self, Group};
use super::header::HeaderMatching;
use super::kafka::TopicMatching;
use super::l7;
use super::ports::PortIndex;

/// One side (allow or deny) of a direction.
#[derive(Debug)]
pub(super) struct Side {
    pub(super) entries: Vec<Entry>,
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
pub(super) struct Hit<'a> {
    pub(super) order: usize,
    pub(super) id: &'a RuleId,
    pub(super) l7: Option<&'a l7::L7Rule>,
}

impl Side {
    pub(super) fn build(
        entries: Vec<Entry>,
        direction: Direction,
        deny: bool,
    ) -> Result<Side, CompileError> {
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

    pub(super) fn empty(deny: bool) -> Side {
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
    pub(super) fn l4(
        &self,
        conn: &ConnMeta,
        learned: &Learned,
    ) -> (Option<Hit<'_>>, Option<Hit<'_>>) {
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
    pub(super) fn kind(&self, order: usize) -> L7Kind {
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
    pub(super) fn query(
        &self,
        conn: &ConnMeta,
        name: &DnsName,
        learned: &Learned,
    ) -> Option<Hit<'_>> {
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
    pub(super) fn kafka(
        &self,
        conn: &ConnMeta,
        req: &KafkaRequest<'_>,
        learned: &Learned,
    ) -> Option<Hit<'_>> {
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
    pub(super) fn topic_keys(&self, conn: &ConnMeta) -> TopicKeys {
        self.group(conn)
            .and_then(|g| g.kafka.as_ref())
            .map_or(TopicKeys::NONE, |k| k.topic_keys())
    }

    /// First hit for a full request: an L4-only entry or an L7 rule, whichever comes first.
    pub(super) fn request(
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
