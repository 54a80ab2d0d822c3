//! Bodies a hostile client writes.

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::ApiKey;

use super::super::{KafkaError, Request};

fn request(key: ApiKey, version: i16, body: &[u8]) -> Request {
    let mut b = BytesMut::new();
    b.put_i16(key as i16);
    b.put_i16(version);
    b.put_i32(1);
    b.put_i16(-1);
    if super::request_header_version(key, version) >= 2 {
        b.put_u8(0);
    }
    b.put_slice(body);
    Request::parse(b.freeze()).expect("header parses")
}

#[test]
fn a_truncated_body_is_a_typed_error() {
    let r = request(ApiKey::Metadata, 1, b"\x00\x00\x00\x02\x00\x03ab");
    assert!(matches!(
        r.decode_body(),
        Err(KafkaError::Body { api_key: 3, .. })
    ));
}

#[test]
fn bytes_after_the_body_are_left_as_the_broker_leaves_them() {
    // librdkafka 2.16's AdminClient Metadata v12 (seen on the wire): topics null, two bools,
    // v10's include_cluster_authorized_operations, then what v12 reads as 3 bytes too many.
    let r = request(ApiKey::Metadata, 12, &[0, 0, 0, 0, 1, 0, 0]);
    assert!(r.decode_body().is_ok());
}

#[test]
fn an_array_length_over_the_remaining_bytes_within_reason_is_an_error() {
    // 1000 topics declared, none there.
    let r = request(ApiKey::Metadata, 1, b"\x00\x00\x03\xe8");
    assert!(matches!(r.decode_body(), Err(KafkaError::Body { .. })));
}

/// kafka-protocol 0.18 as released allocates the declared length of an array before reading
/// an element: 2^31-1 topics made it ask for about 2^31 * 56 bytes and abort the process. The
/// patched copy (third_party/kafka-protocol/SOCKMESH-PATCH.md) refuses the count instead. Each
/// array form (i32 count, compact varint count) at the largest count it can declare, in a
/// frame of a few bytes.
#[test]
fn a_declared_array_length_over_the_bytes_left_is_an_error_not_an_abort() {
    let cases: [(ApiKey, i16, &[u8]); 3] = [
        (ApiKey::Metadata, 1, b"\x7f\xff\xff\xff\x00\x01a"),
        // Produce v3: null transactional id, acks, timeout, then 2^30 topics.
        (
            ApiKey::Produce,
            3,
            b"\xff\xff\x00\x01\x00\x00\x03\xe8\x40\x00\x00\x00",
        ),
        // Metadata v12 (flexible): a compact array of 2^32-2 topics.
        (ApiKey::Metadata, 12, b"\xff\xff\xff\xff\x0f\x00"),
    ];
    for (key, version, body) in cases {
        let r = request(key, version, body);
        assert!(
            matches!(r.decode_body(), Err(KafkaError::Body { .. })),
            "{key:?} v{version}"
        );
    }
}
