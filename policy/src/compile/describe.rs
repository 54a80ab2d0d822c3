//! The admin view of a compiled policy: which policies were selected and, per direction, the
//! effective entries in decision order with the ids verdicts will carry.

use serde_json::{Value, json};

use crate::model::{Policy, Spec};

use super::DirIndex;
use super::entry::Entry;

fn entry_json(e: &Entry) -> Value {
    let peers: Vec<Value> = if e.all_peers {
        vec![json!("all")]
    } else {
        e.cidrs
            .iter()
            .map(|(net, except)| {
                if except.is_empty() {
                    json!(net.to_string())
                } else {
                    json!({
                        "cidr": net.to_string(),
                        "except": except.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    })
                }
            })
            .collect()
    };
    let ports: Vec<Value> = if e.ports.is_empty() {
        vec![json!("all")]
    } else {
        e.ports
            .iter()
            .map(|p| {
                let (lo, hi) = p.range();
                let proto = p.protocol.map_or("ANY", |x| x.as_str());
                if lo == hi {
                    json!(format!("{lo}/{proto}"))
                } else {
                    json!(format!("{lo}-{hi}/{proto}"))
                }
            })
            .collect()
    };
    let mut v = json!({ "id": e.id.as_str(), "peers": peers, "ports": ports });
    if let Some(l7) = &e.l7 {
        v["http"] = l7
            .http()
            .map(|(id, r)| json!({ "id": id.as_str(), "rule": r }))
            .collect();
        v["grpc"] = l7
            .grpc()
            .map(|(id, r)| json!({ "id": id.as_str(), "rule": r }))
            .collect();
        v["dns"] = l7
            .dns()
            .map(|(id, r)| json!({ "id": id.as_str(), "rule": r }))
            .collect();
        v["kafka"] = l7
            .kafka()
            .map(|(id, r)| json!({ "id": id.as_str(), "rule": r }))
            .collect();
    }
    v
}

fn dir_json(d: &DirIndex) -> Value {
    json!({
        "default": { "allowed": d.default_allowed, "rule": d.default_id.as_str() },
        "deny": d.deny.entries.iter().map(entry_json).collect::<Vec<_>>(),
        "allow": d.allow.entries.iter().map(entry_json).collect::<Vec<_>>(),
    })
}

/// Name and number of selected specs of each selected policy: all `describe` needs besides the
/// indexes, kept so that the description is built only when asked for.
pub(super) fn summarize(selected: &[(&Policy, Vec<&Spec>)]) -> Vec<(String, usize)> {
    selected
        .iter()
        .map(|(p, specs)| (p.qualified_name(), specs.len()))
        .collect()
}

pub(super) fn describe(selected: &[(String, usize)], dirs: [&DirIndex; 2]) -> Value {
    let [ingress, egress] = dirs;
    json!({
        "policies": selected
            .iter()
            .map(|(name, specs)| json!({ "name": name, "selected_specs": specs }))
            .collect::<Vec<_>>(),
        "ingress": dir_json(ingress),
        "egress": dir_json(egress),
    })
}
