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
//!
//! Topics asked by id alone (Metadata v10 on) are judged by the name the sidecar learned for
//! the id: an allowed one stays in the request as asked, a denied one is refused with its name
//! and id, and one whose id nobody told the sidecar is answered UNKNOWN_TOPIC_ID, as a broker
//! answers an id it does not know. None of them is left out without a word.

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{MetadataRequest, RequestHeader, RequestKind};
use kafka_protocol::protocol::{Encodable, StrBytes};
use uuid::Uuid;

/// The name of a topic given neither name nor id (a broker answers it as the topic "").
static EMPTY: StrBytes = StrBytes::from_static_str("");

use super::{KafkaError, Request, request_header_version};

/// A topic the narrowed request left out, to be answered with `error` in its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Its name, when known (asked by name, or an id the sidecar learned).
    pub name: Option<String>,
    /// Its id, when it was asked by id (else nil).
    pub id: Uuid,
    pub error: i16,
}

/// The request to send in place of `request` (its decoded body `body`), and the topics it
/// left out; `None` when `request` is no Metadata request. `name_of` gives the name learned
/// for a topic id.
pub fn narrowed(
    request: &Request,
    body: &RequestKind,
    mut allowed: impl FnMut(&str) -> bool,
    name_of: impl Fn(Uuid) -> Option<StrBytes>,
) -> Option<Result<(Bytes, Vec<Refused>), KafkaError>> {
    let RequestKind::Metadata(m) = body else {
        return None;
    };
    let mut kept = MetadataRequest::default();
    kept.allow_auto_topic_creation = false;
    kept.include_cluster_authorized_operations = m.include_cluster_authorized_operations;
    kept.include_topic_authorized_operations = m.include_topic_authorized_operations;
    let mut refused = Vec::new();
    let mut topics = Vec::new();
    let denied = ResponseError::TopicAuthorizationFailed.code();
    for t in m.topics.iter().flatten() {
        // As the request view reads a topic: by its id where it has one (then by the name the
        // sidecar learned for it), and by its name where it has one; every name must pass.
        let given = t
            .name
            .as_ref()
            .map(|n| n.0.clone())
            .filter(|n| !n.is_empty());
        let learned = if t.topic_id.is_nil() {
            None
        } else {
            match name_of(t.topic_id) {
                Some(name) => Some(name),
                None => {
                    refused.push(Refused {
                        name: given.map(|n| n.to_string()),
                        id: t.topic_id,
                        error: ResponseError::UnknownTopicId.code(),
                    });
                    continue;
                }
            }
        };
        let names: Vec<&StrBytes> = match (&given, &learned) {
            (None, None) => vec![&EMPTY],
            (g, l) => g.iter().chain(l.iter()).collect(),
        };
        match names.iter().find(|n| !allowed(n.as_str())) {
            None => topics.push(t.clone()),
            Some(name) => refused.push(Refused {
                name: Some(given.as_ref().unwrap_or(name).to_string()),
                id: t.topic_id,
                error: denied,
            }),
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
