//! A denied Metadata request narrowed to what policy allows: topics asked by name and by id.

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use uuid::Uuid;

use super::*;
use crate::kafka::narrowed::{Refused, narrowed};

const ALLOWED: Uuid = Uuid::from_u128(1);
const DENIED: Uuid = Uuid::from_u128(2);
const UNKNOWN: Uuid = Uuid::from_u128(3);

fn by_name(name: &'static str) -> MetadataRequestTopic {
    MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_static_str(name))))
}

fn by_id(id: Uuid) -> MetadataRequestTopic {
    MetadataRequestTopic::default()
        .with_name(None)
        .with_topic_id(id)
}

fn name_of(id: Uuid) -> Option<StrBytes> {
    match id {
        ALLOWED => Some(StrBytes::from_static_str("orders")),
        DENIED => Some(StrBytes::from_static_str("secret")),
        _ => None,
    }
}

/// Before, topics asked by id alone were dropped from the narrowed request without a word: an
/// allowed one never got its metadata, a denied one no refusal.
#[test]
fn topics_by_id_are_kept_or_refused_by_the_name_learned_for_them() {
    let body = MetadataRequest::default().with_topics(Some(vec![
        by_name("orders"),
        by_name("secret"),
        by_id(ALLOWED),
        by_id(DENIED),
        by_id(UNKNOWN),
        // Both a name and an id: both must pass.
        by_name("orders").with_topic_id(DENIED),
    ]));
    let frame = client_frame(ApiKey::Metadata, 12, 9, &RequestKind::Metadata(body));
    let request = read_request(&frame);
    let decoded = request.decode_body().expect("body decodes");
    let (sent, refused) = narrowed(&request, &decoded, |t| t == "orders", name_of)
        .expect("a Metadata request")
        .expect("encodes");
    let sent = read_request(&sent);
    assert_eq!(sent.header.correlation_id, 9);
    let RequestKind::Metadata(kept) = sent.decode_body().expect("decodes") else {
        panic!("not Metadata");
    };
    let kept: Vec<(Option<String>, Uuid)> = kept
        .topics
        .expect("a list")
        .iter()
        .map(|t| (t.name.as_ref().map(|n| n.0.to_string()), t.topic_id))
        .collect();
    assert_eq!(
        kept,
        [(Some("orders".to_owned()), Uuid::nil()), (None, ALLOWED)]
    );
    let refused_as = |name: Option<&str>, id, error| Refused {
        name: name.map(str::to_owned),
        id,
        error,
    };
    assert_eq!(
        refused,
        [
            refused_as(Some("secret"), Uuid::nil(), 29),
            refused_as(Some("secret"), DENIED, 29),
            refused_as(None, UNKNOWN, 100),
            refused_as(Some("orders"), DENIED, 29),
        ]
    );
}
