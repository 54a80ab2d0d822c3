//! Forwarding an allowed request upstream: version choice, URI and header rewriting, body limit,
//! request timeout, protocol-switch passthrough, and the h2c upgrade hand-off.

use std::net::SocketAddr;
use std::sync::Arc;

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Uri, Version, header};
use http_body_util::Either;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use sockmesh_xds::domain::UpstreamProtocol;

use sockmesh_policy::Verdict;

use super::headers::{content_length, strip_hop_by_hop, wants_upgrade};
use super::respond::{self, RespBody};
use super::trailers::Refusal;
use crate::conn::ConnCtx;
use crate::failure::Failure;
use crate::metrics::Protocol;
use crate::telemetry::ratelimit::warn_limited;
use crate::upstream::{
    Answer, Breaker, Checked, HttpVersion, NOT_HTTP2_FOR, TrailerCheck, UpBody, UpstreamBody,
    UpstreamError,
};

/// The response for the client and whether it was made by the proxy because the upstream failed
/// or because policy denied the request's trailers.
pub struct Outcome {
    pub response: Response<RespBody>,
    pub proxy_error: bool,
    /// The verdict that denied the request's trailers (see [`super::trailers`]).
    pub refused: Option<Verdict>,
}

impl Outcome {
    fn failure(is_grpc: bool, failure: Failure) -> Outcome {
        Outcome {
            response: respond::failure(is_grpc, failure, ""),
            proxy_error: true,
            refused: None,
        }
    }

    fn refused(is_grpc: bool, verdict: &Verdict) -> Outcome {
        Outcome {
            response: respond::failure(is_grpc, Failure::Denied, verdict.rule.as_str()),
            proxy_error: false,
            refused: Some(verdict.clone()),
        }
    }
}

/// Forwards an allowed request; its trailers, if any, go through `trailers` (see
/// [`super::trailers`]).
pub async fn forward(
    ctx: &Arc<ConnCtx>,
    downstream: Protocol,
    is_grpc: bool,
    endpoint: SocketAddr,
    mut req: Request<Incoming>,
    trailers: Option<(TrailerCheck, Refusal)>,
) -> Outcome {
    let limits = &ctx.shared.limits;
    if content_length(req.headers()).is_some_and(|len| len > limits.max_request_body_bytes) {
        return Outcome::failure(is_grpc, Failure::TooLarge);
    }
    let auto = ctx.target.protocol() == UpstreamProtocol::Auto;
    let mut version = upstream_version(ctx, downstream);
    if version == HttpVersion::Http2 && auto && ctx.shared.pool.speaks_only_http1(endpoint) {
        if is_grpc {
            return Outcome::failure(is_grpc, Failure::UpstreamNotHttp2);
        }
        version = HttpVersion::Http1;
    }
    let upgrade = version == HttpVersion::Http1
        && downstream == Protocol::Http1
        && wants_upgrade(req.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    strip_hop_by_hop(req.headers_mut(), upgrade);
    if let Err(failure) = rewrite_target(&mut req, version, endpoint) {
        return Outcome::failure(is_grpc, failure);
    }
    let (check, refusal) = trailers.unzip();
    let (parts, body) = req.into_parts();
    let max = usize::try_from(limits.max_request_body_bytes).unwrap_or(usize::MAX);
    let (body, received) = UpBody::new(Checked::new(body, check), max);
    let req = Request::from_parts(parts, body);

    let breaker = ctx.target.breaker();
    let Some(in_flight) = Breaker::request(Arc::clone(breaker)) else {
        return Outcome::failure(is_grpc, Failure::Overloaded);
    };
    let fallback = Fallback {
        auto,
        grpc: is_grpc,
    };
    let send = send(ctx, endpoint, version, fallback, req, breaker);
    let mut resp = match tokio::time::timeout(limits.request_timeout, send).await {
        Ok(Ok(resp)) => resp,
        Ok(Err(failure)) => {
            // A failure the trailers' denial caused is that denial.
            if let Some(verdict) = refusal.as_ref().and_then(Refusal::verdict) {
                return Outcome::refused(is_grpc, verdict);
            }
            return Outcome::failure(is_grpc, failure);
        }
        // Still waiting for the client's body: the client's slowness, not the upstream's.
        Err(_) if !received.get() => return Outcome::failure(is_grpc, Failure::ClientTimeout),
        Err(_) => return Outcome::failure(is_grpc, Failure::UpstreamTimeout),
    };

    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(client_upgrade) = client_upgrade {
            let upstream_upgrade = hyper::upgrade::on(&mut resp);
            tokio::spawn(splice_upgraded(
                Arc::clone(ctx),
                client_upgrade,
                upstream_upgrade,
            ));
        }
        let (parts, _) = resp.into_parts();
        return Outcome {
            response: Response::from_parts(parts, Either::Right(Default::default())),
            proxy_error: false,
            refused: None,
        };
    }
    strip_hop_by_hop(resp.headers_mut(), false);
    // In flight until the response body is done with.
    resp.body_mut().hold(in_flight);
    Outcome {
        response: resp.map(Either::Left),
        proxy_error: false,
        refused: None,
    }
}

