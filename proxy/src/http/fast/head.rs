//! Message heads on the HTTP/1.1 fast path: parsed in place with httparse, sorted into what the
//! fast path relays itself and what it leaves to hyper, and written back out without their
//! hop-by-hop fields (RFC 9110 section 7.6.1).

use std::mem::MaybeUninit;

use httparse::{Header, Status};

use crate::config::HeadersWithUnderscores;
use crate::http::headers::{is_hop_by_hop, length_digits, status_digits};
use crate::http::host as hosts;
use crate::http::sanitize::Reading;

/// Header fields a request may have on the fast path; more goes to hyper (which allows 100).
pub const MAX_HEADERS: usize = 64;
/// Header fields of a response: hyper's client limit.
const MAX_RESPONSE_HEADERS: usize = 100;
/// Request bodies up to this size are relayed whole; larger ones go to hyper, which streams them
/// and watches for an early response.
pub const MAX_BODY: u64 = 64 * 1024;

/// A request the fast path relays.
pub struct Request<'h> {
    pub method: &'h str,
    /// Origin-form target (path and query).
    pub target: &'h str,
    pub host: &'h str,
    pub headers: &'h [Header<'h>],
    /// Bytes of the head, body excluded.
    pub len: usize,
    pub body: u64,
    /// The client asked to close after this exchange.
    pub close: bool,
}

pub enum ParsedRequest<'h> {
    /// More bytes needed.
    Partial,
    Fast(Request<'h>),
    /// Anything else (bodies to stream, upgrades, `Expect`, HTTP/1.0, absolute-form, errors):
    /// hyper serves it, from these same bytes.
    Slow,
}

/// Header storage for one parse; uninitialised, so a fresh one per parse costs nothing.
pub type Storage<'h> = [MaybeUninit<Header<'h>>; MAX_HEADERS];

pub fn storage<'h>() -> Storage<'h> {
    [const { MaybeUninit::uninit() }; MAX_HEADERS]
}

/// Target bytes httparse takes but `http::Uri` strips or refuses.
fn needs_hyper(b: u8) -> bool {
    !b.is_ascii_graphic()
        || matches!(
            b,
            b'#' | b'<' | b'>' | b'`' | b'"' | b'{' | b'}' | b'|' | b'\\' | b'^'
        )
}

/// Parses a request head from the start of `buf`. Only a request that `http::sanitize` would
/// leave as it is (read as `reading` says) is `Fast`: the fast path forwards what it checked
/// without rewriting it.
pub fn parse_request<'h>(
    buf: &'h [u8],
    storage: &'h mut Storage<'h>,
    reading: &Reading,
) -> ParsedRequest<'h> {
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, storage) {
        Ok(Status::Complete(len)) => len,
        Ok(Status::Partial) => return ParsedRequest::Partial,
        Err(_) => return ParsedRequest::Slow,
    };
    let (Some(method), Some(target), Some(1)) = (req.method, req.path, req.version) else {
        return ParsedRequest::Slow;
    };
    // A path that normalises to something else (or not at all, an escaped slash included), or
    // with bytes the `http` crate treats differently from httparse (a `#fragment` it strips,
    // `<` and the like it refuses), is rewritten or refused by the hyper path, which forwards
    // what it checked.
    if method == "CONNECT"
        || !target.starts_with('/')
        || target.bytes().any(needs_hyper)
        || !matches!(
            crate::http::path::normalize(target, reading.settings.escaped_slashes),
            Ok(std::borrow::Cow::Borrowed(_))
        )
    {
        return ParsedRequest::Slow;
    }
    let keep_underscored =
        reading.settings.headers_with_underscores == HeadersWithUnderscores::Allow;
    let (mut host, mut body, mut close) = (None, None, false);
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("host") {
            // A second Host (answered 400 by the hyper path), or one that is not a plain
            // host[:port] in canonical form (checked, made canonical or refused there).
            match (host, visible_ascii(h.value)) {
                (None, Some(v))
                    if plain_host(v) && hosts::is_canonical(v, reading.default_port(None)) =>
                {
                    host = Some(v)
                }
                _ => return ParsedRequest::Slow,
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            // Any second Content-Length (even an equal one) goes to hyper: two framings of one
            // message are how requests are smuggled.
            match (body, length_digits(h.value)) {
                (None, Some(n)) if n <= MAX_BODY => body = Some(n),
                _ => return ParsedRequest::Slow,
            }
        } else if name.eq_ignore_ascii_case("connection") {
            match connection_tokens(h.value) {
                Some(c) => close |= c,
                None => return ParsedRequest::Slow,
            }
        } else if is_slow_request_field(name) || (!keep_underscored && name.contains('_')) {
            // Underscored names are dropped or refused by the hyper path.
            return ParsedRequest::Slow;
        }
    }
    let Some(host) = host else {
        return ParsedRequest::Slow;
    };
    ParsedRequest::Fast(Request {
        method,
        target,
        host,
        headers: req.headers,
        len,
        body: body.unwrap_or(0),
        close,
    })
}

