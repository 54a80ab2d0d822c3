//! Conversion between xDS resources (Envoy's and our policy resource) and the domain types.
//!
//! Everything here is pure and total: any byte string in an `Any` yields a resource or an error
//! naming the resource and the reason, which the client puts into its NACK. Nothing here panics.

pub mod cluster;
#[cfg(test)]
mod envoy_tests;
pub mod listener;
pub mod policy;
pub mod secret;
#[cfg(test)]
mod tests;

use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use envoy_types::pb::envoy::config::listener::v3::Listener;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::Secret;
use envoy_types::pb::google::protobuf::Any;
use prost::Message;
use sockmesh_policy::model::Policy;
use sockmesh_policy::{CompiledPolicy, Labels};

use crate::domain;
use crate::proto;
use crate::types::ResourceType;

/// A resource, converted.
#[derive(Debug, Clone, PartialEq)]
pub enum Converted {
    Cluster(cluster::ClusterResource),
    Endpoint(cluster::EndpointResource),
    /// `None`: an api listener (proxyless gRPC), valid but not a sidecar port.
    Listener(Option<domain::Listener>),
    Secret(domain::Secret),
    /// Shared: the accepted store and every published [`crate::client::DomainState`] hold the
    /// same model instead of copies (a 10k-rule policy set is megabytes).
    Policy(std::sync::Arc<Policy>),
}

/// Why one resource of a response was rejected; `name` is `None` when the payload could not even be
/// decoded far enough to read its name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", name.as_deref().map(|n| format!("resource `{n}`")).unwrap_or_else(|| "unnamed resource".to_owned()))]
pub struct ResourceError {
    pub name: Option<String>,
    pub message: String,
}

impl ResourceError {
    pub fn named(name: &str, message: impl Into<String>) -> ResourceError {
        ResourceError {
            name: Some(name.to_owned()),
            message: message.into(),
        }
    }
}

fn decode_as<T: Message + Default>(any: &Any, ty: ResourceType) -> Result<T, ResourceError> {
    if any.type_url != ty.url() {
        return Err(ResourceError {
            name: None,
            message: format!(
                "payload has type `{}` but the response is for `{}`; the control plane mixed types",
                any.type_url,
                ty.url()
            ),
        });
    }
    T::decode(any.value.as_slice()).map_err(|e| ResourceError {
        name: None,
        message: format!("cannot decode {}: {e}", ty.url()),
    })
}

/// Decodes, converts and validates one resource of type `ty`. Policies are also compiled against
/// `labels` (the workload's), so anything the policy engine would refuse is NACKed here instead of
/// failing when the proxy swaps the new state in. (Compilation only checks policies that select
/// `labels`; the conversion checks regexes and values of every policy regardless.)
pub fn decode_resource(
    ty: ResourceType,
    any: &Any,
    labels: &Labels,
) -> Result<(String, Converted), ResourceError> {
    match ty {
        ResourceType::Cluster => {
            let c: Cluster = decode_as(any, ty)?;
            let conv = cluster::cluster_to_domain(&c)
                .map_err(|e| ResourceError::named(&c.name, e.to_string()))?;
            Ok((c.name, Converted::Cluster(conv)))
        }
        ResourceType::Endpoint => {
            let c: ClusterLoadAssignment = decode_as(any, ty)?;
            let conv = cluster::endpoint_to_domain(&c)
                .map_err(|e| ResourceError::named(&c.cluster_name, e.to_string()))?;
            Ok((c.cluster_name, Converted::Endpoint(conv)))
        }
        ResourceType::Listener => {
            let l: Listener = decode_as(any, ty)?;
            let conv = listener::listener_to_domain(&l)
                .map_err(|e| ResourceError::named(&l.name, e.to_string()))?;
            Ok((l.name, Converted::Listener(conv)))
        }
        ResourceType::Secret => {
            let s: Secret = decode_as(any, ty)?;
            let conv = secret::secret_to_domain(&s)
                .map_err(|e| ResourceError::named(&s.name, e.to_string()))?;
            Ok((s.name, Converted::Secret(conv)))
        }
        ResourceType::NetworkPolicy => {
            let p: proto::NetworkPolicy = decode_as(any, ty)?;
            let name = if p.namespace.is_empty() {
                p.name.clone()
            } else {
                format!("{}/{}", p.namespace, p.name)
            };
            let model =
                policy::to_model(&p).map_err(|e| ResourceError::named(&name, e.to_string()))?;
            CompiledPolicy::compile(std::slice::from_ref(&model), labels)
                .map_err(|e| ResourceError::named(&name, e.to_string()))?;
            Ok((name, Converted::Policy(std::sync::Arc::new(model))))
        }
        ResourceType::Route => Err(ResourceError {
            name: None,
            message: "RouteConfiguration is not consumed by the sidecar; do not send it".into(),
        }),
    }
}
