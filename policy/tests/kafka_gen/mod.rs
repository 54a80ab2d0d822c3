//! Generators for `rules.kafka` and Kafka requests. Few topics, keys and clients, so that
//! rules overlap and requests with several topics meet rules that allow only some of them;
//! keys include ones that name topics and ones that do not.

use proptest::prelude::*;
use proptest::sample::select;
use sockmesh_policy::model::KafkaRule;

use crate::reference::kafka::KReq;

const TOPICS: &[&str] = &["a", "b", "c", "d"];

/// Mostly absent, so that topic rules often agree on everything but the topic.
fn opt(items: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
    prop_oneof![3 => Just(None), 1 => select(items).prop_map(|s| Some(s.to_owned()))]
}

/// A `rules.kafka` entry: a role, an `apiKey` or neither (never both: that is refused).
pub fn kafka_rule() -> impl Strategy<Value = KafkaRule> {
    let keys = prop_oneof![
        4 => Just((None, None)),
        3 => select(&["produce", "consume", "Consume"][..]).prop_map(|r| (Some(r.to_owned()), None)),
        2 => select(&["fetch", "Produce", "metadata", "heartbeat", "initproducerid", "12", "19", "describetopicpartitions", "78", ""][..])
            .prop_map(|k| (None, Some(k.to_owned()))),
    ];
    (
        keys,
        opt(&["3", "4"]),
        opt(&["app", "other", ""]),
        prop_oneof![1 => Just(None), 3 => select(&["a", "b", "c", ""][..]).prop_map(|t| Some(t.to_owned()))],
    )
        .prop_map(|((role, api_key), api_version, client_id, topic)| KafkaRule {
            role,
            api_key,
            api_version,
            client_id,
            topic,
        })
}

/// A request: a key (naming topics or not), a version, a client id, topics (repeats
/// included), and sometimes a request for every topic.
pub fn request() -> impl Strategy<Value = KReq> {
    (
        select(&[0i16, 1, 2, 3, 12, 18, 19, 22, 23, 68, 42, 75, 78][..]),
        select(&[3i16, 4][..]),
        prop_oneof![
            Just(None),
            select(&["app", "other", "App"][..]).prop_map(Some)
        ],
        proptest::collection::vec(select(TOPICS), 0..4),
        prop_oneof![4 => Just(false), 1 => Just(true)],
    )
        .prop_map(|(key, version, client, topics, all)| KReq {
            key,
            version,
            client,
            topics,
            all,
        })
}
