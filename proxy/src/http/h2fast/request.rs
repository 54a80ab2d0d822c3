//! A request header block, as HPACK decodes it field by field, made into an `http::Request`
//! with RFC 9113 section 8.3's rules: pseudo-fields first and once each, lowercase names, no
//! connection-specific fields (the set `headers::is_connection_specific` names), `te` only as
//! `trailers`, one consistent `content-length`.
//!
//! The decoded bytes of `:authority`, `:path` and every value go into one buffer of the
//! connection's (the arena), and the request's parts are slices of it: no allocation per field.
//! A slice keeps its chunk of the arena alive, and the arena reuses a chunk once no request
//! holds it.

use std::ops::Range;

use bytes::BytesMut;
use http::header::{self, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, Method, Request, Uri};
use smallvec::SmallVec;

use crate::http::headers::{is_connection_specific, length_digits};

/// A malformed request (a stream error, PROTOCOL_ERROR): why, for the debug log.
pub type Malformed = &'static str;

/// What the arena keeps in reserve for the next header block.
const ARENA_CHUNK: usize = 4096;

/// Regular fields kept inline before `into_request`; more spill to the heap.
type Fields = SmallVec<[(HeaderName, Range<usize>); 12]>;

#[derive(Default)]
pub struct Head {
    method: Option<Method>,
    scheme: Option<Scheme>,
    authority: Option<Range<usize>>,
    path: Option<Range<usize>>,
    fields: Fields,
    content_length: Option<u64>,
    regular: bool,
    malformed: Option<Malformed>,
}

/// Empties `arena` for a new header block, keeping (or reclaiming) room for one.
pub fn start_block(arena: &mut BytesMut) {
    arena.clear();
    if arena.capacity() < ARENA_CHUNK / 4 {
        arena.reserve(ARENA_CHUNK);
    }
}

/// Appends `bytes` to the arena; where they are.
fn keep(arena: &mut BytesMut, bytes: &[u8]) -> Range<usize> {
    let start = arena.len();
    arena.extend_from_slice(bytes);
    start..arena.len()
}

impl Head {
    /// One decoded field; its bytes go into `arena` (emptied by `start_block` first).
    pub fn field(&mut self, arena: &mut BytesMut, name: &[u8], value: &[u8]) {
        if self.malformed.is_some() {
            return;
        }
        if let Err(why) = self.add(arena, name, value) {
            self.malformed = Some(why);
        }
    }

    fn add(&mut self, arena: &mut BytesMut, name: &[u8], value: &[u8]) -> Result<(), Malformed> {
        if name.first() == Some(&b':') {
            if self.regular {
                return Err("pseudo-header field after a regular field");
            }
            let slot = match name {
                b":method" => {
                    if self.method.is_some() {
                        return Err("two :method fields");
                    }
                    let method = Method::from_bytes(value).map_err(|_| "invalid :method")?;
                    self.method = Some(method);
                    return Ok(());
                }
                b":scheme" => {
                    if self.scheme.is_some() {
                        return Err("repeated pseudo-header field");
                    }
                    // `http` and `https` are kept without allocating.
                    let scheme = Scheme::try_from(value).map_err(|_| "invalid :scheme")?;
                    self.scheme = Some(scheme);
                    return Ok(());
                }
                b":authority" => &mut self.authority,
                b":path" => &mut self.path,
                _ => return Err("unknown or response pseudo-header field"),
            };
            if slot.is_some() {
                return Err("repeated pseudo-header field");
            }
            *slot = Some(keep(arena, value));
            return Ok(());
        }
        self.regular = true;
        if name.iter().any(u8::is_ascii_uppercase) {
            return Err("uppercase field name");
        }
        // Section 8.2.1: no whitespace at either end (CR, LF and NUL HeaderValue refuses).
        if value.first().is_some_and(|b| *b == b' ' || *b == b'\t')
            || value.last().is_some_and(|b| *b == b' ' || *b == b'\t')
        {
            return Err("field value with leading or trailing whitespace");
        }
        let name = HeaderName::from_bytes(name).map_err(|_| "invalid field name")?;
        if is_connection_specific(&name) {
            return Err("connection-specific field");
        }
        if name == header::TE && value != b"trailers" {
            return Err("te other than trailers");
        }
        if name == header::CONTENT_LENGTH {
            let n = length_digits(value).ok_or("invalid content-length")?;
            if self.content_length.is_some_and(|c| c != n) {
                return Err("conflicting content-length fields");
            }
            self.content_length = Some(n);
        }
        // The value is checked as it becomes a `HeaderValue`, in `into_request`.
        self.fields.push((name, keep(arena, value)));
        Ok(())
    }

    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    /// The request, or why it is malformed; its bytes are taken out of `arena`.
    pub fn into_request(self, arena: &mut BytesMut) -> Result<Request<()>, Malformed> {
        if let Some(why) = self.malformed {
            return Err(why);
        }
        let block = arena.split().freeze();
        let method = self.method.ok_or("missing :method")?;
        let mut parts = http::uri::Parts::default();
        if let Some(a) = self.authority {
            parts.authority = Some(
                Authority::from_maybe_shared(block.slice(a)).map_err(|_| "invalid :authority")?,
            );
        }
        if method == Method::CONNECT {
            if self.scheme.is_some() || self.path.is_some() {
                return Err(":scheme or :path in CONNECT");
            }
            if parts.authority.is_none() {
                return Err("CONNECT without :authority");
            }
        } else {
            let scheme = self.scheme.ok_or("missing :scheme")?;
            let path = self
                .path
                .filter(|p| !p.is_empty())
                .map(|p| block.slice(p))
                .ok_or("missing :path")?;
            // Section 8.3.1: origin form, or `*` for OPTIONS; never a fragment.
            let origin_form = path.first() == Some(&b'/');
            if !(origin_form || (&path[..] == b"*" && method == Method::OPTIONS))
                || path.contains(&b'#')
            {
                return Err("invalid :path");
            }
            // A URI with a scheme needs an authority: without one only the path is kept (as
            // the `h2` crate does); the scheme was checked all the same.
            if parts.authority.is_some() {
                parts.scheme = Some(scheme);
            }
            parts.path_and_query =
                Some(PathAndQuery::from_maybe_shared(path).map_err(|_| "invalid :path")?);
        }
        let uri = Uri::from_parts(parts).map_err(|_| "invalid request target")?;
        let mut headers =
            HeaderMap::try_with_capacity(self.fields.len()).map_err(|_| "too many fields")?;
        for (name, value) in self.fields {
            let value = HeaderValue::from_maybe_shared(block.slice(value))
                .map_err(|_| "invalid field value")?;
            headers
                .try_append(name, value)
                .map_err(|_| "too many fields")?;
        }
        let mut req = Request::new(());
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        *req.version_mut() = http::Version::HTTP_2;
        *req.headers_mut() = headers;
        Ok(req)
    }
}
