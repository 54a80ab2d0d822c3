//! What policy needs from a request: the request view.
//!
//! From the header alone: API key, version, correlation id, client id. From the body, when a
//! rule needs it: the topics the request names (by name, or by topic id where the version
//! carries ids: Produce and Fetch v13+, Metadata v10+, DeleteTopics v6+, OffsetCommit and
//! OffsetFetch v10, and the share and KRaft keys), whether it names every topic (Metadata with a
//! null list, OffsetFetch for all a group has, ...), and the group and transactional ids it acts
//! for, which decide the error a denial carries. One function per key reads the kafka-protocol
//! struct (`view/topics.rs`, `view/owners.rs`).
//!
//! The view is the proxy's own type: the policy crate's Kafka request type is filled from it by
//! the connection path, so neither crate depends on the other's shape.

mod owners;
mod topics;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestKind, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::RequestHeader;

/// ConfigResource type TOPIC (DescribeConfigs, AlterConfigs, IncrementalAlterConfigs).
pub(crate) const RESOURCE_TOPIC: i8 = 2;
/// FindCoordinator key type: a transactional id (0 is a group, 2 a share group).
pub(crate) const COORDINATOR_TRANSACTION: i8 = 1;

/// The topics a request names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topics {
    /// By name, each once, in request order.
    pub names: Vec<StrBytes>,
    /// By topic id (never the nil id), each once, in request order.
    pub ids: Vec<Uuid>,
    /// The request is about every topic (or every topic a pattern matches), not only these.
    pub all: bool,
}

impl Topics {
    /// A topic entry of a request: its name, its id, or both. An entry with neither (an empty
    /// name and the nil id) is kept as the empty name, so that policy sees a topic it cannot
    /// allow rather than a request with no topic.
    pub(crate) fn entry(&mut self, name: &TopicName, id: Uuid) {
        if !id.is_nil() {
            if !self.ids.contains(&id) {
                self.ids.push(id);
            }
            if name.0.is_empty() {
                return;
            }
        }
        self.name(name);
    }

    pub(crate) fn name(&mut self, name: &TopicName) {
        if !self.names.contains(&name.0) {
            self.names.push(name.0.clone());
        }
    }

    pub(crate) fn id(&mut self, id: Uuid) {
        self.entry(&TopicName::default(), id);
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.ids.is_empty() && !self.all
    }
}

/// A request as policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestView {
    pub api_key: ApiKey,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: Option<Bytes>,
    /// Empty unless the body was decoded.
    pub topics: Topics,
    /// Consumer or share group ids the request acts for.
    pub groups: Vec<StrBytes>,
    /// Transactional ids the request acts for.
    pub transactional_ids: Vec<StrBytes>,
    /// Whether the body was read (false: topics, groups and transactional ids are unknown, not
    /// absent).
    pub body_read: bool,
}

impl RequestView {
    /// The view from the header alone: enough for rules on API key, version and client id.
    pub fn from_header(header: &RequestHeader) -> RequestView {
        RequestView {
            api_key: header.api_key,
            api_version: header.api_version,
            correlation_id: header.correlation_id,
            client_id: header.client_id.clone(),
            topics: Topics::default(),
            groups: Vec::new(),
            transactional_ids: Vec::new(),
            body_read: false,
        }
    }

    /// The whole view, with what the decoded body names.
    pub fn new(header: &RequestHeader, body: &RequestKind) -> RequestView {
        let mut view = RequestView::from_header(header);
        view.topics = topics::of(body, header.api_version);
        let owners = owners::of(body);
        view.groups = owners.groups;
        view.transactional_ids = owners.transactional_ids;
        view.body_read = true;
        view
    }
}
