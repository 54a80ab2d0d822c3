//! `toPorts` entries: ports and L7 rules (`http`, our `grpc`, `dns`, `kafka`).

use std::sync::Arc;

use crate::compile::check_regex;
use crate::dns::{NamePattern, PatternError};
use crate::kafka::{self, FieldError};
use crate::model::{
    DnsRule, GrpcRule, HeaderMatch, HttpRule, KafkaRule, L7Rules, MismatchAction, PortProtocol,
    PortRule, parse_header_line,
};
use crate::request::L4Protocol;

use super::read::Ctx;
use super::yaml::{Node, Value};

const REGEX_HELP: &str = "regexes are full-match (anchored at both ends: `/api` does not match \
                          `/api/v1`, write `/api/.*`); escape metacharacters such as `.` with `\\`";

pub(crate) fn parse_port_rule(ctx: &mut Ctx<'_>, node: &Node) -> Option<PortRule> {
    let mut f = ctx.fields(node, "a `toPorts` entry")?;
    for (key, reason) in [
        (
            "originatingTLS",
            "TLS origination comes with the TLS capability",
        ),
        (
            "terminatingTLS",
            "TLS termination comes with the TLS capability",
        ),
        (
            "listener",
            "custom Envoy listeners do not exist in Sockmesh",
        ),
        ("serverNames", "SNI matching comes with the TLS capability"),
    ] {
        f.unsupported(ctx, key, key, reason);
    }
    let mut pr = PortRule::default();
    if let Some(n) = f.take("ports") {
        for item in ctx.list(n, "ports") {
            if let Some(p) = parse_port(ctx, item) {
                pr.ports.push(p);
            }
        }
    }
    if let Some(n) = f.take("rules") {
        pr.rules = parse_l7(ctx, n).map(Arc::new);
    }
    f.finish(ctx, &["ports", "rules"]);
    Some(pr)
}

fn port_number(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<u16> {
    let text = ctx.string(node, field)?;
    let t = text.trim();
    if t.chars().all(|c| c.is_ascii_digit()) && !t.is_empty() {
        match t.parse::<u16>() {
            Ok(p) => Some(p),
            Err(_) => {
                ctx.error(
                    node.pos,
                    format!("`{field}` {t} is out of range"),
                    "ports are 0 to 65535 (0 = all ports)",
                );
                None
            }
        }
    } else if field == "port"
        && t.chars().any(|c| c.is_ascii_alphabetic())
        && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        ctx.error(
            node.pos,
            format!("named port `{t}` is not supported yet"),
            "named ports need the workload's container port table; write the port number",
        );
        None
    } else {
        ctx.error(
            node.pos,
            format!("invalid `{field}` `{t}`"),
            "write a number from 0 to 65535",
        );
        None
    }
}

fn parse_port(ctx: &mut Ctx<'_>, node: &Node) -> Option<PortProtocol> {
    let mut f = ctx.fields(node, "a `ports` entry")?;
    let mut ok = true;
    let port = match f.take("port") {
        Some(n) if n.value == Value::Null => 0,
        Some(n) => port_number(ctx, n, "port").or_else(|| {
            ok = false;
            None
        })?,
        None => 0,
    };
    let mut end_port = None;
    if let Some(n) = f.take("endPort") {
        if let Some(e) = port_number(ctx, n, "endPort") {
            if port == 0 {
                ctx.error(
                    n.pos,
                    "`endPort` without `port`",
                    "give the first port of the range in `port`",
                );
                ok = false;
            } else if e < port {
                ctx.error(
                    n.pos,
                    format!("`endPort` {e} is below `port` {port}"),
                    "`endPort` is the last port of the range: make it >= `port`",
                );
                ok = false;
            } else {
                end_port = Some(e);
            }
        } else {
            ok = false;
        }
    }
    let mut protocol = None;
    if let Some(n) = f.take("protocol")
        && let Some(s) = ctx.string(n, "protocol")
    {
        match s.to_ascii_uppercase().as_str() {
            "TCP" => protocol = Some(L4Protocol::Tcp),
            "UDP" => protocol = Some(L4Protocol::Udp),
            "SCTP" => protocol = Some(L4Protocol::Sctp),
            "ANY" => {}
            _ => {
                ctx.error(
                    n.pos,
                    format!("unknown protocol `{s}`"),
                    "use TCP, UDP, SCTP or ANY (ICMP goes in `icmps`, which is not supported)",
                );
                ok = false;
            }
        }
    }
    f.finish(ctx, &["port", "endPort", "protocol"]);
    ok.then_some(PortProtocol {
        port,
        end_port,
        protocol,
    })
}

