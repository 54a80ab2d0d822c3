//! One request through the proxy: policy decision, then forward or deny, then the access log.
//!
//! The decision ([`decide`]) and the log line ([`Seen::log`]) are shared with the in-task HTTP/2
//! path (`http/h2fast`), which forwards without hyper.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::{HeaderValue, Method, Request, Response, StatusCode, Uri, header};
use hyper::body::Incoming;
use sockmesh_policy::{GrpcCall, HttpRequest, RuleId, Verdict};

use super::forward::{self, Outcome};
use super::headers::{HeaderView, apply_actions};
use super::respond::{self, RespBody};
use super::sanitize::{Reading, sanitize};
use super::{grpc, h2c, trailers};
use crate::conn::ConnCtx;
use crate::failure::Failure;
use crate::metrics::{Protocol, VerdictLabel};
use crate::telemetry::access_log;

pub async fn handle(
    ctx: Arc<ConnCtx>,
    downstream: Protocol,
    mut req: Request<Incoming>,
) -> Result<Response<RespBody>, Infallible> {
    let start = Instant::now();
    if downstream == Protocol::Http1 && h2c::is_h2c_upgrade(req.headers()) {
        // Checked as any request is (two `Host` fields are a 400, not an upgrade); policy
        // then sees it once, as stream 1 of the HTTP/2 connection.
        if let Err(why) = sanitize(&mut req, Reading::of(&ctx)) {
            let rejected = Rejected::new(&req, Failure::BadRequest(why), false);
            rejected.log(&ctx, downstream, start);
            return Ok(rejected.answer());
        }
        return Ok(forward::switch_to_h2c(ctx, req));
    }
    let is_grpc = grpc::is_grpc(req.headers());
    let protocol = if is_grpc { Protocol::Grpc } else { downstream };
    let Some(endpoint) = ctx.target.pick() else {
        return Ok(respond::failure(is_grpc, Failure::Unreachable, ""));
    };
    let (seen, mut verdict, mut note) = match decide(&ctx, endpoint, &mut req, is_grpc) {
        Ok(d) => d,
        Err(rejected) => {
            rejected.log(&ctx, protocol, start);
            return Ok(rejected.answer());
        }
    };

    let (resp, label, upstream) = if verdict.allowed {
        let trailers = trailers::check(&ctx, endpoint, &req, is_grpc);
        let Outcome {
            response,
            proxy_error,
            refused,
        } = Box::pin(forward::forward(
            &ctx, downstream, is_grpc, endpoint, req, trailers,
        ))
        .await;
        let label = if let Some(refused) = refused {
            // The request's trailers were denied: logged under the rule that denied them.
            verdict = refused;
            note = join_note(note, "trailers denied");
            VerdictLabel::Deny
        } else if proxy_error {
            VerdictLabel::Error
        } else {
            VerdictLabel::Allow
        };
        (response, label, Some(endpoint))
    } else {
        let resp = respond::failure(is_grpc, Failure::Denied, verdict.rule.as_str());
        (resp, VerdictLabel::Deny, None)
    };

    let grpc_status = resp
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    seen.log(
        &ctx,
        protocol,
        &verdict,
        &note,
        Finished {
            label,
            upstream,
            status: resp.status().as_u16(),
            grpc_status,
        },
        start,
    );
    Ok(resp)
}

/// `note`, with `more` after a comma when it has something already.
fn join_note(note: String, more: &str) -> String {
    if note.is_empty() {
        more.to_owned()
    } else {
        format!("{note},{more}")
    }
}

/// Checks a request against policy, after making it what the upstream will receive
/// (`super::sanitize`), and applies the verdict's header actions. `Err`: the request is
/// answered without policy (a 400; a gRPC call whose path names no method, UNIMPLEMENTED).
pub fn decide<B>(
    ctx: &ConnCtx,
    endpoint: SocketAddr,
    req: &mut Request<B>,
    is_grpc: bool,
) -> Result<(Seen, Verdict, String), Box<Rejected>> {
    if let Err(why) = sanitize(req, Reading::of(ctx)) {
        // Refused before it was read as gRPC: answered in HTTP.
        return Err(Box::new(Rejected::new(
            req,
            Failure::BadRequest(why),
            false,
        )));
    }
    let seen = Seen::of(req);
    // A gRPC server dispatches on the whole `:path`: a path that is not exactly
    // `/Service/Method` names no method policy could check.
    if is_grpc && GrpcCall::from_path(seen.path()).is_none() {
        return Err(Box::new(Rejected {
            seen,
            failure: Failure::BadGrpcPath,
            grpc: true,
        }));
    }
    let path = seen.path();
    let verdict = check(
        ctx,
        endpoint,
        &HttpRequest {
            method: seen.method.as_str(),
            path,
            host: seen.authority(),
            headers: &HeaderView(req.headers()),
            grpc: if is_grpc {
                GrpcCall::from_path(path)
            } else {
                None
            },
        },
    );
    let note = apply_actions(req.headers_mut(), &verdict.header_actions);
    Ok((seen, verdict, note))
}

