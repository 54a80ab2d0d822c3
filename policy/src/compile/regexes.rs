//! The regex half of a field index: one automaton per bucket of patterns.
//!
//! For the path field, patterns are bucketed by their first path segment when their literal
//! prefix fixes it (`/orders/[0-9]+` lives under `/orders/`): a request only runs the bucket of its
//! own first segment plus the patterns without a fixed segment. Thousands of per-service path
//! regexes then cost one small automaton per request instead of one automaton over all of them.
//!
//! A bucket is one forward NFA (no capture states) searched by a lazy DFA that reports every
//! pattern matching the whole value, with a PikeVM over the same NFA for what the lazy DFA cannot
//! do: a value with non-ASCII bytes when a pattern has a Unicode `\b`. A `regex::RegexSet` would
//! also build a reverse NFA and the engines around it: about twice the memory and compile time,
//! for start positions a full match never needs.

use std::collections::HashMap;
use std::fmt;

use regex_automata::hybrid::dfa::{self as lazy, DFA};
use regex_automata::nfa::thompson::pikevm::{self, PikeVM};
use regex_automata::nfa::thompson::{self, WhichCaptures};
use regex_automata::util::pool::Pool;
use regex_automata::{Anchored, Input, MatchKind, PatternSet};

use super::bits::Bits;
use super::field::{META, RuleSet, anchored};

/// NFA size limit of one bucket: large enough for 10,000 rules, small enough to refuse
/// pathological ones.
const NFA_SIZE_LIMIT: usize = 256 << 20;
/// Transition cache of one lazy DFA per concurrent search (grown on demand up to this, or up to
/// the minimum a large bucket needs).
const LAZY_CACHE_CAPACITY: usize = 2 << 20;
/// Beyond this minimum cache a bucket is searched by the PikeVM alone.
const LAZY_CACHE_LIMIT: usize = 64 << 20;

/// Why a bucket's automaton could not be built (boxed: the library's error is large).
pub(crate) type BuildError = Box<thompson::BuildError>;

/// Per-search state, pooled: the lazy DFA's cache, the PikeVM's (made on first need) and the
/// set of matching patterns.
struct Scratch {
    lazy: Option<lazy::Cache>,
    vm: Option<pikevm::Cache>,
    matched: PatternSet,
}

type ScratchPool = Pool<Scratch, Box<dyn Fn() -> Scratch + Send + Sync>>;

struct Group {
    lazy: Option<DFA>,
    vm: PikeVM,
    scratch: ScratchPool,
    /// For each pattern, the rules using it.
    rules: Vec<RuleSet>,
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group")
            .field("patterns", &self.rules.len())
            .field("lazy_dfa", &self.lazy.is_some())
            .finish()
    }
}

impl Group {
    fn build(patterns: Vec<(String, Vec<usize>)>, n_rules: usize) -> Result<Group, BuildError> {
        let nfa = thompson::Compiler::new()
            .configure(
                thompson::Config::new()
                    .which_captures(WhichCaptures::None)
                    .nfa_size_limit(Some(NFA_SIZE_LIMIT)),
            )
            .build_many(
                &patterns
                    .iter()
                    .map(|(p, _)| anchored(p))
                    .collect::<Vec<_>>(),
            )
            .map_err(Box::new)?;
        // A Unicode `\b` makes the lazy DFA stop at non-ASCII bytes (the PikeVM then answers
        // that one search). A bucket too large for the cache limit is left to the PikeVM.
        let config = DFA::config()
            .match_kind(MatchKind::All)
            .unicode_word_boundary(true);
        let lazy = config
            .get_minimum_cache_capacity(&nfa)
            .ok()
            .filter(|min| *min <= LAZY_CACHE_LIMIT)
            .and_then(|min| {
                lazy::Builder::new()
                    .configure(config.clone().cache_capacity(min.max(LAZY_CACHE_CAPACITY)))
                    .build_from_nfa(nfa.clone())
                    .ok()
            });
        let vm = PikeVM::builder()
            .configure(PikeVM::config().match_kind(MatchKind::All))
            .build_from_nfa(nfa)
            .map_err(Box::new)?;
        let (make_lazy, n_patterns) = (lazy.clone(), patterns.len());
        let scratch: ScratchPool = Pool::new(Box::new(move || Scratch {
            lazy: make_lazy.as_ref().map(DFA::create_cache),
            vm: None,
            matched: PatternSet::new(n_patterns),
        }));
        let rules = patterns
            .into_iter()
            .map(|(_, r)| RuleSet::new(r, n_rules))
            .collect();
        Ok(Group {
            lazy,
            vm,
            scratch,
            rules,
        })
    }

