//! Topic ids the sidecar has seen in Metadata responses, shared by every Kafka connection.
//!
//! Requests from Produce v13 and Fetch v13 on name topics by id (a UUID), not by name, and
//! policy is written with names. A client learns a topic's id from a Metadata response before
//! it uses it; the proxy reads the same response on its way to the client and keeps the pair,
//! so any connection of the sidecar can turn the id back into the name. An id the table does
//! not hold is never allowed blind: the request gets UNKNOWN_TOPIC_ID, which makes the client
//! refresh its metadata (through the proxy) and retry.
//!
//! Ids are kept per cluster: per Kafka listener in explicit mode (the bootstrap one; its broker
//! listeners share it), per destination under interception (`conn/scope.rs`), so that what one
//! server's Metadata says never names another cluster's ids. Any server an
//! allowed port leads to can answer Metadata; within a cluster the first name learned for an id
//! stays (an id never names two topics: a topic made again gets a new id), so a later answer
//! cannot rename an id to a topic policy allows.
//!
//! Bounded: past [`MAX_IDS`] the oldest learned pair makes room.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

/// How many (id, name) pairs the table keeps.
pub const MAX_IDS: usize = 100_000;

#[derive(Debug, Default)]
pub struct TopicIds {
    inner: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    /// id → (cluster, name) for each cluster that named it.
    names: HashMap<Uuid, Vec<(Box<str>, StrBytes)>>,
    /// Learned order, oldest first.
    order: VecDeque<(Uuid, Box<str>)>,
    len: usize,
}

impl TopicIds {
    /// Remembers that in `cluster`, `id` is the topic `name` (unless `cluster` named it already).
    pub fn learn(&self, cluster: &str, id: Uuid, name: &StrBytes) {
        if id.is_nil() || name.is_empty() {
            return;
        }
        let mut t = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if t.names
            .get(&id)
            .is_some_and(|v| v.iter().any(|(c, _)| &**c == cluster))
        {
            return;
        }
        while t.len >= MAX_IDS {
            let Some((old, c)) = t.order.pop_front() else {
                break;
            };
            if let Some(v) = t.names.get_mut(&old) {
                v.retain(|(k, _)| *k != c);
                if v.is_empty() {
                    t.names.remove(&old);
                }
            }
            t.len -= 1;
        }
        t.names
            .entry(id)
            .or_default()
            .push((cluster.into(), name.clone()));
        t.order.push_back((id, cluster.into()));
        t.len += 1;
    }

    /// The name of topic `id` in `cluster`, if a Metadata answer there told it.
    pub fn name(&self, cluster: &str, id: Uuid) -> Option<StrBytes> {
        let t = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        t.names
            .get(&id)?
            .iter()
            .find(|(c, _)| &**c == cluster)
            .map(|(_, n)| n.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_named_per_cluster_once_and_the_table_is_bounded() {
        let t = TopicIds::default();
        let id = Uuid::from_u128(7);
        let name = StrBytes::from_static_str;
        assert_eq!(t.name("a", id), None);
        t.learn("a", id, &name("secret"));
        t.learn("a", Uuid::nil(), &name("nil"));
        // Another cluster's answer (any server an allowed port leads to) names nothing in "a",
        // and a later answer in "a" does not rename the id.
        t.learn("b", id, &name("orders"));
        t.learn("a", id, &name("orders"));
        assert_eq!(t.name("a", id).as_deref(), Some("secret"));
        assert_eq!(t.name("b", id).as_deref(), Some("orders"));
        for i in 0..MAX_IDS as u128 + 5 {
            t.learn("a", Uuid::from_u128(1000 + i), &name("t"));
        }
        assert_eq!(t.name("a", id), None, "the oldest made room");
        assert_eq!(t.name("b", id), None, "the oldest made room");
        assert!(
            t.name("a", Uuid::from_u128(1000 + MAX_IDS as u128))
                .is_some()
        );
    }
}
