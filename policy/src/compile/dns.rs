//! The DNS index of one port group: its `rules.dns` entries, numbered in decision order.
//!
//! A `matchName` (and a `matchPattern` without a wildcard) goes into a hash map keyed by the
//! canonical name, so a policy of thousands of names costs one lookup per query; only real
//! patterns are tried one by one, in order, and only while they could still come before the
//! best exact hit.

use std::collections::HashMap;

use crate::dns::{DnsName, NamePattern, Strictness};
use crate::verdict::RuleId;

use super::bits::Bits;
use super::owners::RuleOwners;

/// One `rules.dns` entry of the group.
#[derive(Debug)]
pub(crate) struct DnsRuleRef {
    pub(crate) local_entry: usize,
    pub(crate) id: RuleId,
}

#[derive(Debug)]
pub(crate) struct DnsIndex {
    rules: Vec<DnsRuleRef>,
    owners: RuleOwners,
    /// Canonical name → the rules naming it exactly, ascending.
    exact: HashMap<DnsName, Vec<usize>>,
    /// (rule, pattern), ascending by rule.
    patterns: Vec<(usize, NamePattern)>,
}

impl DnsIndex {
    /// `sources` in decision order: (local entry, rule id, the rule's compiled patterns).
    pub(crate) fn build(
        sources: Vec<(usize, RuleId, &[NamePattern])>,
        all_peers: &Bits,
    ) -> DnsIndex {
        let n = sources.len();
        let owners = RuleOwners::build(sources.iter().map(|(l, _, _)| *l), n, all_peers);
        let mut exact: HashMap<DnsName, Vec<usize>> = HashMap::new();
        let mut patterns = Vec::new();
        let mut rules = Vec::with_capacity(n);
        for (i, (local_entry, id, compiled)) in sources.into_iter().enumerate() {
            for p in compiled {
                match p.exact() {
                    Some(name) => exact.entry(name).or_default().push(i),
                    None => patterns.push((i, p.clone())),
                }
            }
            rules.push(DnsRuleRef { local_entry, id });
        }
        for v in exact.values_mut() {
            v.dedup();
        }
        DnsIndex {
            rules,
            owners,
            exact,
            patterns,
        }
    }

    /// The rules a peer may be decided by (see [`RuleOwners::rules_of`]).
    pub(crate) fn rules_of(&self, hits: &[usize]) -> Bits {
        self.owners.rules_of(hits)
    }

    /// The first rule (in decision order) among `peer_rules` that matches `name`.
    pub(crate) fn first_match(
        &self,
        name: &DnsName,
        peer_rules: &Bits,
        strictness: Strictness,
    ) -> Option<&DnsRuleRef> {
        let mut best = self
            .exact
            .get(name)
            .and_then(|v| v.iter().copied().find(|&i| peer_rules.get(i)));
        for (i, p) in &self.patterns {
            if best.is_some_and(|b| b < *i) {
                break;
            }
            if peer_rules.get(*i) && p.matches(name, strictness) {
                best = Some(*i);
                break;
            }
        }
        best.and_then(|i| self.rules.get(i))
    }
}