    /// Calls `f` with the rules of every pattern that full-matches `value`.
    fn each_match<'a>(&'a self, value: &str, mut f: impl FnMut(&'a RuleSet)) {
        let input = Input::new(value).anchored(Anchored::Yes);
        let mut guard = self.scratch.get();
        let s = &mut *guard;
        s.matched.clear();
        // The lazy DFA never gives up (no minimum cache clear count); it quits only at a
        // non-ASCII byte in a bucket with a Unicode `\b`, and then the PikeVM answers.
        let searched = match (&self.lazy, s.lazy.as_mut()) {
            (Some(dfa), Some(cache)) => dfa
                .try_which_overlapping_matches(cache, &input, &mut s.matched)
                .is_ok(),
            _ => false,
        };
        if !searched {
            s.matched.clear();
            let cache = s.vm.get_or_insert_with(|| self.vm.create_cache());
            self.vm
                .which_overlapping_matches(cache, &input, &mut s.matched);
        }
        for pattern in s.matched.iter() {
            if let Some(rules) = self.rules.get(pattern.as_usize()) {
                f(rules);
            }
        }
    }
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
        .find(|(_, c)| META.contains(*c) || c.is_whitespace())
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

impl RegexIndex {
    /// `patterns`: distinct regexes with the rules using each. `by_segment`: bucket by first path
    /// segment (only sound for the path field).
    pub(crate) fn build(
        patterns: Vec<(String, Vec<usize>)>,
        n_rules: usize,
        by_segment: bool,
    ) -> Result<RegexIndex, BuildError> {
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
                Some(Group::build(fallback, n_rules)?)
            },
            buckets: buckets
                .into_iter()
                .map(|(k, v)| Ok((k, Group::build(v, n_rules)?)))
                .collect::<Result<_, BuildError>>()?,
        })
    }

    /// Collects the rule sets of every pattern that full-matches `value`.
    pub(crate) fn matching<'a>(&'a self, value: &str, out: &mut impl Extend<&'a RuleSet>) {
        let bucket = segment_key(value).and_then(|k| self.buckets.get(k));
        for g in self.fallback.iter().chain(bucket) {
            g.each_match(value, |rules| out.extend([rules]));
        }
    }

    /// Sets the rules of every pattern that full-matches `value`.
    pub(crate) fn add_matches(&self, value: &str, bits: &mut Bits) {
        let bucket = segment_key(value).and_then(|k| self.buckets.get(k));
        for g in self.fallback.iter().chain(bucket) {
            g.each_match(value, |rules| rules.add_to(bits));
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

    /// The rules whose pattern full-matches `v`, ascending.
    fn rules_matching(idx: &RegexIndex, n_rules: usize, v: &str) -> Vec<usize> {
        let mut b = Bits::new(n_rules);
        idx.add_matches(v, &mut b);
        b.ones().collect()
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
        let hits = |v: &str| rules_matching(&idx, 4, v);
        assert_eq!(hits("/a/1"), vec![0, 3]);
        assert_eq!(hits("/b/x"), vec![1, 2]);
        assert_eq!(hits("/b/2"), vec![1, 3]);
        assert_eq!(hits("/c/x"), vec![2]);
        assert_eq!(hits("/a"), Vec::<usize>::new());
    }

    #[test]
    fn unicode_word_boundaries_fall_back_to_the_pikevm_on_non_ascii() {
        // The lazy DFA handles a Unicode `\b` on ASCII values and quits on other bytes; the
        // same NFA then answers through the PikeVM.
        let pats = vec![
            ("/w/é\\b.*".to_owned(), vec![0]),
            ("/w/.*".to_owned(), vec![1]),
        ];
        let idx = RegexIndex::build(pats, 2, true).expect("builds");
        let group = idx.buckets.get("/w/").expect("bucket");
        assert!(group.lazy.is_some());
        let hits = |v: &str| rules_matching(&idx, 2, v);
        assert_eq!(hits("/w/é-x"), vec![0, 1]);
        assert_eq!(hits("/w/éx"), vec![1]);
        assert_eq!(hits("/v/é"), Vec::<usize>::new());
    }

    #[test]
    fn a_bucket_beyond_the_default_cache_keeps_its_lazy_dfa() {
        // 5,000 patterns need more than the default 2 MiB minimum cache.
        let pats: Vec<(String, Vec<usize>)> = (0..5000)
            .map(|i| (format!("/api/svc{i}/items/[0-9]+"), vec![i]))
            .collect();
        let idx = RegexIndex::build(pats, 5000, true).expect("builds");
        let lazy = idx.buckets.get("/api/").expect("bucket").lazy.as_ref();
        let lazy = lazy.expect("the bucket kept its lazy DFA");
        assert!(
            lazy.get_config().get_cache_capacity() > LAZY_CACHE_CAPACITY,
            "this bucket does not need more than the default cache: the test proves nothing"
        );
        let mut out = Vec::new();
        idx.matching("/api/svc4999/items/12", &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn a_bucket_uses_the_lazy_dfa_and_reports_every_full_match() {
        let pats = vec![
            ("/api/v[0-9]+/.*".to_owned(), vec![0]),
            ("/api/v1/items".to_owned(), vec![1]),
            ("/api/.*/items".to_owned(), vec![2]),
        ];
        let idx = RegexIndex::build(pats, 3, true).expect("builds");
        assert!(idx.buckets.get("/api/").expect("bucket").lazy.is_some());
        let mut out = Vec::new();
        idx.matching("/api/v1/items", &mut out);
        assert_eq!(out.len(), 3);
        out.clear();
        idx.matching("/api/v1/items/x", &mut out);
        assert_eq!(
            out.len(),
            1,
            "full match only: `/api/.*/items` must not match a longer path"
        );
    }
}
