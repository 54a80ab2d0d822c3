//! The client's accepted resources and the [`DomainState`] built from them.
//!
//! Kept apart from the transport so partial apply (ztunnel's behaviour: valid resources of a
//! response apply, rejected ones keep their previous version) is plain, testable data manipulation.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use envoy_types::pb::envoy::service::discovery::v3::Resource;
use envoy_types::pb::google::protobuf::Any;
use serde::Serialize;
use sockmesh_policy::Labels;
use sockmesh_policy::model::Policy;

use crate::convert::{Converted, ResourceError, decode_resource};
use crate::domain;
use crate::types::ResourceType;

/// Everything the control plane has configured and the sidecar accepted, ready for the proxy.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DomainState {
    /// Ordered by resource name (`namespace/name`), so compiling is deterministic. Shared with
    /// the client's store: publishing a state copies no model.
    pub policies: Vec<std::sync::Arc<Policy>>,
    /// EDS clusters carry the endpoints of their `ClusterLoadAssignment` (empty until it arrives).
    pub clusters: Vec<domain::Cluster>,
    pub listeners: Vec<domain::Listener>,
    pub secrets: Vec<domain::Secret>,
    /// Bumped whenever the corresponding part changed, so consumers can skip work (recompiling
    /// every policy because a listener changed, say) by comparing with the last one they applied.
    pub generations: Generations,
}

/// Change counters of the parts of a [`DomainState`]; start at 0 (empty) and only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Generations {
    pub policies: u64,
    /// Clusters and their endpoints.
    pub clusters: u64,
    pub listeners: u64,
    pub secrets: u64,
}

#[derive(Debug, Clone)]
struct Entry {
    version: String,
    value: Converted,
    /// The payload as received: an identical payload later is not converted and validated again
    /// (SotW resends every resource of a type on each change; validation compiles regexes).
    raw: Vec<u8>,
    /// `hash_bytes(raw)`, kept so a SotW response does not hash every held payload again.
    raw_hash: u64,
}

impl Entry {
    fn new(version: String, value: Converted, raw: Vec<u8>) -> Entry {
        Entry {
            version,
            value,
            raw_hash: hash_bytes(&raw),
            raw,
        }
    }
}

fn hash_bytes(b: &[u8]) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    b.hash(&mut h);
    h.finish()
}

/// Accepted resources of one type.
#[derive(Debug, Default)]
pub(crate) struct TypeStore {
    resources: BTreeMap<String, Entry>,
    /// SotW: the last fully accepted `version_info`; delta: the last `system_version_info`.
    pub(crate) accepted_version: String,
}

/// What applying one response did.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    pub(crate) errors: Vec<ResourceError>,
    pub(crate) changed: bool,
}

impl Applied {
    /// The NACK `error_detail` message: every rejected resource and why.
    pub(crate) fn error_message(&self) -> Option<String> {
        (!self.errors.is_empty()).then(|| {
            let parts: Vec<String> = self.errors.iter().map(ToString::to_string).collect();
            format!("{} resource(s) rejected: {}", parts.len(), parts.join("; "))
        })
    }
}

/// All accepted resources, by type.
#[derive(Debug, Default)]
pub(crate) struct Store {
    types: BTreeMap<ResourceType, TypeStore>,
    labels: Labels,
    generations: Generations,
}

impl Store {
    pub(crate) fn new(labels: Labels) -> Store {
        Store {
            types: BTreeMap::new(),
            labels,
            generations: Generations::default(),
        }
    }

    pub(crate) fn accepted_version(&self, ty: ResourceType) -> &str {
        self.types
            .get(&ty)
            .map_or("", |t| t.accepted_version.as_str())
    }

    pub(crate) fn len(&self, ty: ResourceType) -> usize {
        self.types.get(&ty).map_or(0, |t| t.resources.len())
    }

    /// `name -> version` of what is held, for delta's `initial_resource_versions`.
    pub(crate) fn known_versions(&self, ty: ResourceType) -> HashMap<String, String> {
        self.types.get(&ty).map_or_else(HashMap::new, |t| {
            t.resources
                .iter()
                .map(|(n, e)| (n.clone(), e.version.clone()))
                .collect()
        })
    }