/// A field value as text, as hyper's `HeaderValue::to_str` reads it: visible ASCII, space, tab.
pub fn visible_ascii(v: &[u8]) -> Option<&str> {
    v.iter()
        .all(|b| *b == b'\t' || (0x20..0x7f).contains(b))
        .then(|| std::str::from_utf8(v).ok())
        .flatten()
}

/// A registered name or IPv4 address with at most one port (RFC 3986 section 3.2.2): what the
/// fast path forwards as it is. The rest (IPv6 literals, junk) is the hyper path's to check, so
/// this must accept nothing that path refuses (its `is_host_port`).
pub(super) fn plain_host(v: &str) -> bool {
    v.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:".contains(&b))
        && v.bytes().filter(|b| *b == b':').count() <= 1
}

/// Fields that need hyper's handling: other framings, protocol switches, `Expect: 100-continue`,
/// and hop-by-hop fields the fast path would have to interpret.
fn is_slow_request_field(name: &str) -> bool {
    [
        "transfer-encoding",
        "te",
        "upgrade",
        "expect",
        "http2-settings",
        "trailer",
    ]
    .iter()
    .any(|n| name.eq_ignore_ascii_case(n))
}

/// `Some(close)` when the `Connection` value holds only `close` / `keep-alive` tokens; `None` when
/// it names other fields (hyper strips those).
fn connection_tokens(value: &[u8]) -> Option<bool> {
    let mut close = false;
    for token in value.split(|b| *b == b',') {
        let token = token.trim_ascii();
        if token.eq_ignore_ascii_case(b"close") {
            close = true;
        } else if !token.eq_ignore_ascii_case(b"keep-alive") && !token.is_empty() {
            return None;
        }
    }
    Some(close)
}

/// Writes the request head for the upstream: the same request line and fields, minus hop-by-hop
/// ones (`Connection`, `Keep-Alive`, `Proxy-*`; the others never take the fast path).
pub fn write_request(req: &Request<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(req.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(req.target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for h in req.headers {
        if !is_hop_by_hop(h.name) {
            write_field(out, h.name, h.value);
        }
    }
    out.extend_from_slice(b"\r\n");
}

pub fn write_field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// How a response body ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    Empty,
    Length(u64),
    Chunked,
    /// Until the upstream closes (no length, no chunking): the client connection closes too.
    UntilClose,
}

/// An upstream response head, already rewritten for the client in `out`.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub len: usize,
    pub framing: Framing,
    /// The upstream connection cannot carry another request.
    pub upstream_close: bool,
    /// The head told the client this connection closes after the response.
    pub close_client: bool,
}

#[derive(Debug)]
pub enum ParsedResponse {
    Partial,
    Done(Response),
    Invalid(&'static str),
}

/// Where a parsed response head goes: HTTP/1.1 bytes for a client of the fast path (`Vec<u8>`),
/// or the fields of an HTTP/2 response (`http/h2fast`).
pub trait HeadOut {
    fn status(&mut self, status: u16, reason: &str);
    /// A field for the client; hop-by-hop ones never come here, except `Transfer-Encoding`,
    /// which states the framing the body is relayed in.
    fn field(&mut self, name: &str, value: &[u8]);
    /// The head is complete; `close`: the client connection closes after this response.
    fn end(&mut self, close: bool);
}

impl HeadOut for Vec<u8> {
    fn status(&mut self, status: u16, reason: &str) {
        self.extend_from_slice(b"HTTP/1.1 ");
        self.extend_from_slice(status_digits(status).as_slice());
        self.push(b' ');
        self.extend_from_slice(reason.as_bytes());
        self.extend_from_slice(b"\r\n");
    }

