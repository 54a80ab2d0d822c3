//! Kafka: Cilium's `rules.kafka` entries read as the matcher uses them, and what a match is.
//!
//! # Why a module of its own
//! The YAML parser (positions), the xDS conversion (resource paths) and the compiler (rule ids)
//! all check the same fields; each reports where the field is, this module says what is wrong
//! with it ([`FieldError`]) and builds the one [`KafkaMatcher`] the index evaluates.
//!
//! # Cilium's semantics
//! From cilium's `pkg/policy/api/kafka/kafka.go` (`PortRule`, `Sanitize`, `GetAPIKeys`) and
//! `pkg/kafka/policy.go` (`Rule.Matches`, `isTopicAPIKey`), which proxylib's Kafka parser
//! (`proxylib/kafka/parser.go`) applies to each request:
//! - Every field is optional; an absent or empty one matches anything. A rule without fields
//!   matches every request.
//! - `role` (`produce` | `consume`) and `apiKey` are case-insensitive and exclusive: a rule
//!   with both is refused. A role stands for a set of keys ([`ROLES`]), `apiKey` for one
//!   ([`API_KEYS`]; a number too, our extension).
//! - `apiVersion`: a number from 0 to 32767, equal to the request's version.
//! - `clientID`: equal to the request header's client id (a request without one never matches).
//! - `topic`: a topic name (at most [`MAX_TOPIC_LEN`] bytes of `[a-zA-Z0-9._-]`), exact.
//!   It constrains only requests of the keys that name topics ([`TOPIC_KEYS`]); for other
//!   keys (JoinGroup, Heartbeat, ...) an allow rule ignores it, so `{role: consume, topic: t}`
//!   lets a consumer join its group.
//! - A request naming several topics is allowed only if **every** topic is allowed, each by
//!   some rule matching the request's key, version and client id (Cilium removes each matched
//!   topic from the request's set and allows once the set is empty). A rule without `topic`
//!   allows the request whatever its topics.
//! - A request of a topic key that names no topic is not allowed by a rule with `topic`
//!   (Cilium's set starts empty and nothing matches it): for Metadata and OffsetFetch such a
//!   list can mean every topic.
//!
//! # Where we differ
//! - Deny rules with L7 rules are our extension (Cilium has none). A deny rule matches a
//!   request whose key, version and client id it matches and that names its `topic` (any one
//!   of the request's topics suffices, so adding an allowed topic does not escape it) or asks
//!   for every topic ([`crate::KafkaRequest::all_topics`]); a deny rule without `topic`
//!   matches whatever the topics. A deny rule's `topic` never matches a key that names no
//!   topic: `{topic: secret}` in `egressDeny` must not deny ApiVersions to every client.
//! - Cilium reads no client id from requests of API version 0 (its parser's shortcut); we
//!   match what the request header says for every version.
//! - Cilium's topic check also lets a backslash through (an escaping slip in its regex); no
//!   Kafka topic can hold one, so we refuse it as the mistake it is.
//! - The roles are extended by what current clients send ([`ROLES`] says what and why).

mod keys;

#[cfg(test)]
mod tests;

pub use keys::{
    API_KEYS, ROLES, TOPIC_KEYS, api_key_by_name, api_key_name, is_topic_key, names_topics,
    role_keys,
};

use crate::model::KafkaRule;
use crate::request::KafkaRequest;

/// Longest topic name a rule may give: Cilium's limit (Kafka allows 249 since 0.10, 255
/// before; Cilium keeps 255 for compatibility).
pub const MAX_TOPIC_LEN: usize = 255;

/// Why a field of a `rules.kafka` entry cannot be used, and what to write instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The field's YAML name (`role`, `apiKey`, `apiVersion`, `topic`).
    pub field: &'static str,
    pub message: String,
    pub help: String,
}

/// The keys `role` stands for.
pub fn parse_role(role: &str) -> Result<&'static [i16], FieldError> {
    role_keys(role).ok_or_else(|| FieldError {
        field: "role",
        message: format!("unknown Kafka role `{role}`"),
        help: "use `produce` or `consume`, or name one request type with `apiKey`".to_owned(),
    })
}

/// The key `apiKey` names: a name of [`API_KEYS`] or a number from 0 to 32767.
pub fn parse_api_key(key: &str) -> Result<i16, FieldError> {
    if let Some(k) = api_key_by_name(key) {
        return Ok(k);
    }
    number(key).ok_or_else(|| FieldError {
        field: "apiKey",
        message: format!("unknown Kafka API key `{key}`"),
        help: "write the request type as Cilium names it (`produce`, `fetch`, `offsets`, \
               `metadata`, `offsetcommit`, `apiversions`, ...) or its number"
            .to_owned(),
    })
}

/// The version `apiVersion` names: a number from 0 to 32767.
pub fn parse_api_version(version: &str) -> Result<i16, FieldError> {
    number(version).ok_or_else(|| FieldError {
        field: "apiVersion",
        message: format!("invalid Kafka API version `{version}`"),
        help: "write a number from 0 to 32767, or leave `apiVersion` out to allow every version"
            .to_owned(),
    })
}