/// Whether a request may go again in HTTP/1.1 when its endpoint does not speak HTTP/2.
#[derive(Clone, Copy)]
struct Fallback {
    /// The cluster's protocol is `auto`.
    auto: bool,
    /// gRPC needs HTTP/2: it never falls back.
    grpc: bool,
}

/// Sends `req` upstream in `version`. With `auto`, a request that found its endpoint does not
/// speak HTTP/2 was not sent (`upstream::preface`): it goes again in HTTP/1.1, whatever its
/// method, unless it is gRPC.
async fn send(
    ctx: &ConnCtx,
    endpoint: SocketAddr,
    version: HttpVersion,
    fallback: Fallback,
    req: Request<UpBody>,
    breaker: &Arc<Breaker>,
) -> Result<Response<UpstreamBody>, Failure> {
    let pool = &ctx.shared.pool;
    let timeout = ctx.target.connect_timeout();
    let error = match pool.send(endpoint, version, timeout, req, breaker).await {
        Ok(resp) => return Ok(resp),
        Err(error) => error,
    };
    let UpstreamError::NotHttp2 {
        answer,
        learned,
        unsent,
        ..
    } = error
    else {
        return Err(upstream_failed(endpoint, &error));
    };
    if learned {
        say_not_http2(endpoint, answer, fallback);
    }
    match unsent {
        Some(mut req) if fallback.auto && !fallback.grpc => {
            rewrite_target(&mut req, HttpVersion::Http1, endpoint)?;
            pool.send(endpoint, HttpVersion::Http1, timeout, *req, breaker)
                .await
                .map_err(|error| upstream_failed(endpoint, &error))
        }
        _ => Err(Failure::UpstreamNotHttp2),
    }
}

fn upstream_failed(endpoint: SocketAddr, error: &UpstreamError) -> Failure {
    // Counted, not logged per request (see `fast::upstream`).
    if error.is_overflow() {
        return Failure::Overloaded;
    }
    warn_limited!((endpoint, error.cause()), %endpoint, %error, "upstream request failed");
    if error.is_connect() {
        Failure::Unreachable
    } else {
        Failure::UpstreamFailed
    }
}

/// The one log line for an endpoint found not to speak HTTP/2 (again after
/// [`NOT_HTTP2_FOR`]), saying what follows from it.
fn say_not_http2(endpoint: SocketAddr, answer: Answer, fallback: Fallback) {
    let remembered = NOT_HTTP2_FOR.as_secs();
    if fallback.auto {
        tracing::warn!(
            %endpoint,
            "upstream {endpoint} does not speak HTTP/2 (it {answer}): with upstream protocol \
             auto, requests from HTTP/2 clients go to it in HTTP/1.1 for the next {remembered} s \
             (gRPC calls fail with UNAVAILABLE); set the cluster's protocol to http1 to serve \
             them without trying HTTP/2"
        );
    } else {
        tracing::warn!(
            %endpoint,
            "upstream {endpoint} does not speak HTTP/2 (it {answer}), and the cluster's protocol \
             is http2: its requests fail with 502 (gRPC UNAVAILABLE); set the protocol to auto \
             or http1"
        );
    }
}

/// The HTTP version spoken upstream: the cluster's, or with `auto` the client's.
pub fn upstream_version(ctx: &ConnCtx, downstream: Protocol) -> HttpVersion {
    match (ctx.target.protocol(), downstream) {
        (UpstreamProtocol::Http1, _) => HttpVersion::Http1,
        (UpstreamProtocol::Http2, _) => HttpVersion::Http2,
        (UpstreamProtocol::Auto, Protocol::Http1) => HttpVersion::Http1,
        (UpstreamProtocol::Auto, _) => HttpVersion::Http2,
    }
}