    fn field(&mut self, name: &str, value: &[u8]) {
        write_field(self, name, value);
    }

    fn end(&mut self, close: bool) {
        if close {
            self.extend_from_slice(b"connection: close\r\n");
        }
        self.extend_from_slice(b"\r\n");
    }
}

/// Parses a response head at the start of `buf` and, when complete, writes it for the client
/// into `out` (hop-by-hop fields removed; `Connection: close` added when `close_client`).
/// `head_request`: the request was `HEAD`, so the response has no body whatever it says.
pub fn parse_response(
    buf: &[u8],
    head_request: bool,
    close_client: bool,
    out: &mut impl HeadOut,
) -> ParsedResponse {
    let mut storage = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
    let mut resp = httparse::Response::new(&mut storage);
    let len = match resp.parse(buf) {
        Ok(Status::Complete(len)) => len,
        Ok(Status::Partial) => return ParsedResponse::Partial,
        Err(_) => return ParsedResponse::Invalid("malformed response head"),
    };
    let (Some(version), Some(status)) = (resp.version, resp.code) else {
        return ParsedResponse::Invalid("malformed response head");
    };
    if status == 101 {
        return ParsedResponse::Invalid("101 without an upgrade request");
    }
    let mut length: Option<u64> = None;
    let (mut chunked, mut encoded, mut upstream_close) = (false, false, version == 0);
    let mut named: Vec<&[u8]> = Vec::new();
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            match length_digits(h.value) {
                Some(n) if length.is_none_or(|l| l == n) => length = Some(n),
                _ => return ParsedResponse::Invalid("bad content-length"),
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            encoded = true;
            chunked = h
                .value
                .rsplit(|b| *b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                if token.eq_ignore_ascii_case(b"close") {
                    upstream_close = true;
                } else if token.eq_ignore_ascii_case(b"content-length")
                    || token.eq_ignore_ascii_case(b"transfer-encoding")
                {
                    // The body is relayed in its framing: the fields that state it stay.
                } else if !token.eq_ignore_ascii_case(b"keep-alive") {
                    named.push(token);
                }
            }
        }
    }
    if encoded && length.is_some() {
        return ParsedResponse::Invalid("both content-length and transfer-encoding");
    }
    let no_body = head_request || (100..200).contains(&status) || status == 204 || status == 304;
    let framing = match (no_body, chunked, encoded, length) {
        (true, ..) => Framing::Empty,
        (_, true, ..) => Framing::Chunked,
        (_, _, true, _) | (_, _, _, None) => Framing::UntilClose,
        (_, _, _, Some(0)) => Framing::Empty,
        (_, _, _, Some(n)) => Framing::Length(n),
    };
    out.status(status, resp.reason.unwrap_or(""));
    for h in resp.headers.iter() {
        // Transfer-Encoding stays: the body is relayed in the framing it states.
        let drop = (is_hop_by_hop(h.name) && !h.name.eq_ignore_ascii_case("transfer-encoding"))
            || named
                .iter()
                .any(|n| n.eq_ignore_ascii_case(h.name.as_bytes()));
        if !drop {
            out.field(h.name, h.value);
        }
    }
    out.end(status >= 200 && (close_client || framing == Framing::UntilClose));
    ParsedResponse::Done(Response {
        status,
        len,
        framing,
        upstream_close: upstream_close || framing == Framing::UntilClose,
        close_client,
    })
}

/// Lets the policy engine read the request's fields in place.
pub struct FieldView<'a, 'h>(pub &'a [Header<'h>]);

impl sockmesh_policy::Headers for FieldView<'_, '_> {
    fn get(&self, lowercase_name: &str) -> Option<std::borrow::Cow<'_, str>> {
        sockmesh_policy::join_values(
            self.0
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(lowercase_name))
                .map(|h| visible_ascii(h.value)),
        )
    }

    fn any_value(&self, lowercase_name: &str, f: &mut dyn FnMut(Option<&str>) -> bool) -> bool {
        self.0
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(lowercase_name))
            .any(|h| f(visible_ascii(h.value)))
    }
}
