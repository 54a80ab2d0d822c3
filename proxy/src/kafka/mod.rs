//! The Kafka codec: what the proxy reads of a Kafka client's bytes, and the answers it makes
//! itself. Pure: no sockets, so it is tested over every API key and version kafka-protocol knows
//! and fuzzed alone (`fuzzing::kafka`).
//!
//! What is read, and when:
//! - every request: its frame ([`FrameReader`]: an i32 length prefix, bounded by
//!   `socket.request.max.bytes`) and its header ([`Request::parse`]: key, version, correlation
//!   id, client id; header v1 or v2 by key and version). That is enough for rules on API key,
//!   version and client id ([`RequestView::from_header`]).
//! - a request body, only when a rule on the port needs what it carries (topics, groups,
//!   transactional ids) or the proxy denies it ([`Request::decode_body`], kafka-protocol at the
//!   request's version; [`RequestView::new`]).
//! - responses are relayed without being read, except the few the proxy must rewrite (Metadata,
//!   FindCoordinator, DescribeCluster, ApiVersions: later steps).
//!
//! An allowed request is forwarded as the client's own bytes ([`Frame::bytes`]), never
//! re-encoded: what the broker reads is what policy was shown. A denied one gets a response the
//! proxy encodes for its key and version ([`deny`]).
//!
//! Failures: every reader returns a [`KafkaError`], never panics. The one failure-to-answer map
//! (`failure.rs`) has no Kafka column yet: a Kafka client cannot be answered for a frame the
//! proxy cannot read (it closes the connection, as the broker does), and a denial's answer
//! depends on the request's key and body, not on the failure alone, so it lives in [`deny`].
//!
//! kafka-protocol 0.18 as released pre-allocates a `Vec` of the declared length of every array
//! it decodes, before reading an element: a body that declares 2^31-1 elements made it ask for
//! hundreds of GiB, and a failed allocation aborts the process. The workspace uses a patched
//! copy that refuses such a count (`third_party/kafka-protocol/SOCKMESH-PATCH.md`); see
//! `tests/hostile.rs`.

mod acks;
pub mod addresses;
mod api;
mod body;
mod broker_names;
pub mod brokers;
pub mod conn;
pub mod deny;
mod error;
mod frame;
mod header;
pub mod narrowed;
pub mod rewrite;
pub mod topic_ids;
pub mod view;

#[cfg(test)]
mod tests;

pub use api::{
    key_name, known_versions, knows_version, request_header_version, response_header_version,
};
pub use deny::{Denial, Refusal, Scope, deny};
pub use error::KafkaError;
pub use frame::{DEFAULT_MAX_FRAME, Frame, FrameReader, framed};
pub use header::{Request, RequestHeader};
pub use view::{RequestView, Topics};
