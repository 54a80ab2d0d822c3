//! A deadline that moves with every request but seldom earlier, on one timer.
//!
//! An HTTP/1.1 connection waits for a request head (idle timeout), then for the upstream's
//! answer (request timeout), one after the other. A `tokio::time::timeout` around each wait put
//! a timer into the runtime's wheel and took it out again, and cloned and dropped the task's
//! waker: twice per request. Here the connection's one timer is moved only when a deadline comes
//! before the time it is set for. When it rings before the deadline then in force (it was set
//! for an earlier one), it is set again for that deadline: under a steady stream of requests,
//! once per timeout period.
//!
//! This is the one-waiter case. An HTTP/2 connection, whose streams wait at the same time,
//! keeps their deadlines in its shared state instead (`http::h2fast::deadline`).

use std::future::{Future, poll_fn};
use std::task::Poll;

use tokio::time::Instant;

use super::Alarm;

/// The deadline passed before the future ended.
#[derive(Debug, PartialEq, Eq)]
pub struct Passed;

/// One connection's deadlines. For a future that one task polls for its whole life (see
/// [`Alarm`]).
pub struct Deadline {
    alarm: Alarm,
    /// When the alarm rings; `None`: it is not set (or rang and nobody has set it since).
    armed: Option<Instant>,
}

impl Deadline {
    pub fn new() -> Self {
        Deadline {
            alarm: Alarm::new(Instant::now()),
            armed: None,
        }
    }

    /// Runs `fut` until it ends, or `Err(Passed)` once `at` has passed (as
    /// `tokio::time::timeout_at`: `fut` is polled first).
    pub async fn within<F: Future>(&mut self, at: Instant, fut: F) -> Result<F::Output, Passed> {
        if self.armed.is_none_or(|armed| at < armed) {
            self.set(at);
        }
        let mut fut = std::pin::pin!(fut);
        poll_fn(|cx| {
            if let Poll::Ready(out) = fut.as_mut().poll(cx) {
                return Poll::Ready(Ok(out));
            }
            while self.alarm.poll_rang(cx) {
                if Instant::now() >= at {
                    self.armed = None;
                    return Poll::Ready(Err(Passed));
                }
                // Rang for an earlier deadline than this one.
                self.set(at);
            }
            Poll::Pending
        })
        .await
    }

    fn set(&mut self, at: Instant) {
        self.alarm.set(at);
        self.armed = Some(at);
    }
}
