//! `spec`: endpoint selector, the four rule sections and their L3 peers.

use std::str::FromStr;

use ipnet::IpNet;

use crate::model::{
    CidrRule, DefaultDeny, Entity, LabelExpression, LabelOperator, LabelSelector, PeerSelector,
    Rule, Spec,
};
use crate::request::{Direction, strip_label_source};

use super::l7::parse_port_rule;
use super::read::Ctx;
use super::yaml::Node;

const SPEC_FIELDS: &[&str] = &[
    "endpointSelector",
    "ingress",
    "ingressDeny",
    "egress",
    "egressDeny",
    "description",
    "labels",
    "enableDefaultDeny",
];

pub(crate) fn parse_spec(ctx: &mut Ctx<'_>, node: &Node) -> Option<Spec> {
    let mut f = ctx.fields(node, "`spec`")?;
    let mut spec = Spec::default();
    f.unsupported(
        ctx,
        "nodeSelector",
        "nodeSelector",
        "host policies need a node agent; a sidecar enforces workload policy",
    );
    f.unsupported(
        ctx,
        "log",
        "log",
        "per-policy logging; every verdict is already in the access log with its rule",
    );
    match f.take("endpointSelector") {
        Some(sel) => spec.endpoint_selector = parse_selector(ctx, sel, "endpointSelector"),
        None => ctx.error(
            node.pos,
            "`spec` has no `endpointSelector`",
            "add `endpointSelector: {}` to select every workload, or `matchLabels` to pick some",
        ),
    }
    if let Some(d) = f.take("description") {
        spec.description = ctx.string(d, "description");
    }
    // Rule labels are metadata only.
    let _ = f.take("labels");
    if let Some(n) = f.take("enableDefaultDeny")
        && let Some(mut dd) = ctx.fields(n, "`enableDefaultDeny`")
    {
        let mut out = DefaultDeny::default();
        if let Some(v) = dd.take("ingress") {
            out.ingress = ctx.boolean(v, "enableDefaultDeny.ingress");
        }
        if let Some(v) = dd.take("egress") {
            out.egress = ctx.boolean(v, "enableDefaultDeny.egress");
        }
        dd.finish(ctx, &["ingress", "egress"]);
        spec.enable_default_deny = out;
    }
    for (key, direction, deny) in [
        ("ingress", Direction::Ingress, false),
        ("ingressDeny", Direction::Ingress, true),
        ("egress", Direction::Egress, false),
        ("egressDeny", Direction::Egress, true),
    ] {
        let Some(n) = f.take(key) else { continue };
        let rules = match &n.value {
            // `ingress:` with nothing behind it is Kubernetes' "absent".
            super::yaml::Value::Null => None,
            _ => Some(
                ctx.list(n, key)
                    .iter()
                    .filter_map(|r| parse_rule(ctx, r, key, direction))
                    .collect::<Vec<_>>(),
            ),
        };
        match (direction, deny) {
            (Direction::Ingress, false) => spec.ingress = rules,
            (Direction::Ingress, true) => spec.ingress_deny = rules,
            (Direction::Egress, false) => spec.egress = rules,
            (Direction::Egress, true) => spec.egress_deny = rules,
        }
    }
    f.finish(ctx, SPEC_FIELDS);
    Some(spec)
}

