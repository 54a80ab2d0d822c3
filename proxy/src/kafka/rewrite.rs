//! The few broker responses the proxy reads on their way to the client, pure: the frame's
//! payload in, the payload to send (if changed) out.
//!
//! - ApiVersions: each key's versions are cut to those kafka-protocol reads, and keys it does
//!   not know are dropped, so a client never negotiates a request the proxy cannot parse (a
//!   header it cannot place the client id in, a body a rule needs and it cannot decode).
//! - Metadata, FindCoordinator, DescribeCluster: see [`super::addresses`] (topic ids learned,
//!   broker addresses replaced).
//!
//! A response that does not decode is relayed as it came: the client reads the broker's bytes,
//! and nothing is learned from them. (ApiVersions with an error, e.g. UNSUPPORTED_VERSION, is
//! encoded at v0 whatever was asked; it carries the broker's versions for the client's retry.)

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};

use super::known_versions;

/// The last versions of the keys whose later versions name topics by id alone: offered where
/// the proxy cannot tell which cluster an id belongs to (`names_only`, under interception:
/// `conn/scope.rs`).
pub const LAST_BY_NAME: &[(ApiKey, i16)] = &[(ApiKey::Produce, 12), (ApiKey::Fetch, 12)];

/// The ApiVersions response `payload` (no length prefix) answered to a request at `version`,
/// with the versions cut (and, with `names_only`, [`LAST_BY_NAME`] applied); `None` when it is
/// to be relayed unchanged (unreadable, or an error).
pub fn api_versions(payload: &Bytes, version: i16, names_only: bool) -> Option<Bytes> {
    let mut buf = payload.clone();
    // ApiVersions responses always have header v0 (KIP-511): the correlation id alone.
    let header = ResponseHeader::decode(&mut buf, 0).ok()?;
    let mut body = ApiVersionsResponse::decode(&mut buf, version).ok()?;
    if buf.has_remaining() || body.error_code != 0 {
        return None;
    }
    body.api_keys.retain_mut(|k| {
        let Ok(key) = ApiKey::try_from(k.api_key) else {
            return false;
        };
        let ours = known_versions(key);
        k.min_version = k.min_version.max(ours.min);
        k.max_version = k.max_version.min(ours.max);
        if names_only && let Some(&(_, last)) = LAST_BY_NAME.iter().find(|(k, _)| *k == key) {
            k.max_version = k.max_version.min(last);
        }
        k.min_version <= k.max_version
    });
    let mut out = BytesMut::with_capacity(payload.len());
    header.encode(&mut out, 0).ok()?;
    body.encode(&mut out, version).ok()?;
    Some(out.freeze())
}
