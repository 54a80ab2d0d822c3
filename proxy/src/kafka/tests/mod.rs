//! The codec against kafka-protocol playing the client: requests encoded by the crate are read
//! by the proxy's code, and the proxy's answers are read back by the crate, over every API key
//! and version the crate knows.

mod deny;
mod frame;
mod header;
mod hostile;
mod narrowed;
mod rewrite;
mod topics;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use super::api::{each_api, knows_version, request_header_version, response_header_version};
use super::{Denial, FrameReader, Refusal, Request};

/// Every (key, version) kafka-protocol 0.18 knows.
pub(super) fn every_key_and_version() -> Vec<(ApiKey, i16)> {
    ApiKey::iter()
        .flat_map(|key| {
            (-1..=30)
                .filter(move |&v| knows_version(key, v))
                .map(move |v| (key, v))
        })
        .collect()
}

macro_rules! default_bodies {
    ($($key:ident => $req:ident, $resp:ident;)*) => {
        /// The crate's default request of a key.
        pub(super) fn default_body(key: ApiKey) -> RequestKind {
            match key {
                $(ApiKey::$key => RequestKind::$key($req::default()),)*
            }
        }
    };
}
each_api!(default_bodies);

/// A whole frame as a client sends it, header and body encoded by the crate.
pub(super) fn client_frame(
    key: ApiKey,
    version: i16,
    correlation: i32,
    body: &RequestKind,
) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation)
        .with_client_id(Some(StrBytes::from_static_str("sockmesh-test")));
    let mut payload = BytesMut::new();
    header
        .encode(&mut payload, request_header_version(key, version))
        .expect("header encodes");
    body.encode(&mut payload, version)
        .unwrap_or_else(|e| panic!("{key:?} v{version} body encodes: {e:#}"));
    let mut frame = BytesMut::new();
    frame.put_i32(payload.len() as i32);
    frame.extend_from_slice(&payload);
    frame.freeze()
}

/// The frame read back through the proxy's reader and header parser.
pub(super) fn read_request(frame: &Bytes) -> Request {
    let mut reader = FrameReader::default();
    assert_eq!(reader.feed(frame), frame.len().min(4));
    let mut at = 4;
    loop {
        if let Some(f) = reader.next_frame().expect("frame") {
            assert_eq!(f.bytes(), frame, "the frame is the client's bytes");
            return Request::parse(f.payload()).expect("header parses");
        }
        at += reader.feed(&frame[at..]);
    }
}

/// A denial's frame read back by the crate: (correlation id, response).
pub(super) fn read_response(request: &Request, denial: &Denial) -> (i32, ResponseKind) {
    let Denial::Respond(frame) = denial else {
        panic!("{:?}: no response", request.header.api_key)
    };
    let key = request.header.api_key;
    let version = request.header.api_version;
    let mut buf = frame.clone();
    let len = bytes::Buf::get_i32(&mut buf);
    assert_eq!(len as usize, buf.len(), "{key:?} v{version}: length prefix");
    let header = ResponseHeader::decode(&mut buf, response_header_version(key, version))
        .expect("response header decodes");
    let body = ResponseKind::decode(key, &mut buf, version)
        .unwrap_or_else(|e| panic!("{key:?} v{version}: response decodes: {e:#}"));
    assert!(
        buf.is_empty(),
        "{key:?} v{version}: bytes after the response"
    );
    (header.correlation_id, body)
}

/// Denies a request encoded by the crate and reads the answer back.
pub(super) fn deny_and_read(key: ApiKey, version: i16, body: &RequestKind) -> (i32, ResponseKind) {
    let frame = client_frame(key, version, 7, body);
    let request = read_request(&frame);
    let decoded = request.decode_body().expect("body decodes");
    let denial = super::deny(&request, &decoded, Refusal::Denied)
        .unwrap_or_else(|e| panic!("{key:?} v{version}: {e}"));
    read_response(&request, &denial)
}
