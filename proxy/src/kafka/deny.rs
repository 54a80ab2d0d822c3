//! Answering a request the proxy will not forward: one place picks the error for the API key
//! and builds the response, the way linkerd2-proxy's `errors/respond.rs` does for HTTP.
//!
//! A Kafka client cannot be sent a generic "forbidden": it expects the response of the API key
//! and version it asked with, correlated by id, and reads the error where that response keeps
//! it. So a denial is a real response, encoded by kafka-protocol at the request's version:
//!
//! | the key is about | error | where it goes |
//! | --- | --- | --- |
//! | topics ([`Scope::Topic`]) | TOPIC_AUTHORIZATION_FAILED (29) | every topic / partition the request named, echoed so the client can match them; the top-level code, if any, stays 0 |
//! | a group ([`Scope::Group`]) | GROUP_AUTHORIZATION_FAILED (30) | the top-level code, or per group |
//! | a transactional id ([`Scope::Transaction`]) | TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53) | the top-level code, or per id |
//! | anything else ([`Scope::Cluster`]) | CLUSTER_AUTHORIZATION_FAILED (31) | the top-level code, or per item |
//!
//! A request that names a topic id the proxy does not know gets UNKNOWN_TOPIC_ID (100) the same
//! way ([`Refusal::UnknownTopicId`]). OffsetCommit, OffsetFetch, TxnOffsetCommit and OffsetDelete
//! carry topics and a group: their rules are topic rules, so a denial says which topics (as the
//! broker does when the group is allowed and a topic is not); an OffsetFetch for all of a group's
//! topics has none to name and gets the group error. A Produce with `acks=0` gets no response at
//! all (the client reads none): the connection is closed, as the broker does when such a write
//! fails ([`Denial::Close`]).

mod echo;
mod items;
mod plain;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{RequestKind, ResponseKind};

use super::view::{COORDINATOR_TRANSACTION, RESOURCE_TOPIC};
use super::{KafkaError, Request, api, frame};

/// Why the proxy answers instead of forwarding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Policy denied the request.
    Denied,
    /// The request names a topic id that no topic the proxy knows has.
    UnknownTopicId,
}

/// What a denial is about, by API key: it picks the error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Topic,
    Group,
    Transaction,
    Cluster,
}

/// What to do with the client instead of forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// Send this frame (length prefix, response header, body).
    Respond(Bytes),
    /// Close the connection: the request expects no response.
    Close,
}

/// What a request of this key is about. FindCoordinator and InitProducerId depend on the body:
/// a transaction coordinator, or a transactional producer id, is about a transactional id.
pub fn scope(body: &RequestKind) -> Scope {
    use RequestKind as K;
    match body {
        K::Produce(_)
        | K::Fetch(_)
        | K::ListOffsets(_)
        | K::Metadata(_)
        | K::OffsetCommit(_)
        | K::OffsetDelete(_)
        | K::CreateTopics(_)
        | K::DeleteTopics(_)
        | K::DeleteRecords(_)
        | K::OffsetForLeaderEpoch(_)
        | K::AddPartitionsToTxn(_)
        | K::TxnOffsetCommit(_)
        | K::CreatePartitions(_)
        | K::ElectLeaders(_)
        | K::AlterPartitionReassignments(_)
        | K::ListPartitionReassignments(_)
        | K::DescribeProducers(_)
        | K::AlterReplicaLogDirs(_)
        | K::DescribeTopicPartitions(_)
        | K::ShareFetch(_)
        | K::ShareAcknowledge(_) => Scope::Topic,
        K::OffsetFetch(r) if r.topics.is_none() && r.groups.iter().all(|g| g.topics.is_none()) => {
            Scope::Group
        }
        K::OffsetFetch(_) => Scope::Topic,
        K::FindCoordinator(r) if r.key_type == COORDINATOR_TRANSACTION => Scope::Transaction,
        K::FindCoordinator(_)
        | K::JoinGroup(_)
        | K::SyncGroup(_)
        | K::Heartbeat(_)
        | K::LeaveGroup(_)
        | K::DescribeGroups(_)
        | K::DeleteGroups(_)
        | K::ConsumerGroupHeartbeat(_)
        | K::ConsumerGroupDescribe(_)
        | K::ShareGroupHeartbeat(_)
        | K::ShareGroupDescribe(_)
        | K::DescribeShareGroupOffsets(_)
        | K::AlterShareGroupOffsets(_)
        | K::DeleteShareGroupOffsets(_) => Scope::Group,
        K::InitProducerId(r) if r.transactional_id.is_none() => Scope::Cluster,
        K::InitProducerId(_)
        | K::AddOffsetsToTxn(_)
        | K::EndTxn(_)
        | K::DescribeTransactions(_) => Scope::Transaction,
        // Config keys answer per resource: see `items::configs`.
        _ => Scope::Cluster,
    }
}

/// The error code a refusal of a request in this scope carries.
pub fn error_code(scope: Scope, refusal: Refusal) -> i16 {
    let error = match (refusal, scope) {
        (Refusal::UnknownTopicId, _) => ResponseError::UnknownTopicId,
        (Refusal::Denied, Scope::Topic) => ResponseError::TopicAuthorizationFailed,
        (Refusal::Denied, Scope::Group) => ResponseError::GroupAuthorizationFailed,
        (Refusal::Denied, Scope::Transaction) => ResponseError::TransactionalIdAuthorizationFailed,
        (Refusal::Denied, Scope::Cluster) => ResponseError::ClusterAuthorizationFailed,
    };
    error.code()
}

/// The error for a config resource: topics are topic-scoped, brokers and the rest cluster.
pub(crate) fn resource_code(resource_type: i8, refusal: Refusal) -> i16 {
    let scope = if resource_type == RESOURCE_TOPIC {
        Scope::Topic
    } else {
        Scope::Cluster
    };
    error_code(scope, refusal)
}

/// The proxy's answer to `request` (whose decoded body is `body`), refused for `refusal`.
pub fn deny(request: &Request, body: &RequestKind, refusal: Refusal) -> Result<Denial, KafkaError> {
    if let RequestKind::Produce(r) = body
        && r.acks == 0
    {
        return Ok(Denial::Close);
    }
    let code = error_code(scope(body), refusal);
    let version = request.header.api_version;
    let response = echo::response(body, version, code)
        .or_else(|| items::response(body, version, code, refusal))
        .or_else(|| plain::response(body, code))
        .ok_or_else(|| KafkaError::Encode {
            api_key: request.header.api_key as i16,
            api_version: version,
            reason: "no denial response for this key".to_owned(),
        })?;
    encode(request, &response).map(Denial::Respond)
}

/// Frames a response: length prefix, response header (v0: correlation id; v1: then an empty
/// tagged field section), body at the request's version.
fn encode(request: &Request, response: &ResponseKind) -> Result<Bytes, KafkaError> {
    let header = &request.header;
    let failed = |reason: String| KafkaError::Encode {
        api_key: header.api_key as i16,
        api_version: header.api_version,
        reason,
    };
    let mut out = BytesMut::with_capacity(64);
    out.put_i32(0);
    out.put_i32(header.correlation_id);
    if api::response_header_version(header.api_key, header.api_version) >= 1 {
        out.put_u8(0);
    }
    response
        .encode(&mut out, header.api_version)
        .map_err(|e| failed(format!("{e:#}")))?;
    let len = out.len() - frame::PREFIX;
    let len = i32::try_from(len).map_err(|_| failed(format!("{len} bytes")))?;
    out[..frame::PREFIX].copy_from_slice(&len.to_be_bytes());
    Ok(out.freeze())
}
