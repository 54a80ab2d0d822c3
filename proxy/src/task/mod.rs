//! Cheap polling for the long-lived futures of a connection's task.
//!
//! Why: a connection's task is polled several times per request, and every poll used to poll
//! all of its timers and signals too. A tokio `Sleep` clones the task's waker (and drops the one
//! it held) on every poll, and a `watch` or `Notify` wait locks its waiter list: reference-count
//! and lock updates on every request for events (keep-alive, idle close, shutdown) that happen
//! once in minutes. `Alarm` registers its timer once per setting; `OnWake` polls a future only
//! after that future's own waker fired; `Deadline` puts a connection's successive timeouts on
//! one timer that seldom moves.

mod alarm;
mod deadline;
mod on_wake;
#[cfg(test)]
mod tests;

pub use alarm::Alarm;
pub use deadline::{Deadline, Passed};
pub use on_wake::OnWake;