/// Sets the request target for the upstream: origin-form plus `Host` for HTTP/1.1,
/// scheme + authority (kept from the client) for HTTP/2.
fn rewrite_target<B>(
    req: &mut Request<B>,
    version: HttpVersion,
    endpoint: SocketAddr,
) -> Result<(), Failure> {
    let pq = req
        .uri()
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    match version {
        HttpVersion::Http1 => {
            if req.version() == Version::HTTP_2 {
                join_cookies(req.headers_mut());
            }
            *req.version_mut() = Version::HTTP_11;
            if let Some(a) = req.uri().authority() {
                // Absolute-form, or HTTP/2's `:authority`: policy checked this authority, so the
                // upstream gets it as `Host`, whatever `Host` the client also sent (RFC 9112
                // section 3.2.2).
                let host = HeaderValue::from_str(a.as_str()).map_err(|_| BAD_AUTHORITY)?;
                req.headers_mut().insert(header::HOST, host);
            } else if !req.headers().contains_key(header::HOST) {
                // The common case (an HTTP/1.1 client sent Host) needs no authority parsing.
                let authority = authority(req, endpoint)?;
                let host = HeaderValue::from_str(authority.as_str()).map_err(|_| BAD_AUTHORITY)?;
                req.headers_mut().insert(header::HOST, host);
            }
            *req.uri_mut() = Uri::from(pq);
        }
        HttpVersion::Http2 => {
            let authority = authority(req, endpoint)?;
            *req.version_mut() = Version::HTTP_2;
            req.headers_mut().remove(header::HOST);
            *req.uri_mut() = Uri::builder()
                .scheme(Scheme::HTTP)
                .authority(authority)
                .path_and_query(pq)
                .build()
                .map_err(|_| BAD_AUTHORITY)?;
        }
    }
    Ok(())
}

/// The request's authority: `:authority`, else `Host`, else the endpoint itself.
fn authority<B>(req: &Request<B>, endpoint: SocketAddr) -> Result<Authority, Failure> {
    if let Some(a) = req.uri().authority() {
        return Ok(a.clone());
    }
    match req.headers().get(header::HOST) {
        Some(h) => h
            .to_str()
            .ok()
            .and_then(|h| h.parse().ok())
            .ok_or(BAD_AUTHORITY),
        None => endpoint
            .to_string()
            .parse()
            .map_err(|_| Failure::UpstreamFailed),
    }
}

/// Joins the `cookie` fields HTTP/2 lets a client split into one, as HTTP/1.1 needs (RFC 9113
/// section 8.2.3).
fn join_cookies(headers: &mut HeaderMap) {
    let mut cookies = headers.get_all(header::COOKIE).iter();
    let (Some(first), Some(_)) = (cookies.next(), cookies.next()) else {
        return;
    };
    let mut joined = first.as_bytes().to_vec();
    for c in headers.get_all(header::COOKIE).iter().skip(1) {
        joined.extend_from_slice(b"; ");
        joined.extend_from_slice(c.as_bytes());
    }
    if let Ok(v) = HeaderValue::from_bytes(&joined) {
        headers.insert(header::COOKIE, v);
    }
}

/// A request whose authority cannot be written as the upstream's `Host` or `:authority`.
const BAD_AUTHORITY: Failure = Failure::BadRequest("invalid authority");

/// Relays bytes both ways between the client and upstream after a `101 Switching Protocols`.
/// The connection's context (and so its connection slot) lives as long as the tunnel, which is
/// counted as an upstream connection and has the idle and drain timeouts of opaque TCP.
async fn splice_upgraded(
    ctx: Arc<ConnCtx>,
    client: hyper::upgrade::OnUpgrade,
    upstream: hyper::upgrade::OnUpgrade,
) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(pair) => pair,
        Err(error) => {
            tracing::debug!(%error, "protocol upgrade did not complete");
            return;
        }
    };
    let metrics = &ctx.shared.metrics;
    metrics.upstream_active.inc();
    let relayed = crate::conn::relay(TokioIo::new(client), TokioIo::new(upstream), &ctx).await;
    metrics.upstream_active.dec();
    if let Err(error) = relayed {
        tracing::debug!(client = %ctx.client, %error, "upgraded connection ended");
    }
}

/// Answers an `Upgrade: h2c` request with 101 and continues the connection as HTTP/2, with the
/// original request replayed as stream 1 (see [`super::h2c`]).
pub fn switch_to_h2c(ctx: Arc<ConnCtx>, mut req: Request<Incoming>) -> Response<RespBody> {
    let on_upgrade = hyper::upgrade::on(&mut req);
    let (head, _body) = req.into_parts();
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(error) => {
                tracing::debug!(%error, "h2c upgrade did not complete");
                return;
            }
        };
        let mut io = TokioIo::new(upgraded);
        let prelude = match tokio::time::timeout(
            ctx.shared.limits.header_read_timeout,
            super::h2c::prelude(&mut io, &head),
        )
        .await
        {
            Ok(Ok(p)) => p,
            Ok(Err(error)) => {
                tracing::debug!(client = %ctx.client, %error, "h2c upgrade failed");
                return;
            }
            Err(_) => {
                tracing::debug!(client = %ctx.client, "h2c client sent no preface in time");
                return;
            }
        };
        super::serve_http2(crate::transport::PrefixedIo::new(prelude, io), ctx).await;
    });
    let mut resp = Response::new(Either::Right(Default::default()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    resp.headers_mut()
        .insert(header::UPGRADE, HeaderValue::from_static("h2c"));
    resp
}
