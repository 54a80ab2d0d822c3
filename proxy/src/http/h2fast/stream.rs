//! One HTTP/2 stream: policy decision, then the upstream exchange or an answer made by the
//! proxy (denial, failure), then the access-log line.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::{BodyExt, Either};

use super::body;
use super::exchange;
use super::shared::StreamRef;
use crate::conn::ConnCtx;
use crate::failure::Failure;
use crate::http::grpc;
use crate::http::respond::{self, RespBody};
use crate::http::service::{self, Finished};
use crate::metrics::{Protocol, VerdictLabel};
use crate::transport::activity::Busy;
use crate::upstream::Share;

const CONNECT_REFUSED: &str = "CONNECT is not supported when the upstream speaks HTTP/1.1";

/// Serves one stream; `_busy` keeps the connection from idling out meanwhile. Its upstream
/// exchange waits for a turn in the connection's `share` of upstream connections.
pub async fn serve(
    ctx: &Arc<ConnCtx>,
    mut req: Request<()>,
    stream: StreamRef,
    _busy: Busy,
    share: &Share,
) {
    let start = Instant::now();
    let is_grpc = grpc::is_grpc(req.headers());
    let protocol = if is_grpc {
        Protocol::Grpc
    } else {
        Protocol::Http2
    };
    let head_request = req.method() == Method::HEAD;
    let Some(endpoint) = ctx.target.pick() else {
        let resp = respond::failure(is_grpc, Failure::Unreachable, "");
        answer(ctx, &stream, resp, head_request).await;
        return;
    };
    let (seen, verdict, note) = match service::decide(ctx, endpoint, &mut req, is_grpc) {
        Ok(decided) => decided,
        Err(rejected) => {
            rejected.log(ctx, protocol, start);
            answer(ctx, &stream, rejected.answer(), head_request).await;
            return;
        }
    };
    let done = if verdict.allowed && req.method() == Method::CONNECT {
        // A tunnel has no HTTP/1.1 request to become on this path: refused, no upstream tried.
        let resp = respond::failure(false, Failure::NotImplemented(CONNECT_REFUSED), "");
        answer(ctx, &stream, resp, false)
            .await
            .with(VerdictLabel::Error, None)
    } else if verdict.allowed {
        match exchange::run(ctx, endpoint, req, &stream, start, share).await {
            Ok(relayed) => Finished {
                label: VerdictLabel::Allow,
                upstream: Some(endpoint),
                status: relayed.status,
                grpc_status: relayed.grpc_status,
            },
            Err(failure) => {
                let resp = respond::failure(is_grpc, failure, "");
                answer(ctx, &stream, resp, head_request)
                    .await
                    .with(VerdictLabel::Error, Some(endpoint))
            }
        }
    } else {
        let resp = respond::failure(is_grpc, Failure::Denied, verdict.rule.as_str());
        answer(ctx, &stream, resp, head_request)
            .await
            .with(VerdictLabel::Deny, None)
    };
    seen.log(ctx, protocol, &verdict, &note, done, start);
}

/// The status line of an answer the proxy made, for the log.
struct Answered {
    status: u16,
    grpc_status: Option<u32>,
}

impl Answered {
    fn with(self, label: VerdictLabel, upstream: Option<std::net::SocketAddr>) -> Finished {
        Finished {
            label,
            upstream,
            status: self.status,
            grpc_status: self.grpc_status,
        }
    }
}

/// Sends a response the proxy made (a short body at most; none for `HEAD`).
async fn answer(
    ctx: &ConnCtx,
    stream: &StreamRef,
    mut resp: Response<RespBody>,
    head_request: bool,
) -> Answered {
    if head_request {
        respond::drop_body_for_head(&mut resp);
    }
    let answered = Answered {
        status: resp.status().as_u16(),
        grpc_status: resp
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok()),
    };
    let (parts, body) = resp.into_parts();
    let data = match body {
        Either::Right(full) => full
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default(),
        Either::Left(_) => Bytes::new(),
    };
    let end = data.is_empty();
    // Failures mean the client reset the stream: nobody is left to answer.
    if stream
        .send_head(parts.status.as_u16(), &parts.headers, end)
        .is_ok()
        && !end
    {
        let stall = ctx.shared.limits.idle_timeout;
        let _ = body::send_data(stream, &data, true, stall).await;
    }
    answered
}