/// Checks a `topic` as Kafka names topics.
pub fn check_topic(topic: &str) -> Result<(), FieldError> {
    let help = "a topic name is at most 255 letters, digits, `.`, `_` and `-`; rules match it \
                exactly (no wildcards)";
    if topic.len() > MAX_TOPIC_LEN {
        return Err(FieldError {
            field: "topic",
            message: format!(
                "a Kafka topic of {} bytes (at most {MAX_TOPIC_LEN})",
                topic.len()
            ),
            help: help.to_owned(),
        });
    }
    if let Some(c) = topic
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(FieldError {
            field: "topic",
            message: format!("invalid Kafka topic `{topic}`: `{c}` cannot be part of a topic name"),
            help: help.to_owned(),
        });
    }
    Ok(())
}

/// The error for a rule with both `role` and `apiKey` (Cilium refuses it too), reported at
/// `apiKey`.
pub fn role_and_api_key(role: &str, key: &str) -> FieldError {
    FieldError {
        field: "apiKey",
        message: format!("`role: {role}` and `apiKey: {key}` in one Kafka rule"),
        help: "a role stands for a set of API keys: keep either `role` or `apiKey`, or write \
               two rules"
            .to_owned(),
    }
}

/// Digits only, 0 to 32767 (Cilium's `ParseInt(s, 10, 16)` with `n >= 0`).
fn number(s: &str) -> Option<i16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i16>().ok()
}

/// A field as Cilium reads it: absent or empty means "any".
fn given(field: &Option<String>) -> Option<&str> {
    field.as_deref().filter(|s| !s.is_empty())
}

/// One `rules.kafka` entry, checked and ready to match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaMatcher {
    /// Sorted; `None`: every key.
    keys: Option<Box<[i16]>>,
    version: Option<i16>,
    client_id: Option<Box<str>>,
    topic: Option<Box<str>>,
}

impl KafkaMatcher {
    /// Checks every field of `rule` (the first problem is the error).
    pub fn new(rule: &KafkaRule) -> Result<KafkaMatcher, FieldError> {
        let keys = match (given(&rule.role), given(&rule.api_key)) {
            (Some(role), Some(key)) => return Err(role_and_api_key(role, key)),
            (Some(role), None) => {
                let mut keys = parse_role(role)?.to_vec();
                keys.sort_unstable();
                Some(keys.into_boxed_slice())
            }
            (None, Some(key)) => Some(Box::from([parse_api_key(key)?])),
            (None, None) => None,
        };
        let version = given(&rule.api_version)
            .map(parse_api_version)
            .transpose()?;
        let topic = match given(&rule.topic) {
            Some(t) => {
                check_topic(t)?;
                Some(Box::from(t))
            }
            None => None,
        };
        Ok(KafkaMatcher {
            keys,
            version,
            client_id: given(&rule.client_id).map(Box::from),
            topic,
        })
    }

    /// The keys the rule allows, sorted; `None` for every key.
    pub fn keys(&self) -> Option<&[i16]> {
        self.keys.as_deref()
    }

    /// Whether the rule takes requests of `key`.
    pub fn takes_key(&self, key: i16) -> bool {
        self.keys
            .as_deref()
            .is_none_or(|k| k.binary_search(&key).is_ok())
    }

    /// The rule's topic, if it has one.
    pub fn topic(&self) -> Option<&str> {
        self.topic.as_deref()
    }

    /// Whether key, version and client id match (everything but the topics).
    pub fn matches_header(&self, req: &KafkaRequest<'_>) -> bool {
        self.takes_key(req.api_key)
            && self.version.is_none_or(|v| v == req.api_version)
            && self
                .client_id
                .as_deref()
                .is_none_or(|c| req.client_id == Some(c))
    }
}

/// A set of API keys whose requests must come with their topics: what
/// [`crate::CompiledPolicy::kafka_topic_keys`] answers for a connection. Only [`TOPIC_KEYS`]
/// can be in it (all below 128). `Copy`, so the proxy keeps it per connection and asks it per
/// request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TopicKeys(u128);

impl TopicKeys {
    /// No key needs its topics: the proxy decodes no request body.
    pub const NONE: TopicKeys = TopicKeys(0);

    /// Whether requests of `key` must carry their topics.
    pub fn contains(self, key: i16) -> bool {
        u32::try_from(key)
            .ok()
            .and_then(|k| 1u128.checked_shl(k))
            .is_some_and(|bit| self.0 & bit != 0)
    }

    /// Whether no key needs its topics.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Adds the topic keys among `keys` (`None`: all of them).
    pub(crate) fn add(&mut self, keys: Option<&[i16]>) {
        let all = TOPIC_KEYS;
        for &k in keys.unwrap_or(all) {
            if is_topic_key(k)
                && let Some(bit) = u32::try_from(k).ok().and_then(|k| 1u128.checked_shl(k))
            {
                self.0 |= bit;
            }
        }
    }

    pub(crate) fn union(self, other: TopicKeys) -> TopicKeys {
        TopicKeys(self.0 | other.0)
    }
}
