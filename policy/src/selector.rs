//! Label selector matching against the sidecar's workload labels.
//!
//! Selection happens once, at compile time: the sidecar serves one workload, so a policy that does not
//! select it can be dropped entirely instead of being re-checked per connection.

use crate::model::{LabelOperator, LabelSelector, Policy};
use crate::request::Labels;

/// The label Cilium and Kubernetes put on every pod with its namespace.
pub const NAMESPACE_LABEL: &str = "io.kubernetes.pod.namespace";

impl LabelSelector {
    /// True for `{}`: selects everything.
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// Kubernetes semantics: every `matchLabels` pair and every expression must hold. Keys are
    /// compared without `k8s:`/`any:` prefixes.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v.as_str()))
            && self.match_expressions.iter().all(|e| {
                let value = labels.get(&e.key);
                match e.operator {
                    LabelOperator::In => value.is_some_and(|v| e.values.iter().any(|x| x == v)),
                    LabelOperator::NotIn => value.is_none_or(|v| e.values.iter().all(|x| x != v)),
                    LabelOperator::Exists => value.is_some(),
                    LabelOperator::DoesNotExist => value.is_none(),
                }
            })
    }
}

/// Whether `spec_selector` of `policy` selects the workload. A namespaced policy additionally only
/// selects workloads of its namespace when the workload's labels say which namespace it is in
/// (`io.kubernetes.pod.namespace`), as a CiliumNetworkPolicy does in a cluster.
pub fn selects(policy: &Policy, spec_selector: &LabelSelector, workload: &Labels) -> bool {
    if let (Some(ns), Some(own)) = (&policy.namespace, workload.get(NAMESPACE_LABEL))
        && !policy.clusterwide
        && ns != own
    {
        return false;
    }
    spec_selector.matches(workload)
}
