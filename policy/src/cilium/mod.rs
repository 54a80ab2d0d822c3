//! CiliumNetworkPolicy YAML → [`crate::model::Policy`], with every error positioned.
//!
//! Accepts `cilium.io/v2` `CiliumNetworkPolicy` and `CiliumClusterwideNetworkPolicy`, one or many
//! per file (separated by `---`), each with `spec` and/or `specs`. Unknown fields are errors (with a
//! "did you mean"), and fields we cannot enforce yet are refused at their position: a policy engine
//! that silently drops part of a rule enforces something other than what was written.

mod error;
mod l7;
mod read;
mod spec;
mod yaml;

#[cfg(test)]
mod tests;

pub use error::ParseError;

use crate::model::Policy;

use read::Ctx;
use yaml::Node;

const API_VERSION: &str = "cilium.io/v2";
const KINDS: &[&str] = &["CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy"];
const TOP_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "spec", "specs", "status"];
const METADATA_FIELDS: &[&str] = &[
    "name",
    "namespace",
    "labels",
    "annotations",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
];

/// Parses every document in `text`; `source` names the file in messages. Either all policies, or
/// all the errors found (parsing goes on after an error so that one run reports them all).
pub fn parse_documents(source: &str, text: &str) -> Result<Vec<Policy>, Vec<ParseError>> {
    let docs = yaml::load(source, text).map_err(|e| vec![e])?;
    let mut ctx = Ctx::new(source);
    let mut policies: Vec<Policy> = Vec::new();
    for doc in &docs {
        if let Some(p) = parse_policy(&mut ctx, doc) {
            if policies
                .iter()
                .any(|q| q.qualified_name() == p.qualified_name())
            {
                ctx.error(
                    doc.pos,
                    format!("policy `{}` is defined twice", p.qualified_name()),
                    "give each policy a unique `metadata.name` (rule ids must be unique)",
                );
                continue;
            }
            policies.push(p);
        }
    }
    if ctx.errors.is_empty() {
        Ok(policies)
    } else {
        Err(ctx.errors)
    }
}

fn parse_policy(ctx: &mut Ctx<'_>, doc: &Node) -> Option<Policy> {
    let mut f = ctx.fields(doc, "a policy document")?;
    let mut ok = true;
    match f.take("apiVersion").map(|n| (n, n.as_str())) {
        Some((_, Some(API_VERSION))) => {}
        Some((n, v)) => {
            ctx.error(
                n.pos,
                format!("unsupported apiVersion `{}`", v.unwrap_or("?")),
                format!("Cilium policies use `apiVersion: {API_VERSION}`"),
            );
            ok = false;
        }
        None => {
            ctx.error(
                doc.pos,
                "missing `apiVersion`",
                format!("add `apiVersion: {API_VERSION}`"),
            );
            ok = false;
        }
    }
    let mut clusterwide = false;
    match f.take("kind").map(|n| (n, n.as_str())) {
        Some((_, Some(k))) if KINDS.contains(&k) => clusterwide = k == KINDS[1],
        Some((n, k)) => {
            let k = k.unwrap_or("?");
            let help = if k == "NetworkPolicy" {
                "Kubernetes NetworkPolicy is not read; write it as a CiliumNetworkPolicy".to_owned()
            } else {
                format!("use `kind: {}` or `kind: {}`", KINDS[0], KINDS[1])
            };
            ctx.error(n.pos, format!("unsupported kind `{k}`"), help);
            ok = false;
        }
        None => {
            ctx.error(
                doc.pos,
                "missing `kind`",
                format!("add `kind: {}`", KINDS[0]),
            );
            ok = false;
        }
    }
    let (name, namespace) = match f.take("metadata") {
        Some(m) => parse_metadata(ctx, m, clusterwide),
        None => {
            ctx.error(
                doc.pos,
                "missing `metadata`",
                "add `metadata: {name: <policy name>}`",
            );
            (None, None)
        }
    };
    let _ = f.take("status");
    let mut specs = Vec::new();
    let mut has_spec = false;
    if let Some(n) = f.take("spec") {
        has_spec = true;
        specs.extend(spec::parse_spec(ctx, n));
    }
    if let Some(n) = f.take("specs") {
        has_spec = true;
        for item in ctx.list(n, "specs") {
            specs.extend(spec::parse_spec(ctx, item));
        }
    }
    if !has_spec {
        ctx.error(
            doc.pos,
            "the policy has neither `spec` nor `specs`",
            "add a `spec:` with an `endpointSelector` and rule sections",
        );
    }
    f.finish(ctx, TOP_FIELDS);
    if !ok {
        return None;
    }
    Some(Policy {
        name: name?,
        namespace,
        clusterwide,
        specs,
    })
}

fn parse_metadata(
    ctx: &mut Ctx<'_>,
    node: &Node,
    clusterwide: bool,
) -> (Option<String>, Option<String>) {
    let Some(mut f) = ctx.fields(node, "`metadata`") else {
        return (None, None);
    };
    let name = f.take("name").and_then(|n| ctx.string(n, "metadata.name"));
    if name.as_deref().is_none_or(str::is_empty) {
        ctx.error(
            node.pos,
            "`metadata.name` is missing",
            "every policy needs a name: verdicts name their rule by it",
        );
    }
    let mut namespace = None;
    if let Some((pos, n)) = f.take_with_pos("namespace") {
        if clusterwide {
            ctx.error(
                pos,
                "a CiliumClusterwideNetworkPolicy has no namespace",
                "remove `metadata.namespace`, or use `kind: CiliumNetworkPolicy`",
            );
        } else {
            namespace = ctx.string(n, "metadata.namespace");
        }
    }
    for k in &METADATA_FIELDS[2..] {
        let _ = f.take(k);
    }
    f.finish(ctx, METADATA_FIELDS);
    (name.filter(|n| !n.is_empty()), namespace)
}
