//! Topic ids the sidecar has seen in Metadata responses, shared by every Kafka connection.
//!
//! Requests from Produce v13 and Fetch v13 on name topics by id (a UUID), not by name, and
//! policy is written with names. A client learns a topic's id from a Metadata response before
//! it uses it; the proxy reads the same response on its way to the client and keeps the pair,
//! so any connection of the sidecar can turn the id back into the name. An id the table does
//! not hold is never allowed blind: the request gets UNKNOWN_TOPIC_ID, which makes the client
//! refresh its metadata (through the proxy) and retry.
//!
//! Bounded: past [`MAX_IDS`] the oldest learned pair makes room. A topic deleted and created
//! again has a new id; the old pair stays until pushed out, and names the same topic.

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
    names: HashMap<Uuid, StrBytes>,
    /// Learned order, oldest first.
    order: VecDeque<Uuid>,
}

impl TopicIds {
    /// Remembers that `id` is the topic `name`.
    pub fn learn(&self, id: Uuid, name: &StrBytes) {
        if id.is_nil() || name.is_empty() {
            return;
        }
        let mut t = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(known) = t.names.get_mut(&id) {
            if known != name {
                *known = name.clone();
            }
            return;
        }
        while t.order.len() >= MAX_IDS {
            if let Some(old) = t.order.pop_front() {
                t.names.remove(&old);
            }
        }
        t.names.insert(id, name.clone());
        t.order.push_back(id);
    }

    /// The name of topic `id`, if a Metadata response told it.
    pub fn name(&self, id: Uuid) -> Option<StrBytes> {
        let t = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        t.names.get(&id).cloned()
    }

    pub fn len(&self) -> usize {
        let t = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        t.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_named_once_learned_and_the_table_is_bounded() {
        let t = TopicIds::default();
        let id = Uuid::from_u128(7);
        assert_eq!(t.name(id), None);
        t.learn(id, &StrBytes::from_static_str("orders"));
        t.learn(Uuid::nil(), &StrBytes::from_static_str("nil"));
        assert_eq!(t.name(id).as_deref(), Some("orders"));
        assert_eq!(t.len(), 1);
        for i in 0..MAX_IDS as u128 + 5 {
            t.learn(Uuid::from_u128(1000 + i), &StrBytes::from_static_str("t"));
        }
        assert_eq!(t.len(), MAX_IDS);
        assert_eq!(t.name(id), None, "the oldest made room");
    }
}
