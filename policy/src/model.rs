//! The policy model: one shape for policies from YAML files and from xDS alike.
//!
//! It mirrors CiliumNetworkPolicy closely (same section and field names, in Rust case) so that users'
//! knowledge and Cilium documentation carry over, plus gRPC service/method rules as our extension.
//! It is plain data: validation that needs positions happens in [`crate::cilium`], everything else
//! (regex syntax, supported features) again in [`crate::CompiledPolicy::compile`], because xDS input
//! never went through the YAML parser.

use std::collections::BTreeMap;
use std::sync::Arc;

use ipnet::IpNet;
use serde::Serialize;

use crate::request::{Direction, L4Protocol};

/// One CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`; `None` for clusterwide policies and files without one.
    pub namespace: Option<String>,
    /// `kind: CiliumClusterwideNetworkPolicy`.
    pub clusterwide: bool,
    /// `spec`, or the entries of `specs`.
    pub specs: Vec<Spec>,
}

impl Policy {
    /// `namespace/name`, or `name` without a namespace: the prefix of every rule id.
    pub fn qualified_name(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// One `spec`: which workloads it selects and its four rule sections.
///
/// A section is `None` when absent and `Some(vec![])` when present but empty; the difference matters
/// for default deny (a present section puts the direction into default deny, as in Cilium).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    pub endpoint_selector: LabelSelector,
    pub description: Option<String>,
    pub ingress: Option<Vec<Rule>>,
    pub ingress_deny: Option<Vec<Rule>>,
    pub egress: Option<Vec<Rule>>,
    pub egress_deny: Option<Vec<Rule>>,
    pub enable_default_deny: DefaultDeny,
}

impl Spec {
    /// The allow section for `direction`.
    pub fn allow(&self, direction: Direction) -> Option<&[Rule]> {
        match direction {
            Direction::Ingress => self.ingress.as_deref(),
            Direction::Egress => self.egress.as_deref(),
        }
    }

    /// The deny section for `direction`.
    pub fn deny(&self, direction: Direction) -> Option<&[Rule]> {
        match direction {
            Direction::Ingress => self.ingress_deny.as_deref(),
            Direction::Egress => self.egress_deny.as_deref(),
        }
    }

    /// Whether this spec puts `direction` into default deny: `enableDefaultDeny.<dir>` if set,
    /// otherwise whether it has an allow or deny section for that direction (Cilium's default).
    pub fn default_deny(&self, direction: Direction) -> bool {
        let explicit = match direction {
            Direction::Ingress => self.enable_default_deny.ingress,
            Direction::Egress => self.enable_default_deny.egress,
        };
        explicit.unwrap_or(self.allow(direction).is_some() || self.deny(direction).is_some())
    }
}

/// `enableDefaultDeny`: `None` means "the default" (true when the spec has rules for the direction).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DefaultDeny {
    pub ingress: Option<bool>,
    pub egress: Option<bool>,
}

/// Section kind, used in rule ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Section {
    Ingress,
    IngressDeny,
    Egress,
    EgressDeny,
}

impl Section {
    /// The section for a direction, allow or deny.
    pub fn of(direction: Direction, deny: bool) -> Section {
        match (direction, deny) {
            (Direction::Ingress, false) => Section::Ingress,
            (Direction::Ingress, true) => Section::IngressDeny,
            (Direction::Egress, false) => Section::Egress,
            (Direction::Egress, true) => Section::EgressDeny,
        }
    }

    /// The YAML field name.
    pub fn as_str(self) -> &'static str {
        match self {
            Section::Ingress => "ingress",
            Section::IngressDeny => "ingressDeny",
            Section::Egress => "egress",
            Section::EgressDeny => "egressDeny",
        }
    }
}

/// One element of a section: which peers (L3) and which ports (L4, with optional L7 rules).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// `from*`/`to*` peer fields, united; empty = every peer.
    pub peers: Vec<PeerSelector>,
    /// `toPorts`; empty = every port, L4 only.
    pub to_ports: Vec<PortRule>,
}

/// One L3 peer selector.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PeerSelector {
    /// `fromEndpoints`/`toEndpoints` entry. Only the empty selector (all endpoints) can be enforced
    /// until peers carry mTLS identities.
    Endpoints(LabelSelector),
    /// `fromEntities`/`toEntities` entry.
    Entity(Entity),
    /// `fromCIDR`/`toCIDR` entry (no `except`) or `fromCIDRSet`/`toCIDRSet` entry.
    Cidr(CidrRule),
    /// `toFQDNs` entry: the addresses allowed DNS answers gave for the names it matches
    /// (see [`crate::fqdn`]). Cilium's `FQDNSelector`, the same fields as a `rules.dns` entry.
    Fqdn(DnsRule),
}

/// Cilium entities we can enforce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Entity {
    /// Every peer.
    All,
}

/// A CIDR with exceptions: the peer matches if inside `cidr` and in none of `except`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CidrRule {
    pub cidr: IpNet,
    pub except: Vec<IpNet>,
}

/// One `toPorts` entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortRule {
    /// Empty = all ports, all protocols.
    pub ports: Vec<PortProtocol>,
    /// `rules`; `None` = L4 only. Shared with the compiled policies built from this model, so
    /// compiling copies no L7 rule (at 10,000 rules the copies were megabytes).
    pub rules: Option<Arc<L7Rules>>,
}

