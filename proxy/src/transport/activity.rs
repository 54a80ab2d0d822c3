//! Activity tracking for idle timeouts: a counter that I/O bumps (see
//! [`super::PrefixedIo::track`]) or that requests bump as they start and end (see
//! [`Activity::busy`]), and a watchdog that resolves once the count has stood still for a whole
//! idle period with no request open.
//!
//! HTTP/2 counts requests, not bytes: a client that only answers the proxy's keep-alive PINGs
//! moves bytes but is idle, as Envoy's `idle_timeout` ("no active streams") defines it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Debug, Default)]
struct Counts {
    /// Bumped by every event: bytes moved, a request started or ended.
    events: AtomicU64,
    /// Requests started and not yet finished (their [`Busy`] guard is alive).
    open: AtomicU64,
}

/// Shared activity counter of one connection.
#[derive(Clone, Debug, Default)]
pub struct Activity(Arc<Counts>);

impl Activity {
    pub fn bump(&self) {
        self.0.events.fetch_add(1, Ordering::Relaxed);
    }

    /// Marks a request as open until the guard is dropped: the connection is not idle meanwhile,
    /// however long the request stays silent.
    pub fn busy(&self) -> Busy {
        self.0.open.fetch_add(1, Ordering::Relaxed);
        self.bump();
        Busy(self.clone())
    }

    /// Resolves once there was no activity, and no open request, for `idle`.
    pub async fn idle_for(&self, idle: Duration) {
        let mut seen = self.0.events.load(Ordering::Relaxed);
        loop {
            tokio::time::sleep(idle).await;
            let now = self.0.events.load(Ordering::Relaxed);
            if now == seen && self.0.open.load(Ordering::Relaxed) == 0 {
                return;
            }
            seen = now;
        }
    }
}

/// An open request (see [`Activity::busy`]).
#[derive(Debug)]
pub struct Busy(Activity);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.0.open.fetch_sub(1, Ordering::Relaxed);
        self.0.bump();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_open_request_keeps_the_connection_busy() {
        let activity = Activity::default();
        let busy = activity.busy();
        let idle = tokio::time::timeout(
            Duration::from_secs(10),
            activity.idle_for(Duration::from_secs(1)),
        );
        assert!(idle.await.is_err(), "idle while a request was open");
        drop(busy);
        let idle = tokio::time::timeout(
            Duration::from_secs(3),
            activity.idle_for(Duration::from_secs(1)),
        );
        assert!(idle.await.is_ok(), "not idle after the request ended");
    }

    #[tokio::test(start_paused = true)]
    async fn bytes_postpone_idleness() {
        let activity = Activity::default();
        let watch = activity.clone();
        let bumper = tokio::spawn(async move {
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(500)).await;
                watch.bump();
            }
        });
        let start = tokio::time::Instant::now();
        activity.idle_for(Duration::from_secs(1)).await;
        assert!(start.elapsed() >= Duration::from_millis(2500));
        bumper.await.expect("bumper");
    }
}