    /// Applies a state-of-the-world response: the valid resources replace or add; names absent from
    /// the response are removed, except rejected ones (their old version stays) and except when some
    /// resource could not be decoded far enough to read its name (it might be any of them).
    pub(crate) fn apply_sotw(
        &mut self,
        ty: ResourceType,
        resources: &[Any],
        version: &str,
    ) -> Applied {
        let mut applied = Applied::default();
        // `None`: identical to the held payload (nothing to convert or validate again).
        let mut decoded: BTreeMap<String, Option<(Converted, Vec<u8>)>> = BTreeMap::new();
        let mut seen = BTreeSet::new();
        let mut rejected = BTreeSet::new();
        let mut unnamed_failure = false;
        let known: HashMap<u64, (&String, &Entry)> = self
            .types
            .get(&ty)
            .map(|t| {
                t.resources
                    .iter()
                    .map(|(n, e)| (e.raw_hash, (n, e)))
                    .collect()
            })
            .unwrap_or_default();
        for any in resources {
            let hit = known
                .get(&hash_bytes(&any.value))
                .filter(|(_, e)| e.raw == any.value && any.type_url == ty.url())
                .map(|(n, _)| (*n).clone());
            let result = match hit {
                Some(name) => Ok((name, None)),
                None => decode_resource(ty, any, &self.labels)
                    .map(|(name, value)| (name, Some((value, any.value.clone())))),
            };
            match result {
                Ok((name, value)) => {
                    if !seen.insert(name.clone()) {
                        decoded.remove(&name);
                        rejected.insert(name.clone());
                        applied.errors.push(ResourceError::named(
                            &name,
                            "duplicate resource name in one response; each name must appear once",
                        ));
                    } else if !rejected.contains(&name) {
                        decoded.insert(name, value);
                    }
                }
                Err(e) => {
                    match &e.name {
                        Some(n) => {
                            seen.insert(n.clone());
                            rejected.insert(n.clone());
                            decoded.remove(n);
                        }
                        None => unnamed_failure = true,
                    }
                    applied.errors.push(e);
                }
            }
        }
        drop(known);
        let store = self.types.entry(ty).or_default();
        if !unnamed_failure {
            let before = store.resources.len();
            store
                .resources
                .retain(|name, _| seen.contains(name) || rejected.contains(name));
            applied.changed |= store.resources.len() != before;
        }
        for (name, value) in decoded {
            match value {
                None => {
                    if let Some(e) = store.resources.get_mut(&name) {
                        e.version = version.to_owned();
                    }
                }
                Some((value, raw)) => {
                    // Same content in different bytes (map order) is not a change.
                    applied.changed |= store.resources.get(&name).is_none_or(|e| e.value != value);
                    store
                        .resources
                        .insert(name, Entry::new(version.to_owned(), value, raw));
                }
            }
        }
        if applied.errors.is_empty() {
            store.accepted_version = version.to_owned();
        }
        applied
    }

    /// Applies a delta response: valid resources upsert with their own versions, `removed` names go,
    /// rejected ones keep their previous version.
    pub(crate) fn apply_delta(
        &mut self,
        ty: ResourceType,
        resources: &[Resource],
        removed: &[String],
        system_version: &str,
    ) -> Applied {
        let mut applied = Applied::default();
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for r in resources {
            *counts.entry(r.name.as_str()).or_default() += 1;
        }
        let store = self.types.entry(ty).or_default();
        for r in resources {
            if counts.get(r.name.as_str()).copied().unwrap_or(0) > 1 {
                if !applied
                    .errors
                    .iter()
                    .any(|e| e.name.as_deref() == Some(&r.name))
                {
                    applied.errors.push(ResourceError::named(
                        &r.name,
                        "duplicate resource name in one response; each name must appear once",
                    ));
                }
                continue;
            }
            let Some(any) = &r.resource else {
                applied.errors.push(ResourceError::named(
                    &r.name,
                    "no resource payload; to remove a resource, list it in removed_resources",
                ));
                continue;
            };
            if let Some(e) = store.resources.get_mut(&r.name)
                && e.raw == any.value
                && any.type_url == ty.url()
            {
                e.version = r.version.clone();
                continue;
            }
            match decode_resource(ty, any, &self.labels) {
                Ok((name, value)) if name == r.name => {
                    applied.changed |= store.resources.get(&name).is_none_or(|e| e.value != value);
                    store.resources.insert(
                        name,
                        Entry::new(r.version.clone(), value, any.value.clone()),
                    );
                }
                Ok((name, _)) => applied.errors.push(ResourceError::named(
                    &r.name,
                    format!("the payload is named `{name}`, not `{}`", r.name),
                )),
                Err(mut e) => {
                    e.name = Some(r.name.clone());
                    applied.errors.push(e);
                }
            }
        }
        for name in removed {
            applied.changed |= store.resources.remove(name).is_some();
        }
        store.accepted_version = system_version.to_owned();
        applied
    }

    /// Records that `ty` changed (after an apply that reported a change).
    pub(crate) fn bump(&mut self, ty: ResourceType) {
        let g = &mut self.generations;
        match ty {
            ResourceType::NetworkPolicy => g.policies += 1,
            ResourceType::Cluster | ResourceType::Endpoint => g.clusters += 1,
            ResourceType::Listener | ResourceType::Route => g.listeners += 1,
            ResourceType::Secret => g.secrets += 1,
        }
    }

    /// The domain state the proxy consumes.
    pub(crate) fn domain_state(&self) -> DomainState {
        let values = |ty| {
            self.types
                .get(&ty)
                .into_iter()
                .flat_map(|t: &TypeStore| t.resources.values().map(|e| &e.value))
        };
        let endpoints: HashMap<&str, &Vec<std::net::SocketAddr>> = values(ResourceType::Endpoint)
            .filter_map(|v| match v {
                Converted::Endpoint(e) => Some((e.cluster_name.as_str(), &e.endpoints)),
                _ => None,
            })
            .collect();
        let mut state = DomainState {
            generations: self.generations,
            ..DomainState::default()
        };
        for v in values(ResourceType::Cluster) {
            if let Converted::Cluster(c) = v {
                let mut cluster = c.cluster.clone();
                if let Some(service) = &c.eds_service {
                    cluster.endpoints = endpoints
                        .get(service.as_str())
                        .map(|e| (*e).clone())
                        .unwrap_or_default();
                }
                state.clusters.push(cluster);
            }
        }
        for v in values(ResourceType::Listener) {
            if let Converted::Listener(Some(l)) = v {
                state.listeners.push(l.clone());
            }
        }
        for v in values(ResourceType::Secret) {
            if let Converted::Secret(s) = v {
                state.secrets.push(s.clone());
            }
        }
        for v in values(ResourceType::NetworkPolicy) {
            if let Converted::Policy(p) = v {
                state.policies.push(std::sync::Arc::clone(p));
            }
        }
        state
    }
}
