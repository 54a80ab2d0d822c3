use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;

use super::super::header::read_rest;
use super::super::{KafkaError, Request};
use super::*;

/// (a) Every key and version: the header the crate writes reads back the same, flexible (v2,
/// tagged fields) or not (v1), and the body is the rest of the frame, which the crate decodes
/// to what it encoded.
#[test]
fn every_request_header_reads_back() {
    let mut flexible = 0;
    for (key, version) in every_key_and_version() {
        let body = default_body(key);
        let frame = client_frame(key, version, 0x0102_0304, &body);
        let request = read_request(&frame);
        let h = &request.header;
        assert_eq!(h.api_key, key);
        assert_eq!(h.api_version, version);
        assert_eq!(h.correlation_id, 0x0102_0304);
        assert_eq!(h.client_id.as_deref(), Some(&b"sockmesh-test"[..]));
        assert_eq!(h.header_version, request_header_version(key, version));
        flexible += usize::from(h.header_version == 2);
        let decoded = request
            .decode_body()
            .unwrap_or_else(|e| panic!("{key:?} v{version}: {e}"));
        assert_eq!(decoded, body, "{key:?} v{version}");
    }
    assert!(flexible > 100, "{flexible} flexible versions");
}

/// Header v2's tagged fields are skipped whatever they hold.
#[test]
fn tagged_fields_in_a_v2_header_are_skipped() {
    let mut b = BytesMut::new();
    b.put_i16(-1); // null client id
    b.put_u8(2); // two tagged fields
    b.put_u8(0);
    b.put_u8(3);
    b.put_slice(b"abc");
    b.put_u8(0x81);
    b.put_u8(0x01); // tag 129
    b.put_u8(0);
    b.put_slice(b"body");
    let mut buf = b.freeze();
    assert_eq!(read_rest(&mut buf, 2), Ok(None));
    assert_eq!(&buf[..], b"body");
}

/// Header v0 (ControlledShutdown v0 only, a key the crate does not know) has no client id.
#[test]
fn header_v0_has_no_client_id() {
    let mut buf = Bytes::from_static(b"\x00\x05body");
    assert_eq!(read_rest(&mut buf, 0), Ok(None));
    assert_eq!(buf.len(), 6);
}

/// kafka-protocol's own key -> header version map answers the response's header version for
/// the keys 80-92; the codec's own table does not, and the test above reads their frames.
#[test]
fn the_crates_key_map_differs_only_where_known() {
    let mut differ = Vec::new();
    for (key, version) in every_key_and_version() {
        if key.request_header_version(version) != request_header_version(key, version) {
            differ.push(key as i16);
        }
    }
    differ.dedup();
    assert!(differ.iter().all(|&k| (80..=92).contains(&k)), "{differ:?}");
}

fn payload(bytes: &[u8]) -> Result<Request, KafkaError> {
    Request::parse(Bytes::copy_from_slice(bytes))
}

#[test]
fn bad_headers_are_typed_errors() {
    assert_eq!(
        payload(b"\x00\x03\x00").unwrap_err(),
        KafkaError::Header("under 8 bytes")
    );
    assert_eq!(
        payload(b"\x03\xe7\x00\x00\x00\x00\x00\x09").unwrap_err(),
        KafkaError::UnknownApiKey {
            api_key: 999,
            correlation_id: 9
        }
    );
    assert_eq!(
        payload(b"\x00\x00\x00\x63\x00\x00\x00\x09").unwrap_err(),
        KafkaError::UnsupportedVersion {
            api_key: 0,
            api_version: 99,
            correlation_id: 9
        }
    );
    // Produce v3 (header v1): a client id running past the frame, a negative length.
    assert_eq!(
        payload(b"\x00\x00\x00\x03\x00\x00\x00\x09\x00\x10ab").unwrap_err(),
        KafkaError::Header("client id runs past the frame")
    );
    assert_eq!(
        payload(b"\x00\x00\x00\x03\x00\x00\x00\x09\xff\xfe").unwrap_err(),
        KafkaError::Header("client id length is negative")
    );
    // Produce v9 (header v2): tagged fields cut short, a varint too long.
    assert_eq!(
        payload(b"\x00\x00\x00\x09\x00\x00\x00\x09\xff\xff\x01\x00\x05ab").unwrap_err(),
        KafkaError::Header("tagged field runs past the frame")
    );
    assert_eq!(
        payload(b"\x00\x00\x00\x09\x00\x00\x00\x09\xff\xff\xff\xff\xff\xff\xff\x01").unwrap_err(),
        KafkaError::Header("varint longer than 5 bytes")
    );
}

/// A client id that is not UTF-8 is kept as bytes (Java's broker reads it leniently).
#[test]
fn a_client_id_need_not_be_utf8() {
    let request = payload(b"\x00\x12\x00\x00\x00\x00\x00\x01\x00\x02\xff\xfe").expect("parses");
    assert_eq!(request.header.api_key, ApiKey::ApiVersions);
    assert_eq!(request.header.client_id.as_deref(), Some(&b"\xff\xfe"[..]));
}

/// `ApiKey::valid_versions` in kafka-protocol 0.18 names versions its request structs do not
/// read (OffsetCommit and OffsetFetch v10, InitProducerId v6); the codec refuses those as
/// unsupported rather than fail in the body decoder.
#[test]
fn versions_the_crate_lists_but_cannot_read() {
    let mut beyond = Vec::new();
    for key in ApiKey::iter() {
        let listed = key.valid_versions();
        for v in listed.min..=listed.max {
            if !knows_version(key, v) {
                beyond.push((key, v));
            }
        }
    }
    let expected = [
        (ApiKey::OffsetCommit, 10),
        (ApiKey::OffsetFetch, 10),
        (ApiKey::InitProducerId, 6),
    ];
    assert_eq!(beyond, expected);
}
