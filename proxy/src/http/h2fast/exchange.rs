//! One stream's request on an upstream HTTP/1.1 connection: the head written from the HTTP/2
//! request, its body streamed while the response head is awaited, and the response head turned
//! into an HTTP/2 response. A client that resets the stream ends the exchange at once: its
//! upstream connection is dropped rather than read to the end for nobody.

use crate::transport::send;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http::header;
use http::request::Parts;
use http::{Method, Request};
use tokio::io::AsyncRead;

use super::body::{self, BodyError, Upload};
use super::shared::{Interrupted, StreamRef};
use crate::conn::ConnCtx;
use crate::failure::Failure;
use crate::http::fast::head::{self, Framing, HeadOut, write_field};
use crate::http::fast::upstream::{Attempt, HeadReader, Tries, max_response_head};
use crate::http::h2codec::{Reason, hpack};
use crate::http::headers::{content_length, is_hop_by_hop};
use crate::upstream::{Breaker, RawConn, Share};

/// The status logged for a stream the client reset before its response head (nginx's 499).
pub const CLIENT_RESET: u16 = 499;
/// How long a body without `Content-Length` may keep its first DATA frame before it is sent
/// chunked anyway: long enough for a frame that came with the HEADERS, short enough for a
/// client that waits for the response first.
/// The answer's text when the client's request body broke its own framing.
const MALFORMED_BODY: &str = "malformed request body";

const FIRST_DATA_WAIT: std::time::Duration = std::time::Duration::from_millis(20);

/// A response relayed to the client, in full or cut off after its head.
pub struct Relayed {
    pub status: u16,
    pub grpc_status: Option<u32>,
}

impl Relayed {
    /// No response: the client reset the stream before its head.
    fn client_reset() -> Relayed {
        Relayed {
            status: CLIENT_RESET,
            grpc_status: None,
        }
    }
}

/// How the request body goes upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestBody {
    None,
    /// As it comes, with this `Content-Length`: the client's, or that of the one DATA frame that
    /// ended the stream.
    Length(u64),
    Chunked,
}

/// Forwards `req` to `endpoint` and relays the response on `stream`; the response head is due
/// within the request timeout of `started`. The exchange waits for its turn in `share` (the
/// downstream connection's share of upstream connections) and takes its place among the
/// cluster's requests in flight. `Err` is the status to answer with when no response head was
/// sent.
pub async fn run(
    ctx: &ConnCtx,
    endpoint: SocketAddr,
    req: Request<()>,
    stream: &StreamRef,
    started: Instant,
    share: &Share,
) -> Result<Relayed, Failure> {
    let limits = &ctx.shared.limits;
    let (parts, ()) = req.into_parts();
    let exchange = async {
        let turn = share.turn().await;
        let in_flight = Breaker::request(&**ctx.target.breaker()).ok_or(Failure::Overloaded)?;
        let held = (turn, in_flight);
        let (framing, first) = request_body(&parts, stream, limits.max_request_body_bytes).await?;
        let head_request = parts.method == Method::HEAD;
        let idempotent = framing == RequestBody::None
            && matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        let mut upload = (framing != RequestBody::None).then(|| Upload {
            body: stream,
            first,
            chunked: framing == RequestBody::Chunked,
            max: limits.max_request_body_bytes,
        });
        let max = max_response_head(ctx);
        let mut tries = Tries::new(ctx, endpoint, idempotent);
        loop {
            let mut up = tries.connect().await?;
            let mut out = H2Head::default();
            match attempt(
                &mut up,
                |buf| request_head(&parts, framing, endpoint, buf),
                upload.as_mut(),
                max,
                head_request,
                &mut out,
            )
            .await
            {
                Ok((resp, uploaded)) => {
                    return Ok::<_, Failure>((up, resp, out, uploaded, held));
                }
                Err(failure) => tries.failed(failure)?,
            }
        }
    };
    // From the request's start, which is a clock reading already taken; on the connection's
    // timer (`super::deadline`), not one of its own.
    let deadline = (started + limits.request_timeout).into();
    let interrupted = poll_fn(|cx| stream.poll_deadline(cx, deadline));
    // `biased`: the exchange first (no per-poll random pick); the interruptions only while it
    // waits.
    let sent = tokio::select! {
        biased;
        sent = exchange => sent,
        why = interrupted => match why {
            // Still waiting for the client's body: the client's slowness, not the upstream's.
            Interrupted::TimedOut if !stream.is_received() => Err(Failure::ClientTimeout),
            Interrupted::TimedOut => Err(Failure::UpstreamTimeout),
            Interrupted::Reset(_) => {
                tracing::debug!(%endpoint, "client reset the stream before the response");
                return Ok(Relayed::client_reset());
            }
        },
    };
    // The client's body is no longer read: what comes of it returns its flow-control window
    // at once (the rest of an upload answered early would otherwise hold the connection's).
    stream.discard_body();
    // `_held` until the response is relayed: the upstream connection is in use till then.
    let (mut up, resp, out, uploaded, _held) = match sent {
        Ok(sent) => sent,
        // A reset seen first as a failed body read (the exchange is polled before the reset).
        Err(_) if stream.is_reset() => return Ok(Relayed::client_reset()),
        Err(status) => return Err(status),
    };
    if out.invalid {
        tracing::debug!(%endpoint, "upstream response has a field HTTP/2 cannot carry");
        return Err(Failure::UpstreamFailed);
    }
    let relayed = Relayed {
        status: resp.status,
        grpc_status: out.grpc_status,
    };
    // A response that came before the whole request body leaves the connection mid-request.
    let reusable = uploaded && !resp.upstream_close;
    // Where the response ends in the read buffer, once sent with its head.
    let (ended, end) = match whole_body(&resp, &up.buf) {
        Some(body) => (
            stream.send_whole(resp.status, &out.fields, body),
            resp.len + body.len(),
        ),
        None => {
            let empty = resp.framing == Framing::Empty;
            let sent = stream.send_head_encoded(resp.status, &out.fields, empty);
            (sent.map(|()| empty), resp.len)
        }
    };
    match ended {
        // Complete; the connection is reused unless the upstream sent more than the response.
        Ok(true) => {
            if reusable && up.buf.len() == end {
                ctx.shared.pool.checkin_raw(endpoint, up);
            }
            return Ok(relayed);
        }
        Ok(false) => {}
        // The client reset the stream.
        Err(_) => return Ok(relayed),
    }
    let relay = body::relay(&mut up, stream, resp.framing, resp.len, limits.idle_timeout);
    match relay.await {
        Ok(body::Relay::Complete { extra }) => {
            if reusable && !extra {
                ctx.shared.pool.checkin_raw(endpoint, up);
            }
        }
        Ok(body::Relay::Reset) => {
            tracing::debug!(%endpoint, "client reset the stream during the response body");
        }
        Ok(body::Relay::Truncated) => {
            tracing::debug!(%endpoint, "upstream closed before the end of the response body");
            stream.send_reset(Reason::INTERNAL_ERROR);
        }
        Err(error) => {
            tracing::debug!(%endpoint, %error, "response relay cut off");
            stream.send_reset(Reason::INTERNAL_ERROR);
        }
    }
    Ok(relayed)
}

