//! One stream's request on an upstream HTTP/1.1 connection: the head written from the HTTP/2
//! request, its body streamed (as it is, or chunked when the client gave no length), and the
//! response head turned into an HTTP/2 response.

use std::net::SocketAddr;

use bytes::Bytes;
use h2::RecvStream;
use h2::server::SendResponse;
use http::header::{self, HeaderName, HeaderValue};
use http::request::Parts;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use tokio::io::AsyncWriteExt;

use super::body::{self, BodyError};
use crate::http::fast::head::{self, Framing, HeadOut, write_field};
use crate::http::fast::relay::{Failure, HeadReader, max_response_head};
use crate::http::headers::is_hop_by_hop;
use crate::listener::ConnCtx;
use crate::upstream::RawConn;

/// A response relayed to the client, in full or cut off after its head.
pub struct Relayed {
    pub status: u16,
    pub grpc_status: Option<u32>,
}

/// How the request body goes upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    None,
    /// As it comes: the client stated its length.
    Length,
    Chunked,
}

/// Forwards `req` to `endpoint` and relays the response on `respond`. `Err` is the status to
/// answer with when no response head was sent.
pub async fn run(
    ctx: &ConnCtx,
    endpoint: SocketAddr,
    req: Request<RecvStream>,
    respond: &mut SendResponse<Bytes>,
) -> Result<Relayed, StatusCode> {
    let limits = &ctx.shared.limits;
    let (parts, mut body) = req.into_parts();
    let length = content_length(&parts.headers);
    if length.is_some_and(|n| n > limits.max_request_body_bytes) {
        return Err(StatusCode::PAYLOAD_TOO_LARGE);
    }
    let mut request = Vec::with_capacity(512);
    let framing = request_head(&parts, body.is_end_stream(), endpoint, &mut request)?;
    let head_request = parts.method == Method::HEAD;
    let idempotent = framing == BodyFraming::None
        && matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    let send = async {
        let mut fresh = false;
        loop {
            let (mut up, pooled) = ctx
                .shared
                .pool
                .checkout_raw(endpoint, ctx.target.connect_timeout(), fresh)
                .await
                .map_err(|error| {
                    tracing::warn!(%endpoint, %error, "upstream request failed");
                    StatusCode::SERVICE_UNAVAILABLE
                })?;
            if up.stream.write_all(&request).await.is_err() {
                if pooled && idempotent && !fresh {
                    fresh = true;
                    continue;
                }
                return Err(StatusCode::BAD_GATEWAY);
            }
            if framing != BodyFraming::None {
                body::upload(
                    &mut body,
                    &mut up.stream,
                    framing,
                    limits.max_request_body_bytes,
                )
                .await
                .map_err(|e| match e {
                    BodyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                    BodyError::Client => StatusCode::BAD_REQUEST,
                    BodyError::Upstream => StatusCode::BAD_GATEWAY,
                })?;
            }
            let mut out = H2Head::default();
            match read_head(ctx, &mut up, head_request, &mut out).await {
                Ok(resp) => return Ok((up, resp, out)),
                Err(Failure::Early) if pooled && idempotent && !fresh => fresh = true,
                Err(_) => return Err(StatusCode::BAD_GATEWAY),
            }
        }
    };
    let (mut up, resp, out) = tokio::time::timeout(limits.request_timeout, send)
        .await
        .map_err(|_| StatusCode::GATEWAY_TIMEOUT)??;
    if out.invalid {
        tracing::debug!(%endpoint, "upstream response has a field HTTP/2 cannot carry");
        return Err(StatusCode::BAD_GATEWAY);
    }
    let relayed = Relayed {
        status: resp.status,
        grpc_status: out.grpc_status,
    };
    let mut response = Response::new(());
    *response.status_mut() =
        StatusCode::from_u16(resp.status).map_err(|_| StatusCode::BAD_GATEWAY)?;
    *response.headers_mut() = out.headers;
    let empty = resp.framing == Framing::Empty;
    let Ok(mut send) = respond.send_response(response, empty) else {
        // The client reset the stream.
        return Ok(relayed);
    };
    if empty {
        if !resp.upstream_close && up.buf.len() == resp.len {
            ctx.shared.pool.checkin_raw(endpoint, up);
        }
        return Ok(relayed);
    }
    match body::relay(
        &mut up,
        &mut send,
        resp.framing,
        resp.len,
        limits.idle_timeout,
    )
    .await
    {
        Ok(body::Relay::Complete { extra }) => {
            if !extra && !resp.upstream_close {
                ctx.shared.pool.checkin_raw(endpoint, up);
            }
        }
        Ok(body::Relay::Truncated) => {
            tracing::debug!(%endpoint, "upstream closed before the end of the response body");
            send.send_reset(h2::Reason::INTERNAL_ERROR);
        }
        Err(error) => {
            tracing::debug!(%endpoint, %error, "response relay cut off");
            send.send_reset(h2::Reason::INTERNAL_ERROR);
        }
    }
    Ok(relayed)
}

