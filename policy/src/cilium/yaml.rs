//! A small YAML tree that keeps each node's position, built from `saphyr-parser` events.
//!
//! serde-based YAML loaders forget where a value came from once it is deserialized, but every
//! semantic error (bad regex, unknown field, unsupported feature) must point at its line and column.
//! Aliases are expanded (with a size cap, against "billion laughs" inputs); tags are ignored.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use super::error::ParseError;

/// Upper bound on nodes after alias expansion.
const MAX_NODES: usize = 1_000_000;

/// A 1-based position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pos {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    /// `~`, `null`, or nothing.
    Null,
    /// Any other scalar (a quoted `"~"` or `""` is a scalar, not null).
    Scalar {
        text: String,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    pub(crate) pos: Pos,
    pub(crate) value: Value,
}

impl Node {
    /// What kind of node this is, for "expected X, found Y" messages.
    pub(crate) fn kind(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Scalar { .. } => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The text of a scalar node.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }
}

fn pos(span: &Span) -> Pos {
    Pos {
        line: span.start.line(),
        column: span.start.col() + 1,
    }
}

/// A partially built collection.
enum Frame {
    Seq(Pos, usize, Vec<Node>),
    Map(Pos, usize, Vec<(Node, Node)>, Option<Node>),
}

/// Parses `text` into one root node per non-empty document.
pub(crate) fn load(source: &str, text: &str) -> Result<Vec<Node>, ParseError> {
    let err = |p: Pos, message: String, help: Option<&str>| ParseError {
        source: source.to_owned(),
        line: p.line,
        column: p.column,
        message,
        help: help.map(str::to_owned),
    };
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut nodes = 0usize;
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| {
            let m = e.marker();
            err(
                Pos {
                    line: m.line(),
                    column: m.col() + 1,
                },
                format!("invalid YAML: {}", e.info()),
                Some("check the indentation and quoting around this position"),
            )
        })?;
        let p = pos(&span);
        let complete = match event {
            Event::SequenceStart(anchor, _) => {
                stack.push(Frame::Seq(p, anchor, Vec::new()));
                None
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Frame::Map(p, anchor, Vec::new(), None));
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq(p, anchor, items)) => Some((
                    anchor,
                    Node {
                        pos: p,
                        value: Value::Seq(items),
                    },
                )),
                Some(Frame::Map(p, anchor, entries, _)) => Some((
                    anchor,
                    Node {
                        pos: p,
                        value: Value::Map(entries),
                    },
                )),
                None => None,
            },
            Event::Scalar(text, style, anchor, _) => {
                let quoted = !matches!(style, ScalarStyle::Plain);
                let value = if !quoted && matches!(&*text, "" | "~" | "null" | "Null" | "NULL") {
                    Value::Null
                } else {
                    Value::Scalar {
                        text: text.into_owned(),
                    }
                };
                Some((anchor, Node { pos: p, value }))
            }
            Event::Alias(id) => {
                let node = anchors.get(&id).cloned().ok_or_else(|| {
                    err(
                        p,
                        "alias refers to an unknown anchor".to_owned(),
                        Some("define the anchor (`&name`) before using the alias (`*name`)"),
                    )
                })?;
                nodes += count(&node);
                Some((0, node))
            }
            Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd
            | Event::Nothing => None,
        };
        let Some((anchor, node)) = complete else {
            continue;
        };
        nodes += 1;
        if nodes > MAX_NODES {
            return Err(err(
                p,
                format!("document too large (more than {MAX_NODES} nodes after expanding aliases)"),
                Some("split the policies into smaller files or avoid deeply nested aliases"),
            ));
        }
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => {
                if node.value != Value::Null {
                    docs.push(node);
                }
            }
            Some(Frame::Seq(_, _, items)) => items.push(node),
            Some(Frame::Map(_, _, entries, key)) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
    Ok(docs)
}

fn count(node: &Node) -> usize {
    match &node.value {
        Value::Seq(items) => 1 + items.iter().map(count).sum::<usize>(),
        Value::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| count(k) + count(v))
                .sum::<usize>()
        }
        _ => 1,
    }
}