fn parse_rule(ctx: &mut Ctx<'_>, node: &Node, section: &str, direction: Direction) -> Option<Rule> {
    let mut f = ctx.fields(node, &format!("a rule in `{section}`"))?;
    let p = match direction {
        Direction::Ingress => "from",
        Direction::Egress => "to",
    };
    let mut rule = Rule::default();
    let endpoints = format!("{p}Endpoints");
    let cidr = format!("{p}CIDR");
    let cidr_set = format!("{p}CIDRSet");
    let entities = format!("{p}Entities");
    let requires = format!("{p}Requires");
    let groups = format!("{p}Groups");
    let nodes = format!("{p}Nodes");
    f.unsupported(
        ctx,
        &requires,
        &requires,
        "it is deprecated in Cilium; use label selectors",
    );
    f.unsupported(
        ctx,
        &groups,
        &groups,
        "cloud provider groups need a cloud API",
    );
    f.unsupported(ctx, &nodes, &nodes, "node selectors need a node agent");
    f.unsupported(ctx, "icmps", "icmps", "a sidecar proxies TCP/UDP, not ICMP");
    f.unsupported(
        ctx,
        "authentication",
        "authentication",
        "mutual authentication comes with the mTLS identity capability",
    );
    if direction == Direction::Egress {
        f.unsupported(
            ctx,
            "toServices",
            "toServices",
            "service selectors need service discovery; use `toCIDR` for now",
        );
    }
    if let Some(n) = f.take(&endpoints) {
        for sel in ctx.list(n, &endpoints) {
            let s = parse_selector(ctx, sel, &endpoints);
            if s.is_empty() {
                rule.peers.push(PeerSelector::Endpoints(s));
            } else {
                ctx.error(
                    sel.pos,
                    format!(
                        "not supported yet: identity selectors need mTLS identities ({endpoints})"
                    ),
                    format!(
                        "use `{endpoints}: [{{}}]` for all endpoints, or `{cidr}`/`{cidr_set}` \
                         to restrict peers by address"
                    ),
                );
            }
        }
    }
    if direction == Direction::Egress
        && let Some(n) = f.take("toFQDNs")
    {
        for item in ctx.list(n, "toFQDNs") {
            if let Some(sel) = super::l7::parse_dns(ctx, item) {
                rule.peers.push(PeerSelector::Fqdn(sel));
            }
        }
    }
    if let Some(n) = f.take(&cidr) {
        for item in ctx.list(n, &cidr) {
            if let Some(net) = parse_cidr(ctx, item, &cidr) {
                rule.peers.push(PeerSelector::Cidr(CidrRule {
                    cidr: net,
                    except: Vec::new(),
                }));
            }
        }
    }
    if let Some(n) = f.take(&cidr_set) {
        for item in ctx.list(n, &cidr_set) {
            if let Some(c) = parse_cidr_set(ctx, item, &cidr_set) {
                rule.peers.push(PeerSelector::Cidr(c));
            }
        }
    }
    if let Some(n) = f.take(&entities) {
        for item in ctx.list(n, &entities) {
            let Some(name) = ctx.string(item, &entities) else {
                continue;
            };
            match name.as_str() {
                "all" => rule.peers.push(PeerSelector::Entity(Entity::All)),
                "world" | "cluster" | "host" | "remote-node" | "kube-apiserver" | "health"
                | "init" | "unmanaged" | "ingress" | "none" => ctx.error(
                    item.pos,
                    format!("entity `{name}` is not supported yet ({entities})"),
                    "entities other than `all` need cluster knowledge; use CIDR rules for now",
                ),
                _ => ctx.error(
                    item.pos,
                    format!("unknown entity `{name}` in `{entities}`"),
                    "Cilium entities are all, world, cluster, host, remote-node, kube-apiserver, \
                     health, init, unmanaged, ingress, none; Sockmesh supports `all`",
                ),
            }
        }
    }
    if let Some(n) = f.take("toPorts") {
        for item in ctx.list(n, "toPorts") {
            if let Some(pr) = parse_port_rule(ctx, item) {
                rule.to_ports.push(pr);
            }
        }
    }
    let known = [
        endpoints.as_str(),
        cidr.as_str(),
        cidr_set.as_str(),
        entities.as_str(),
        "toPorts",
    ];
    f.finish(ctx, &known);
    Some(rule)
}