/// Reads the final response head; 1xx heads are dropped (an HTTP/2 client gets the final one).
async fn read_head(
    ctx: &ConnCtx,
    up: &mut RawConn,
    head_request: bool,
    out: &mut H2Head,
) -> Result<head::Response, Failure> {
    let max = max_response_head(ctx);
    let mut reading = HeadReader::new(up);
    loop {
        let resp = reading
            .next(max, |buf| {
                head::parse_response(buf, head_request, false, out)
            })
            .await?;
        if resp.status >= 200 {
            return Ok(resp);
        }
        reading.up.buf.drain(..resp.len);
    }
}

/// Writes the HTTP/1.1 request head for `parts` into `out` and says how its body follows.
/// `ended`: the client's HEADERS frame ended the stream, so there is no body.
pub fn request_head(
    parts: &Parts,
    ended: bool,
    endpoint: SocketAddr,
    out: &mut Vec<u8>,
) -> Result<BodyFraming, StatusCode> {
    if parts.method == Method::CONNECT {
        // A tunnel has no HTTP/1.1 request to become on this path.
        return Err(StatusCode::NOT_IMPLEMENTED);
    }
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
        if name == header::HOST || is_hop_by_hop(name.as_str()) {
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
    let has_length = parts.headers.contains_key(header::CONTENT_LENGTH);
    let framing = match (ended, has_length) {
        (false, true) => BodyFraming::Length,
        (false, false) => {
            write_field(out, "transfer-encoding", b"chunked");
            BodyFraming::Chunked
        }
        (true, has_length) => {
            // hyper's rule: a bodiless request of a method that usually carries one says so.
            if !has_length
                && !matches!(
                    parts.method,
                    Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS | Method::TRACE
                )
            {
                write_field(out, "content-length", b"0");
            }
            BodyFraming::None
        }
    };
    out.extend_from_slice(b"\r\n");
    Ok(framing)
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// An upstream response head as HTTP/2 fields.
#[derive(Default)]
pub struct H2Head {
    pub headers: HeaderMap,
    pub grpc_status: Option<u32>,
    /// A field that is not a valid HTTP/2 field.
    pub invalid: bool,
}

impl HeadOut for H2Head {
    fn status(&mut self, _status: u16, _reason: &str) {
        self.headers.clear();
        self.grpc_status = None;
        self.invalid = false;
    }

    fn field(&mut self, name: &str, value: &[u8]) {
        // HTTP/2 frames the body itself (RFC 9113 section 8.2.2).
        if name.eq_ignore_ascii_case("transfer-encoding") {
            return;
        }
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value),
        ) {
            (Ok(name), Ok(value)) => {
                if name == "grpc-status" {
                    self.grpc_status = value.to_str().ok().and_then(|v| v.parse().ok());
                }
                self.headers.append(name, value);
            }
            _ => self.invalid = true,
        }
    }

    fn end(&mut self, _close: bool) {}
}
