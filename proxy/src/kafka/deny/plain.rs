//! Denials carried by the response's top-level error code: every key not answered per item.

use kafka_protocol::messages::*;

macro_rules! top_level {
    ($body:expr, $code:expr; $($key:ident => $resp:ident,)*) => {
        Some(match $body {
            $(RequestKind::$key(_) => $resp::default().with_error_code($code).into(),)*
            RequestKind::FindCoordinator(_) => FindCoordinatorResponse::default()
                .with_error_code($code)
                .with_node_id((-1).into())
                .with_port(-1)
                .into(),
            _ => return None,
        })
    };
}

/// The response with only its top-level error code set.
pub(super) fn response(body: &RequestKind, code: i16) -> Option<ResponseKind> {
    top_level! { body, code;
        JoinGroup => JoinGroupResponse,
        Heartbeat => HeartbeatResponse,
        LeaveGroup => LeaveGroupResponse,
        SyncGroup => SyncGroupResponse,
        ListGroups => ListGroupsResponse,
        SaslHandshake => SaslHandshakeResponse,
        ApiVersions => ApiVersionsResponse,
        InitProducerId => InitProducerIdResponse,
        AddOffsetsToTxn => AddOffsetsToTxnResponse,
        EndTxn => EndTxnResponse,
        DescribeAcls => DescribeAclsResponse,
        DescribeLogDirs => DescribeLogDirsResponse,
        SaslAuthenticate => SaslAuthenticateResponse,
        CreateDelegationToken => CreateDelegationTokenResponse,
        RenewDelegationToken => RenewDelegationTokenResponse,
        ExpireDelegationToken => ExpireDelegationTokenResponse,
        DescribeDelegationToken => DescribeDelegationTokenResponse,
        DescribeClientQuotas => DescribeClientQuotasResponse,
        DescribeUserScramCredentials => DescribeUserScramCredentialsResponse,
        Vote => VoteResponse,
        BeginQuorumEpoch => BeginQuorumEpochResponse,
        EndQuorumEpoch => EndQuorumEpochResponse,
        DescribeQuorum => DescribeQuorumResponse,
        AlterPartition => AlterPartitionResponse,
        UpdateFeatures => UpdateFeaturesResponse,
        Envelope => EnvelopeResponse,
        FetchSnapshot => FetchSnapshotResponse,
        DescribeCluster => DescribeClusterResponse,
        BrokerRegistration => BrokerRegistrationResponse,
        BrokerHeartbeat => BrokerHeartbeatResponse,
        UnregisterBroker => UnregisterBrokerResponse,
        ListTransactions => ListTransactionsResponse,
        AllocateProducerIds => AllocateProducerIdsResponse,
        ConsumerGroupHeartbeat => ConsumerGroupHeartbeatResponse,
        ControllerRegistration => ControllerRegistrationResponse,
        GetTelemetrySubscriptions => GetTelemetrySubscriptionsResponse,
        PushTelemetry => PushTelemetryResponse,
        AssignReplicasToDirs => AssignReplicasToDirsResponse,
        ListConfigResources => ListConfigResourcesResponse,
        ShareGroupHeartbeat => ShareGroupHeartbeatResponse,
        ShareFetch => ShareFetchResponse,
        ShareAcknowledge => ShareAcknowledgeResponse,
        AddRaftVoter => AddRaftVoterResponse,
        RemoveRaftVoter => RemoveRaftVoterResponse,
        UpdateRaftVoter => UpdateRaftVoterResponse,
        AlterShareGroupOffsets => AlterShareGroupOffsetsResponse,
        DeleteShareGroupOffsets => DeleteShareGroupOffsetsResponse,
    }
}
