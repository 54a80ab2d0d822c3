//! One request through the proxy: policy decision, then forward or deny, then the access log.

use std::borrow::Cow;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use http::{HeaderValue, Request, Response, StatusCode, Uri, header};
use hyper::body::Incoming;
use sockmesh_policy::{GrpcCall, HttpRequest};

use super::forward::{self, Outcome};
use super::headers::{HeaderView, apply_actions};
use super::respond::{self, RespBody};
use super::{grpc, h2c, path};
use crate::listener::ConnCtx;
use crate::metrics::{Protocol, VerdictLabel};
use crate::telemetry::access_log;

pub async fn handle(
    ctx: Arc<ConnCtx>,
    downstream: Protocol,
    mut req: Request<Incoming>,
) -> Result<Response<RespBody>, Infallible> {
    let start = Instant::now();
    if downstream == Protocol::Http1 && h2c::is_h2c_upgrade(req.headers()) {
        return Ok(forward::switch_to_h2c(ctx, req));
    }
    let is_grpc = grpc::is_grpc(req.headers());
    let protocol = if is_grpc { Protocol::Grpc } else { downstream };
    let Some(endpoint) = ctx.target.pick() else {
        return Ok(respond::upstream_failure(
            is_grpc,
            StatusCode::SERVICE_UNAVAILABLE,
        ));
    };
    let meta = ctx.meta(endpoint);
    if let Err(why) = sanitize_target(&mut req) {
        return Ok(respond::text(StatusCode::BAD_REQUEST, why));
    }

    // Cheap clones (reference-counted) so the log can outlive the request, which moves upstream.
    let method = req.method().clone();
    let uri = req.uri().clone();
    let host: Option<HeaderValue> = req.headers().get(header::HOST).cloned();
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let authority = uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| host.as_ref().and_then(|h| h.to_str().ok()));
    let verdict = ctx.shared.policy.load().check_http(
        &meta,
        &HttpRequest {
            method: method.as_str(),
            path,
            host: authority,
            headers: &HeaderView(req.headers()),
            grpc: if is_grpc {
                GrpcCall::from_path(path)
            } else {
                None
            },
        },
    );
    let note = apply_actions(req.headers_mut(), &verdict.header_actions);

    let (resp, label, upstream) = if verdict.allowed {
        let Outcome {
            response,
            proxy_error,
        } = Box::pin(forward::forward(&ctx, downstream, is_grpc, endpoint, req)).await;
        let label = if proxy_error {
            VerdictLabel::Error
        } else {
            VerdictLabel::Allow
        };
        (response, label, Some(endpoint))
    } else {
        let resp = respond::denied(is_grpc, verdict.rule.as_str());
        (resp, VerdictLabel::Deny, None)
    };

    let elapsed = start.elapsed();
    access_log::record(
        &ctx.shared.metrics,
        label,
        &access_log::Entry {
            listener: &ctx.listener.name,
            protocol,
            client: ctx.client,
            method: method.as_str(),
            path,
            authority: authority.unwrap_or(""),
            allowed: verdict.allowed,
            rule: verdict.rule.as_str(),
            upstream,
            status: u32::from(resp.status().as_u16()),
            grpc_status: resp
                .headers()
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok()),
            bytes_in: 0,
            bytes_out: 0,
            duration: elapsed,
            note: &note,
        },
    );
    Ok(resp)
}

/// Makes the request target what policy checks and the upstream receives: one `Host` at most
/// (RFC 9112 section 3.2; a second one could name another site than the one checked), and the
/// normalised path (see [`path`]). `Err` says why the request cannot be made so (a `400`).
fn sanitize_target(req: &mut Request<Incoming>) -> Result<(), &'static str> {
    if req.headers().get_all(header::HOST).iter().nth(1).is_some() {
        return Err("more than one Host header");
    }
    // `user@host`: RFC 9110 section 4.2.4 makes it an error; the credentials would otherwise be
    // matched as the host, forwarded as `Host` and logged.
    if req
        .uri()
        .authority()
        .is_some_and(|a| a.as_str().contains('@'))
    {
        return Err("userinfo in the request target");
    }
    let Some(pq) = req.uri().path_and_query() else {
        return Ok(());
    };
    let normal = match path::normalize(pq.as_str()) {
        Ok(Cow::Borrowed(_)) => return Ok(()),
        Ok(Cow::Owned(p)) => p,
        Err(path::InvalidEscape) => return Err("invalid percent-encoding in the path"),
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = Some(normal.parse().map_err(|_| "invalid path")?);
    *req.uri_mut() = Uri::from_parts(parts).map_err(|_| "invalid path")?;
    Ok(())
}
