//! Responses the proxy makes itself, in HTTP: policy denials and failures, answered as
//! [`crate::failure`] maps them to the client's protocol. HTTP gets a status and a short body; gRPC gets a trailers-only response (one HEADERS
//! frame carrying `grpc-status`), which every gRPC client reports as that status code.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{Either, Full};

use crate::failure::{Failure, GrpcCode};
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

/// The answer to `failure` in the client's protocol: gRPC's status (the rule named in a
/// denial's message), else HTTP's status and text (see [`crate::failure`]).
pub fn failure(grpc: bool, failure: Failure, rule: &str) -> Response<RespBody> {
    if grpc {
        grpc_status(failure.grpc_code(), &failure.grpc_message(rule))
    } else {
        text(failure.http_status(), failure.text())
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
