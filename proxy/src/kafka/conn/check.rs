//! A request against policy: what is read of it, and the decision.
//!
//! The header is always read. The body is decoded when a rule on the port needs what it carries
//! (its topics), and when the request is denied (the answer echoes its topics). Topic ids are
//! turned into names through the sidecar's [`TopicIds`](crate::kafka::topic_ids::TopicIds); an
//! id nobody has told the proxy about is refused with UNKNOWN_TOPIC_ID, never allowed blind.

use kafka_protocol::messages::{ApiKey, RequestKind};
use kafka_protocol::protocol::StrBytes;
use sockmesh_policy::{ConnMeta, KafkaRequest, RuleId};

use crate::conn::ConnCtx;

use super::scope::IdScope;
use crate::kafka::deny::Refusal;
use crate::kafka::{KafkaError, Request, RequestView};

/// What policy said of a request, with what was read of it to say so.
pub(super) struct Decision {
    pub allowed: bool,
    pub rule: RuleId,
    /// Why the proxy answers, when it does.
    pub refusal: Refusal,
    pub view: RequestView,
    /// The decoded body, when it was needed.
    pub body: Option<RequestKind>,
    /// A Metadata request for every topic, let through to have its answer cut to the topics
    /// the workload may touch (`kafka.filterMetadata`).
    pub filter_topics: bool,
}

/// Checks `request` on the connection `meta` describes.
pub(super) fn check(
    ctx: &ConnCtx,
    meta: &ConnMeta,
    ids: &IdScope,
    request: &Request,
) -> Result<Decision, KafkaError> {
    let policy = ctx.shared.policy.load();
    let key = request.header.api_key as i16;
    let (view, body) = if policy.kafka_topic_keys(meta).contains(key) {
        let body = request.decode_body()?;
        (RequestView::new(&request.header, &body), Some(body))
    } else {
        (RequestView::from_header(&request.header), None)
    };
    let mut names: Vec<StrBytes> = view.topics.names.clone();
    let mut unknown_id = false;
    for id in &view.topics.ids {
        match ctx.shared.kafka_topic_ids.name(&ids.cluster, *id) {
            Some(name) => {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            None => unknown_id = true,
        }
    }
    let topics: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
    let client_id = request.header.client_id_str();
    // Where rules name topics, a Metadata answer is cut to the topics the workload may touch
    // (beyond Cilium): a request for every topic is let through as a brokers-only one (Cilium
    // denies it), and a brokers-only request's answer is cut too, since some brokers (tansu)
    // answer an empty list with every topic.
    let filter_topics = request.header.api_key == ApiKey::Metadata
        && view.body_read
        && ctx.shared.kafka.filter_metadata;
    let verdict = policy.check_kafka(
        meta,
        &KafkaRequest {
            api_key: key,
            api_version: request.header.api_version,
            client_id,
            topics: &topics,
            all_topics: view.topics.all && !filter_topics,
        },
    );
    // An id nobody named is answered UNKNOWN_TOPIC_ID (the client refreshes its metadata and
    // asks again), unless the names the request does carry are denied already.
    let (allowed, refusal) = if unknown_id && (verdict.allowed || topics.is_empty()) {
        (false, Refusal::UnknownTopicId)
    } else if !verdict.allowed {
        (false, Refusal::Denied)
    } else {
        (true, Refusal::Denied)
    };
    Ok(Decision {
        allowed,
        rule: verdict.rule,
        refusal,
        view,
        body,
        filter_topics,
    })
}

/// Whether the workload may touch `topic` (a Metadata request naming it alone would be
/// allowed): what a filtered Metadata answer keeps.
pub(super) fn may_touch(
    ctx: &ConnCtx,
    meta: &ConnMeta,
    client_id: Option<&str>,
    version: i16,
    topic: &str,
) -> bool {
    may_ask_metadata(ctx, meta, client_id, version, &[topic])
}

/// Whether a Metadata request for `topics` (none: brokers only) would be allowed.
pub(super) fn may_ask_metadata(
    ctx: &ConnCtx,
    meta: &ConnMeta,
    client_id: Option<&str>,
    version: i16,
    topics: &[&str],
) -> bool {
    ctx.shared
        .policy
        .load()
        .check_kafka(
            meta,
            &KafkaRequest {
                api_key: ApiKey::Metadata as i16,
                api_version: version,
                client_id,
                topics,
                all_topics: false,
            },
        )
        .allowed
}
