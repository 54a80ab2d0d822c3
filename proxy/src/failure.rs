//! One place turns a failure into each protocol's answer.
//!
//! Every path that cannot forward a request says why as a [`Failure`]; the path's protocol then
//! answers it in its own terms from the table here: HTTP a status and a short text, gRPC a
//! status code (trailers-only), DNS an RCODE, and, as its path comes, Kafka an error code.
//! A failure site never picks an HTTP status itself, so the same cause gets the same answer on
//! every path (HTTP/1.1 fast path, hyper, in-task HTTP/2) and in every protocol. The shape
//! follows linkerd2-proxy's `errors/respond.rs`.

use http::StatusCode;

use crate::dns::message::Rcode;

/// Why a request was not forwarded, or its answer not relayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Policy denied it (the rule is reported beside the failure).
    Denied,
    /// The request cannot be read as what policy would check, or is malformed; the text says
    /// what was wrong.
    BadRequest(&'static str),
    /// The request body is over `maxRequestBodyBytes`.
    TooLarge,
    /// No endpoint to send it to, or none could be connected to.
    Unreachable,
    /// The upstream failed, or answered with something that is not a response.
    UpstreamFailed,
    /// No response head within `requestTimeout`.
    UpstreamTimeout,
    /// The request itself did not arrive whole within `requestTimeout` (a body that trickles or
    /// stops): the client's doing, not the upstream's.
    ClientTimeout,
    /// The request needs HTTP/2 upstream (gRPC, or a cluster set to `http2`), and the endpoint
    /// answered the HTTP/2 preface with HTTP/1.x or closed on it.
    UpstreamNotHttp2,
    /// A limit of the proxy's own was reached (connections, requests in flight).
    Overloaded,
    /// The request asks for something this path cannot do; the text says what.
    NotImplemented(&'static str),
    /// A gRPC request whose `:path` is not `/package.Service/Method`: no server would dispatch
    /// it to the method its text seems to name, so policy cannot know which it reaches.
    BadGrpcPath,
}

/// gRPC status codes the proxy produces (grpc/doc/statuscodes.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrpcCode {
    DeadlineExceeded = 4,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
}

/// The text body of a denial.
pub const DENIED_TEXT: &str = "Access denied";

impl Failure {
    /// HTTP's answer: the status.
    pub fn http_status(self) -> StatusCode {
        match self {
            Failure::Denied => StatusCode::FORBIDDEN,
            Failure::BadRequest(_) | Failure::BadGrpcPath => StatusCode::BAD_REQUEST,
            Failure::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Failure::Unreachable | Failure::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Failure::UpstreamFailed | Failure::UpstreamNotHttp2 => StatusCode::BAD_GATEWAY,
            Failure::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Failure::ClientTimeout => StatusCode::REQUEST_TIMEOUT,
            Failure::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
        }
    }

    /// HTTP's answer: the short plain-text body (Envoy's words where it has them).
    pub fn text(self) -> &'static str {
        match self {
            Failure::Denied => DENIED_TEXT,
            Failure::BadRequest(why) | Failure::NotImplemented(why) => why,
            Failure::TooLarge => "request body too large",
            Failure::Unreachable => "no healthy upstream",
            Failure::UpstreamFailed => "upstream connect error or disconnect",
            Failure::UpstreamTimeout => "upstream request timeout",
            Failure::ClientTimeout => "request timeout",
            Failure::UpstreamNotHttp2 => "upstream does not speak HTTP/2",
            Failure::Overloaded => "overloaded",
            Failure::BadGrpcPath => "malformed gRPC method path: expected /package.Service/Method",
        }
    }

    /// gRPC's answer: the status code.
    pub fn grpc_code(self) -> GrpcCode {
        match self {
            Failure::Denied => GrpcCode::PermissionDenied,
            Failure::TooLarge => GrpcCode::ResourceExhausted,
            Failure::Unreachable
            | Failure::UpstreamFailed
            | Failure::UpstreamNotHttp2
            | Failure::Overloaded => GrpcCode::Unavailable,
            Failure::UpstreamTimeout | Failure::ClientTimeout => GrpcCode::DeadlineExceeded,
            // What a server answers for a method it does not have.
            Failure::BadGrpcPath => GrpcCode::Unimplemented,
            Failure::BadRequest(_) | Failure::NotImplemented(_) => GrpcCode::Internal,
        }
    }

    /// DNS's answer: the RCODE (a denial's is a setting, `dns.rejectResponseCode`, whose
    /// default this is). A resolver that fails, times out or cannot be reached is SERVFAIL to
    /// the client, as a forwarding resolver answers.
    pub fn dns_rcode(self) -> Rcode {
        match self {
            Failure::Denied => Rcode::Refused,
            Failure::BadRequest(_) | Failure::TooLarge | Failure::BadGrpcPath => Rcode::FormErr,
            Failure::NotImplemented(_) => Rcode::NotImp,
            Failure::Unreachable
            | Failure::UpstreamFailed
            | Failure::UpstreamTimeout
            | Failure::ClientTimeout
            | Failure::UpstreamNotHttp2
            | Failure::Overloaded => Rcode::ServFail,
        }
    }

    /// gRPC's answer: the message, naming the rule for a denial.
    pub fn grpc_message(self, rule: &str) -> String {
        match self {
            Failure::Denied => format!("request denied by policy: {rule}"),
            Failure::BadGrpcPath => self.text().to_owned(),
            Failure::UpstreamNotHttp2 => "upstream does not speak HTTP/2 (it answered the \
                                          HTTP/2 preface with HTTP/1.x or closed the \
                                          connection), and gRPC needs HTTP/2"
                .to_owned(),
            other => other
                .http_status()
                .canonical_reason()
                .unwrap_or("proxy error")
                .to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answers each path gave before this table existed, unchanged.
    #[test]
    fn each_failure_keeps_its_answers() {
        let cases = [
            (Failure::Denied, 403, GrpcCode::PermissionDenied),
            (Failure::BadRequest("x"), 400, GrpcCode::Internal),
            (Failure::TooLarge, 413, GrpcCode::ResourceExhausted),
            (Failure::Unreachable, 503, GrpcCode::Unavailable),
            (Failure::UpstreamFailed, 502, GrpcCode::Unavailable),
            (Failure::UpstreamTimeout, 504, GrpcCode::DeadlineExceeded),
            (Failure::ClientTimeout, 408, GrpcCode::DeadlineExceeded),
            (Failure::NotImplemented("x"), 501, GrpcCode::Internal),
            (Failure::Overloaded, 503, GrpcCode::Unavailable),
            (Failure::BadGrpcPath, 400, GrpcCode::Unimplemented),
            (Failure::UpstreamNotHttp2, 502, GrpcCode::Unavailable),
        ];
        for (failure, status, code) in cases {
            assert_eq!(failure.http_status().as_u16(), status, "{failure:?}");
            assert_eq!(failure.grpc_code(), code, "{failure:?}");
        }
        assert_eq!(Failure::Denied.dns_rcode(), Rcode::Refused);
        assert_eq!(Failure::BadRequest("x").dns_rcode(), Rcode::FormErr);
        assert_eq!(Failure::UpstreamTimeout.dns_rcode(), Rcode::ServFail);
        assert_eq!(Failure::Overloaded.dns_rcode(), Rcode::ServFail);
        assert_eq!(
            Failure::UpstreamTimeout.grpc_message("r"),
            "Gateway Timeout"
        );
        assert_eq!(
            Failure::Denied.grpc_message("p: r"),
            "request denied by policy: p: r"
        );
    }
}
