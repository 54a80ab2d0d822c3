//! DNS names and Cilium's `matchName` / `matchPattern`, matched label by label.
//!
//! # Why labels, not text
//! A name on the wire is a list of labels, and a label may hold any byte, a `.` included. A
//! resolver asked for the label `a.b` under `evil.com` asks `evil.com`'s servers for it: it is a
//! subdomain of `evil.com`, not of `b.evil.com`. Matching the text form (as a regex over
//! `a.b.evil.com.` would) can therefore place a name under the wrong parent. [`DnsName`] keeps
//! the labels apart (lower-cased, as DNS compares names ASCII case-insensitively) and
//! [`NamePattern`] matches them one by one.
//!
//! # Cilium's semantics
//! - `matchName`: the whole name, case-insensitive, a trailing dot ignored. Only ASCII letters,
//!   digits, `-`, `_` and `.` (Cilium's own check).
//! - `matchPattern`: `*` alone matches every name. Otherwise each `*` matches zero or more of
//!   `[-a-z0-9_]` **within one label** (`*.example.com` matches `a.example.com`, not
//!   `example.com` nor `a.b.example.com`; `api-*.example.com` matches `api-v1.example.com`). A
//!   leading `**.` matches one or more whole labels (`**.example.com` matches `a.example.com` and
//!   `a.b.example.com`, not `example.com`), as Cilium 1.17 added.
//! - A deny rule (our extension) must not be escaped by a byte outside that set: there `*` and
//!   `**.` match any byte of a label ([`Strictness::AnyByte`]). An allow rule keeps Cilium's set,
//!   so it allows nothing Cilium would not.

use std::fmt;

/// Longest name on the wire (RFC 1035 2.3.4), length octets and the root included.
pub const MAX_NAME: usize = 255;
/// Longest label.
pub const MAX_LABEL: usize = 63;

/// A DNS name as canonical lower-case wire labels (length-prefixed, without the root label).
/// Two spellings of one name (case, trailing dot) give equal values.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DnsName(Box<[u8]>);

/// Why a name is not a valid DNS name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameError {
    EmptyLabel,
    LabelTooLong(usize),
    NameTooLong(usize),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::EmptyLabel => {
                f.write_str("an empty label (two dots in a row, or a leading dot)")
            }
            NameError::LabelTooLong(n) => write!(f, "a label of {n} bytes (at most {MAX_LABEL})"),
            NameError::NameTooLong(n) => write!(f, "a name of {n} bytes (at most {MAX_NAME})"),
        }
    }
}

impl std::error::Error for NameError {}

impl DnsName {
    /// The root name (`.`): no label.
    pub fn root() -> DnsName {
        DnsName(Box::new([]))
    }

    /// From labels as read from a message (any bytes), lower-cased.
    pub fn from_labels<'a, I: IntoIterator<Item = &'a [u8]>>(
        labels: I,
    ) -> Result<DnsName, NameError> {
        let mut out = Vec::with_capacity(32);
        for label in labels {
            match label.len() {
                0 => return Err(NameError::EmptyLabel),
                n if n > MAX_LABEL => return Err(NameError::LabelTooLong(n)),
                n => out.push(n as u8),
            }
            out.extend(label.iter().map(u8::to_ascii_lowercase));
            // The root's length octet counts too.
            if out.len() + 1 > MAX_NAME {
                return Err(NameError::NameTooLong(out.len() + 1));
            }
        }
        Ok(DnsName(out.into_boxed_slice()))
    }

    /// From presentation text without escapes (`www.Example.com.`): labels split at dots, one
    /// trailing dot ignored; `.` alone is the root.
    pub fn parse(text: &str) -> Result<DnsName, NameError> {
        let t = text.strip_suffix('.').unwrap_or(text);
        if t.is_empty() {
            return if text == "." {
                Ok(DnsName::root())
            } else {
                Err(NameError::EmptyLabel)
            };
        }
        DnsName::from_labels(t.split('.').map(str::as_bytes))
    }

