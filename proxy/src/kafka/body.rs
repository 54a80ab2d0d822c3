//! Decoding a request body with kafka-protocol, only when something needs what it carries.
//!
//! Most requests never get here: a port whose rules name only API keys or client ids is decided
//! on the header, and the frame is forwarded as it came. A body is decoded when a rule needs its
//! topics (or group / transactional id), and when the proxy denies the request and must echo its
//! topics and partitions in the answer. Either way the decoded struct is only read: the bytes
//! forwarded are always the client's own.
//!
//! A body must be consumed exactly: bytes left over after it are refused, since a broker that
//! read them differently could act on what policy never saw.

use bytes::Buf;
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
        if body.has_remaining() {
            return Err(KafkaError::TrailingBytes {
                api_key: key as i16,
                api_version: version,
                extra: body.remaining(),
            });
        }
        Ok(decoded)
    }
}
