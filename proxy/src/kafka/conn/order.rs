//! What the request half tells the response half, in the order the client sent its requests:
//! Kafka clients match responses to requests by correlation id but expect them in the order
//! they asked (the broker answers one connection in order), so the proxy's own answers wait
//! their turn behind the broker's.

use std::time::Instant;

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use sockmesh_policy::RuleId;
use tokio::sync::OwnedSemaphorePermit;

/// One request's turn.
pub(super) enum Pending {
    /// The broker answers this request.
    Broker(Expect),
    /// The proxy answers (a denial), this frame; `room` is its share of the connection's
    /// budget for queued answers, given back once it is written.
    Local {
        frame: Bytes,
        line: Line,
        room: OwnedSemaphorePermit,
    },
    /// The proxy answers by closing the connection once the earlier responses are out (a denied
    /// Produce with acks=0 expects no response; the broker closes too).
    Close { line: Line },
}

/// A response the broker owes.
pub(super) struct Expect {
    pub correlation_id: i32,
    pub api_version: i16,
    /// The request's client id, when a response is read against policy (Metadata filtered).
    pub client_id: Option<String>,
    /// What the proxy reads of the response.
    pub read: Read,
    pub line: Line,
}

/// What the proxy does with a broker's response before relaying it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Read {
    /// Nothing: relayed as it streams in.
    Relay,
    /// ApiVersions: the versions offered are cut to what the proxy reads.
    ApiVersions,
    /// Metadata, FindCoordinator, DescribeCluster: topic ids are learned, and in explicit mode
    /// broker addresses replaced by the sidecar's.
    Addresses {
        key: ApiKey,
        /// Cut a Metadata answer to the topics the workload may touch.
        filter: bool,
    },
    /// A denied Metadata request the broker got narrowed ([`crate::kafka::narrowed`]): the
    /// answer is cut as for `Addresses`, and these topics added as refused.
    Narrowed(Vec<crate::kafka::narrowed::Refused>),
}

/// What the access-log line of a request says, gathered when the request was read.
pub(super) struct Line {
    pub api_key: Option<ApiKey>,
    pub raw_key: i16,
    pub api_version: i16,
    /// The client id (for the log; empty when the log is off).
    pub client_id: String,
    /// The topics named (for the log; empty when the log is off or the body was not read).
    pub topics: String,
    pub allowed: bool,
    pub rule: RuleId,
    /// The error code the proxy answered with (0 when the broker answers).
    pub error_code: i16,
    pub started: Instant,
    pub bytes_in: usize,
}
