//! The xDS resource types Sockmesh speaks, by type URL.
//!
//! One enum instead of string constants scattered through the transport: the client subscribes to
//! [`ResourceType::SIDECAR`] in this order (clusters before endpoints, as Envoy does, so endpoint
//! updates never reference an unknown cluster), and the server refuses to guess about anything else.

use std::fmt;

/// Type URL of `envoy.config.cluster.v3.Cluster` (CDS).
pub const CLUSTER: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
/// Type URL of `envoy.config.endpoint.v3.ClusterLoadAssignment` (EDS).
pub const ENDPOINT: &str = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
/// Type URL of `envoy.config.listener.v3.Listener` (LDS).
pub const LISTENER: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
/// Type URL of `envoy.config.route.v3.RouteConfiguration` (RDS). Served for proxyless gRPC clients
/// only; the sidecar does not subscribe to it.
pub const ROUTE: &str = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
/// Type URL of `envoy.extensions.transport_sockets.tls.v3.Secret` (SDS).
pub const SECRET: &str = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";
/// Type URL of Sockmesh's own policy resource, [`crate::proto::NetworkPolicy`].
pub const NETWORK_POLICY: &str = "type.googleapis.com/sockmesh.policy.v1.NetworkPolicy";

/// A resource type Sockmesh knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceType {
    Cluster,
    Endpoint,
    Listener,
    Route,
    Secret,
    NetworkPolicy,
}

impl ResourceType {
    /// What a sidecar subscribes to, in subscription order.
    pub const SIDECAR: [ResourceType; 5] = [
        ResourceType::Cluster,
        ResourceType::Endpoint,
        ResourceType::Listener,
        ResourceType::Secret,
        ResourceType::NetworkPolicy,
    ];

    /// Everything the control plane serves.
    pub const ALL: [ResourceType; 6] = [
        ResourceType::Cluster,
        ResourceType::Endpoint,
        ResourceType::Listener,
        ResourceType::Route,
        ResourceType::Secret,
        ResourceType::NetworkPolicy,
    ];

    /// The full type URL.
    pub fn url(self) -> &'static str {
        match self {
            ResourceType::Cluster => CLUSTER,
            ResourceType::Endpoint => ENDPOINT,
            ResourceType::Listener => LISTENER,
            ResourceType::Route => ROUTE,
            ResourceType::Secret => SECRET,
            ResourceType::NetworkPolicy => NETWORK_POLICY,
        }
    }

    /// The type for a type URL, `None` for types Sockmesh does not serve or consume.
    pub fn from_url(url: &str) -> Option<ResourceType> {
        ResourceType::ALL.into_iter().find(|t| t.url() == url)
    }

    /// The short name used in logs and `/config_dump` (`cds`, `eds`, ...).
    pub fn short_name(self) -> &'static str {
        match self {
            ResourceType::Cluster => "cds",
            ResourceType::Endpoint => "eds",
            ResourceType::Listener => "lds",
            ResourceType::Route => "rds",
            ResourceType::Secret => "sds",
            ResourceType::NetworkPolicy => "npds",
        }
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_urls_round_trip_and_unknown_is_none() {
        for t in ResourceType::ALL {
            assert_eq!(ResourceType::from_url(t.url()), Some(t));
        }
        assert_eq!(ResourceType::from_url("type.googleapis.com/foo.Bar"), None);
        assert_eq!(ResourceType::from_url(""), None);
    }
}
