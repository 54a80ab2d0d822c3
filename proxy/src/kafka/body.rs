//! Decoding a request body with kafka-protocol, only when something needs what it carries.
//!
//! Most requests never get here: a port whose rules name only API keys or client ids is decided
//! on the header, and the frame is forwarded as it came. A body is decoded when a rule needs its
//! topics (or group / transactional id), and when the proxy denies the request and must echo its
//! topics and partitions in the answer. Either way the decoded struct is only read: the bytes
//! forwarded are always the client's own.
//!
//! Bytes after the body are left alone, as Apache Kafka's broker leaves them (its request
//! parser reads the schema of the key and version and ignores the rest of the frame), so a
//! broker following the schema reads exactly what policy read. Clients do send them:
//! librdkafka 2.16's AdminClient writes Metadata v12 with v10's
//! `include_cluster_authorized_operations` still in it (3 bytes more than v12 has), and a
//! proxy refusing that would refuse the client.

use kafka_protocol::messages::RequestKind;

use super::{KafkaError, Request};

impl Request {
    /// The body, decoded at the request's version.
    pub fn decode_body(&self) -> Result<RequestKind, KafkaError> {
        let key = self.header.api_key;
        let version = self.header.api_version;
        let mut body = self.body.clone();
        let decoded =
            RequestKind::decode(key, &mut body, version).map_err(|e| KafkaError::Body {
                api_key: key as i16,
                api_version: version,
                reason: format!("{e:#}"),
            })?;
        Ok(decoded)
    }
}
