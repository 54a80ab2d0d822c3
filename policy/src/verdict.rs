//! Decisions and the names of the rules that made them.
//!
//! Every verdict names its deciding rule so that access logs and metrics can say *why* a request
//! was allowed or denied, not just *that* it was.

use std::fmt;
use std::sync::Arc;

use serde::{Serialize, Serializer};

use crate::request::Direction;

/// Names a rule inside a policy, e.g. `prod/web: ingress[0].toPorts[1].rules.http[2]`, or one of the
/// defaults (`default-deny (ingress)`). Cheap to clone (shared string).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleId(Arc<str>);

impl RuleId {
    /// Wraps a rule name.
    pub fn new(s: impl Into<Arc<str>>) -> RuleId {
        RuleId(s.into())
    }

    /// The rule's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id of the default-deny decision for `direction`.
    pub fn default_deny(direction: Direction) -> RuleId {
        RuleId::new(format!("default-deny ({direction})"))
    }

    /// The id of a default-allow decision for `direction`, with the reason.
    pub fn default_allow(direction: Direction, reason: &str) -> RuleId {
        RuleId::new(format!("default-allow ({direction}: {reason})"))
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl Serialize for RuleId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// What the proxy must do to a request's headers when a `headerMatches` entry with a `mismatch`
/// action did not match (Cilium's semantics: a mismatch does not deny, it acts).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum HeaderAction {
    /// Log the mismatch; the request is forwarded unchanged.
    Log { name: String, expected: String },
    /// Add a header `name: value` (in addition to any existing values).
    Add { name: String, value: String },
    /// Remove header `name`.
    Delete { name: String },
    /// Set header `name` to `value`, replacing any existing values.
    Replace { name: String, value: String },
}

/// The decision for one HTTP request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub allowed: bool,
    pub rule: RuleId,
    /// Header edits to apply before forwarding (empty when denied).
    pub header_actions: Vec<HeaderAction>,
}

/// What a port demands beyond L4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum L7Kind {
    /// The L3/L4 verdict is final: the proxy may splice the connection.
    None,
    /// Every request must be parsed as HTTP and checked with `check_http`.
    Http,
    /// Every query must be parsed as DNS and checked with `check_dns`.
    Dns,
    /// Every request must be parsed as Kafka and checked with `check_kafka` (with its topics
    /// for the keys `kafka_topic_keys` names).
    Kafka,
}

/// The decision at accept time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConnVerdict {
    /// `false`: close the connection. `true` with `l7` other than `None`: accept, then decide
    /// per request (or query) in that protocol.
    pub allowed: bool,
    pub rule: RuleId,
    pub l7: L7Kind,
}
