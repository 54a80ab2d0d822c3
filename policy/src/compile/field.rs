//! One request field (method, path, host, gRPC service, ...) matched against many rules at once.
//!
//! Patterns without regex metacharacters are literals: a full-match regex without metacharacters
//! matches exactly that string, so they go into a hash map. The rest run as one lazy DFA per
//! bucket (see [`RegexIndex`]): one automaton pass over the value for many patterns. The result is a bitset of
//! the rules whose pattern for this field matches (rules without a pattern for the field always
//! match).

use std::collections::HashMap;

use super::bits::Bits;
use super::regexes::BuildError;
use super::regexes::RegexIndex;

/// Up to this many non-zero candidate words, [`FieldIndex::and_into`] works word by word instead
/// of materializing the field's full match set.
const SPARSE_WORDS: usize = 4;

/// Size limit for one compiled regex: generous for real patterns, and it stops `a{1000}{1000}`
/// before it eats the sidecar's memory.
const REGEX_SIZE_LIMIT: usize = 16 << 20;

#[derive(Debug)]
pub(crate) struct FieldIndex {
    /// Rules that do not constrain this field.
    any: Bits,
    literals: HashMap<Box<str>, RuleSet>,
    regexes: RegexIndex,
    /// Whether any rule constrains this field at all (otherwise `eval` is just `any`).
    constrained: bool,
}

/// The rules sharing one pattern: a list when few, a bitset when many (so that a popular literal
/// like `GET` costs a few word operations rather than one per rule).
#[derive(Debug)]
pub(crate) enum RuleSet {
    Sparse(Vec<usize>),
    Dense(Bits),
}

impl RuleSet {
    pub(crate) fn new(rules: Vec<usize>, n_rules: usize) -> RuleSet {
        if rules.len() > n_rules.div_ceil(64) {
            let mut bits = Bits::new(n_rules);
            for r in rules {
                bits.set(r);
            }
            RuleSet::Dense(bits)
        } else {
            RuleSet::Sparse(rules)
        }
    }

    /// Word `w` of this set as a bitset.
    pub(crate) fn word(&self, w: usize) -> u64 {
        match self {
            RuleSet::Sparse(rules) => rules
                .iter()
                .filter(|r| *r / 64 == w)
                .fold(0, |acc, r| acc | 1 << (r % 64)),
            RuleSet::Dense(d) => d.word(w),
        }
    }

    pub(crate) fn add_to(&self, bits: &mut Bits) {
        match self {
            RuleSet::Sparse(rules) => rules.iter().for_each(|&r| bits.set(r)),
            RuleSet::Dense(d) => bits.or_assign(d),
        }
    }
}

/// A field pattern: a full-match regex, or an exact string.
#[derive(Clone, Debug)]
pub(crate) struct Pattern {
    pub(crate) text: String,
    pub(crate) exact: bool,
}

impl Pattern {
    pub(crate) fn regex(text: &Option<String>) -> Option<Pattern> {
        text.clone().map(|text| Pattern { text, exact: false })
    }

    pub(crate) fn exact(text: &Option<String>) -> Option<Pattern> {
        text.clone().map(|text| Pattern { text, exact: true })
    }
}

/// Characters that may make a pattern more than a literal (the regex syntax's metacharacters).
pub(crate) const META: &str = "\\.+*?()|[]{}^$#&-~";

/// True when `pattern` has no regex metacharacter, i.e. full-matches exactly itself.
pub(crate) fn is_literal(pattern: &str) -> bool {
    !pattern.chars().any(|c| META.contains(c))
}

/// Anchors a pattern for full matching.
pub(crate) fn anchored(pattern: &str) -> String {
    format!("^(?:{pattern})$")
}

