//! A timer checked on every poll of its task, registered with the runtime once per setting.

use std::pin::Pin;
use std::task::Context;

use tokio::time::{Instant, Sleep};

/// A `Sleep` polled once after each [`Alarm::set`] (which registers the task's waker with the
/// runtime's timer), then only read ([`Sleep::is_elapsed`], no waker clone). For a future that
/// one task polls for its whole life, as a connection's is: the waker registered first is the
/// task's, and stays right.
pub struct Alarm {
    sleep: Pin<Box<Sleep>>,
    registered: bool,
}

impl Alarm {
    pub fn new(at: Instant) -> Alarm {
        Alarm {
            sleep: Box::pin(tokio::time::sleep_until(at)),
            registered: false,
        }
    }

    pub fn set(&mut self, at: Instant) {
        self.sleep.as_mut().reset(at);
        self.registered = false;
    }

    /// Whether the time it is set for has come; the task is woken when it does.
    pub fn poll_rang(&mut self, cx: &mut Context<'_>) -> bool {
        if self.registered {
            return self.sleep.is_elapsed();
        }
        self.registered = true;
        self.sleep.as_mut().poll(cx).is_ready()
    }
}