/// One `ports` entry: `port` (0 = all), optional `endPort`, protocol (`None` = ANY).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortProtocol {
    pub port: u16,
    pub end_port: Option<u16>,
    pub protocol: Option<L4Protocol>,
}

impl PortProtocol {
    /// The inclusive port range this entry covers.
    pub fn range(&self) -> (u16, u16) {
        if self.port == 0 {
            (0, u16::MAX)
        } else {
            (self.port, self.end_port.unwrap_or(self.port).max(self.port))
        }
    }
}

/// `rules` of a `toPorts` entry: one protocol's rules per entry (`http` with `grpc`, `dns`, or
/// `kafka`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct L7Rules {
    pub http: Vec<HttpRule>,
    pub grpc: Vec<GrpcRule>,
    pub kafka: Vec<KafkaRule>,
    pub dns: Vec<DnsRule>,
}

impl L7Rules {
    /// True when no L7 rule of any kind is present (such an entry is L4 only).
    pub fn is_empty(&self) -> bool {
        self.http.is_empty() && self.grpc.is_empty() && self.kafka.is_empty() && self.dns.is_empty()
    }
}

/// One `rules.http` entry. `method`, `path`, `host` are full-match regexes; absent = any.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRule {
    pub method: Option<String>,
    /// Matched against path + query (`:path`).
    pub path: Option<String>,
    pub host: Option<String>,
    /// `"Name"` (must be present) or `"Name: value"` / `"Name value"` (exact value); see
    /// [`parse_header_line`].
    pub headers: Vec<String>,
    pub header_matches: Vec<HeaderMatch>,
}

/// One `headerMatches` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderMatch {
    pub name: String,
    /// `None`: the header must be present.
    pub value: Option<String>,
    /// `None`: a mismatch means the rule does not match. `Some`: a mismatch triggers the action.
    pub mismatch: Option<MismatchAction>,
}

/// `headerMatches[].mismatch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum MismatchAction {
    Log,
    Add,
    Delete,
    Replace,
}

/// One `rules.grpc` entry (our extension): exact `service`/`method` and full-match regexes; absent =
/// any; all present fields must match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GrpcRule {
    pub service: Option<String>,
    pub method: Option<String>,
    pub service_regex: Option<String>,
    pub method_regex: Option<String>,
}

/// One `rules.kafka` entry, as written (strings, as in Cilium's CRD); an empty field is absent.
/// [`crate::kafka::KafkaMatcher`] checks and reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KafkaRule {
    pub role: Option<String>,
    pub api_key: Option<String>,
    pub api_version: Option<String>,
    pub client_id: Option<String>,
    pub topic: Option<String>,
}

/// One `rules.dns` entry: `matchName` and/or `matchPattern` (see [`crate::dns`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DnsRule {
    pub match_name: Option<String>,
    pub match_pattern: Option<String>,
}

/// A Kubernetes label selector (`matchLabels` AND all `matchExpressions`); empty selects everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    pub match_labels: BTreeMap<String, String>,
    pub match_expressions: Vec<LabelExpression>,
}

/// One `matchExpressions` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelExpression {
    pub key: String,
    pub operator: LabelOperator,
    pub values: Vec<String>,
}

/// `matchExpressions[].operator`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum LabelOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

/// Splits a `headers` entry the way Cilium does: `"Name"` → (`name`, None); `"Name: value"` or
/// `"Name value"` (split at the first blank, one trailing `:` on the name dropped) → (`name`,
/// Some(`value`)); `"Name:value"` is accepted too. The name is lower-cased (header names are
/// case-insensitive).
///
/// `Err` for an entry that cannot mean what it seems to: an empty name, a name that is no field
/// name (RFC 9110 token: `X-Odd:`, `a;b`), or a blank before the colon (`X-Evil : yes`, which
/// Cilium's split reads as the name `X-Evil` with the value `": yes"`, so a deny rule written
/// that way matched nothing).
pub fn parse_header_line(line: &str) -> Result<(String, Option<String>), HeaderLineError> {
    let line = line.trim();
    let (name, value) = match line.split_once(char::is_whitespace) {
        Some((n, v)) => {
            let v = v.trim();
            if !n.ends_with(':')
                && let Some(after) = v.strip_prefix(':')
            {
                return Err(HeaderLineError {
                    message: "a blank before the colon makes `:` part of the value".to_owned(),
                    help: format!(
                        "write `{n}: {}` (no blank before the colon), or `{n} {v}` if the value does start with `:`",
                        after.trim()
                    ),
                });
            }
            (n.strip_suffix(':').unwrap_or(n), Some(v.to_owned()))
        }
        None => match line.split_once(':') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (line, None),
        },
    };
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return Err(HeaderLineError {
            message: if name.is_empty() {
                "the header name is empty".to_owned()
            } else {
                format!("`{name}` is not a header name")
            },
            help: "write `Name` (header must be present) or `Name: value` (exact value); names are letters, digits and `-` (RFC 9110 tokens)".to_owned(),
        });
    }
    Ok((name.to_ascii_lowercase(), value))
}

/// Why a `headers` entry was refused, and what to write instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderLineError {
    pub message: String,
    pub help: String,
}

/// A character of an RFC 9110 token (section 5.6.2), what a field name is made of.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
