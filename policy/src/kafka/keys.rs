//! The tables `rules.kafka` is read with: API keys by name, what a role expands to, and which
//! keys carry topics. They are kept apart from the matcher so that the one place to look (and
//! to change, when measurements with real clients call for it) is this file.

/// Kafka API keys by the names `apiKey` takes (matched case-insensitively).
///
/// Keys 0 to 33 are spelt as Cilium spells them (`APIKeyMap` in cilium's
/// `pkg/policy/api/kafka/kafka.go`: Kafka's names lower-cased, `offsets` for ListOffsets).
/// Cilium knows no later key; 34 onwards are Kafka's own names (`ApiKeys` in the Kafka
/// protocol guide) lower-cased, our extension, so that a rule can name what today's clients
/// send (`consumergroupheartbeat`, `describecluster`, ...). A number is accepted too.
pub const API_KEYS: &[(&str, i16)] = &[
    ("produce", 0),
    ("fetch", 1),
    ("offsets", 2),
    ("metadata", 3),
    ("leaderandisr", 4),
    ("stopreplica", 5),
    ("updatemetadata", 6),
    ("controlledshutdown", 7),
    ("offsetcommit", 8),
    ("offsetfetch", 9),
    ("findcoordinator", 10),
    ("joingroup", 11),
    ("heartbeat", 12),
    ("leavegroup", 13),
    ("syncgroup", 14),
    ("describegroups", 15),
    ("listgroups", 16),
    ("saslhandshake", 17),
    ("apiversions", 18),
    ("createtopics", 19),
    ("deletetopics", 20),
    ("deleterecords", 21),
    ("initproducerid", 22),
    ("offsetforleaderepoch", 23),
    ("addpartitionstotxn", 24),
    ("addoffsetstotxn", 25),
    ("endtxn", 26),
    ("writetxnmarkers", 27),
    ("txnoffsetcommit", 28),
    ("describeacls", 29),
    ("createacls", 30),
    ("deleteacls", 31),
    ("describeconfigs", 32),
    ("alterconfigs", 33),
    // Not in Cilium: Kafka's later keys.
    ("alterreplicalogdirs", 34),
    ("describelogdirs", 35),
    ("saslauthenticate", 36),
    ("createpartitions", 37),
    ("createdelegationtoken", 38),
    ("renewdelegationtoken", 39),
    ("expiredelegationtoken", 40),
    ("describedelegationtoken", 41),
    ("deletegroups", 42),
    ("electleaders", 43),
    ("incrementalalterconfigs", 44),
    ("alterpartitionreassignments", 45),
    ("listpartitionreassignments", 46),
    ("offsetdelete", 47),
    ("describeclientquotas", 48),
    ("alterclientquotas", 49),
    ("describeuserscramcredentials", 50),
    ("alteruserscramcredentials", 51),
    ("vote", 52),
    ("beginquorumepoch", 53),
    ("endquorumepoch", 54),
    ("describequorum", 55),
    ("alterpartition", 56),
    ("updatefeatures", 57),
    ("envelope", 58),
    ("fetchsnapshot", 59),
    ("describecluster", 60),
    ("describeproducers", 61),
    ("brokerregistration", 62),
    ("brokerheartbeat", 63),
    ("unregisterbroker", 64),
    ("describetransactions", 65),
    ("listtransactions", 66),
    ("allocateproducerids", 67),
    ("consumergroupheartbeat", 68),
    ("consumergroupdescribe", 69),
    ("controllerregistration", 70),
    ("gettelemetrysubscriptions", 71),
    ("pushtelemetry", 72),
    ("assignreplicastodirs", 73),
    ("listclientmetricsresources", 74),
    ("describetopicpartitions", 75),
];

