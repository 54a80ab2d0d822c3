use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use tokio::time::Instant;

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