/// The body of a `Content-Length` response that came whole in the read that ended its head
/// (the usual small response): sent with the head, without a relay.
fn whole_body<'a>(resp: &head::Response, buf: &'a [u8]) -> Option<&'a [u8]> {
    let Framing::Length(n) = resp.framing else {
        return None;
    };
    let end = resp.len.checked_add(usize::try_from(n).ok()?)?;
    buf.get(resp.len..end)
}

/// How the request body follows, and its first chunk when that had to be read to know: without
/// a `Content-Length` and before the stream ends, a body may still turn out to be empty (an
/// empty DATA frame with END_STREAM) or one frame long.
async fn request_body(
    parts: &Parts,
    body: &StreamRef,
    max: u64,
) -> Result<(RequestBody, Option<Bytes>), Failure> {
    if body.is_end_stream() {
        return Ok((RequestBody::None, None));
    }
    if let Some(length) = content_length(&parts.headers) {
        if length > max {
            return Err(Failure::TooLarge);
        }
        return Ok((RequestBody::Length(length), None));
    }
    loop {
        // A client that waits for the response before it sends (a stream the server opens)
        // gets its request sent chunked, rather than waiting here for the request timeout.
        let Ok(next) = tokio::time::timeout(FIRST_DATA_WAIT, body.data()).await else {
            return Ok((RequestBody::Chunked, None));
        };
        let Some(data) = next else {
            return Ok((RequestBody::None, None));
        };
        let data = data.map_err(|_| Failure::BadRequest(MALFORMED_BODY))?;
        if data.is_empty() {
            continue;
        }
        if data.len() as u64 > max {
            return Err(Failure::TooLarge);
        }
        let framing = if body.is_end_stream() {
            RequestBody::Length(data.len() as u64)
        } else {
            RequestBody::Chunked
        };
        return Ok((framing, Some(data)));
    }
}

