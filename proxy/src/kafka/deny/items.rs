//! Denials whose responses keep the error per item other than a topic: per group, per
//! transactional id, per config resource, per ACL, per quota entry, per user, and the share-group
//! state keys (per topic id and partition).

use kafka_protocol::messages::*;

use super::{Refusal, resource_code};

/// The response for a per-item key, or `None` for a key not answered here.
pub(super) fn response(
    body: &RequestKind,
    version: i16,
    code: i16,
    refusal: Refusal,
) -> Option<ResponseKind> {
    Some(match body {
        RequestKind::FindCoordinator(r) if version >= 4 => find_coordinator(r, code).into(),
        RequestKind::DescribeGroups(r) => {
            use describe_groups_response::*;
            let g = |id: &GroupId| {
                DescribedGroup::default()
                    .with_group_id(id.clone())
                    .with_error_code(code)
            };
            DescribeGroupsResponse::default()
                .with_groups(r.groups.iter().map(g).collect())
                .into()
        }
        RequestKind::DeleteGroups(r) => {
            use delete_groups_response::*;
            let g = |id: &GroupId| {
                DeletableGroupResult::default()
                    .with_group_id(id.clone())
                    .with_error_code(code)
            };
            DeleteGroupsResponse::default()
                .with_results(r.groups_names.iter().map(g).collect())
                .into()
        }
        RequestKind::ConsumerGroupDescribe(r) => {
            use consumer_group_describe_response::*;
            let g = |id: &GroupId| {
                DescribedGroup::default()
                    .with_group_id(id.clone())
                    .with_error_code(code)
            };
            ConsumerGroupDescribeResponse::default()
                .with_groups(r.group_ids.iter().map(g).collect())
                .into()
        }
        RequestKind::ShareGroupDescribe(r) => {
            use share_group_describe_response::*;
            let g = |id: &GroupId| {
                DescribedGroup::default()
                    .with_group_id(id.clone())
                    .with_error_code(code)
            };
            ShareGroupDescribeResponse::default()
                .with_groups(r.group_ids.iter().map(g).collect())
                .into()
        }
        RequestKind::DescribeShareGroupOffsets(r) => {
            use describe_share_group_offsets_response::*;
            let g = |x: &describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestGroup| {
                DescribeShareGroupOffsetsResponseGroup::default()
                    .with_group_id(x.group_id.clone())
                    .with_error_code(code)
            };
            DescribeShareGroupOffsetsResponse::default()
                .with_groups(r.groups.iter().map(g).collect())
                .into()
        }
        RequestKind::DescribeTransactions(r) => {
            use describe_transactions_response::*;
            let t = |id: &TransactionalId| {
                TransactionState::default()
                    .with_transactional_id(id.clone())
                    .with_error_code(code)
            };
            DescribeTransactionsResponse::default()
                .with_transaction_states(r.transactional_ids.iter().map(t).collect())
                .into()
        }
        RequestKind::DescribeConfigs(r) => {
            use describe_configs_response::*;
            let x = |x: &describe_configs_request::DescribeConfigsResource| {
                DescribeConfigsResult::default()
                    .with_resource_type(x.resource_type)
                    .with_resource_name(x.resource_name.clone())
                    .with_error_code(resource_code(x.resource_type, refusal))
            };
            DescribeConfigsResponse::default()
                .with_results(r.resources.iter().map(x).collect())
                .into()
        }
        RequestKind::AlterConfigs(r) => {
            use alter_configs_response::*;
            let x = |x: &alter_configs_request::AlterConfigsResource| {
                AlterConfigsResourceResponse::default()
                    .with_resource_type(x.resource_type)
                    .with_resource_name(x.resource_name.clone())
                    .with_error_code(resource_code(x.resource_type, refusal))
            };
            AlterConfigsResponse::default()
                .with_responses(r.resources.iter().map(x).collect())
                .into()
        }
        RequestKind::IncrementalAlterConfigs(r) => {
            use incremental_alter_configs_response::*;
            let x = |x: &incremental_alter_configs_request::AlterConfigsResource| {
                AlterConfigsResourceResponse::default()
                    .with_resource_type(x.resource_type)
                    .with_resource_name(x.resource_name.clone())
                    .with_error_code(resource_code(x.resource_type, refusal))
            };
            IncrementalAlterConfigsResponse::default()
                .with_responses(r.resources.iter().map(x).collect())
                .into()
        }
        RequestKind::CreateAcls(r) => {
            use create_acls_response::*;
            let x = |_| AclCreationResult::default().with_error_code(code);
            CreateAclsResponse::default()
                .with_results(r.creations.iter().map(x).collect())
                .into()
        }
        RequestKind::DeleteAcls(r) => {
            use delete_acls_response::*;
            let x = |_| DeleteAclsFilterResult::default().with_error_code(code);
            DeleteAclsResponse::default()
                .with_filter_results(r.filters.iter().map(x).collect())
                .into()
        }
        RequestKind::AlterClientQuotas(r) => {
            use alter_client_quotas_response::*;
            let x = |e: &alter_client_quotas_request::EntryData| {
                let entity = e
                    .entity
                    .iter()
                    .map(|d| {
                        EntityData::default()
                            .with_entity_type(d.entity_type.clone())
                            .with_entity_name(d.entity_name.clone())
                    })
                    .collect();
                EntryData::default()
                    .with_error_code(code)
                    .with_entity(entity)
            };
            AlterClientQuotasResponse::default()
                .with_entries(r.entries.iter().map(x).collect())
                .into()
        }
        RequestKind::AlterUserScramCredentials(r) => {
            use alter_user_scram_credentials_response::*;
            let user = |name: &kafka_protocol::protocol::StrBytes| {
                AlterUserScramCredentialsResult::default()
                    .with_user(name.clone())
                    .with_error_code(code)
            };
            let results = r
                .deletions
                .iter()
                .map(|d| &d.name)
                .chain(r.upsertions.iter().map(|u| &u.name))
                .map(user)
                .collect();
            AlterUserScramCredentialsResponse::default()
                .with_results(results)
                .into()
        }
        RequestKind::InitializeShareGroupState(r) => {
            use initialize_share_group_state_response::*;
            let x = |t: &initialize_share_group_state_request::InitializeStateData| {
                InitializeStateResult::default()
                    .with_topic_id(t.topic_id)
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                PartitionResult::default()
                                    .with_partition(p.partition)
                                    .with_error_code(code)
                            })
                            .collect(),
                    )
            };
            InitializeShareGroupStateResponse::default()
                .with_results(r.topics.iter().map(x).collect())
                .into()
        }
        RequestKind::ReadShareGroupState(r) => {
            use read_share_group_state_response::*;
            let x = |t: &read_share_group_state_request::ReadStateData| {
                ReadStateResult::default()
                    .with_topic_id(t.topic_id)
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                PartitionResult::default()
                                    .with_partition(p.partition)
                                    .with_error_code(code)
                            })
                            .collect(),
                    )
            };
            ReadShareGroupStateResponse::default()
                .with_results(r.topics.iter().map(x).collect())
                .into()
        }
        RequestKind::WriteShareGroupState(r) => {
            use write_share_group_state_response::*;
            let x = |t: &write_share_group_state_request::WriteStateData| {
                WriteStateResult::default()
                    .with_topic_id(t.topic_id)
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                PartitionResult::default()
                                    .with_partition(p.partition)
                                    .with_error_code(code)
                            })
                            .collect(),
                    )
            };
            WriteShareGroupStateResponse::default()
                .with_results(r.topics.iter().map(x).collect())
                .into()
        }
        RequestKind::DeleteShareGroupState(r) => {
            use delete_share_group_state_response::*;
            let x = |t: &delete_share_group_state_request::DeleteStateData| {
                DeleteStateResult::default()
                    .with_topic_id(t.topic_id)
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                PartitionResult::default()
                                    .with_partition(p.partition)
                                    .with_error_code(code)
                            })
                            .collect(),
                    )
            };
            DeleteShareGroupStateResponse::default()
                .with_results(r.topics.iter().map(x).collect())
                .into()
        }
        RequestKind::ReadShareGroupStateSummary(r) => {
            use read_share_group_state_summary_response::*;
            let x = |t: &read_share_group_state_summary_request::ReadStateSummaryData| {
                ReadStateSummaryResult::default()
                    .with_topic_id(t.topic_id)
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                PartitionResult::default()
                                    .with_partition(p.partition)
                                    .with_error_code(code)
                            })
                            .collect(),
                    )
            };
            ReadShareGroupStateSummaryResponse::default()
                .with_results(r.topics.iter().map(x).collect())
                .into()
        }
        _ => return None,
    })
}

/// v4+: one result per key asked for (v0-3 answer with the top-level code, in `plain`).
fn find_coordinator(r: &FindCoordinatorRequest, code: i16) -> FindCoordinatorResponse {
    use find_coordinator_response::*;
    let c = |key: &kafka_protocol::protocol::StrBytes| {
        Coordinator::default()
            .with_key(key.clone())
            .with_node_id((-1).into())
            .with_port(-1)
            .with_error_code(code)
    };
    FindCoordinatorResponse::default().with_coordinators(r.coordinator_keys.iter().map(c).collect())
}
