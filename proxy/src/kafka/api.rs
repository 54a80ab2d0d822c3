//! The API keys kafka-protocol knows, in one list, and what the codec asks of each by key: the
//! header versions of its request and response, and whether a version is one the crate decodes.
//!
//! The header version comes from each message type's own `HeaderVersion`, not from
//! `ApiKey::request_header_version`: in kafka-protocol 0.18 that map answers with the
//! *response* header version for AddRaftVoter and the share-group state keys (80 to 92), which
//! would read their flexible request headers (v2) as v1. The test
//! `tests::header::the_crates_key_map_differs_only_where_known` pins the difference.

use kafka_protocol::messages::*;
use kafka_protocol::protocol::{HeaderVersion, Message, VersionRange};

/// Calls `$m!` with every API key kafka-protocol 0.18 knows, as `Key => Request, Response;`.
macro_rules! each_api {
    ($m:ident) => {
        $m! {
            Produce => ProduceRequest, ProduceResponse;
            Fetch => FetchRequest, FetchResponse;
            ListOffsets => ListOffsetsRequest, ListOffsetsResponse;
            Metadata => MetadataRequest, MetadataResponse;
            OffsetCommit => OffsetCommitRequest, OffsetCommitResponse;
            OffsetFetch => OffsetFetchRequest, OffsetFetchResponse;
            FindCoordinator => FindCoordinatorRequest, FindCoordinatorResponse;
            JoinGroup => JoinGroupRequest, JoinGroupResponse;
            Heartbeat => HeartbeatRequest, HeartbeatResponse;
            LeaveGroup => LeaveGroupRequest, LeaveGroupResponse;
            SyncGroup => SyncGroupRequest, SyncGroupResponse;
            DescribeGroups => DescribeGroupsRequest, DescribeGroupsResponse;
            ListGroups => ListGroupsRequest, ListGroupsResponse;
            SaslHandshake => SaslHandshakeRequest, SaslHandshakeResponse;
            ApiVersions => ApiVersionsRequest, ApiVersionsResponse;
            CreateTopics => CreateTopicsRequest, CreateTopicsResponse;
            DeleteTopics => DeleteTopicsRequest, DeleteTopicsResponse;
            DeleteRecords => DeleteRecordsRequest, DeleteRecordsResponse;
            InitProducerId => InitProducerIdRequest, InitProducerIdResponse;
            OffsetForLeaderEpoch => OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse;
            AddPartitionsToTxn => AddPartitionsToTxnRequest, AddPartitionsToTxnResponse;
            AddOffsetsToTxn => AddOffsetsToTxnRequest, AddOffsetsToTxnResponse;
            EndTxn => EndTxnRequest, EndTxnResponse;
            WriteTxnMarkers => WriteTxnMarkersRequest, WriteTxnMarkersResponse;
            TxnOffsetCommit => TxnOffsetCommitRequest, TxnOffsetCommitResponse;
            DescribeAcls => DescribeAclsRequest, DescribeAclsResponse;
            CreateAcls => CreateAclsRequest, CreateAclsResponse;
            DeleteAcls => DeleteAclsRequest, DeleteAclsResponse;
            DescribeConfigs => DescribeConfigsRequest, DescribeConfigsResponse;
            AlterConfigs => AlterConfigsRequest, AlterConfigsResponse;
            AlterReplicaLogDirs => AlterReplicaLogDirsRequest, AlterReplicaLogDirsResponse;
            DescribeLogDirs => DescribeLogDirsRequest, DescribeLogDirsResponse;
            SaslAuthenticate => SaslAuthenticateRequest, SaslAuthenticateResponse;
            CreatePartitions => CreatePartitionsRequest, CreatePartitionsResponse;
            CreateDelegationToken => CreateDelegationTokenRequest, CreateDelegationTokenResponse;
            RenewDelegationToken => RenewDelegationTokenRequest, RenewDelegationTokenResponse;
            ExpireDelegationToken => ExpireDelegationTokenRequest, ExpireDelegationTokenResponse;
            DescribeDelegationToken => DescribeDelegationTokenRequest, DescribeDelegationTokenResponse;
            DeleteGroups => DeleteGroupsRequest, DeleteGroupsResponse;
            ElectLeaders => ElectLeadersRequest, ElectLeadersResponse;
            IncrementalAlterConfigs => IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse;
            AlterPartitionReassignments => AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse;
            ListPartitionReassignments => ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse;
            OffsetDelete => OffsetDeleteRequest, OffsetDeleteResponse;
            DescribeClientQuotas => DescribeClientQuotasRequest, DescribeClientQuotasResponse;
            AlterClientQuotas => AlterClientQuotasRequest, AlterClientQuotasResponse;
            DescribeUserScramCredentials => DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse;
            AlterUserScramCredentials => AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse;
            Vote => VoteRequest, VoteResponse;
            BeginQuorumEpoch => BeginQuorumEpochRequest, BeginQuorumEpochResponse;
            EndQuorumEpoch => EndQuorumEpochRequest, EndQuorumEpochResponse;
            DescribeQuorum => DescribeQuorumRequest, DescribeQuorumResponse;
            AlterPartition => AlterPartitionRequest, AlterPartitionResponse;
            UpdateFeatures => UpdateFeaturesRequest, UpdateFeaturesResponse;
            Envelope => EnvelopeRequest, EnvelopeResponse;
            FetchSnapshot => FetchSnapshotRequest, FetchSnapshotResponse;
            DescribeCluster => DescribeClusterRequest, DescribeClusterResponse;
            DescribeProducers => DescribeProducersRequest, DescribeProducersResponse;
            BrokerRegistration => BrokerRegistrationRequest, BrokerRegistrationResponse;
            BrokerHeartbeat => BrokerHeartbeatRequest, BrokerHeartbeatResponse;
            UnregisterBroker => UnregisterBrokerRequest, UnregisterBrokerResponse;
            DescribeTransactions => DescribeTransactionsRequest, DescribeTransactionsResponse;
            ListTransactions => ListTransactionsRequest, ListTransactionsResponse;
            AllocateProducerIds => AllocateProducerIdsRequest, AllocateProducerIdsResponse;
            ConsumerGroupHeartbeat => ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse;
            ConsumerGroupDescribe => ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse;
            ControllerRegistration => ControllerRegistrationRequest, ControllerRegistrationResponse;
            GetTelemetrySubscriptions => GetTelemetrySubscriptionsRequest, GetTelemetrySubscriptionsResponse;
            PushTelemetry => PushTelemetryRequest, PushTelemetryResponse;
            AssignReplicasToDirs => AssignReplicasToDirsRequest, AssignReplicasToDirsResponse;
            ListConfigResources => ListConfigResourcesRequest, ListConfigResourcesResponse;
            DescribeTopicPartitions => DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse;
            ShareGroupHeartbeat => ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse;
            ShareGroupDescribe => ShareGroupDescribeRequest, ShareGroupDescribeResponse;
            ShareFetch => ShareFetchRequest, ShareFetchResponse;
            ShareAcknowledge => ShareAcknowledgeRequest, ShareAcknowledgeResponse;
            AddRaftVoter => AddRaftVoterRequest, AddRaftVoterResponse;
            RemoveRaftVoter => RemoveRaftVoterRequest, RemoveRaftVoterResponse;
            UpdateRaftVoter => UpdateRaftVoterRequest, UpdateRaftVoterResponse;
            InitializeShareGroupState => InitializeShareGroupStateRequest, InitializeShareGroupStateResponse;
            ReadShareGroupState => ReadShareGroupStateRequest, ReadShareGroupStateResponse;
            WriteShareGroupState => WriteShareGroupStateRequest, WriteShareGroupStateResponse;
            DeleteShareGroupState => DeleteShareGroupStateRequest, DeleteShareGroupStateResponse;
            ReadShareGroupStateSummary => ReadShareGroupStateSummaryRequest, ReadShareGroupStateSummaryResponse;
            DescribeShareGroupOffsets => DescribeShareGroupOffsetsRequest, DescribeShareGroupOffsetsResponse;
            AlterShareGroupOffsets => AlterShareGroupOffsetsRequest, AlterShareGroupOffsetsResponse;
            DeleteShareGroupOffsets => DeleteShareGroupOffsetsRequest, DeleteShareGroupOffsetsResponse;
        }
    };
}
#[cfg(test)]
pub(crate) use each_api;