/// Checks that `pattern` is a valid full-match regex; returns the regex error text otherwise.
///
/// Validation only parses. Building a `regex::Regex` per pattern (and, whenever any crate enables
/// `regex-automata/dfa-build`, as `tracing-subscriber`'s env filter does, a full DFA) made a
/// 10,000-rule load several times slower for regexes that were then thrown away. Patterns too
/// large for the size limit only arise from counted repetitions (`{n}`): those patterns also get
/// their NFA built against the limit, so the error still points at the field.
pub fn check_regex(pattern: &str) -> Result<(), String> {
    use regex_automata::nfa::thompson;
    if is_literal(pattern) {
        return Ok(());
    }
    // The bare pattern must parse on its own: `a)|(?:b` parses once wrapped in `^(?:...)$`, and
    // would then escape the anchoring.
    let parsed = regex_automata::util::syntax::parse(pattern)
        .map(|_| ())
        .map_err(|e| e.to_string());
    let checked = parsed.and_then(|()| {
        if pattern.contains('{') {
            thompson::Compiler::new()
                .configure(thompson::Config::new().nfa_size_limit(Some(REGEX_SIZE_LIMIT)))
                .build(&anchored(pattern))
                .map(|_| ())
                .map_err(|e| e.to_string())
        } else {
            Ok(())
        }
    });
    match checked {
        Ok(()) => Ok(()),
        // Rare path: let `regex` render the error the way users know it.
        Err(e) => Err(regex::RegexBuilder::new(pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .err()
            .map_or_else(|| e.to_string(), |e| e.to_string())),
    }
}

impl FieldIndex {
    /// `patterns` holds (rule, pattern) for the rules that take part (`None` = any value); rules
    /// not listed never match through this field. `by_segment`: the field is a URL path, whose
    /// regexes may be bucketed by first segment.
    pub(crate) fn build(
        n_rules: usize,
        patterns: impl IntoIterator<Item = (usize, Option<Pattern>)>,
        by_segment: bool,
    ) -> Result<FieldIndex, BuildError> {
        let mut any = Bits::new(n_rules);
        let mut literals: HashMap<Box<str>, Vec<usize>> = HashMap::new();
        let mut regexes: Vec<(String, Vec<usize>)> = Vec::new();
        let mut regex_pos: HashMap<String, usize> = HashMap::new();
        let mut constrained = false;
        for (rule, pattern) in patterns {
            match pattern {
                None => any.set(rule),
                Some(Pattern { text: p, exact }) => {
                    constrained = true;
                    if exact || is_literal(&p) {
                        literals.entry(p.into_boxed_str()).or_default().push(rule);
                    } else {
                        let pos = *regex_pos.entry(p.clone()).or_insert_with(|| {
                            regexes.push((p, Vec::new()));
                            regexes.len() - 1
                        });
                        if let Some((_, rules)) = regexes.get_mut(pos) {
                            rules.push(rule);
                        }
                    }
                }
            }
        }
        let regexes = RegexIndex::build(regexes, n_rules, by_segment)?;
        Ok(FieldIndex {
            any,
            literals: literals
                .into_iter()
                .map(|(k, v)| (k, RuleSet::new(v, n_rules)))
                .collect(),
            regexes,
            constrained,
        })
    }

    /// Rules whose pattern for this field matches `value` (`None`: the request has no such value,
    /// so only unconstrained rules match).
    pub(crate) fn eval(&self, value: Option<&str>) -> Bits {
        let mut bits = self.any.clone();
        if !self.constrained {
            return bits;
        }
        let Some(value) = value else {
            return bits;
        };
        if let Some(rules) = self.literals.get(value) {
            rules.add_to(&mut bits);
        }
        self.regexes.add_matches(value, &mut bits);
        bits
    }

    /// Intersects `acc` with [`FieldIndex::eval`]. `acc` must only hold rules that take part in
    /// this field (then an unconstrained field is a no-op). Only the non-zero words of `acc` are
    /// computed, so a field checked after a selective one costs little however many rules exist.
    pub(crate) fn and_into(&self, value: Option<&str>, acc: &mut Bits) {
        if !self.constrained {
            return;
        }
        if acc.nonzero_words() > SPARSE_WORDS {
            acc.and_assign(&self.eval(value));
            return;
        }
        // Inline: a value seldom matches more than a literal and a pattern or two.
        let mut hits: smallvec::SmallVec<[&RuleSet; 4]> = smallvec::SmallVec::new();
        if let Some(value) = value {
            hits.extend(self.literals.get(value));
            self.regexes.matching(value, &mut hits);
        }
        acc.retain_words(|w, word| {
            hits.iter()
                .fold(self.any.word(w), |allowed, h| allowed | h.word(w))
                & word
        });
    }
}
