//! A request body whose trailer fields pass a check before they go upstream.
//!
//! Why: a field a rule denies in a request's head could otherwise come as a trailer of its
//! body (HTTP/1.1 chunked, HTTP/2), after policy looked, and reach an upstream that reads
//! trailers. The check itself is the protocol path's (policy over the request's fields and its
//! trailers); here is only the seam, so the pool, below the protocol paths, knows nothing of
//! policy. A refused trailer section ends the body with an error: the upstream request is cut
//! off (HTTP/1.1: no last chunk; HTTP/2: the stream is reset) and never sees the fields.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

/// Decides on a request's trailer fields (and may remove some); `Err` refuses them.
pub type TrailerCheck = Box<dyn FnMut(&mut HeaderMap) -> Result<(), TrailersRefused> + Send>;

/// Why a request's trailer section was refused.
#[derive(Debug, thiserror::Error)]
#[error("request trailers refused: {0}")]
pub struct TrailersRefused(pub &'static str);

/// A client's request body on its way upstream, its trailers checked when there is a check.
pub struct Checked {
    inner: Incoming,
    check: Option<TrailerCheck>,
}

impl Checked {
    pub fn new(inner: Incoming, check: Option<TrailerCheck>) -> Checked {
        Checked { inner, check }
    }
}

impl Body for Checked {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let frame = match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            Some(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
            None => return Poll::Ready(None),
        };
        let mut frame = frame;
        if let (Some(trailers), Some(check)) = (frame.trailers_mut(), this.check.as_mut())
            && let Err(refused) = check(trailers)
        {
            return Poll::Ready(Some(Err(refused.into())));
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
