//! The JSON form of [`super::NetworkPolicy`] (proto3 JSON mapping: camelCase field names, enum
//! values by name or number), which `sockmesh control-plane` reads from `*.json` files next to the
//! YAML ones. It is *not* validated by the control plane: that is the sidecar's job (and how a bad
//! resource reaches a sidecar in tests, to be NACKed).

use serde::{Deserialize, Deserializer, de::Error};

use super::{L4Protocol, LabelOperator, MismatchAction, NetworkPolicy};

#[derive(Deserialize)]
#[serde(untagged)]
enum NameOrNumber {
    Name(String),
    Number(i32),
}

fn by_name<'de, D: Deserializer<'de>>(
    d: D,
    names: &[(&str, i32)],
    what: &str,
) -> Result<i32, D::Error> {
    match NameOrNumber::deserialize(d)? {
        NameOrNumber::Number(n) => Ok(n),
        NameOrNumber::Name(s) => names
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&s))
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                let all: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
                D::Error::custom(format!(
                    "unknown {what} `{s}`; use one of {}",
                    all.join(", ")
                ))
            }),
    }
}

pub(super) fn l4_protocol<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    by_name(
        d,
        &[
            ("ANY", L4Protocol::Any as i32),
            ("TCP", L4Protocol::Tcp as i32),
            ("UDP", L4Protocol::Udp as i32),
            ("SCTP", L4Protocol::Sctp as i32),
        ],
        "protocol",
    )
}

pub(super) fn mismatch_action<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    by_name(
        d,
        &[
            ("NONE", MismatchAction::None as i32),
            ("LOG", MismatchAction::Log as i32),
            ("ADD", MismatchAction::Add as i32),
            ("DELETE", MismatchAction::Delete as i32),
            ("REPLACE", MismatchAction::Replace as i32),
        ],
        "mismatch action",
    )
}

pub(super) fn label_operator<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    by_name(
        d,
        &[
            ("In", LabelOperator::In as i32),
            ("NotIn", LabelOperator::NotIn as i32),
            ("Exists", LabelOperator::Exists as i32),
            ("DoesNotExist", LabelOperator::DoesNotExist as i32),
        ],
        "operator",
    )
}

/// Parses one policy, or a JSON array of policies.
pub fn parse(text: &str) -> Result<Vec<NetworkPolicy>, serde_json::Error> {
    let value: serde_json::Value = serde_json::from_str(text)?;
    if value.is_array() {
        serde_json::from_value(value)
    } else {
        Ok(vec![serde_json::from_value(value)?])
    }
}
