//! `sockmesh.policy.v1.NetworkPolicy` <-> [`sockmesh_policy::model::Policy`], both ways.
//!
//! The sidecar converts resources into the model (and validates what the model cannot express as
//! types: regex syntax, CIDR text, enum values) so that a bad resource is NACKed by name instead of
//! failing later; the control plane converts parsed YAML policies into resources. The two directions
//! are exact inverses, which the tests check on every shape the model has.

use std::sync::Arc;

use sockmesh_policy::L4Protocol as ModelL4;
use sockmesh_policy::model::{
    CidrRule, DefaultDeny, DnsRule, Entity, GrpcRule, HeaderMatch, HttpRule, KafkaRule, L7Rules,
    LabelExpression, LabelOperator, LabelSelector, MismatchAction, PeerSelector, Policy,
    PortProtocol, PortRule, Rule, Spec,
};

use crate::proto;

/// Why a policy resource cannot be used; `path` points into the resource like a YAML path would.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct PolicyConvertError {
    pub path: String,
    pub message: String,
}

fn err(path: &str, message: impl Into<String>) -> PolicyConvertError {
    PolicyConvertError {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// Converts a resource into the policy model, validating regexes, CIDRs, ports and enum values.
pub fn to_model(p: &proto::NetworkPolicy) -> Result<Policy, PolicyConvertError> {
    if p.name.is_empty() {
        return Err(err("name", "empty policy name; every policy needs a name"));
    }
    let specs = p
        .specs
        .iter()
        .enumerate()
        .map(|(i, s)| spec_to_model(s, &format!("specs[{i}]")))
        .collect::<Result<_, _>>()?;
    Ok(Policy {
        name: p.name.clone(),
        namespace: (!p.namespace.is_empty()).then(|| p.namespace.clone()),
        clusterwide: p.clusterwide,
        specs,
    })
}

fn spec_to_model(s: &proto::PolicySpec, path: &str) -> Result<Spec, PolicyConvertError> {
    let section = |sec: &Option<proto::RuleSection>, name: &str| {
        sec.as_ref()
            .map(|sec| {
                sec.rules
                    .iter()
                    .enumerate()
                    .map(|(i, r)| rule_to_model(r, &format!("{path}.{name}[{i}]")))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()
    };
    Ok(Spec {
        endpoint_selector: s
            .endpoint_selector
            .as_ref()
            .map(|sel| selector_to_model(sel, &format!("{path}.endpointSelector")))
            .transpose()?
            .unwrap_or_default(),
        description: s.description.clone(),
        ingress: section(&s.ingress, "ingress")?,
        ingress_deny: section(&s.ingress_deny, "ingressDeny")?,
        egress: section(&s.egress, "egress")?,
        egress_deny: section(&s.egress_deny, "egressDeny")?,
        enable_default_deny: DefaultDeny {
            ingress: s.default_deny_ingress,
            egress: s.default_deny_egress,
        },
    })
}

fn rule_to_model(r: &proto::PortNetworkPolicyRule, path: &str) -> Result<Rule, PolicyConvertError> {
    let peers = r
        .peers
        .iter()
        .enumerate()
        .map(|(i, p)| peer_to_model(p, &format!("{path}.peers[{i}]")))
        .collect::<Result<_, _>>()?;
    let to_ports = r
        .to_ports
        .iter()
        .enumerate()
        .map(|(i, p)| port_rule_to_model(p, &format!("{path}.toPorts[{i}]")))
        .collect::<Result<_, _>>()?;
    Ok(Rule { peers, to_ports })
}

fn peer_to_model(p: &proto::PeerSelector, path: &str) -> Result<PeerSelector, PolicyConvertError> {
    use proto::peer_selector::Kind;
    match &p.kind {
        None => Err(err(
            path,
            "peer selector without a kind; set endpoints, entity or cidr",
        )),
        Some(Kind::Endpoints(sel)) => Ok(PeerSelector::Endpoints(selector_to_model(sel, path)?)),
        Some(Kind::Entity(e)) => match e.as_str() {
            "all" => Ok(PeerSelector::Entity(Entity::All)),
            other => Err(err(
                path,
                format!("unsupported entity `{other}`; only `all` is supported"),
            )),
        },
        Some(Kind::Fqdn(d)) => Ok(PeerSelector::Fqdn(DnsRule {
            match_name: d.match_name.clone(),
            match_pattern: d.match_pattern.clone(),
        })),
        Some(Kind::Cidr(c)) => {
            let parse = |s: &str| {
                s.parse::<ipnet::IpNet>().map_err(|e| {
                    err(
                        path,
                        format!("invalid CIDR `{s}`: {e}; write e.g. 10.0.0.0/8"),
                    )
                })
            };
            Ok(PeerSelector::Cidr(CidrRule {
                cidr: parse(&c.cidr)?,
                except: c
                    .except
                    .iter()
                    .map(|s| parse(s))
                    .collect::<Result<_, _>>()?,
            }))
        }
    }
}

fn port_rule_to_model(
    p: &proto::PortNetworkPolicy,
    path: &str,
) -> Result<PortRule, PolicyConvertError> {
    let ports = p
        .ports
        .iter()
        .enumerate()
        .map(|(i, pp)| {
            let path = format!("{path}.ports[{i}]");
            let port = u16::try_from(pp.port)
                .map_err(|_| err(&path, format!("port {} is out of range 0-65535", pp.port)))?;
            let end_port = pp
                .end_port
                .map(|e| {
                    u16::try_from(e)
                        .map_err(|_| err(&path, format!("endPort {e} is out of range 0-65535")))
                })
                .transpose()?;
            let protocol = match proto::L4Protocol::try_from(pp.protocol) {
                Ok(proto::L4Protocol::Any) => None,
                Ok(proto::L4Protocol::Tcp) => Some(ModelL4::Tcp),
                Ok(proto::L4Protocol::Udp) => Some(ModelL4::Udp),
                Ok(proto::L4Protocol::Sctp) => Some(ModelL4::Sctp),
                Err(_) => {
                    return Err(err(
                        &path,
                        format!(
                            "unknown protocol value {}; use ANY, TCP, UDP or SCTP",
                            pp.protocol
                        ),
                    ));
                }
            };
            Ok(PortProtocol {
                port,
                end_port,
                protocol,
            })
        })
        .collect::<Result<_, _>>()?;
    let rules = p
        .rules
        .as_ref()
        .map(|r| l7_to_model(r, &format!("{path}.rules")).map(Arc::new))
        .transpose()?;
    Ok(PortRule { ports, rules })
}

/// Checks that `pattern` compiles as the full-match regex the policy engine will build from it.
fn check_regex(pattern: &Option<String>, path: &str) -> Result<(), PolicyConvertError> {
    if let Some(p) = pattern {
        sockmesh_policy::check_regex(p)
            .map_err(|e| err(path, format!("invalid regex `{p}`: {e}")))?;
    }
    Ok(())
}

fn l7_to_model(r: &proto::L7NetworkPolicyRules, path: &str) -> Result<L7Rules, PolicyConvertError> {
    let mut http = Vec::with_capacity(r.http_rules.len());
    for (i, h) in r.http_rules.iter().enumerate() {
        let path = format!("{path}.http[{i}]");
        check_regex(&h.method, &format!("{path}.method"))?;
        check_regex(&h.path, &format!("{path}.path"))?;
        check_regex(&h.host, &format!("{path}.host"))?;
        let mut header_matches = Vec::with_capacity(h.header_matches.len());
        for (j, m) in h.header_matches.iter().enumerate() {
            let mismatch = match proto::MismatchAction::try_from(m.mismatch) {
                Ok(proto::MismatchAction::None) => None,
                Ok(proto::MismatchAction::Log) => Some(MismatchAction::Log),
                Ok(proto::MismatchAction::Add) => Some(MismatchAction::Add),
                Ok(proto::MismatchAction::Delete) => Some(MismatchAction::Delete),
                Ok(proto::MismatchAction::Replace) => Some(MismatchAction::Replace),
                Err(_) => {
                    return Err(err(
                        &format!("{path}.headerMatches[{j}].mismatch"),
                        format!(
                            "unknown mismatch action {}; use LOG, ADD, DELETE or REPLACE",
                            m.mismatch
                        ),
                    ));
                }
            };
            header_matches.push(HeaderMatch {
                name: m.name.clone(),
                value: m.value.clone(),
                mismatch,
            });
        }
        http.push(HttpRule {
            method: h.method.clone(),
            path: h.path.clone(),
            host: h.host.clone(),
            headers: h.headers.clone(),
            header_matches,
        });
    }
    let mut grpc = Vec::with_capacity(r.grpc_rules.len());
    for (i, g) in r.grpc_rules.iter().enumerate() {
        let path = format!("{path}.grpc[{i}]");
        check_regex(&g.service_regex, &format!("{path}.serviceRegex"))?;
        check_regex(&g.method_regex, &format!("{path}.methodRegex"))?;
        grpc.push(GrpcRule {
            service: g.service.clone(),
            method: g.method.clone(),
            service_regex: g.service_regex.clone(),
            method_regex: g.method_regex.clone(),
        });
    }
    let mut kafka = Vec::with_capacity(r.kafka_rules.len());
    for (i, k) in r.kafka_rules.iter().enumerate() {
        let rule = KafkaRule {
            role: k.role.clone(),
            api_key: k.api_key.clone(),
            api_version: k.api_version.clone(),
            client_id: k.client_id.clone(),
            topic: k.topic.clone(),
        };
        // Checked as the YAML parser checks it, so a bad rule is NACKed by its field.
        if let Err(e) = sockmesh_policy::kafka::KafkaMatcher::new(&rule) {
            return Err(err(
                &format!("{path}.kafka[{i}].{}", e.field),
                format!("{}; {}", e.message, e.help),
            ));
        }
        kafka.push(rule);
    }
    let dns = r
        .dns_rules
        .iter()
        .map(|d| DnsRule {
            match_name: d.match_name.clone(),
            match_pattern: d.match_pattern.clone(),
        })
        .collect();
    Ok(L7Rules {
        http,
        grpc,
        kafka,
        dns,
    })
}

fn selector_to_model(
    s: &proto::LabelSelector,
    path: &str,
) -> Result<LabelSelector, PolicyConvertError> {
    let match_expressions = s
        .match_expressions
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let operator = match proto::LabelOperator::try_from(e.operator) {
                Ok(proto::LabelOperator::In) => LabelOperator::In,
                Ok(proto::LabelOperator::NotIn) => LabelOperator::NotIn,
                Ok(proto::LabelOperator::Exists) => LabelOperator::Exists,
                Ok(proto::LabelOperator::DoesNotExist) => LabelOperator::DoesNotExist,
                Err(_) => {
                    return Err(err(
                        &format!("{path}.matchExpressions[{i}].operator"),
                        format!(
                            "unknown operator value {}; use In, NotIn, Exists or DoesNotExist",
                            e.operator
                        ),
                    ));
                }
            };
            Ok(LabelExpression {
                key: e.key.clone(),
                operator,
                values: e.values.clone(),
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(LabelSelector {
        match_labels: s.match_labels.clone(),
        match_expressions,
    })
}

/// Converts a model policy into a resource (the control plane's direction). Total: every model
/// value has a resource form.
pub fn from_model(p: &Policy) -> proto::NetworkPolicy {
    proto::NetworkPolicy {
        name: p.name.clone(),
        namespace: p.namespace.clone().unwrap_or_default(),
        clusterwide: p.clusterwide,
        specs: p.specs.iter().map(spec_from_model).collect(),
    }
}

fn spec_from_model(s: &Spec) -> proto::PolicySpec {
    let section = |rules: &Option<Vec<Rule>>| {
        rules.as_ref().map(|rules| proto::RuleSection {
            rules: rules.iter().map(rule_from_model).collect(),
        })
    };
    proto::PolicySpec {
        endpoint_selector: Some(selector_from_model(&s.endpoint_selector)),
        description: s.description.clone(),
        ingress: section(&s.ingress),
        ingress_deny: section(&s.ingress_deny),
        egress: section(&s.egress),
        egress_deny: section(&s.egress_deny),
        default_deny_ingress: s.enable_default_deny.ingress,
        default_deny_egress: s.enable_default_deny.egress,
    }
}

fn rule_from_model(r: &Rule) -> proto::PortNetworkPolicyRule {
    use proto::peer_selector::Kind;
    proto::PortNetworkPolicyRule {
        peers: r
            .peers
            .iter()
            .map(|p| proto::PeerSelector {
                kind: Some(match p {
                    PeerSelector::Endpoints(sel) => Kind::Endpoints(selector_from_model(sel)),
                    PeerSelector::Entity(Entity::All) => Kind::Entity("all".to_owned()),
                    PeerSelector::Cidr(c) => Kind::Cidr(proto::CidrRule {
                        cidr: c.cidr.to_string(),
                        except: c.except.iter().map(ToString::to_string).collect(),
                    }),
                    PeerSelector::Fqdn(d) => Kind::Fqdn(proto::DnsNetworkPolicyRule {
                        match_name: d.match_name.clone(),
                        match_pattern: d.match_pattern.clone(),
                    }),
                }),
            })
            .collect(),
        to_ports: r.to_ports.iter().map(port_rule_from_model).collect(),
    }
}

fn port_rule_from_model(p: &PortRule) -> proto::PortNetworkPolicy {
    proto::PortNetworkPolicy {
        ports: p
            .ports
            .iter()
            .map(|pp| proto::PortProtocol {
                port: u32::from(pp.port),
                end_port: pp.end_port.map(u32::from),
                protocol: match pp.protocol {
                    None => proto::L4Protocol::Any,
                    Some(ModelL4::Tcp) => proto::L4Protocol::Tcp,
                    Some(ModelL4::Udp) => proto::L4Protocol::Udp,
                    Some(ModelL4::Sctp) => proto::L4Protocol::Sctp,
                } as i32,
            })
            .collect(),
        rules: p.rules.as_deref().map(l7_from_model),
    }
}

fn l7_from_model(r: &L7Rules) -> proto::L7NetworkPolicyRules {
    proto::L7NetworkPolicyRules {
        http_rules: r
            .http
            .iter()
            .map(|h| proto::HttpNetworkPolicyRule {
                method: h.method.clone(),
                path: h.path.clone(),
                host: h.host.clone(),
                headers: h.headers.clone(),
                header_matches: h
                    .header_matches
                    .iter()
                    .map(|m| proto::HeaderMatch {
                        name: m.name.clone(),
                        value: m.value.clone(),
                        mismatch: match m.mismatch {
                            None => proto::MismatchAction::None,
                            Some(MismatchAction::Log) => proto::MismatchAction::Log,
                            Some(MismatchAction::Add) => proto::MismatchAction::Add,
                            Some(MismatchAction::Delete) => proto::MismatchAction::Delete,
                            Some(MismatchAction::Replace) => proto::MismatchAction::Replace,
                        } as i32,
                    })
                    .collect(),
            })
            .collect(),
        grpc_rules: r
            .grpc
            .iter()
            .map(|g| proto::GrpcNetworkPolicyRule {
                service: g.service.clone(),
                method: g.method.clone(),
                service_regex: g.service_regex.clone(),
                method_regex: g.method_regex.clone(),
            })
            .collect(),
        kafka_rules: r
            .kafka
            .iter()
            .map(|k| proto::KafkaNetworkPolicyRule {
                role: k.role.clone(),
                api_key: k.api_key.clone(),
                api_version: k.api_version.clone(),
                client_id: k.client_id.clone(),
                topic: k.topic.clone(),
            })
            .collect(),
        dns_rules: r
            .dns
            .iter()
            .map(|d| proto::DnsNetworkPolicyRule {
                match_name: d.match_name.clone(),
                match_pattern: d.match_pattern.clone(),
            })
            .collect(),
    }
}

fn selector_from_model(s: &LabelSelector) -> proto::LabelSelector {
    proto::LabelSelector {
        match_labels: s.match_labels.clone(),
        match_expressions: s
            .match_expressions
            .iter()
            .map(|e| proto::LabelExpression {
                key: e.key.clone(),
                operator: match e.operator {
                    LabelOperator::In => proto::LabelOperator::In,
                    LabelOperator::NotIn => proto::LabelOperator::NotIn,
                    LabelOperator::Exists => proto::LabelOperator::Exists,
                    LabelOperator::DoesNotExist => proto::LabelOperator::DoesNotExist,
                } as i32,
                values: e.values.clone(),
            })
            .collect(),
    }
}
