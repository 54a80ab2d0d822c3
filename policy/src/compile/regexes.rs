//! The regex half of a field index: one `RegexSet` per bucket of patterns.
//!
//! For the path field, patterns are bucketed by their first path segment when their literal
//! prefix fixes it (`/orders/[0-9]+` lives under `/orders/`): a request only runs the bucket of its
//! own first segment plus the patterns without a fixed segment. Thousands of per-service path
//! regexes then cost one small automaton per request instead of one automaton over all of them.

use std::collections::HashMap;

use regex::{RegexSet, RegexSetBuilder};

use super::bits::Bits;
use super::field::{RuleSet, anchored};

/// Compiled-size limits of one set: large enough for 10,000 rules, small enough to refuse
/// pathological ones.
const REGEX_SIZE_LIMIT: usize = 256 << 20;
const DFA_SIZE_LIMIT: usize = 64 << 20;

#[derive(Debug)]
struct Group {
    set: RegexSet,
    /// For each pattern of `set`, the rules using it.
    rules: Vec<RuleSet>,
}

#[derive(Debug, Default)]
pub(crate) struct RegexIndex {
    fallback: Option<Group>,
    buckets: HashMap<Box<str>, Group>,
}

/// `/first/` of a value starting with `/` and containing a second `/`.
fn segment_key(s: &str) -> Option<&str> {
    let rest = s.strip_prefix('/')?;
    let end = rest.find('/')?;
    s.get(..end + 2)
}

/// The prefix every match of full-match regex `p` starts with (conservative: empty when unsure).
fn literal_prefix(p: &str) -> &str {
    if p.contains('|') {
        return "";
    }
    let end = p
        .char_indices()
        .find(|(_, c)| "\\.+*?()|[]{}^$#&-~".contains(*c) || c.is_whitespace())
        .map_or(p.len(), |(i, _)| i);
    let mut prefix = p.get(..end).unwrap_or("");
    // A quantifier applies to the last literal character, which is then optional or repeated.
    if p.get(end..)
        .is_some_and(|r| r.starts_with(['*', '?', '{', '+']))
    {
        let last = prefix.char_indices().last().map_or(0, |(i, _)| i);
        prefix = prefix.get(..last).unwrap_or("");
    }
    prefix
}

fn build_group(patterns: Vec<(String, Vec<usize>)>, n_rules: usize) -> Result<Group, regex::Error> {
    let set = RegexSetBuilder::new(patterns.iter().map(|(p, _)| anchored(p)))
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(DFA_SIZE_LIMIT)
        .build()?;
    let rules = patterns
        .into_iter()
        .map(|(_, r)| RuleSet::new(r, n_rules))
        .collect();
    Ok(Group { set, rules })
}

impl RegexIndex {
    /// `patterns`: distinct regexes with the rules using each. `by_segment`: bucket by first path
    /// segment (only sound for the path field).
    pub(crate) fn build(
        patterns: Vec<(String, Vec<usize>)>,
        n_rules: usize,
        by_segment: bool,
    ) -> Result<RegexIndex, regex::Error> {
        let mut fallback = Vec::new();
        let mut buckets: HashMap<Box<str>, Vec<(String, Vec<usize>)>> = HashMap::new();
        for (p, rules) in patterns {
            let key = if by_segment {
                segment_key(literal_prefix(&p)).map(Box::<str>::from)
            } else {
                None
            };
            match key {
                Some(k) => buckets.entry(k).or_default().push((p, rules)),
                None => fallback.push((p, rules)),
            }
        }
        Ok(RegexIndex {
            fallback: if fallback.is_empty() {
                None
            } else {
                Some(build_group(fallback, n_rules)?)
            },
            buckets: buckets
                .into_iter()
                .map(|(k, v)| Ok((k, build_group(v, n_rules)?)))
                .collect::<Result<_, regex::Error>>()?,
        })
    }

    /// Collects the rule sets of every pattern that full-matches `value`.
    pub(crate) fn matching<'a>(&'a self, value: &str, out: &mut Vec<&'a RuleSet>) {
        let bucket = segment_key(value).and_then(|k| self.buckets.get(k));
        for g in self.fallback.iter().chain(bucket) {
            out.extend(
                g.set
                    .matches(value)
                    .iter()
                    .filter_map(|pos| g.rules.get(pos)),
            );
        }
    }

    /// Sets the rules of every pattern that full-matches `value`.
    pub(crate) fn add_matches(&self, value: &str, bits: &mut Bits) {
        let bucket = segment_key(value).and_then(|k| self.buckets.get(k));
        for g in self.fallback.iter().chain(bucket) {
            for pos in g.set.matches(value).iter() {
                if let Some(rules) = g.rules.get(pos) {
                    rules.add_to(bits);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_prefixes_are_conservative() {
        assert_eq!(literal_prefix("/api/v1/.*"), "/api/v1/");
        assert_eq!(literal_prefix("/api/v[12]/.*"), "/api/v");
        assert_eq!(literal_prefix("/api/v1/x"), "/api/v1/x");
        assert_eq!(literal_prefix("/ab*/c"), "/a");
        assert_eq!(literal_prefix("/a/?x"), "/a");
        assert_eq!(literal_prefix("/a/x|/b/y"), "");
        assert_eq!(literal_prefix("(?i)/a/.*"), "");
        assert_eq!(literal_prefix("\\/a/.*"), "");
        assert_eq!(literal_prefix("/é/[0-9]+"), "/é/");
        assert_eq!(segment_key("/api/v"), Some("/api/"));
        assert_eq!(segment_key("/api"), None);
        assert_eq!(segment_key("api/x/"), None);
        assert_eq!(segment_key("/a/"), Some("/a/"));
    }

    #[test]
    fn buckets_and_fallback_both_run() {
        let pats = vec![
            ("/a/[0-9]+".to_owned(), vec![0]),
            ("/b/.*".to_owned(), vec![1]),
            ("/.*/x".to_owned(), vec![2]),
            ("/a/1|/b/2".to_owned(), vec![3]),
        ];
        let idx = RegexIndex::build(pats, 4, true).expect("builds");
        assert_eq!(idx.buckets.len(), 2);
        let hits = |v: &str| {
            let mut b = Bits::new(4);
            idx.add_matches(v, &mut b);
            b.ones().collect::<Vec<_>>()
        };
        assert_eq!(hits("/a/1"), vec![0, 3]);
        assert_eq!(hits("/b/x"), vec![1, 2]);
        assert_eq!(hits("/b/2"), vec![1, 3]);
        assert_eq!(hits("/c/x"), vec![2]);
        assert_eq!(hits("/a"), Vec::<usize>::new());
    }
}