macro_rules! header_versions {
    ($($key:ident => $req:ident, $resp:ident;)*) => {
        /// The request header version (1 or 2) a request of this key and version starts with.
        pub fn request_header_version(key: ApiKey, version: i16) -> i16 {
            match key {
                $(ApiKey::$key => <$req as HeaderVersion>::header_version(version),)*
            }
        }

        /// Whether kafka-protocol reads this version of the key's request. From the message
        /// type, not `ApiKey::valid_versions`, which in 0.18 says OffsetCommit goes to v10
        /// while its request struct stops at v9.
        pub fn knows_version(key: ApiKey, version: i16) -> bool {
            let range = known_versions(key);
            (range.min..=range.max).contains(&version)
        }

        /// The versions of the key's request kafka-protocol reads (see [`knows_version`]).
        pub fn known_versions(key: ApiKey) -> VersionRange {
            match key {
                $(ApiKey::$key => <$req as Message>::VERSIONS,)*
            }
        }

        /// The key's name as Kafka spells it (`Produce`, `ApiVersions`).
        pub fn key_name(key: ApiKey) -> &'static str {
            match key {
                $(ApiKey::$key => stringify!($key),)*
            }
        }

        /// The response header version (0 or 1) the answer to a request of this key and version
        /// starts with.
        pub fn response_header_version(key: ApiKey, version: i16) -> i16 {
            match key {
                $(ApiKey::$key => <$resp as HeaderVersion>::header_version(version),)*
            }
        }
    };
}
each_api!(header_versions);