    /// The labels, leftmost first.
    pub fn labels(&self) -> Labels<'_> {
        Labels(&self.0)
    }

    /// Number of labels.
    pub fn label_count(&self) -> usize {
        self.labels().count()
    }

    /// The canonical wire form (length-prefixed lower-case labels, no root octet).
    pub fn as_wire(&self) -> &[u8] {
        &self.0
    }

    /// True when `self` is `parent` or under it.
    pub fn is_within(&self, parent: &DnsName) -> bool {
        let (a, b) = (self.label_count(), parent.label_count());
        a >= b && self.labels().skip(a - b).eq(parent.labels())
    }
}

/// Iterator over a [`DnsName`]'s labels.
#[derive(Clone)]
pub struct Labels<'a>(&'a [u8]);

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (&len, rest) = self.0.split_first()?;
        let len = usize::from(len).min(rest.len());
        let (label, rest) = rest.split_at(len);
        self.0 = rest;
        Some(label)
    }
}

/// Presentation form with a trailing dot; bytes outside `[-a-z0-9_*]` are escaped as RFC 1035
/// does (`\.`, `\DDD`), so a label holding a dot cannot be read as two.
impl fmt::Display for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str(".");
        }
        for label in self.labels() {
            for &b in label {
                match b {
                    b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'*' => {
                        fmt::Write::write_char(f, char::from(b))?
                    }
                    b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => {
                        write!(f, "\\{}", char::from(b))?
                    }
                    b if b.is_ascii_graphic() => fmt::Write::write_char(f, char::from(b))?,
                    b => write!(f, "\\{b:03}")?,
                }
            }
            f.write_str(".")?;
        }
        Ok(())
    }
}

impl fmt::Debug for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DnsName({self})")
    }
}

/// Which bytes a `*` may stand for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strictness {
    /// `[-a-z0-9_]`, Cilium's set: for allow rules.
    Cilium,
    /// Any byte of a label: for deny rules, which an odd byte must not escape.
    AnyByte,
}

/// A compiled `matchPattern` (or a `matchName`, which is a pattern without wildcards).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamePattern {
    /// `*` alone: every name.
    all: bool,
    /// A leading `**.`: one or more whole labels before `labels`.
    multi: bool,
    /// Each label's literal pieces between its `*`s (one piece: no wildcard).
    labels: Vec<Vec<Vec<u8>>>,
}

/// Why a `matchName` or `matchPattern` is refused; `help` says what to write instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternError {
    pub message: String,
    pub help: String,
}

