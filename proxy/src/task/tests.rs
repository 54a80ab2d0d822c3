use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use tokio::time::Instant;

use super::deadline::Passed;
use super::*;

/// Counts its polls; ready once `open` is set (its waker kept for `open`'s wake-up).
#[tokio::test(start_paused = true)]
async fn a_wrapped_future_is_polled_only_when_woken() {
    let polls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&polls);
    let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
    let inner = poll_fn(move |cx| {
        counted.fetch_add(1, Ordering::Relaxed);
        Pin::new(&mut rx).poll(cx).map(|_| ())
    });
    let mut wrapped = std::pin::pin!(OnWake::new(inner));
    // Polled on the first poll; then the task is polled often (other branches), the inner
    // future not.
    for _ in 0..10 {
        poll_fn(|cx| Poll::Ready(wrapped.as_mut().poll(cx).is_pending())).await;
    }
    assert_eq!(polls.load(Ordering::Relaxed), 1);
    tx.send(()).expect("send");
    let done = tokio::time::timeout(Duration::from_secs(1), wrapped.as_mut()).await;
    assert!(done.is_ok(), "the wake-up did not reach the task");
    assert_eq!(polls.load(Ordering::Relaxed), 2);
}

/// Waits (10 s at most) for `alarm` to ring, polling it as its task would.
async fn rung(alarm: &mut Alarm) {
    let rang = poll_fn(|cx| {
        if alarm.poll_rang(cx) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    });
    tokio::time::timeout(Duration::from_secs(10), rang)
        .await
        .expect("the alarm woke its task");
}

#[tokio::test(start_paused = true)]
async fn an_alarm_rings_at_its_time_and_wakes_its_task() {
    let start = Instant::now();
    let mut alarm = Alarm::new(start + Duration::from_secs(5));
    rung(&mut alarm).await;
    assert_eq!(Instant::now() - start, Duration::from_secs(5));
    // Set again: not ringing until the new time, then ringing.
    alarm.set(Instant::now() + Duration::from_secs(3));
    assert!(!poll_fn(|cx| Poll::Ready(alarm.poll_rang(cx))).await);
    rung(&mut alarm).await;
    assert_eq!(Instant::now() - start, Duration::from_secs(8));
}

/// A wait that never ends is cut off by `deadline` exactly `at`.
async fn passes_at(deadline: &mut Deadline, at: Instant) {
    let never = std::future::pending::<()>();
    assert_eq!(deadline.within(at, never).await, Err(Passed));
    assert_eq!(Instant::now(), at);
}

/// Later deadlines leave the timer where it is; each wait still ends at its own deadline.
#[tokio::test(start_paused = true)]
async fn a_deadline_passes_at_its_own_time_whatever_the_timer_was_set_for() {
    let mut deadline = Deadline::new();
    let t0 = Instant::now();
    // Ends in time: the timer stays set for t0 + 5 s.
    let quick = deadline
        .within(t0 + Duration::from_secs(5), async { 7 })
        .await;
    assert_eq!(quick, Ok(7));
    // A later deadline: the timer rings at t0 + 5 s, early, and is set again for t0 + 8 s.
    passes_at(&mut deadline, t0 + Duration::from_secs(8)).await;
    // An earlier deadline than the one set moves the timer.
    let t1 = Instant::now();
    let _ = deadline
        .within(t1 + Duration::from_secs(60), async {})
        .await;
    passes_at(&mut deadline, t1 + Duration::from_secs(2)).await;
    // A future that ends before its deadline is not cut off by a timer set earlier.
    let t2 = Instant::now();
    let slow = async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        9
    };
    let _ = deadline.within(t2 + Duration::from_secs(1), async {}).await;
    assert_eq!(
        deadline.within(t2 + Duration::from_secs(4), slow).await,
        Ok(9)
    );
}