fn parse_l7(ctx: &mut Ctx<'_>, node: &Node) -> Option<L7Rules> {
    let mut f = ctx.fields(node, "`rules`")?;
    f.unsupported(
        ctx,
        "l7proto",
        "rules.l7proto",
        "generic L7 parsers are Envoy extensions",
    );
    f.unsupported(
        ctx,
        "l7",
        "rules.l7",
        "generic L7 rules need an `l7proto` parser",
    );
    let mut rules = L7Rules::default();
    if let Some(n) = f.take("http") {
        for item in ctx.list(n, "http") {
            if let Some(r) = parse_http(ctx, item) {
                rules.http.push(r);
            }
        }
    }
    if let Some(n) = f.take("grpc") {
        for item in ctx.list(n, "grpc") {
            if let Some(r) = parse_grpc(ctx, item) {
                rules.grpc.push(r);
            }
        }
    }
    if let Some(n) = f.take("dns") {
        for item in ctx.list(n, "dns") {
            if let Some(r) = parse_dns(ctx, item) {
                rules.dns.push(r);
            }
        }
    }
    if let Some(n) = f.take("kafka") {
        for item in ctx.list(n, "kafka") {
            if let Some(r) = parse_kafka(ctx, item) {
                rules.kafka.push(r);
            }
        }
    }
    f.finish(ctx, &["http", "grpc", "dns", "kafka"]);
    Some(rules)
}

/// One `rules.kafka` entry: each field checked where it stands, as [`crate::kafka`] reads it.
fn parse_kafka(ctx: &mut Ctx<'_>, node: &Node) -> Option<KafkaRule> {
    let mut f = ctx.fields(node, "a `kafka` rule")?;
    let mut ok = true;
    let mut field = |ctx: &mut Ctx<'_>, key: &str, check: fn(&str) -> Result<(), FieldError>| {
        let n = f.take(key)?;
        let Some(s) = ctx.string(n, key) else {
            ok = false;
            return None;
        };
        // Empty means "any", as in Cilium.
        if let Err(e) = Some(s.as_str())
            .filter(|s| !s.is_empty())
            .map_or(Ok(()), check)
        {
            ctx.error(n.pos, e.message, e.help);
            ok = false;
        }
        Some((s, n.pos))
    };
    let role = field(ctx, "role", |s| kafka::parse_role(s).map(drop));
    let api_key = field(ctx, "apiKey", |s| kafka::parse_api_key(s).map(drop));
    let api_version = field(ctx, "apiVersion", |s| kafka::parse_api_version(s).map(drop));
    let client_id = field(ctx, "clientID", |_| Ok(()));
    let topic = field(ctx, "topic", kafka::check_topic);
    f.finish(ctx, &["role", "apiKey", "apiVersion", "clientID", "topic"]);
    if let (Some((r, _)), Some((k, pos))) = (&role, &api_key)
        && !r.is_empty()
        && !k.is_empty()
    {
        let e = kafka::role_and_api_key(r, k);
        ctx.error(*pos, e.message, e.help);
        ok = false;
    }
    let rule = KafkaRule {
        role: role.map(|(s, _)| s),
        api_key: api_key.map(|(s, _)| s),
        api_version: api_version.map(|(s, _)| s),
        client_id: client_id.map(|(s, _)| s),
        topic: topic.map(|(s, _)| s),
    };
    ok.then_some(rule)
}

/// One `rules.dns` entry: `matchName` and/or `matchPattern`, each checked as the matcher will
/// read it ([`crate::dns::NamePattern`]).
pub(super) fn parse_dns(ctx: &mut Ctx<'_>, node: &Node) -> Option<DnsRule> {
    let mut f = ctx.fields(node, "a `dns` rule")?;
    let mut present = false;
    let mut field =
        |ctx: &mut Ctx<'_>, key: &str, check: fn(&str) -> Result<NamePattern, PatternError>| {
            let n = f.take(key)?;
            present = true;
            let s = ctx.string(n, key)?;
            match check(&s) {
                Ok(_) => Some(s),
                Err(e) => {
                    ctx.error(
                        n.pos,
                        format!("invalid `{key}` `{s}`: {}", e.message),
                        e.help,
                    );
                    None
                }
            }
        };
    let match_name = field(ctx, "matchName", NamePattern::name);
    let match_pattern = field(ctx, "matchPattern", NamePattern::pattern);
    f.finish(ctx, &["matchName", "matchPattern"]);
    if !present {
        ctx.error(
            node.pos,
            "a `dns` rule with neither `matchName` nor `matchPattern`",
            "add `matchName: <name>` or `matchPattern: <pattern>` (`\"*\"` allows every name)",
        );
        return None;
    }
    if match_name.is_none() && match_pattern.is_none() {
        return None;
    }
    Some(DnsRule {
        match_name,
        match_pattern,
    })
}

