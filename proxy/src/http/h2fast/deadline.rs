//! Request deadlines of one connection's streams, on one timer of the connection's.
//!
//! Why: a timer per request (`tokio::time::timeout`) is put into the runtime's timer wheel
//! when the request starts waiting and taken out when it is answered, and its waker is cloned
//! and dropped: about 6% of the user time of a small HTTP/2 request. Here a stream that waits
//! for its response head records its deadline in the shared state; the connection's timer is
//! moved only when a deadline comes before the time it is set for. Requests of one connection
//! start in order and share the request timeout, so in a steady stream of them the timer is set
//! once per timeout period: when it fires, the streams whose deadline has passed are marked and
//! woken, and it is set again for the earliest deadline left.
//!
//! The connection polls the timer once per turn, with the shared state locked (`Timer::poll`);
//! the streams' side is `Wanted` in the shared state, and `Shared::expire`.

use std::task::Context;

use tokio::time::Instant;

use crate::task::Alarm;

/// The shared state's side: what the connection's timer is set for, and an earlier time a
/// stream needs it set for.
#[derive(Debug, Default)]
pub struct Wanted {
    /// When the connection's timer fires; `None`: it is not set.
    armed: Option<Instant>,
    /// A deadline before `armed`, for the connection to set its timer to on its next turn.
    earlier: Option<Instant>,
}

impl Wanted {
    /// A stream's deadline: the timer must fire no later than it.
    pub fn need(&mut self, deadline: Instant) {
        if self.armed.is_none_or(|armed| deadline < armed)
            && self.earlier.is_none_or(|earlier| deadline < earlier)
        {
            self.earlier = Some(deadline);
        }
    }
}

/// The connection's side: its one timer.
pub struct Timer {
    alarm: Alarm,
}

/// What the connection's turn must do about deadlines.
#[derive(Debug, PartialEq, Eq)]
pub enum Due {
    /// Nothing: the timer has not fired.
    No,
    /// The timer fired: expire the streams whose deadline is before this instant.
    Expire(Instant),
}

impl Timer {
    pub fn new() -> Self {
        Timer {
            alarm: Alarm::new(Instant::now()),
        }
    }

    /// Sets the timer earlier if a stream asked, and says whether it fired. Once the caller has
    /// expired what was due, it calls [`Self::rearm`] with the earliest deadline left.
    pub fn poll(&mut self, cx: &mut Context<'_>, wanted: &mut Wanted) -> Due {
        if let Some(earlier) = wanted.earlier.take()
            && wanted.armed.is_none_or(|armed| earlier < armed)
        {
            wanted.armed = Some(earlier);
            self.alarm.set(earlier);
        }
        if wanted.armed.is_none() || !self.alarm.poll_rang(cx) {
            return Due::No;
        }
        Due::Expire(Instant::now())
    }

    /// After an expiry: the timer is set for `next` (the earliest deadline left), or unset.
    pub fn rearm(&mut self, cx: &mut Context<'_>, wanted: &mut Wanted, next: Option<Instant>) {
        wanted.armed = next;
        if let Some(at) = next {
            self.alarm.set(at);
            // Registers the task with the timer now: nothing else may wake it before `at`.
            if self.alarm.poll_rang(cx) {
                cx.waker().wake_by_ref();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::task::Poll;
    use std::time::Duration;

    use super::*;

    /// Polls `timer` once, as a turn of the connection does (the test task's waker is the one
    /// the timer wakes).
    async fn turn(timer: &mut Timer, wanted: &mut Wanted) -> Due {
        poll_fn(|cx| Poll::Ready(timer.poll(cx, wanted))).await
    }

    #[tokio::test(start_paused = true)]
    async fn the_timer_moves_only_for_an_earlier_deadline() {
        let mut timer = Timer::new();
        let mut wanted = Wanted::default();
        assert_eq!(turn(&mut timer, &mut wanted).await, Due::No, "unset");
        let t0 = Instant::now();
        wanted.need(t0 + Duration::from_secs(10));
        assert_eq!(turn(&mut timer, &mut wanted).await, Due::No);
        assert_eq!(wanted.armed, Some(t0 + Duration::from_secs(10)));
        // Later deadlines leave it where it is; an earlier one moves it.
        wanted.need(t0 + Duration::from_secs(11));
        assert_eq!(wanted.earlier, None);
        wanted.need(t0 + Duration::from_secs(5));
        assert_eq!(turn(&mut timer, &mut wanted).await, Due::No);
        assert_eq!(wanted.armed, Some(t0 + Duration::from_secs(5)));

        tokio::time::sleep(Duration::from_secs(5)).await;
        let Due::Expire(now) = turn(&mut timer, &mut wanted).await else {
            panic!("the timer did not fire at its deadline");
        };
        assert!(now >= t0 + Duration::from_secs(5));
        poll_fn(|cx| {
            timer.rearm(cx, &mut wanted, Some(t0 + Duration::from_secs(11)));
            Poll::Ready(())
        })
        .await;
        assert_eq!(
            turn(&mut timer, &mut wanted).await,
            Due::No,
            "re-armed later"
        );
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert!(matches!(
            turn(&mut timer, &mut wanted).await,
            Due::Expire(_)
        ));
        poll_fn(|cx| {
            timer.rearm(cx, &mut wanted, None);
            Poll::Ready(())
        })
        .await;
        assert_eq!(turn(&mut timer, &mut wanted).await, Due::No, "unset again");
    }
}
