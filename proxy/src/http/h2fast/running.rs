//! The stream futures of one connection, polled by the connection's task (`shared::Streams`
//! is the other side: each stream's protocol state).
//!
//! Why not a `FuturesUnordered` alone: it allocates a task (the whole stream future, a few KiB,
//! moved into an `Arc`) for every stream, and polls it through a waker of its own. Most
//! connections have one stream at a time (browsers' page loads aside, a client sends, waits,
//! sends), so the first stream lives inline in the connection's future, polled with the
//! connection's own waker; only streams beyond it go into the `FuturesUnordered`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use pin_project_lite::pin_project;

pin_project! {
    pub struct Running<S> {
        // Polled whenever the connection's task is: its wake-ups are the task's.
        #[pin]
        inline: Option<S>,
        rest: FuturesUnordered<S>,
    }
}

impl<S: Future<Output = ()>> Running<S> {
    pub fn new() -> Self {
        Running {
            inline: None,
            rest: FuturesUnordered::new(),
        }
    }

    /// Adds a stream; it is first polled by the next `poll`.
    pub fn push(self: Pin<&mut Self>, stream: S) {
        let mut this = self.project();
        if this.inline.is_none() {
            this.inline.set(Some(stream));
        } else {
            this.rest.push(stream);
        }
    }

    /// Polls the streams that may progress; those that finish are dropped.
    pub fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) {
        let mut this = self.project();
        if let Some(stream) = this.inline.as_mut().as_pin_mut()
            && stream.poll(cx).is_ready()
        {
            this.inline.set(None);
        }
        while let Poll::Ready(Some(())) = this.rest.poll_next_unpin(cx) {}
    }

    pub fn is_empty(&self) -> bool {
        self.inline.is_none() && self.rest.is_empty()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        usize::from(self.inline.is_some()) + self.rest.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Finishes on its second poll, counting its polls and its drop.
    struct Twice {
        polls: Arc<AtomicUsize>,
        dropped: Arc<AtomicUsize>,
        seen: bool,
    }

    impl Future for Twice {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polls.fetch_add(1, Ordering::Relaxed);
            if std::mem::replace(&mut self.seen, true) {
                Poll::Ready(())
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    impl Drop for Twice {
        fn drop(&mut self) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn streams_beyond_the_first_are_polled_and_all_are_dropped_when_done() {
        let polls = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));
        let twice = || Twice {
            polls: Arc::clone(&polls),
            dropped: Arc::clone(&dropped),
            seen: false,
        };
        let mut streams = std::pin::pin!(Running::new());
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        for _ in 0..3 {
            streams.as_mut().push(twice());
        }
        assert_eq!(streams.len(), 3);
        streams.as_mut().poll(&mut cx);
        assert_eq!(polls.load(Ordering::Relaxed), 3, "each stream polled once");
        assert_eq!(dropped.load(Ordering::Relaxed), 0);
        // The inline slot is free again once its stream is done, and takes the next one.
        streams.as_mut().poll(&mut cx);
        assert!(streams.is_empty());
        assert_eq!(dropped.load(Ordering::Relaxed), 3);
        streams.as_mut().push(twice());
        streams.as_mut().push(twice());
        assert_eq!(streams.len(), 2);
        streams.as_mut().poll(&mut cx);
        streams.as_mut().poll(&mut cx);
        assert!(streams.is_empty());
        assert_eq!(polls.load(Ordering::Relaxed), 10);
        assert_eq!(dropped.load(Ordering::Relaxed), 5);
    }
}
