//! One downstream connection's share of upstream connections: at most so many of its requests
//! hold an upstream connection at once, and the others wait their turn.
//!
//! Why: an HTTP/2 stream forwarded to an HTTP/1.1 upstream holds a connection of its own for
//! its exchange, so one client with 256 open streams held 256 upstream connections, and a few
//! such clients took a cluster's every connection (issue 14). With a share, a client's streams
//! beyond it queue inside that client's connection; the cluster's caps (`breaker`) bound the
//! sum over clients.
//!
//! Not tokio's `Semaphore`, which takes its waiter-list lock on every acquire and release: a turn
//! is one compare-and-swap and one decrement, and only a stream that has to wait touches a lock.

use std::sync::atomic::{AtomicU32, Ordering};

use tokio::sync::Notify;

use super::breaker::take;

pub struct Share {
    max: u32,
    used: AtomicU32,
    waiting: AtomicU32,
    /// Wakes a waiting request when a turn ends.
    freed: Notify,
}

impl Share {
    pub fn new(max: usize) -> Share {
        Share {
            max: u32::try_from(max).unwrap_or(u32::MAX),
            used: AtomicU32::new(0),
            waiting: AtomicU32::new(0),
            freed: Notify::new(),
        }
    }

    /// A turn to hold an upstream connection, once one of the `max` is free.
    pub async fn turn(&self) -> Turn<'_> {
        if take(&self.used, self.max) {
            return Turn(self);
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(self);
        loop {
            // Registered before looking: a turn that ends after the look wakes this.
            let freed = self.freed.notified();
            let mut freed = std::pin::pin!(freed);
            freed.as_mut().enable();
            if take(&self.used, self.max) {
                return Turn(self);
            }
            freed.await;
        }
    }
}

/// A request's turn, until dropped.
pub struct Turn<'a>(&'a Share);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.used.fetch_sub(1, Ordering::SeqCst);
        if self.0.waiting.load(Ordering::SeqCst) > 0 {
            self.0.freed.notify_one();
        }
    }
}

struct Waiting<'a>(&'a Share);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn turns_past_the_share_wait_for_one_to_end() {
        let share = Share::new(2);
        let first = share.turn().await;
        let second = share.turn().await;
        let third = share.turn();
        let mut third = std::pin::pin!(third);
        let waited = tokio::time::timeout(Duration::from_millis(50), third.as_mut()).await;
        assert!(
            waited.is_err(),
            "a third turn was given while two were held"
        );
        drop(first);
        let got = tokio::time::timeout(Duration::from_secs(5), third).await;
        assert!(got.is_ok(), "the ended turn was not passed on");
        drop((second, got));
        assert_eq!(share.used.load(Ordering::SeqCst), 0);
        assert_eq!(share.waiting.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_passes_its_wake_up_on() {
        let share = Share::new(1);
        let held = share.turn().await;
        let mut gone = Box::pin(share.turn());
        let next = share.turn();
        let mut next = std::pin::pin!(next);
        // Both wait; the first to wait is woken, and gives up without taking the turn.
        let polled = tokio::time::timeout(Duration::from_millis(20), gone.as_mut()).await;
        assert!(polled.is_err());
        let polled = tokio::time::timeout(Duration::from_millis(20), next.as_mut()).await;
        assert!(polled.is_err());
        drop(held);
        drop(gone);
        let got = tokio::time::timeout(Duration::from_secs(5), next).await;
        assert!(
            got.is_ok(),
            "the turn was lost with the waiter that gave up"
        );
    }
}
