use kafka_protocol::messages::*;

use super::super::deny::{Scope, error_code, scope};
use super::super::{Denial, Refusal, deny};
use super::*;

/// Keys whose denial is per item (topic, group, resource, ...): a default request names none,
/// so their responses are checked with items in `topics.rs`.
const PER_ITEM: &[ApiKey] = &[
    ApiKey::Produce,
    ApiKey::Fetch,
    ApiKey::ListOffsets,
    ApiKey::Metadata,
    ApiKey::OffsetCommit,
    ApiKey::OffsetFetch,
    ApiKey::OffsetDelete,
    ApiKey::CreateTopics,
    ApiKey::DeleteTopics,
    ApiKey::DeleteRecords,
    ApiKey::OffsetForLeaderEpoch,
    ApiKey::AddPartitionsToTxn,
    ApiKey::TxnOffsetCommit,
    ApiKey::WriteTxnMarkers,
    ApiKey::CreatePartitions,
    ApiKey::ElectLeaders,
    ApiKey::AlterPartitionReassignments,
    ApiKey::DescribeProducers,
    ApiKey::AlterReplicaLogDirs,
    ApiKey::DescribeTopicPartitions,
    ApiKey::DescribeGroups,
    ApiKey::DeleteGroups,
    ApiKey::ConsumerGroupDescribe,
    ApiKey::ShareGroupDescribe,
    ApiKey::DescribeShareGroupOffsets,
    ApiKey::DescribeTransactions,
    ApiKey::DescribeConfigs,
    ApiKey::AlterConfigs,
    ApiKey::IncrementalAlterConfigs,
    ApiKey::CreateAcls,
    ApiKey::DeleteAcls,
    ApiKey::AlterClientQuotas,
    ApiKey::AlterUserScramCredentials,
    ApiKey::InitializeShareGroupState,
    ApiKey::ReadShareGroupState,
    ApiKey::WriteShareGroupState,
    ApiKey::DeleteShareGroupState,
    ApiKey::ReadShareGroupStateSummary,
];

fn body_for(key: ApiKey) -> RequestKind {
    match default_body(key) {
        // acks=0 is answered by closing: see below.
        RequestKind::Produce(r) => RequestKind::Produce(r.with_acks(-1)),
        other => other,
    }
}

/// (b) Every key and version: the denial decodes with the crate at the request's version, in
/// the response header version for it, with the request's correlation id, and carries the error
/// wherever the response has a top-level place for it.
#[test]
fn every_denial_reads_back_with_its_error() {
    let mut checked = 0;
    for (key, version) in every_key_and_version() {
        let body = body_for(key);
        let (correlation, response) = deny_and_read(key, version, &body);
        assert_eq!(correlation, 7, "{key:?} v{version}");
        let code = error_code(scope(&body), Refusal::Denied);
        let text = format!("{response:?}");
        let carried = text.contains(&format!("error_code: {code}"));
        let top_level_from = match key {
            ApiKey::DescribeLogDirs => 3,
            ApiKey::FindCoordinator if version >= 4 => i16::MAX,
            _ => 0,
        };
        if !PER_ITEM.contains(&key) && version >= top_level_from {
            assert!(carried, "{key:?} v{version}: no error {code} in {text}");
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
}

#[test]
fn a_produce_with_acks_0_is_closed_not_answered() {
    let body = RequestKind::Produce(ProduceRequest::default().with_acks(0));
    let frame = client_frame(ApiKey::Produce, 9, 1, &body);
    let request = read_request(&frame);
    let decoded = request.decode_body().expect("decodes");
    assert_eq!(deny(&request, &decoded, Refusal::Denied), Ok(Denial::Close));
}

/// The error table.
#[test]
fn the_error_follows_the_scope() {
    let scope_of = |key: ApiKey| scope(&default_body(key));
    assert_eq!(scope_of(ApiKey::Produce), Scope::Topic);
    assert_eq!(scope_of(ApiKey::OffsetCommit), Scope::Topic);
    assert_eq!(scope_of(ApiKey::JoinGroup), Scope::Group);
    assert_eq!(scope_of(ApiKey::ConsumerGroupHeartbeat), Scope::Group);
    assert_eq!(scope_of(ApiKey::FindCoordinator), Scope::Group);
    assert_eq!(scope_of(ApiKey::EndTxn), Scope::Transaction);
    assert_eq!(scope_of(ApiKey::CreateAcls), Scope::Cluster);
    let txn = RequestKind::FindCoordinator(FindCoordinatorRequest::default().with_key_type(1));
    assert_eq!(scope(&txn), Scope::Transaction);
    let idempotent =
        RequestKind::InitProducerId(InitProducerIdRequest::default().with_transactional_id(None));
    assert_eq!(scope(&idempotent), Scope::Cluster);
    let transactional =
        RequestKind::InitProducerId(InitProducerIdRequest::default().with_transactional_id(Some(
            TransactionalId(kafka_protocol::protocol::StrBytes::from_static_str("t")),
        )));
    assert_eq!(scope(&transactional), Scope::Transaction);
    // OffsetFetch for every topic of a group names no topic: the group's error.
    let all = RequestKind::OffsetFetch(OffsetFetchRequest::default().with_topics(None));
    assert_eq!(scope(&all), Scope::Group);
    assert_eq!(error_code(Scope::Topic, Refusal::Denied), 29);
    assert_eq!(error_code(Scope::Group, Refusal::Denied), 30);
    assert_eq!(error_code(Scope::Cluster, Refusal::Denied), 31);
    assert_eq!(error_code(Scope::Transaction, Refusal::Denied), 53);
    assert_eq!(error_code(Scope::Topic, Refusal::UnknownTopicId), 100);
}
