//! The reference for `rules.kafka`: Cilium's `Rule.Matches` (cilium's `pkg/kafka/policy.go`)
//! walked rule by rule over a set of the request's topics that each matching topic rule
//! empties, as Cilium does, instead of the crate's per-topic lookups. Deny rules (our
//! extension) match a request naming their topic, or asking for every topic.

use std::collections::BTreeSet;

use sockmesh_policy::model::*;
use sockmesh_policy::{ConnMeta, Direction};

use super::{default, l7_rules, peer_ok, port_ok, sec_name, section, selected};
use crate::reference::dns::Learnt;

/// One generated Kafka request.
#[derive(Clone, Debug)]
pub struct KReq {
    pub key: i16,
    pub version: i16,
    pub client: Option<&'static str>,
    pub topics: Vec<&'static str>,
    pub all: bool,
}

/// Cilium's `isTopicAPIKey`, then the later keys that name topics (our extension).
fn topic_key(key: i16) -> bool {
    let cilium = matches!(
        key,
        0 | 1 | 2 | 3 | 4 | 5 | 6 | 8 | 9 | 19 | 20 | 21 | 23 | 24 | 27 | 28 | 34 | 35 | 37
    );
    let ours = matches!(
        key,
        32 | 33 | 43 | 44 | 45 | 46 | 47 | 61 | 75 | 78 | 79 | 90 | 91 | 92
    );
    cilium || ours
}

/// Our extension: Metadata with an empty list asks for brokers only, as a key without topics.
fn brokers_only(q: &KReq) -> bool {
    q.key == 3 && q.topics.is_empty() && !q.all
}

/// The keys a rule takes, `None` for all: Cilium's role lists with our additions, and the
/// `apiKey` names the generator writes (case-insensitive) or a number.
fn keys(r: &KafkaRule) -> Option<Vec<i16>> {
    let given = |f: &Option<String>| f.clone().filter(|s| !s.is_empty());
    if let Some(role) = given(&r.role) {
        return Some(match role.to_ascii_lowercase().as_str() {
            "produce" => vec![0, 3, 18, 22, 71, 72],
            "consume" => vec![1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 18, 23, 68, 71, 72],
            other => panic!("generated role {other}"),
        });
    }
    let key = given(&r.api_key)?;
    Some(vec![match key.to_ascii_lowercase().as_str() {
        "produce" => 0,
        "fetch" => 1,
        "metadata" => 3,
        "heartbeat" => 12,
        "initproducerid" => 22,
        "describetopicpartitions" => 75,
        n => n.parse().expect("generated key"),
    }])
}

/// `CheckAPIKeyRole`, `CheckAPIVersion`, `CheckClientID`.
fn header_ok(r: &KafkaRule, q: &KReq) -> bool {
    let given = |f: &Option<String>| f.clone().filter(|s| !s.is_empty());
    keys(r).is_none_or(|k| k.contains(&q.key))
        && given(&r.api_version).is_none_or(|v| v.parse::<i16>().ok() == Some(q.version))
        && given(&r.client_id).is_none_or(|c| q.client == Some(c.as_str()))
}

/// `check_kafka`: deny entries first, then allow entries, then the default. Within each, in
/// decision order, an L4-only element decides at once; a `rules.kafka` rule decides when it
/// matches, where an allow topic rule only takes its topic out of the set and decides when
/// the set is empty.
pub fn reference_kafka(
    policies: &[Policy],
    labels: &sockmesh_policy::Labels,
    learned: &[Learnt],
    conn: &ConnMeta,
    q: &KReq,
) -> (bool, String) {
    let sel = selected(policies, labels);
    let d: Direction = conn.direction;
    for deny in [true, false] {
        let mut remaining: BTreeSet<&str> = if q.all {
            BTreeSet::new()
        } else {
            q.topics.iter().copied().collect()
        };
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
                    for (k, r) in l7.kafka.iter().enumerate() {
                        if !header_ok(r, q) {
                            continue;
                        }
                        let found = (!deny, format!("{id}.rules.kafka[{k}]"));
                        let topic = r.topic.as_deref().filter(|t| !t.is_empty());
                        match topic {
                            None => return found,
                            Some(_) if !topic_key(q.key) || brokers_only(q) => {
                                if !deny {
                                    return found;
                                }
                            }
                            Some(t) if deny => {
                                if q.all || q.topics.contains(&t) {
                                    return found;
                                }
                            }
                            Some(t) => {
                                if remaining.remove(t) && remaining.is_empty() {
                                    return found;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    default(&sel, d)
}
