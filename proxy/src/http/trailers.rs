//! Policy on request trailers, on the paths that forward them (hyper's: HTTP/1.1 chunked to an
//! HTTP/1.1 upstream, HTTP/2 to an HTTP/2 upstream; the in-task HTTP/2 path and the HTTP/1.1
//! fast path forward none).
//!
//! Why: a field a deny rule names could come as a trailer of the body, after policy decided on
//! the head, and reach an upstream that reads trailers. When the trailers come, the request is
//! checked again with its fields and its trailer fields together (as if the trailers had been
//! fields, a repeated name's values joined as `Headers::get` says), and `headersWithUnderscores`
//! applies to their names. A denial fails the request rather than forwarding them: the
//! upstream request is cut off (`upstream::Checked`), and the client gets the denial when no
//! response has come yet.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use http::{HeaderMap, HeaderValue, Method, Request, Uri, Version, header};
use http_body::Body;
use hyper::body::Incoming;
use sockmesh_policy::{GrpcCall, HttpRequest, Verdict};

use super::headers::{HeaderViews, remove_underscored};
use super::service;
use crate::conn::ConnCtx;
use crate::upstream::{TrailerCheck, TrailersRefused};

/// Where a denial of a request's trailers leaves its verdict, for the answer and the log.
#[derive(Clone, Default)]
pub struct Refusal(Arc<OnceLock<Verdict>>);

impl Refusal {
    /// The verdict that refused the trailers, once one did.
    pub fn verdict(&self) -> Option<&Verdict> {
        self.0.get()
    }
}

/// The request as policy checked it, kept for its trailers.
struct Head {
    method: Method,
    uri: Uri,
    host: Option<HeaderValue>,
    fields: HeaderMap,
    grpc: bool,
}

/// A check of `req`'s trailers for its body, and where a denial is reported; `None` when its
/// body can carry no trailers (none, or a `Content-Length` body on HTTP/1.1), which costs
/// nothing more.
pub fn check(
    ctx: &Arc<ConnCtx>,
    endpoint: SocketAddr,
    req: &Request<Incoming>,
    grpc: bool,
) -> Option<(TrailerCheck, Refusal)> {
    let body = req.body();
    if body.is_end_stream()
        || (req.version() != Version::HTTP_2 && body.size_hint().exact().is_some())
    {
        return None;
    }
    let head = Head {
        method: req.method().clone(),
        uri: req.uri().clone(),
        host: req.headers().get(header::HOST).cloned(),
        fields: req.headers().clone(),
        grpc,
    };
    let refusal = Refusal::default();
    let reported = refusal.clone();
    let ctx = Arc::clone(ctx);
    let check = move |trailers: &mut HeaderMap| {
        remove_underscored(trailers, ctx.shared.http.headers_with_underscores)
            .map_err(TrailersRefused)?;
        let verdict = head.check(&ctx, endpoint, trailers);
        if verdict.allowed {
            return Ok(());
        }
        let _ = reported.0.set(verdict);
        Err(TrailersRefused("denied by policy"))
    };
    Some((Box::new(check), refusal))
}

impl Head {
    fn check(&self, ctx: &ConnCtx, endpoint: SocketAddr, trailers: &HeaderMap) -> Verdict {
        let path = self.uri.path_and_query().map_or("/", |p| p.as_str());
        let host = self
            .uri
            .authority()
            .map(|a| a.as_str())
            .or_else(|| self.host.as_ref().and_then(|h| h.to_str().ok()));
        service::check(
            ctx,
            endpoint,
            &HttpRequest {
                method: self.method.as_str(),
                path,
                host,
                headers: &HeaderViews([&self.fields, trailers]),
                grpc: if self.grpc {
                    GrpcCall::from_path(path)
                } else {
                    None
                },
            },
        )
    }
}
