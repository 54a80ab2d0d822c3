//! The upstream response body, which gives its HTTP/1.1 connection back to the pool once the body
//! has been read to the end, without a task per request.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1;

use super::pool::{Pool, UpBody};

/// A connection to return when the response body ends.
pub(super) struct Return {
    pub pool: Arc<Pool>,
    pub addr: SocketAddr,
    pub sender: http1::SendRequest<UpBody>,
}

pin_project_lite::pin_project! {
    /// `Incoming`, plus the pooled connection it came on (HTTP/1.1 only).
    pub struct UpstreamBody {
        #[pin]
        inner: Incoming,
        give_back: Option<Return>,
    }

    impl PinnedDrop for UpstreamBody {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // Only a body read to its end leaves the connection reusable; anything else (client
            // gone mid-body) closes it by dropping the sender.
            if this.inner.is_end_stream()
                && let Some(r) = this.give_back.take()
            {
                r.pool.checkin_h1(r.addr, r.sender);
            }
        }
    }
}

impl UpstreamBody {
    pub(super) fn new(inner: Incoming, give_back: Option<Return>) -> UpstreamBody {
        UpstreamBody { inner, give_back }
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