/// What each `role` expands to: Cilium's lists (`GetAPIKeys` in cilium's
/// `pkg/policy/api/kafka/kafka.go`), extended by what today's clients send for the same job.
///
/// * `produce`: Cilium's Produce (0), Metadata (3), ApiVersions (18); **plus InitProducerId
///   (22)**, the first request of an idempotent producer: the Java client enables idempotence
///   by default since Kafka 3.0, librdkafka with `enable.idempotence=true`, kafka-python with
///   `enable_idempotence=True`. Without it such a producer cannot produce at all.
/// * `consume`: Cilium's Fetch (1), ListOffsets (2), Metadata (3), OffsetCommit (8),
///   OffsetFetch (9), FindCoordinator (10), JoinGroup (11), Heartbeat (12), LeaveGroup (13),
///   SyncGroup (14), ApiVersions (18); **plus OffsetForLeaderEpoch (23)**, which consumers
///   send after a leader change to validate their position (KIP-320; Java client since 2.1,
///   librdkafka since 2.1), **and ConsumerGroupHeartbeat (68)**, the one group request of
///   KIP-848's consumer protocol (`group.protocol=consumer`: Java client 3.7+, default-ready in
///   4.0; librdkafka 2.4+), which replaces JoinGroup/SyncGroup/Heartbeat there.
///
/// * both: **client telemetry** (KIP-714): GetTelemetrySubscriptions (71) and PushTelemetry
///   (72). librdkafka 2.16 sends 71 on every connection it opens (measured through a relay in
///   front of tansu on 2026-12-07: README "Kafka policy" has the table), and pushes metrics
///   when the broker asks for them; they name no topic and change nothing.
///
/// Measured on 2026-12-07 with librdkafka 2.16 (confluent-kafka) and kafka-python 3.0.12: their
/// producers sent 0, 3, 18 (and 22 when idempotent; librdkafka also 71); their consumers 1, 2,
/// 3, 8, 9, 10, 11, 12, 13, 14, 18 (librdkafka also 71). Nothing outside these lists.
///
/// Left out on purpose: SASL (SaslHandshake 17, SaslAuthenticate 36; Cilium leaves them out
/// too, name them with `apiKey`) and admin requests such as DescribeCluster (60).
pub const ROLES: &[(&str, &[i16])] = &[
    ("produce", &[0, 3, 18, 22, 71, 72]),
    (
        "consume",
        &[1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 18, 23, 68, 71, 72],
    ),
];

/// The keys whose requests name topics, so that a rule's `topic` constrains them: Cilium's
/// `isTopicAPIKey` (cilium's `pkg/kafka/policy.go`), then (our extension) the later keys whose
/// requests name topics a client acts on. For every other key a rule's `topic` is ignored by
/// allow rules, as in Cilium (JoinGroup, Heartbeat, ... carry no topic a rule could check),
/// and never matched by deny rules.
///
/// Why extend: Cilium ignores `topic` on a key it does not list, so `{apiKey:
/// describetopicpartitions, topic: orders}` would describe every topic, and `{apiKey: 78,
/// topic: orders}` (ShareFetch) would read any. A rule that names a topic is read as meaning
/// it. Left out: the group heartbeats (68, 76), whose topic list is a subscription a client
/// may leave out when unchanged (the Fetch it leads to is checked), and the keys only brokers
/// and controllers send to each other.
pub const TOPIC_KEYS: &[i16] = &[
    0,  // Produce
    1,  // Fetch
    2,  // ListOffsets
    3,  // Metadata
    4,  // LeaderAndIsr
    5,  // StopReplica
    6,  // UpdateMetadata
    8,  // OffsetCommit
    9,  // OffsetFetch
    19, // CreateTopics
    20, // DeleteTopics
    21, // DeleteRecords
    23, // OffsetForLeaderEpoch
    24, // AddPartitionsToTxn
    27, // WriteTxnMarkers
    28, // TxnOffsetCommit
    34, // AlterReplicaLogDirs
    35, // DescribeLogDirs
    37, // CreatePartitions
    // Not in Cilium's list:
    32, // DescribeConfigs (its topic resources)
    33, // AlterConfigs (its topic resources)
    43, // ElectLeaders
    44, // IncrementalAlterConfigs (its topic resources)
    45, // AlterPartitionReassignments
    46, // ListPartitionReassignments
    47, // OffsetDelete
    61, // DescribeProducers
    75, // DescribeTopicPartitions
    78, // ShareFetch
    79, // ShareAcknowledge
    90, // DescribeShareGroupOffsets
    91, // AlterShareGroupOffsets
    92, // DeleteShareGroupOffsets
];

/// The key named `name` in [`API_KEYS`] (case-insensitive).
pub fn api_key_by_name(name: &str) -> Option<i16> {
    API_KEYS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, k)| *k)
}

/// The name of `key` in [`API_KEYS`], for logs; `None` for a key it does not list.
pub fn api_key_name(key: i16) -> Option<&'static str> {
    API_KEYS.iter().find(|(_, k)| *k == key).map(|(n, _)| *n)
}

/// The keys role `name` expands to (case-insensitive), see [`ROLES`].
pub fn role_keys(name: &str) -> Option<&'static [i16]> {
    ROLES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, k)| *k)
}

/// Whether requests of `key` name topics (see [`TOPIC_KEYS`]).
pub fn is_topic_key(key: i16) -> bool {
    TOPIC_KEYS.contains(&key)
}

/// Metadata (key 3).
pub const METADATA: i16 = 3;

/// Whether this request is about topics. A Metadata request with an empty topic list (v1 on;
/// not the null list, which asks for every topic) asks for the brokers and the cluster only:
/// clients send it to bootstrap (kafka-python) and to refresh brokers (librdkafka), and it
/// tells nothing of any topic. Cilium denies it under any rule with a `topic`, which stops
/// those clients from connecting at all; here it is decided as a key without topics (our
/// extension).
pub fn names_topics(req: &crate::KafkaRequest<'_>) -> bool {
    is_topic_key(req.api_key)
        && !(req.api_key == METADATA && req.topics.is_empty() && !req.all_topics)
}
