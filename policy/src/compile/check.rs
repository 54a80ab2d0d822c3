//! The decisions on a compiled policy: the L3/L4 verdict at accept time and the full verdict
//! for each L7 kind (HTTP/gRPC, DNS, Kafka). Deny side first, then allow, then the direction's
//! default; the side lookups (`side.rs`) find the first hit on each. These are the paths the
//! proxy runs per connection and per request, kept apart from the compilation in `mod.rs`.

use crate::dns::DnsName;
#[cfg(doc)]
use crate::dns::Strictness;
use crate::kafka::TopicKeys;
use crate::request::{ConnMeta, HttpRequest, KafkaRequest};
use crate::verdict::{ConnVerdict, L7Kind, Verdict};

use super::side::Hit;
use super::{CompiledPolicy, DirIndex};

impl CompiledPolicy {
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
        first_hit(d, d.deny.query(conn, name, &self.learned), || {
            d.allow.query(conn, name, &self.learned)
        })
    }

    /// The full L3/L4/L7 decision for one Kafka request (a `check_connection` with
    /// `l7: Kafka` asks for it). `req.topics` must hold the request's topics when its key is in
    /// [`CompiledPolicy::kafka_topic_keys`]; for other keys they decide nothing. Deny rules
    /// match a request naming any topic they name (see [`crate::kafka`]).
    pub fn check_kafka(&self, conn: &ConnMeta, req: &KafkaRequest<'_>) -> Verdict {
        let d = self.dir(conn.direction);
        first_hit(d, d.deny.kafka(conn, req, &self.learned), || {
            d.allow.kafka(conn, req, &self.learned)
        })
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
}

/// The verdict of a message whose L7 rules carry no header actions (DNS, Kafka): the deny hit,
/// else the allow hit, else the direction's default.
fn first_hit<'a>(
    d: &'a DirIndex,
    deny: Option<Hit<'a>>,
    allow: impl FnOnce() -> Option<Hit<'a>>,
) -> Verdict {
    let (rule, allowed) = match deny {
        Some(hit) => (hit.id, false),
        None => match allow() {
            Some(hit) => (hit.id, true),
            None => (&d.default_id, d.default_allowed),
        },
    };
    Verdict {
        allowed,
        rule: rule.clone(),
        header_actions: Vec::new(),
    }
}
