//! The bodies of hyper's upstream exchanges: the request body, which tells when the client has
//! sent all of it (a request timeout is then the upstream's, else the client's), and the
//! response body, which gives its HTTP/1.1 connection back to the pool once read to the end,
//! without a task per request.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::Limited;
use hyper::body::{Body, Frame, Incoming, SizeHint};

use super::breaker::{Breaker, RequestSlot};
use super::pool::{H1Conn, Pool};
use super::trailers::Checked;

pin_project_lite::pin_project! {
    /// The body the proxy sends upstream: the client's, its trailers checked against policy
    /// ([`Checked`]), cut at `max` bytes, marking [`Received`] once read to its end.
    pub struct UpBody {
        #[pin]
        inner: Limited<Checked>,
        received: Option<Arc<AtomicBool>>,
    }
}

/// Whether the client's whole body has been read (and sent on). Allocates only for a request
/// that has a body.
pub struct Received(Option<Arc<AtomicBool>>);

impl Received {
    pub fn get(&self) -> bool {
        self.0.as_ref().is_none_or(|r| r.load(Ordering::Relaxed))
    }
}

impl std::fmt::Debug for UpBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpBody").finish_non_exhaustive()
    }
}

impl UpBody {
    pub fn new(body: Checked, max: usize) -> (UpBody, Received) {
        let received = (!body.is_end_stream()).then(|| Arc::new(AtomicBool::new(false)));
        let handle = Received(received.clone());
        let inner = Limited::new(body, max);
        (UpBody { inner, received }, handle)
    }
}

impl Body for UpBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let mut this = self.project();
        let polled = this.inner.as_mut().poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(_))) => this.inner.is_end_stream(),
            _ => false,
        };
        if ended && let Some(received) = this.received.as_ref() {
            received.store(true, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A connection to return when the response body ends.
pub(super) struct Return {
    pub pool: Arc<Pool>,
    pub addr: SocketAddr,
    pub conn: H1Conn,
}

pin_project_lite::pin_project! {
    /// `Incoming`, plus the pooled connection it came on (HTTP/1.1 only) and the request's slot
    /// among its cluster's requests in flight, held until the body is done with.
    pub struct UpstreamBody {
        #[pin]
        inner: Incoming,
        give_back: Option<Return>,
        request: Option<RequestSlot<Arc<Breaker>>>,
    }

    impl PinnedDrop for UpstreamBody {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // Only a body read to its end leaves the connection reusable; anything else (client
            // gone mid-body) closes it by dropping the sender.
            if this.inner.is_end_stream()
                && let Some(r) = this.give_back.take()
            {
                r.pool.checkin_h1(r.addr, r.conn);
            }
        }
    }
}

impl UpstreamBody {
    pub(super) fn new(inner: Incoming, give_back: Option<Return>) -> UpstreamBody {
        UpstreamBody {
            inner,
            give_back,
            request: None,
        }
    }

    /// Keeps the request counted in flight until the body is dropped.
    pub fn hold(&mut self, request: RequestSlot<Arc<Breaker>>) {
        self.request = Some(request);
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
