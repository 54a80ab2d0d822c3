//! `sockmesh.policy.v1`: Sockmesh's own xDS policy resource, as hand-written prost messages.
//!
//! Why hand-written: the messages are few and stable, and writing them with `prost` derives keeps the
//! build free of `protoc`. The `.proto` equivalent is in `docs/xds.md` (and reproduced in each
//! message's docs through its field tags).
//!
//! The vocabulary follows Cilium's NPDS (`NetworkPolicy` / `PortNetworkPolicy` /
//! `PortNetworkPolicyRule` with `HttpNetworkPolicyRule`, `KafkaNetworkPolicyRule`, ...) so Cilium's
//! concepts carry over, but the nesting follows CiliumNetworkPolicy (spec → section → rule → toPorts)
//! rather than NPDS' port-major layout: that is what makes a resource convert to *exactly* the policy
//! the equivalent YAML file gives, including the rule ids that verdicts report.

use std::collections::BTreeMap;

pub mod json;

/// The package of every message here.
pub const PACKAGE: &str = "sockmesh.policy.v1";

/// Packs any named message (ours or Envoy's) into an `Any`, as xDS responses carry resources.
pub fn any_of<T: prost::Message + prost::Name>(m: &T) -> envoy_types::pb::google::protobuf::Any {
    envoy_types::pb::google::protobuf::Any {
        type_url: T::type_url(),
        value: m.encode_to_vec(),
    }
}

/// One policy (one CiliumNetworkPolicy). Resource name: `namespace/name`, or `name` without a
/// namespace.
#[derive(Clone, PartialEq, ::prost::Message, serde::Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct NetworkPolicy {
    #[prost(string, tag = "1")]
    pub name: String,
    /// Empty: no namespace.
    #[prost(string, tag = "2")]
    pub namespace: String,
    /// `kind: CiliumClusterwideNetworkPolicy`.
    #[prost(bool, tag = "3")]
    pub clusterwide: bool,
    #[prost(message, repeated, tag = "4")]
    pub specs: Vec<PolicySpec>,
}

/// One `spec`.
#[derive(Clone, PartialEq, ::prost::Message, serde::Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct PolicySpec {
    #[prost(message, optional, tag = "1")]
    pub endpoint_selector: Option<LabelSelector>,
    #[prost(string, optional, tag = "2")]
    pub description: Option<String>,
    /// Absent and present-but-empty differ (a present section enables default deny), hence the
    /// wrapper message.
    #[prost(message, optional, tag = "3")]
    pub ingress: Option<RuleSection>,
    #[prost(message, optional, tag = "4")]
    pub ingress_deny: Option<RuleSection>,
    #[prost(message, optional, tag = "5")]
    pub egress: Option<RuleSection>,
    #[prost(message, optional, tag = "6")]
    pub egress_deny: Option<RuleSection>,
    /// `enableDefaultDeny.ingress`; absent = Cilium's default.
    #[prost(bool, optional, tag = "7")]
    pub default_deny_ingress: Option<bool>,
    /// `enableDefaultDeny.egress`; absent = Cilium's default.
    #[prost(bool, optional, tag = "8")]
    pub default_deny_egress: Option<bool>,
}

/// The rules of one section (`ingress`, `ingressDeny`, `egress`, `egressDeny`).
#[derive(Clone, PartialEq, ::prost::Message, serde::Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RuleSection {
    #[prost(message, repeated, tag = "1")]
    pub rules: Vec<PortNetworkPolicyRule>,
}

/// One section entry: the peers (L3) it applies to and its `toPorts` (NPDS: the peers are a
/// `PortNetworkPolicyRule`'s `remote_policies`).
#[derive(Clone, PartialEq, ::prost::Message, serde::Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct PortNetworkPolicyRule {
    /// Empty: every peer.
    #[prost(message, repeated, tag = "1")]
    pub peers: Vec<PeerSelector>,
    /// Empty: every port, L4 only.
    #[prost(message, repeated, tag = "2")]
    pub to_ports: Vec<PortNetworkPolicy>,
}

/// One L3 peer selector.
#[derive(Clone, PartialEq, ::prost::Message, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PeerSelector {
    #[prost(oneof = "peer_selector::Kind", tags = "1, 2, 3, 4")]
    #[serde(flatten)]
    pub kind: Option<peer_selector::Kind>,
}

/// The variants of [`PeerSelector`].
pub mod peer_selector {
    /// `fromEndpoints`/`toEndpoints`, `fromEntities`/`toEntities`, or a CIDR.
    #[derive(Clone, PartialEq, ::prost::Oneof, serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub enum Kind {
        #[prost(message, tag = "1")]
        Endpoints(super::LabelSelector),
        /// Entity name, lowercase (`all`).
        #[prost(string, tag = "2")]
        Entity(String),
        #[prost(message, tag = "3")]
        Cidr(super::CidrRule),
        /// `toFQDNs` (egress): `matchName` and/or `matchPattern`.
        #[prost(message, tag = "4")]
        Fqdn(super::DnsNetworkPolicyRule),
    }
}

/// A CIDR with exceptions, in text form (`10.0.0.0/8`).
#[derive(Clone, PartialEq, ::prost::Message, serde::Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CidrRule {
    #[prost(string, tag = "1")]
    pub cidr: String,
    #[prost(string, repeated, tag = "2")]
    pub except: Vec<String>,
}

