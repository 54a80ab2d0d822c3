//! Reading helpers over the positioned YAML tree: typed field access, unknown-field detection with
//! "did you mean" suggestions, and error collection (all errors of a file are reported at once, so a
//! user fixes a file in one round instead of one error per run).

use super::error::ParseError;
use super::yaml::{Node, Pos, Value};

/// Collects errors for one file.
pub(crate) struct Ctx<'s> {
    source: &'s str,
    pub(crate) errors: Vec<ParseError>,
}

impl<'s> Ctx<'s> {
    pub(crate) fn new(source: &'s str) -> Ctx<'s> {
        Ctx {
            source,
            errors: Vec::new(),
        }
    }

    pub(crate) fn error(&mut self, pos: Pos, message: impl Into<String>, help: impl Into<String>) {
        let help: String = help.into();
        self.errors.push(ParseError {
            source: self.source.to_owned(),
            line: pos.line,
            column: pos.column,
            message: message.into(),
            help: (!help.is_empty()).then_some(help),
        });
    }

    /// A scalar as text (numbers and booleans included); errors on other node kinds.
    pub(crate) fn string(&mut self, node: &Node, field: &str) -> Option<String> {
        match &node.value {
            Value::Scalar { text, .. } => Some(text.clone()),
            _ => {
                self.error(
                    node.pos,
                    format!("`{field}` must be a string, found {}", node.kind()),
                    format!("write `{field}: <value>`"),
                );
                None
            }
        }
    }

    /// A list; `null` counts as empty. Errors on other node kinds.
    pub(crate) fn list<'n>(&mut self, node: &'n Node, field: &str) -> &'n [Node] {
        match &node.value {
            Value::Seq(items) => items,
            Value::Null => &[],
            _ => {
                self.error(
                    node.pos,
                    format!("`{field}` must be a list, found {}", node.kind()),
                    format!("write each entry of `{field}` on its own line starting with `- `"),
                );
                &[]
            }
        }
    }

    /// A boolean (`true`/`false`).
    pub(crate) fn boolean(&mut self, node: &Node, field: &str) -> Option<bool> {
        match node.as_str() {
            Some("true" | "True" | "TRUE") => Some(true),
            Some("false" | "False" | "FALSE") => Some(false),
            _ => {
                self.error(
                    node.pos,
                    format!("`{field}` must be `true` or `false`"),
                    format!("write `{field}: true` or `{field}: false` (unquoted)"),
                );
                None
            }
        }
    }

    /// Opens a mapping for field-by-field reading.
    pub(crate) fn fields<'n>(&mut self, node: &'n Node, what: &str) -> Option<Fields<'n>> {
        match &node.value {
            Value::Map(entries) => {
                let mut out: Vec<FieldEntry<'n>> = Vec::with_capacity(entries.len());
                for (k, v) in entries {
                    let Some(key) = k.as_str() else {
                        self.error(
                            k.pos,
                            format!("keys in {what} must be strings, found {}", k.kind()),
                            "use a plain field name as the key",
                        );
                        continue;
                    };
                    if out.iter().any(|e| e.key == key) {
                        self.error(
                            k.pos,
                            format!("duplicate field `{key}` in {what}"),
                            "remove one of them: YAML mappings cannot repeat a key",
                        );
                        continue;
                    }
                    out.push(FieldEntry {
                        key,
                        key_pos: k.pos,
                        value: v,
                        used: false,
                    });
                }
                Some(Fields {
                    entries: out,
                    what: what.to_owned(),
                })
            }
            Value::Null => Some(Fields {
                entries: Vec::new(),
                what: what.to_owned(),
            }),
            _ => {
                self.error(
                    node.pos,
                    format!("{what} must be a mapping, found {}", node.kind()),
                    "write `key: value` pairs, one per line",
                );
                None
            }
        }
    }
}

struct FieldEntry<'n> {
    key: &'n str,
    key_pos: Pos,
    value: &'n Node,
    used: bool,
}

/// The fields of one mapping; each must be taken or rejected, the rest are unknown.
pub(crate) struct Fields<'n> {
    entries: Vec<FieldEntry<'n>>,
    what: String,
}

impl<'n> Fields<'n> {
    /// The value of `key`, marking it as known.
    pub(crate) fn take(&mut self, key: &str) -> Option<&'n Node> {
        let e = self.entries.iter_mut().find(|e| e.key == key)?;
        e.used = true;
        Some(e.value)
    }

    /// Like [`Fields::take`], also returning the key's position.
    pub(crate) fn take_with_pos(&mut self, key: &str) -> Option<(Pos, &'n Node)> {
        let e = self.entries.iter_mut().find(|e| e.key == key)?;
        e.used = true;
        Some((e.key_pos, e.value))
    }

    /// Rejects `key` if present: "`path` is not supported yet (reason)".
    pub(crate) fn unsupported(&mut self, ctx: &mut Ctx<'_>, key: &str, path: &str, reason: &str) {
        if let Some((pos, _)) = self.take_with_pos(key) {
            ctx.error(
                pos,
                format!("`{path}` is not supported yet ({reason})"),
                format!(
                    "remove `{key}`; Sockmesh refuses rather than ignores rules it cannot enforce"
                ),
            );
        }
    }

    /// Reports every field not taken as unknown, suggesting the closest of `known`.
    pub(crate) fn finish(self, ctx: &mut Ctx<'_>, known: &[&str]) {
        for e in self.entries.iter().filter(|e| !e.used) {
            ctx.error(
                e.key_pos,
                format!("unknown field `{}` in {}", e.key, self.what),
                suggest(e.key, known),
            );
        }
    }
}

/// A help line for an unknown field: a close match, the same field for the other direction, or the
/// list of valid fields.
pub(crate) fn suggest(key: &str, known: &[&str]) -> String {
    let swapped = key
        .strip_prefix("to")
        .map(|r| format!("from{r}"))
        .or_else(|| key.strip_prefix("from").map(|r| format!("to{r}")));
    if let Some(s) = swapped
        && known.contains(&s.as_str())
    {
        return format!("`{key}` belongs to the other direction's rules; here the field is `{s}`");
    }
    let lower = key.to_ascii_lowercase();
    let best = known
        .iter()
        .map(|k| (distance(&lower, &k.to_ascii_lowercase()), *k))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((d, k)) if d <= (key.len() / 3).max(1) => format!("did you mean `{k}`?"),
        _ => format!(
            "valid fields here: {}",
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Levenshtein distance (small strings only).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
