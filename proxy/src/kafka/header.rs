//! The request header, read by the proxy itself, for every request.
//!
//! Every request starts with the API key, version and correlation id (8 bytes, the same in every
//! header version); then, from header v1, a nullable client id (an i16-length string, not a
//! compact one, even in v2); then, in v2 (flexible versions), tagged fields. Which header version
//! a request has depends on its key and version ([`api::request_header_version`]).
//!
//! The proxy reads this itself rather than with kafka-protocol's `RequestHeader`: it must name
//! the correlation id of a request whose key or version the crate does not know (to log it), keep
//! a client id that is not UTF-8 (Java's broker reads it leniently, so policy must see what the
//! broker sees rather than refuse), and return typed errors. The tests compare it with the crate
//! over every key and version.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::ApiKey;

use super::KafkaError;
use super::api;

/// A request header as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    pub api_key: ApiKey,
    pub api_version: i16,
    pub correlation_id: i32,
    /// The client id's bytes (`None`: null; header v0 has none).
    pub client_id: Option<Bytes>,
    /// 0, 1 or 2.
    pub header_version: i16,
}

/// A request split into its header and body. What is forwarded is the frame it came in
/// ([`Frame::bytes`](super::Frame::bytes)), not this.
#[derive(Debug, Clone)]
pub struct Request {
    pub header: RequestHeader,
    /// The body after the header (a slice of the frame).
    pub body: Bytes,
}

impl RequestHeader {
    /// The client id as policy reads it: `None` when null, absent or not UTF-8 (a `clientID`
    /// rule then cannot match: refused, never guessed).
    pub fn client_id_str(&self) -> Option<&str> {
        self.client_id
            .as_deref()
            .and_then(|c| std::str::from_utf8(c).ok())
    }
}

impl Request {
    /// Reads the header of a frame's payload (prefix removed). Refuses keys and versions
    /// kafka-protocol does not know: the proxy can neither check nor answer those.
    pub fn parse(payload: Bytes) -> Result<Request, KafkaError> {
        let mut buf = payload;
        if buf.remaining() < 8 {
            return Err(KafkaError::Header("under 8 bytes"));
        }
        let raw_key = buf.get_i16();
        let api_version = buf.get_i16();
        let correlation_id = buf.get_i32();
        let api_key = ApiKey::try_from(raw_key).map_err(|()| KafkaError::UnknownApiKey {
            api_key: raw_key,
            correlation_id,
        })?;
        if !api::knows_version(api_key, api_version) {
            return Err(KafkaError::UnsupportedVersion {
                api_key: raw_key,
                api_version,
                correlation_id,
            });
        }
        let header_version = api::request_header_version(api_key, api_version);
        let client_id = read_rest(&mut buf, header_version)?;
        Ok(Request {
            header: RequestHeader {
                api_key,
                api_version,
                correlation_id,
                client_id,
                header_version,
            },
            body: buf,
        })
    }
}

/// After the first 8 bytes: the client id (v1+) and tagged fields (v2). Public to the module for
/// the header v0 test (ControlledShutdown v0, the only v0 user, is not a key the crate knows).
pub(super) fn read_rest(buf: &mut Bytes, header_version: i16) -> Result<Option<Bytes>, KafkaError> {
    if header_version < 1 {
        return Ok(None);
    }
    if buf.remaining() < 2 {
        return Err(KafkaError::Header("no client id length"));
    }
    let len = buf.get_i16();
    let client_id = match usize::try_from(len) {
        Ok(len) if len <= buf.remaining() => Some(buf.split_to(len)),
        Ok(_) => return Err(KafkaError::Header("client id runs past the frame")),
        Err(_) if len == -1 => None,
        Err(_) => return Err(KafkaError::Header("client id length is negative")),
    };
    if header_version >= 2 {
        skip_tagged_fields(buf)?;
    }
    Ok(client_id)
}

/// Skips a tagged field section: a count, then per field a tag, a size and that many bytes.
fn skip_tagged_fields(buf: &mut Bytes) -> Result<(), KafkaError> {
    let count = varint(buf)?;
    for _ in 0..count {
        let _tag = varint(buf)?;
        let size = varint(buf)? as usize;
        if size > buf.remaining() {
            return Err(KafkaError::Header("tagged field runs past the frame"));
        }
        buf.advance(size);
    }
    Ok(())
}

/// An unsigned varint of at most 5 bytes (a u32).
fn varint(buf: &mut Bytes) -> Result<u32, KafkaError> {
    let mut value: u32 = 0;
    for i in 0..5 {
        if !buf.has_remaining() {
            return Err(KafkaError::Header("tagged fields cut short"));
        }
        let b = buf.get_u8();
        value |= u32::from(b & 0x7f) << (i * 7);
        if b < 0x80 {
            return Ok(value);
        }
    }
    Err(KafkaError::Header("varint longer than 5 bytes"))
}