/// One `toPorts` entry (NPDS: `PortNetworkPolicy`).
#[derive(Clone, PartialEq, ::prost::Message, serde::Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct PortNetworkPolicy {
    /// Empty: all ports, all protocols.
    #[prost(message, repeated, tag = "1")]
    pub ports: Vec<PortProtocol>,
    /// Absent: L4 only.
    #[prost(message, optional, tag = "2")]
    pub rules: Option<L7NetworkPolicyRules>,
}

/// One `ports` entry.
#[derive(Clone, PartialEq, ::prost::Message, serde::Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct PortProtocol {
    /// 0: all ports.
    #[prost(uint32, tag = "1")]
    pub port: u32,
    #[prost(uint32, optional, tag = "2")]
    pub end_port: Option<u32>,
    #[prost(enumeration = "L4Protocol", tag = "3")]
    #[serde(deserialize_with = "json::l4_protocol")]
    pub protocol: i32,
}

/// L4 protocol of a port entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum L4Protocol {
    Any = 0,
    Tcp = 1,
    Udp = 2,
    Sctp = 3,
}

/// `rules` of a `toPorts` entry.
#[derive(Clone, PartialEq, ::prost::Message, serde::Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct L7NetworkPolicyRules {
    #[prost(message, repeated, tag = "1")]
    pub http_rules: Vec<HttpNetworkPolicyRule>,
    #[prost(message, repeated, tag = "2")]
    pub grpc_rules: Vec<GrpcNetworkPolicyRule>,
    #[prost(message, repeated, tag = "3")]
    pub kafka_rules: Vec<KafkaNetworkPolicyRule>,
    #[prost(message, repeated, tag = "4")]
    pub dns_rules: Vec<DnsNetworkPolicyRule>,
}

/// One `rules.http` entry; `method`, `path`, `host` are full-match regexes.
#[derive(Clone, PartialEq, ::prost::Message, serde::Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HttpNetworkPolicyRule {
    #[prost(string, optional, tag = "1")]
    pub method: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub path: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub host: Option<String>,
    /// `"Name"` or `"Name: value"`.
    #[prost(string, repeated, tag = "4")]
    pub headers: Vec<String>,
    #[prost(message, repeated, tag = "5")]
    pub header_matches: Vec<HeaderMatch>,
}

/// One `headerMatches` entry.
#[derive(Clone, PartialEq, ::prost::Message, serde::Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HeaderMatch {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
    #[prost(enumeration = "MismatchAction", tag = "3")]
    #[serde(deserialize_with = "json::mismatch_action")]
    pub mismatch: i32,
}

/// `headerMatches[].mismatch`; `None` = a mismatch means the rule does not match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum MismatchAction {
    None = 0,
    Log = 1,
    Add = 2,
    Delete = 3,
    Replace = 4,
}

/// One `rules.grpc` entry.
#[derive(Clone, PartialEq, ::prost::Message, serde::Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct GrpcNetworkPolicyRule {
    #[prost(string, optional, tag = "1")]
    pub service: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub method: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub service_regex: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub method_regex: Option<String>,
}

/// One `rules.kafka` entry.
#[derive(Clone, PartialEq, ::prost::Message, serde::Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct KafkaNetworkPolicyRule {
    #[prost(string, optional, tag = "1")]
    pub role: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub api_key: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub api_version: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub client_id: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub topic: Option<String>,
}

/// One `rules.dns` entry.
#[derive(Clone, PartialEq, ::prost::Message, serde::Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct DnsNetworkPolicyRule {
    #[prost(string, optional, tag = "1")]
    pub match_name: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub match_pattern: Option<String>,
}

/// A Kubernetes label selector.
#[derive(Clone, PartialEq, ::prost::Message, serde::Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct LabelSelector {
    /// Sorted map: encodes deterministically, so equal selectors give equal resource versions.
    #[prost(btree_map = "string, string", tag = "1")]
    pub match_labels: BTreeMap<String, String>,
    #[prost(message, repeated, tag = "2")]
    pub match_expressions: Vec<LabelExpression>,
}

/// One `matchExpressions` entry.
#[derive(Clone, PartialEq, ::prost::Message, serde::Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct LabelExpression {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(enumeration = "LabelOperator", tag = "2")]
    #[serde(deserialize_with = "json::label_operator")]
    pub operator: i32,
    #[prost(string, repeated, tag = "3")]
    pub values: Vec<String>,
}

/// `matchExpressions[].operator`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum LabelOperator {
    In = 0,
    NotIn = 1,
    Exists = 2,
    DoesNotExist = 3,
}

impl ::prost::Name for NetworkPolicy {
    const NAME: &'static str = "NetworkPolicy";
    const PACKAGE: &'static str = PACKAGE;
    fn full_name() -> String {
        format!("{PACKAGE}.NetworkPolicy")
    }
    fn type_url() -> String {
        format!("type.googleapis.com/{PACKAGE}.NetworkPolicy")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::{Message, Name};

    #[test]
    fn type_url_is_the_documented_one() {
        assert_eq!(NetworkPolicy::type_url(), crate::types::NETWORK_POLICY);
    }

    #[test]
    fn encodes_and_decodes_with_optional_presence() {
        let p = NetworkPolicy {
            name: "p".into(),
            specs: vec![PolicySpec {
                ingress: Some(RuleSection::default()),
                default_deny_egress: Some(false),
                ..Default::default()
            }],
            ..Default::default()
        };
        let back = NetworkPolicy::decode(p.encode_to_vec().as_slice()).expect("decodes");
        assert_eq!(back, p);
        assert!(back.specs[0].ingress.is_some());
        assert!(back.specs[0].egress.is_none());
        assert_eq!(back.specs[0].default_deny_egress, Some(false));
    }
}
