//! Bodies a hostile client writes.

use bytes::{BufMut, Bytes, BytesMut};
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
fn bytes_after_the_body_are_refused() {
    let r = request(ApiKey::Metadata, 1, b"\x00\x00\x00\x00junk");
    assert_eq!(
        r.decode_body(),
        Err(KafkaError::TrailingBytes {
            api_key: 3,
            api_version: 1,
            extra: 4
        })
    );
}

#[test]
fn an_array_length_over_the_remaining_bytes_within_reason_is_an_error() {
    // 1000 topics declared, none there.
    let r = request(ApiKey::Metadata, 1, b"\x00\x00\x03\xe8");
    assert!(matches!(r.decode_body(), Err(KafkaError::Body { .. })));
    let _ = Bytes::new();
}
