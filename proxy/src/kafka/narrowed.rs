//! A denied Metadata request, asked of the broker narrowed to the topics policy allows.
//!
//! A Metadata answer is how a client finds the brokers, not only the topics: a client told
//! "no brokers" ignores the whole answer (kafka-python retries until its timeout, never
//! raising the authorization error). So a Metadata request that names a denied topic is not
//! answered by the proxy alone. The broker gets a request the proxy writes in its place: the
//! same header, only the allowed topics it named (an empty list: brokers only), topic
//! creation off. The broker never sees the denied names (a broker that creates topics on
//! Metadata would create them), and the client gets the broker's brokers with each denied
//! topic marked TOPIC_AUTHORIZATION_FAILED ([`super::addresses::Addressed::refuse_topics`]),
//! which is what Kafka's own authorizer answers.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{MetadataRequest, RequestHeader, RequestKind};
use kafka_protocol::protocol::{Encodable, StrBytes};

use super::{KafkaError, Request, request_header_version};

/// The request to send in place of `request` (its decoded body `body`), and the names it
/// left out; `None` when `request` is no Metadata request.
pub fn narrowed(
    request: &Request,
    body: &RequestKind,
    mut allowed: impl FnMut(&str) -> bool,
) -> Option<Result<(Bytes, Vec<String>), KafkaError>> {
    let RequestKind::Metadata(m) = body else {
        return None;
    };
    let mut kept = MetadataRequest::default();
    kept.allow_auto_topic_creation = false;
    kept.include_cluster_authorized_operations = m.include_cluster_authorized_operations;
    kept.include_topic_authorized_operations = m.include_topic_authorized_operations;
    let mut refused = Vec::new();
    let mut topics = Vec::new();
    for t in m.topics.iter().flatten() {
        match &t.name {
            Some(name) if allowed(name.0.as_str()) => topics.push(t.clone()),
            Some(name) => refused.push(name.0.to_string()),
            // By id only: left out (its name is unknown here; the caller refused unknown ids).
            None => {}
        }
    }
    kept.topics = Some(topics);
    Some(encode(request, &kept).map(|frame| (frame, refused)))
}

fn encode(request: &Request, body: &MetadataRequest) -> Result<Bytes, KafkaError> {
    let h = &request.header;
    let error = |reason: String| KafkaError::Encode {
        api_key: h.api_key as i16,
        api_version: h.api_version,
        reason,
    };
    let mut header = RequestHeader::default();
    header.request_api_key = h.api_key as i16;
    header.request_api_version = h.api_version;
    header.correlation_id = h.correlation_id;
    // The caller narrows only requests whose client id is UTF-8 (or null): written back as sent.
    header.client_id = h
        .client_id_str()
        .map(|c| StrBytes::from_string(c.to_owned()));
    let mut payload = BytesMut::new();
    header
        .encode(
            &mut payload,
            request_header_version(h.api_key, h.api_version),
        )
        .map_err(|e| error(format!("{e:#}")))?;
    body.encode(&mut payload, h.api_version)
        .map_err(|e| error(format!("{e:#}")))?;
    Ok(super::frame::framed(&payload))
}