fn parse_cidr(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<IpNet> {
    let text = ctx.string(node, field)?;
    let t = text.trim();
    let parsed = IpNet::from_str(t)
        .ok()
        .or_else(|| std::net::IpAddr::from_str(t).ok().map(IpNet::from));
    match parsed {
        Some(net) => Some(net.trunc()),
        None => {
            ctx.error(
                node.pos,
                format!("invalid CIDR `{t}` in `{field}`"),
                "write an address with a prefix length such as `10.0.0.0/8` or `2001:db8::/32`, \
                 or a single address",
            );
            None
        }
    }
}

fn parse_cidr_set(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<CidrRule> {
    let mut f = ctx.fields(node, &format!("a `{field}` entry"))?;
    f.unsupported(
        ctx,
        "cidrGroupRef",
        "cidrGroupRef",
        "CiliumCIDRGroup resources are not loaded; list the CIDRs",
    );
    f.unsupported(
        ctx,
        "cidrGroupSelector",
        "cidrGroupSelector",
        "CiliumCIDRGroup resources are not loaded; list the CIDRs",
    );
    let cidr = match f.take("cidr") {
        Some(n) => parse_cidr(ctx, n, "cidr"),
        None => {
            ctx.error(
                node.pos,
                format!("`{field}` entry has no `cidr`"),
                "add `cidr: 10.0.0.0/8` (and optionally `except: [...]`)",
            );
            None
        }
    };
    let mut except = Vec::new();
    if let Some(n) = f.take("except") {
        for item in ctx.list(n, "except") {
            if let Some(e) = parse_cidr(ctx, item, "except") {
                if let Some(c) = cidr
                    && !c.contains(&e)
                {
                    ctx.error(
                        item.pos,
                        format!("`{e}` in `except` is not inside `{c}`"),
                        "`except` lists sub-ranges of `cidr` to leave out",
                    );
                    continue;
                }
                except.push(e);
            }
        }
    }
    f.finish(ctx, &["cidr", "except"]);
    Some(CidrRule {
        cidr: cidr?,
        except,
    })
}

/// Parses a Kubernetes label selector.
pub(crate) fn parse_selector(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> LabelSelector {
    let mut sel = LabelSelector::default();
    let Some(mut f) = ctx.fields(node, &format!("`{field}` selector")) else {
        return sel;
    };
    if let Some(n) = f.take("matchLabels")
        && let Some(mut labels) = ctx.fields(n, "`matchLabels`")
    {
        if let super::yaml::Value::Map(entries) = &n.value {
            for (k, v) in entries {
                let Some(key) = k.as_str() else { continue };
                let _ = labels.take(key);
                if let Some(value) = ctx.string(v, key) {
                    sel.match_labels
                        .insert(strip_label_source(key).to_owned(), value);
                }
            }
        }
        labels.finish(ctx, &[]);
    }
    if let Some(n) = f.take("matchExpressions") {
        for item in ctx.list(n, "matchExpressions") {
            if let Some(e) = parse_expression(ctx, item) {
                sel.match_expressions.push(e);
            }
        }
    }
    f.finish(ctx, &["matchLabels", "matchExpressions"]);
    sel
}

fn parse_expression(ctx: &mut Ctx<'_>, node: &Node) -> Option<LabelExpression> {
    let mut f = ctx.fields(node, "a `matchExpressions` entry")?;
    let key = f.take("key").and_then(|n| ctx.string(n, "key"));
    let op_node = f.take("operator");
    let operator = op_node.and_then(|n| {
        let s = ctx.string(n, "operator")?;
        match s.as_str() {
            "In" => Some(LabelOperator::In),
            "NotIn" => Some(LabelOperator::NotIn),
            "Exists" => Some(LabelOperator::Exists),
            "DoesNotExist" => Some(LabelOperator::DoesNotExist),
            _ => {
                ctx.error(
                    n.pos,
                    format!("unknown operator `{s}`"),
                    "use one of In, NotIn, Exists, DoesNotExist",
                );
                None
            }
        }
    });
    let values_node = f.take("values");
    let values: Vec<String> = values_node
        .map(|n| {
            ctx.list(n, "values")
                .iter()
                .filter_map(|v| ctx.string(v, "values"))
                .collect()
        })
        .unwrap_or_default();
    f.finish(ctx, &["key", "operator", "values"]);
    if key.is_none() || op_node.is_none() {
        ctx.error(
            node.pos,
            "`matchExpressions` entry needs `key` and `operator`",
            "e.g. `{key: app, operator: In, values: [web]}`",
        );
    }
    let operator = operator?;
    match operator {
        LabelOperator::In | LabelOperator::NotIn if values.is_empty() => {
            ctx.error(
                node.pos,
                "`In`/`NotIn` need a non-empty `values` list",
                "add `values: [...]`",
            );
            return None;
        }
        LabelOperator::Exists | LabelOperator::DoesNotExist if !values.is_empty() => {
            ctx.error(
                values_node.map_or(node.pos, |n| n.pos),
                "`Exists`/`DoesNotExist` take no `values`",
                "remove `values`",
            );
            return None;
        }
        _ => {}
    }
    Some(LabelExpression {
        key: strip_label_source(&key?).to_owned(),
        operator,
        values,
    })
}
