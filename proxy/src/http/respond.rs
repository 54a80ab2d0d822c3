//! Responses the proxy makes itself: policy denials and upstream failures, in the client's
//! protocol. HTTP gets a status and a short body; gRPC gets a trailers-only response (one HEADERS
//! frame carrying `grpc-status`), which every gRPC client reports as that status code.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{Either, Full};

use crate::upstream::UpstreamBody;

/// Body of every response the proxy sends downstream.
pub type RespBody = Either<UpstreamBody, Full<Bytes>>;

/// A response to HEAD has no body. hyper's HTTP/1.1 server leaves it out, but HTTP/2 would send
/// a proxy-made body as DATA, which clients rightly take for a protocol error. The fields stay,
/// `content-length` included, as the answer to a GET would have them (RFC 9110 section 9.3.2).
pub fn drop_body_for_head(resp: &mut Response<RespBody>) {
    if let Either::Right(full) = resp.body()
        && let Some(len) = http_body::Body::size_hint(full).exact()
        && len > 0
    {
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        *resp.body_mut() = Either::Right(Full::new(Bytes::new()));
    }
}

/// gRPC status codes the proxy produces (grpc/doc/statuscodes.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrpcCode {
    DeadlineExceeded = 4,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    Internal = 13,
    Unavailable = 14,
}

pub const DENIED_BODY: &str = "Access denied";

/// `403 Access denied`, or gRPC PERMISSION_DENIED naming the rule.
pub fn denied(grpc: bool, rule: &str) -> Response<RespBody> {
    if grpc {
        grpc_status(
            GrpcCode::PermissionDenied,
            &format!("request denied by policy: {rule}"),
        )
    } else {
        text(StatusCode::FORBIDDEN, DENIED_BODY)
    }
}

/// A plain-text response with `content-type: text/plain`.
pub fn text(status: StatusCode, body: &'static str) -> Response<RespBody> {
    let mut resp = Response::new(Either::Right(Full::new(Bytes::from_static(
        body.as_bytes(),
    ))));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_PLAIN));
    resp
}

pub const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

/// A trailers-only gRPC response: HTTP 200, `grpc-status` and `grpc-message` in the only
/// HEADERS frame, no body.
pub fn grpc_status(code: GrpcCode, message: &str) -> Response<RespBody> {
    let mut resp = Response::new(Either::Right(Full::new(Bytes::new())));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    h.insert("grpc-status", HeaderValue::from(code as u16));
    if let Ok(v) = HeaderValue::from_str(&percent_encode(message)) {
        h.insert("grpc-message", v);
    }
    resp
}

/// Maps an upstream failure onto the client's protocol.
pub fn upstream_failure(grpc: bool, status: StatusCode) -> Response<RespBody> {
    if grpc {
        let code = match status {
            StatusCode::GATEWAY_TIMEOUT => GrpcCode::DeadlineExceeded,
            StatusCode::PAYLOAD_TOO_LARGE => GrpcCode::ResourceExhausted,
            StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE => GrpcCode::Unavailable,
            _ => GrpcCode::Internal,
        };
        return grpc_status(code, status.canonical_reason().unwrap_or("proxy error"));
    }
    text(status, failure_text(status))
}

/// The plain-text body of a response the proxy makes when the upstream failed.
pub fn failure_text(status: StatusCode) -> &'static str {
    match status {
        StatusCode::GATEWAY_TIMEOUT => "upstream request timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "request body too large",
        StatusCode::SERVICE_UNAVAILABLE => "no healthy upstream",
        _ => "upstream connect error or disconnect",
    }
}

/// grpc-message is percent-encoded (gRPC over HTTP/2 spec): printable ASCII except `%` as is.
fn percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for b in message.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