fn regex_field(ctx: &mut Ctx<'_>, node: Option<&Node>, field: &str) -> Option<String> {
    let n = node?;
    let s = ctx.string(n, field)?;
    if let Err(e) = check_regex(&s) {
        let last = e.lines().last().unwrap_or("").trim();
        let first = last.strip_prefix("error: ").unwrap_or(last).to_owned();
        ctx.error(
            n.pos,
            format!("invalid regex in `{field}`: {first}"),
            REGEX_HELP,
        );
        return None;
    }
    Some(s)
}

fn parse_http(ctx: &mut Ctx<'_>, node: &Node) -> Option<HttpRule> {
    let mut f = ctx.fields(node, "an `http` rule")?;
    let mut r = HttpRule {
        method: regex_field(ctx, f.take("method"), "method"),
        path: regex_field(ctx, f.take("path"), "path"),
        host: regex_field(ctx, f.take("host"), "host"),
        ..HttpRule::default()
    };
    if let Some(n) = f.take("headers") {
        for item in ctx.list(n, "headers") {
            let Some(line) = ctx.string(item, "headers") else {
                continue;
            };
            match parse_header_line(&line) {
                Ok(_) => r.headers.push(line),
                Err(e) => ctx.error(
                    item.pos,
                    format!("invalid `headers` entry `{line}`: {}", e.message),
                    e.help,
                ),
            }
        }
    }
    if let Some(n) = f.take("headerMatches") {
        for item in ctx.list(n, "headerMatches") {
            if let Some(m) = parse_header_match(ctx, item) {
                r.header_matches.push(m);
            }
        }
    }
    f.finish(ctx, &["method", "path", "host", "headers", "headerMatches"]);
    Some(r)
}

fn parse_header_match(ctx: &mut Ctx<'_>, node: &Node) -> Option<HeaderMatch> {
    let mut f = ctx.fields(node, "a `headerMatches` entry")?;
    f.unsupported(
        ctx,
        "secret",
        "headerMatches[].secret",
        "Kubernetes secrets are not read by the sidecar; put the value in `value`",
    );
    let name = f.take("name").and_then(|n| ctx.string(n, "name"));
    let value = f.take("value").and_then(|n| ctx.string(n, "value"));
    let mut mismatch = None;
    if let Some(n) = f.take("mismatch")
        && let Some(s) = ctx.string(n, "mismatch")
    {
        mismatch = match s.as_str() {
            "LOG" => Some(MismatchAction::Log),
            "ADD" => Some(MismatchAction::Add),
            "DELETE" => Some(MismatchAction::Delete),
            "REPLACE" => Some(MismatchAction::Replace),
            _ => {
                ctx.error(
                    n.pos,
                    format!("unknown `mismatch` action `{s}`"),
                    "use LOG, ADD, DELETE or REPLACE (or leave it out to require the value)",
                );
                return None;
            }
        };
    }
    f.finish(ctx, &["name", "value", "mismatch"]);
    match name {
        Some(name) if !name.trim().is_empty() => Some(HeaderMatch {
            name: name.trim().to_owned(),
            value,
            mismatch,
        }),
        _ => {
            ctx.error(
                node.pos,
                "`headerMatches` entry has no `name`",
                "add `name: <header name>`",
            );
            None
        }
    }
}

fn parse_grpc(ctx: &mut Ctx<'_>, node: &Node) -> Option<GrpcRule> {
    let mut f = ctx.fields(node, "a `grpc` rule")?;
    let service = f.take("service").and_then(|n| ctx.string(n, "service"));
    let method = f.take("method").and_then(|n| ctx.string(n, "method"));
    let r = GrpcRule {
        service,
        method,
        service_regex: regex_field(ctx, f.take("serviceRegex"), "serviceRegex"),
        method_regex: regex_field(ctx, f.take("methodRegex"), "methodRegex"),
    };
    f.finish(ctx, &["service", "method", "serviceRegex", "methodRegex"]);
    Some(r)
}
