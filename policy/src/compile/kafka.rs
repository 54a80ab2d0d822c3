//! The Kafka index of one port group: its `rules.kafka` entries, numbered in decision order.
//!
//! Rules are found by API key (one bitset per key some rule names; rules for every key are in
//! all of them) and by topic (a hash map from topic to the rules naming it), so a policy of one
//! rule per topic costs a lookup per topic of the request, not a walk over its rules. Only
//! candidates that survive both are checked for version and client id, in decision order.

use std::collections::HashMap;

use crate::kafka::{KafkaMatcher, TopicKeys, names_topics};
use crate::request::KafkaRequest;
use crate::verdict::RuleId;

use super::bits::Bits;
use super::owners::RuleOwners;

/// How a side's rules meet a request's topics (see [`crate::kafka`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TopicMatching {
    /// Allow rules (Cilium's): every topic of the request must be allowed, each by some rule.
    Every,
    /// Deny rules (our extension): one denied topic, or a request for every topic, suffices.
    Any,
}

/// One `rules.kafka` entry of the group.
#[derive(Debug)]
pub(crate) struct KafkaRuleRef {
    pub(crate) local_entry: usize,
    pub(crate) id: RuleId,
    matcher: KafkaMatcher,
}

#[derive(Debug)]
pub(crate) struct KafkaIndex {
    rules: Vec<KafkaRuleRef>,
    owners: RuleOwners,
    /// Key → the rules taking it (rules for every key included).
    by_key: HashMap<i16, Bits>,
    /// The rules for every key (the candidates of a key no rule names).
    any_key: Bits,
    /// The rules without `topic`.
    untopic: Bits,
    /// Topic → the rules naming it, ascending.
    topics: HashMap<Box<str>, Vec<usize>>,
    /// The keys whose topics a rule here looks at.
    topic_keys: TopicKeys,
}

impl KafkaIndex {
    /// `sources` in decision order: (local entry, rule id, the rule's matcher).
    pub(crate) fn build(
        sources: Vec<(usize, RuleId, &KafkaMatcher)>,
        all_peers: &Bits,
    ) -> KafkaIndex {
        let n = sources.len();
        let owners = RuleOwners::build(sources.iter().map(|(l, _, _)| *l), n, all_peers);
        let mut any_key = Bits::new(n);
        let mut untopic = Bits::new(n);
        let mut by_key: HashMap<i16, Bits> = HashMap::new();
        let mut topics: HashMap<Box<str>, Vec<usize>> = HashMap::new();
        let mut topic_keys = TopicKeys::NONE;
        for (i, (_, _, m)) in sources.iter().enumerate() {
            match m.keys() {
                None => any_key.set(i),
                Some(keys) => {
                    for k in keys {
                        by_key.entry(*k).or_insert_with(|| Bits::new(n)).set(i);
                    }
                }
            }
            match m.topic() {
                None => untopic.set(i),
                Some(t) => {
                    topics.entry(Box::from(t)).or_default().push(i);
                    topic_keys.add(m.keys());
                }
            }
        }
        for bits in by_key.values_mut() {
            bits.or_assign(&any_key);
        }
        let rules = sources
            .into_iter()
            .map(|(local_entry, id, m)| KafkaRuleRef {
                local_entry,
                id,
                matcher: m.clone(),
            })
            .collect();
        KafkaIndex {
            rules,
            owners,
            by_key,
            any_key,
            untopic,
            topics,
            topic_keys,
        }
    }

    /// The rules a peer may be decided by (see [`RuleOwners::rules_of`]).
    pub(crate) fn rules_of(&self, hits: &[usize]) -> Bits {
        self.owners.rules_of(hits)
    }

    /// The keys whose topics a rule of this group looks at.
    pub(crate) fn topic_keys(&self) -> TopicKeys {
        self.topic_keys
    }

    /// The first rule (in decision order) among `peer_rules` that decides `req`.
    pub(crate) fn first_match(
        &self,
        req: &KafkaRequest<'_>,
        peer_rules: &Bits,
        matching: TopicMatching,
    ) -> Option<&KafkaRuleRef> {
        let mut cand = self
            .by_key
            .get(&req.api_key)
            .unwrap_or(&self.any_key)
            .clone();
        cand.and_assign(peer_rules);
        let ok = |i: usize| {
            cand.get(i)
                && self
                    .rules
                    .get(i)
                    .is_some_and(|r| r.matcher.matches_header(req))
        };
        let topic_key = names_topics(req);
        // Rules without `topic` match whatever the topics; for a key naming no topic an allow
        // rule's `topic` is ignored and a deny rule's never matches.
        let whole = cand.ones().find(|&i| {
            (self.untopic.get(i) || (!topic_key && matching == TopicMatching::Every)) && ok(i)
        });
        if !topic_key {
            return whole.and_then(|i| self.rules.get(i));
        }
        let by_topic = match matching {
            TopicMatching::Every => self.covering(req, &ok),
            TopicMatching::Any if req.all_topics => {
                cand.ones().find(|&i| !self.untopic.get(i) && ok(i))
            }
            TopicMatching::Any => req
                .topics
                .iter()
                .filter_map(|t| self.first_naming(t, &ok))
                .min(),
        };
        let best = match (whole, by_topic) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        best.and_then(|i| self.rules.get(i))
    }

    /// The first rule naming `topic` that `ok` takes.
    fn first_naming(&self, topic: &str, ok: &impl Fn(usize) -> bool) -> Option<usize> {
        self.topics
            .get(topic)
            .and_then(|v| v.iter().copied().find(|&i| ok(i)))
    }

    /// The rule by which every topic of `req` has been allowed (the latest of each topic's
    /// first rule); `None` if a topic has none, or the request names none.
    fn covering(&self, req: &KafkaRequest<'_>, ok: &impl Fn(usize) -> bool) -> Option<usize> {
        if req.all_topics || req.topics.is_empty() {
            return None;
        }
        let mut last = 0;
        for t in req.topics {
            last = last.max(self.first_naming(t, ok)?);
        }
        Some(last)
    }
}
