//! Activity tracking for idle timeouts: a counter that I/O bumps (see
//! [`super::PrefixedIo::track`]), and a watchdog that resolves once the count has stood still for
//! a whole idle period.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Shared activity counter of one connection.
#[derive(Clone, Debug, Default)]
pub struct Activity(Arc<AtomicU64>);

impl Activity {
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Resolves once there was no activity for `idle`.
    pub async fn idle_for(&self, idle: Duration) {
        let mut seen = self.0.load(Ordering::Relaxed);
        loop {
            tokio::time::sleep(idle).await;
            let now = self.0.load(Ordering::Relaxed);
            if now == seen {
                return;
            }
            seen = now;
        }
    }
}