/// The policy decision for one HTTP request to `endpoint`, on every HTTP path (hyper's, the
/// HTTP/1.1 fast path's and the in-task HTTP/2 path's).
pub fn check(ctx: &ConnCtx, endpoint: SocketAddr, req: &HttpRequest<'_>) -> Verdict {
    ctx.shared
        .policy
        .load()
        .check_http(&ctx.meta(endpoint), req)
}

/// A request refused before policy saw it, because it cannot be made what policy would check
/// (see `super::sanitize`).
pub struct Rejected {
    seen: Seen,
    pub failure: Failure,
    /// Answered in gRPC's terms.
    pub grpc: bool,
}

impl Rejected {
    fn new<B>(req: &Request<B>, failure: Failure, grpc: bool) -> Rejected {
        Rejected {
            seen: Seen::of(req),
            failure,
            grpc,
        }
    }

    /// The answer, in the client's protocol.
    pub fn answer(&self) -> Response<RespBody> {
        respond::failure(self.grpc, self.failure, "")
    }

    /// Records the refusal in metrics (verdict `error`, rule `bad-request`) and the access log,
    /// with the target as the client sent it and the reason as the note.
    pub fn log(&self, ctx: &ConnCtx, protocol: Protocol, start: Instant) {
        let verdict = Verdict {
            allowed: false,
            rule: RuleId::new(BAD_REQUEST_RULE),
            header_actions: Vec::new(),
        };
        let (status, grpc_status) = if self.grpc {
            (StatusCode::OK, Some(self.failure.grpc_code() as u32))
        } else {
            (self.failure.http_status(), None)
        };
        let done = Finished {
            label: VerdictLabel::Error,
            upstream: None,
            status: status.as_u16(),
            grpc_status,
        };
        self.seen
            .log(ctx, protocol, &verdict, self.failure.text(), done, start);
    }
}

/// The rule named for requests refused before policy: there is none.
const BAD_REQUEST_RULE: &str = "bad-request";

/// What the access log says of a request: cheap (reference-counted) clones, so the log can
/// outlive the request, which moves upstream.
pub struct Seen {
    pub method: Method,
    uri: Uri,
    host: Option<HeaderValue>,
}

/// How a request ended, for its access-log line and metrics.
pub struct Finished {
    pub label: VerdictLabel,
    pub upstream: Option<SocketAddr>,
    pub status: u16,
    pub grpc_status: Option<u32>,
}

impl Seen {
    fn of<B>(req: &Request<B>) -> Seen {
        Seen {
            method: req.method().clone(),
            uri: req.uri().clone(),
            host: req.headers().get(header::HOST).cloned(),
        }
    }

    pub fn path(&self) -> &str {
        self.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    }

    /// `:authority` (or an absolute-form target's), else `Host`: what policy checks as the host.
    pub fn authority(&self) -> Option<&str> {
        self.uri
            .authority()
            .map(|a| a.as_str())
            .or_else(|| self.host.as_ref().and_then(|h| h.to_str().ok()))
    }

    /// Records the request in metrics and the access log.
    pub fn log(
        &self,
        ctx: &ConnCtx,
        protocol: Protocol,
        verdict: &Verdict,
        note: &str,
        done: Finished,
        start: Instant,
    ) {
        access_log::record(
            &ctx.shared.metrics,
            done.label,
            &access_log::Entry {
                listener: &ctx.listener.name,
                protocol,
                client: ctx.client,
                method: self.method.as_str(),
                path: self.path(),
                authority: self.authority().unwrap_or(""),
                allowed: verdict.allowed,
                rule: verdict.rule.as_str(),
                upstream: done.upstream,
                status: u32::from(done.status),
                grpc_status: done.grpc_status,
                bytes_in: 0,
                bytes_out: 0,
                duration: start.elapsed(),
                note,
            },
        );
    }
}