impl NamePattern {
    /// A `matchName`: the exact name.
    pub fn name(text: &str) -> Result<NamePattern, PatternError> {
        let t = text.trim();
        if let Some(c) = t
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "-_.".contains(*c)))
        {
            return Err(PatternError {
                message: format!("`{c}` is not allowed in a matchName"),
                help: if c == '*' {
                    "wildcards go in `matchPattern`".to_owned()
                } else {
                    "use ASCII letters, digits, `-`, `_` and `.` (as Cilium does)".to_owned()
                },
            });
        }
        let name = DnsName::parse(t).map_err(|e| PatternError {
            message: format!("`{t}` is no DNS name: {e}"),
            help: "write a name such as `api.example.com`".to_owned(),
        })?;
        Ok(NamePattern {
            all: false,
            multi: false,
            labels: name.labels().map(|l| vec![l.to_vec()]).collect(),
        })
    }

    /// A `matchPattern` (see the module docs).
    pub fn pattern(text: &str) -> Result<NamePattern, PatternError> {
        let t = text.trim().to_ascii_lowercase();
        if t == "*" {
            return Ok(NamePattern {
                all: true,
                multi: false,
                labels: Vec::new(),
            });
        }
        if let Some(c) = t
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "-_.*".contains(*c)))
        {
            return Err(PatternError {
                message: format!("`{c}` is not allowed in a matchPattern"),
                help: "use ASCII letters, digits, `-`, `_`, `.` and `*` (as Cilium does)"
                    .to_owned(),
            });
        }
        let (multi, rest) = match t.strip_prefix("**.") {
            Some(rest) => (true, rest),
            None => (false, t.as_str()),
        };
        let rest = rest.strip_suffix('.').unwrap_or(rest);
        if rest.contains("**") {
            return Err(PatternError {
                message: format!("`**` inside `{t}`"),
                help: "`**.` is only allowed at the start (one or more labels); `*` matches \
                       within one label"
                    .to_owned(),
            });
        }
        let mut labels = Vec::new();
        for label in rest.split('.') {
            if label.is_empty() {
                return Err(PatternError {
                    message: format!("an empty label in `{t}`"),
                    help: "remove the doubled or leading dot".to_owned(),
                });
            }
            if label.len() > MAX_LABEL {
                return Err(PatternError {
                    message: format!("a label of {} characters in `{t}`", label.len()),
                    help: format!("labels are at most {MAX_LABEL} characters"),
                });
            }
            labels.push(label.split('*').map(|p| p.as_bytes().to_vec()).collect());
        }
        Ok(NamePattern {
            all: false,
            multi,
            labels,
        })
    }

    /// The patterns of one selector, a `rules.dns` entry or a `toFQDNs` entry: its `matchName`
    /// and its `matchPattern` (a name matches if either does). `Err` names the field that is
    /// wrong and why, or `matchName` when the selector has neither.
    pub fn selector(
        match_name: Option<&str>,
        match_pattern: Option<&str>,
    ) -> Result<Vec<NamePattern>, (&'static str, String)> {
        if match_name.is_none() && match_pattern.is_none() {
            let message = "neither `matchName` nor `matchPattern`; add one".to_owned();
            return Err(("matchName", message));
        }
        let fields = [
            ("matchName", match_name.map(NamePattern::name)),
            ("matchPattern", match_pattern.map(NamePattern::pattern)),
        ];
        fields
            .into_iter()
            .filter_map(|(field, result)| Some((field, result?)))
            .map(|(field, result)| {
                result.map_err(|e| (field, format!("{}; {}", e.message, e.help)))
            })
            .collect()
    }

    /// The exact name this pattern stands for, when it has no wildcard.
    pub fn exact(&self) -> Option<DnsName> {
        if self.all || self.multi || self.labels.iter().any(|l| l.len() != 1) {
            return None;
        }
        DnsName::from_labels(
            self.labels
                .iter()
                .filter_map(|l| l.first().map(Vec::as_slice)),
        )
        .ok()
    }

    /// Whether `name` matches, `*` standing for what `strictness` allows.
    pub fn matches(&self, name: &DnsName, strictness: Strictness) -> bool {
        if self.all {
            return true;
        }
        let count = name.label_count();
        let fixed = self.labels.len();
        let skip = match (self.multi, count.checked_sub(fixed)) {
            (_, None) => return false,
            (false, Some(0)) => 0,
            (false, Some(_)) => return false,
            (true, Some(0)) => return false,
            (true, Some(extra)) => extra,
        };
        let mut labels = name.labels();
        if skip > 0 && !labels.by_ref().take(skip).all(|l| wild(l, strictness)) {
            return false;
        }
        labels
            .zip(&self.labels)
            .all(|(label, pieces)| glob(label, pieces, strictness))
    }
}

fn wild(bytes: &[u8], strictness: Strictness) -> bool {
    strictness == Strictness::AnyByte
        || bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'_')
}

/// One label against its pieces: the first piece a prefix, the last a suffix, the middle ones in
/// order between them; what lies between pieces must be [`wild`]. Leftmost placement of each
/// middle piece is enough: with a fixed set for the gaps, a later placement can only put more
/// bytes into a gap, never fewer.
fn glob(label: &[u8], pieces: &[Vec<u8>], strictness: Strictness) -> bool {
    let [first, middle @ .., last] = pieces else {
        return pieces.first().is_some_and(|p| p.as_slice() == label);
    };
    if label.len() < first.len() + last.len() || !label.starts_with(first) || !label.ends_with(last)
    {
        return false;
    }
    let mut rest = &label[first.len()..label.len() - last.len()];
    for piece in middle {
        let Some(at) = find_wild_gap(rest, piece, strictness) else {
            return false;
        };
        rest = &rest[at + piece.len()..];
    }
    wild(rest, strictness)
}

/// The first place `piece` occurs in `hay` with only wild bytes before it.
fn find_wild_gap(hay: &[u8], piece: &[u8], strictness: Strictness) -> Option<usize> {
    (0..=hay.len().checked_sub(piece.len())?)
        .find(|&i| hay[i..].starts_with(piece) && wild(&hay[..i], strictness))
}

#[cfg(test)]
mod tests;