/// Writes the request head (`write_head` puts it in a buffer), then the body (if any) while
/// reading the response head: an upstream may answer (a 413, a redirect) before it has read the
/// body, and waits for nobody once it has. Returns the head and whether the whole body went
/// upstream.
async fn attempt(
    up: &mut RawConn,
    write_head: impl FnOnce(&mut Vec<u8>),
    upload: Option<&mut Upload<'_>>,
    max: usize,
    head_request: bool,
    out: &mut H2Head,
) -> Result<(head::Response, bool), Attempt> {
    let RawConn { stream, buf, .. } = up;
    // The head goes out from the connection's read buffer, empty between exchanges: its
    // capacity stays with the pooled connection, so no request allocates one.
    buf.clear();
    write_head(buf);
    let written = send(stream, buf).await;
    buf.clear();
    if written.is_err() {
        return Err(Attempt::Early);
    }
    let (mut read, mut write) = stream.split();
    let head = read_head(&mut read, buf, max, head_request, out);
    let Some(upload) = upload else {
        return head.await.map(|resp| (resp, true));
    };
    let sending = upload.run(&mut write);
    tokio::pin!(head, sending);
    let mut uploaded = None;
    loop {
        tokio::select! {
            sent = &mut sending, if uploaded.is_none() => match sent {
                Ok(()) => uploaded = Some(true),
                Err(BodyError::TooLarge) => {
                    return Err(Attempt::Answer(Failure::TooLarge));
                }
                Err(BodyError::Client) => {
                    return Err(Attempt::Answer(Failure::BadRequest(MALFORMED_BODY)));
                }
                // The upstream stopped reading: its answer may say why.
                Err(BodyError::Upstream) => uploaded = Some(false),
            },
            resp = &mut head => return resp.map(|resp| (resp, uploaded == Some(true))),
        }
    }
}

/// Reads the final response head; 1xx heads are dropped (an HTTP/2 client gets the final one).
async fn read_head<R: AsyncRead + Unpin>(
    read: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
    head_request: bool,
    out: &mut H2Head,
) -> Result<head::Response, Attempt> {
    let mut reading = HeadReader::new(read, buf);
    loop {
        let resp = reading
            .next(max, |buf| {
                head::parse_response(buf, head_request, false, out)
            })
            .await?;
        if resp.status >= 200 {
            return Ok(resp);
        }
        reading.buf.drain(..resp.len);
    }
}

/// Writes the HTTP/1.1 request head for `parts` into `out`, its body to follow as `body` says.
pub fn request_head(parts: &Parts, body: RequestBody, endpoint: SocketAddr, out: &mut Vec<u8>) {
    let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    // `:authority` is what policy checked (RFC 9113 section 8.3.1): the upstream gets it as
    // `Host`, whatever `Host` the client also sent.
    match (parts.uri.authority(), parts.headers.get(header::HOST)) {
        (Some(a), _) => write_field(out, "host", a.as_str().as_bytes()),
        (None, Some(h)) => write_field(out, "host", h.as_bytes()),
        (None, None) => write_field(out, "host", endpoint.to_string().as_bytes()),
    }
    let mut cookies: Vec<&[u8]> = Vec::new();
    for (name, value) in &parts.headers {
        // The body's length is written below, from what was checked.
        if name == header::HOST || name == header::CONTENT_LENGTH || is_hop_by_hop(name.as_str()) {
            continue;
        }
        if name == header::COOKIE {
            // HTTP/2 may split cookies into fields; HTTP/1.1 has one (RFC 9113 section 8.2.3).
            cookies.push(value.as_bytes());
            continue;
        }
        write_field(out, name.as_str(), value.as_bytes());
    }
    if !cookies.is_empty() {
        write_field(out, "cookie", &cookies.join(&b"; "[..]));
    }
    match body {
        RequestBody::Length(len) => write_field(out, "content-length", len.to_string().as_bytes()),
        RequestBody::Chunked => write_field(out, "transfer-encoding", b"chunked"),
        // hyper's rule: a bodiless request of a method that usually carries one says so (and
        // so does one whose client said so).
        RequestBody::None => {
            if parts.headers.contains_key(header::CONTENT_LENGTH)
                || !matches!(
                    parts.method,
                    Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS | Method::TRACE
                )
            {
                write_field(out, "content-length", b"0");
            }
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// An upstream response head as HTTP/2 fields, HPACK-encoded as they are parsed.
#[derive(Default)]
pub struct H2Head {
    pub fields: BytesMut,
    pub grpc_status: Option<u32>,
    /// A field that is not a valid HTTP/2 field.
    pub invalid: bool,
}

impl HeadOut for H2Head {
    fn status(&mut self, _status: u16, _reason: &str) {
        self.fields.clear();
        self.fields.reserve(256);
        self.grpc_status = None;
        self.invalid = false;
    }

    fn field(&mut self, name: &str, value: &[u8]) {
        // HTTP/2 frames the body itself (RFC 9113 section 8.2.2).
        if name.eq_ignore_ascii_case("transfer-encoding") {
            return;
        }
        // httparse gave a token for the name; HTTP/2 wants it lowercase, and values without
        // control characters (section 8.2.1).
        if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            self.invalid = true;
            return;
        }
        if name.eq_ignore_ascii_case("grpc-status") {
            self.grpc_status = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
        }
        let mut lower = [0u8; 64];
        match lower.get_mut(..name.len()) {
            Some(lower) => {
                lower.copy_from_slice(name.as_bytes());
                lower.make_ascii_lowercase();
                hpack::field(&mut self.fields, lower, value);
            }
            None => hpack::field(
                &mut self.fields,
                name.to_ascii_lowercase().as_bytes(),
                value,
            ),
        }
    }

    fn end(&mut self, _close: bool) {}
}
