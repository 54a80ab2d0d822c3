//! An immutable set of resources the control plane serves, with content-derived versions.
//!
//! Versions are hashes of the encoded resources, so an unchanged file yields unchanged versions
//! (no pushes for touch-only edits), a restarted control plane hands out the same versions for the
//! same content (delta clients that reconnect with `initial_resource_versions` get nothing resent),
//! and a SotW type version is a hash over exactly the resources a subscriber asked for.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use envoy_types::pb::google::protobuf::Any;

use crate::types::ResourceType;

/// One resource and its version.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned {
    pub version: String,
    pub any: Any,
}

/// What the control plane serves right now. Equality compares names and versions only: two
/// snapshots with the same content are equal even when map-order made their bytes differ.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    types: BTreeMap<ResourceType, BTreeMap<String, Versioned>>,
}

fn hex(h: u64) -> String {
    format!("{h:016x}")
}

impl Snapshot {
    /// Adds (or replaces) a resource; its version is derived from its bytes.
    pub fn insert(&mut self, ty: ResourceType, name: impl Into<String>, any: Any) {
        let mut h = DefaultHasher::new();
        any.type_url.hash(&mut h);
        any.value.hash(&mut h);
        self.types.entry(ty).or_default().insert(
            name.into(),
            Versioned {
                version: hex(h.finish()),
                any,
            },
        );
    }

    /// Adds (or replaces) a resource whose version derives from `seed` (a canonical description of
    /// its content) instead of its bytes, for messages whose encoding is not deterministic.
    pub fn insert_seeded(
        &mut self,
        ty: ResourceType,
        name: impl Into<String>,
        any: Any,
        seed: &str,
    ) {
        let mut h = DefaultHasher::new();
        any.type_url.hash(&mut h);
        seed.hash(&mut h);
        self.types.entry(ty).or_default().insert(
            name.into(),
            Versioned {
                version: hex(h.finish()),
                any,
            },
        );
    }

    /// Adds every resource of `other` (replacing same-named ones).
    pub fn merge(&mut self, other: &Snapshot) {
        for (ty, resources) in &other.types {
            let mine = self.types.entry(*ty).or_default();
            for (name, v) in resources {
                mine.insert(name.clone(), v.clone());
            }
        }
    }

    /// Whether a resource of that name exists.
    pub fn contains(&self, ty: ResourceType, name: &str) -> bool {
        self.types.get(&ty).is_some_and(|m| m.contains_key(name))
    }

    /// All resources of a type, by name.
    pub fn resources(&self, ty: ResourceType) -> impl Iterator<Item = (&String, &Versioned)> {
        self.types.get(&ty).into_iter().flatten()
    }

    /// The resources a subscriber gets: all for a wildcard (`None`), else the named ones that exist.
    pub fn select<'a>(
        &'a self,
        ty: ResourceType,
        names: Option<&'a BTreeSet<String>>,
    ) -> impl Iterator<Item = (&'a String, &'a Versioned)> + 'a {
        self.resources(ty)
            .filter(move |(n, _)| names.is_none_or(|names| names.contains(*n)))
    }

    /// The SotW `version_info` for a selection: a hash over its names and versions.
    pub fn version(&self, ty: ResourceType, names: Option<&BTreeSet<String>>) -> String {
        let mut h = DefaultHasher::new();
        for (n, v) in self.select(ty, names) {
            n.hash(&mut h);
            v.version.hash(&mut h);
        }
        hex(h.finish())
    }

    /// Number of resources of a type.
    pub fn len(&self, ty: ResourceType) -> usize {
        self.types.get(&ty).map_or(0, BTreeMap::len)
    }
}

impl PartialEq for Snapshot {
    fn eq(&self, other: &Snapshot) -> bool {
        let key = |s: &Snapshot| -> Vec<(ResourceType, String, String)> {
            s.types
                .iter()
                .flat_map(|(t, m)| m.iter().map(|(n, v)| (*t, n.clone(), v.version.clone())))
                .collect()
        };
        key(self) == key(other)
    }
}
