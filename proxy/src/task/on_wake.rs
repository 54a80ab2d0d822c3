//! A future its task polls only when that future's own waker fired.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use pin_project_lite::pin_project;

pin_project! {
    /// Wraps a future that waits for rare events (a shutdown signal, an idle timer) inside a
    /// `select!` whose other branches wake the task all the time: the wrapped future is polled
    /// once, and then only after it was woken. It is polled with a waker of its own, which marks
    /// it and wakes the task polling the wrapper (the one of the last poll).
    pub struct OnWake<F> {
        #[pin]
        future: F,
        flag: Arc<Flag>,
        waker: Waker,
        // The task waker the flag forwards to, kept to see whether it changed.
        task: Option<Waker>,
    }
}

struct Flag {
    woken: AtomicBool,
    task: Mutex<Option<Waker>>,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        let task = self.task.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(task) = task.as_ref() {
            task.wake_by_ref();
        }
    }
}

impl<F: Future> OnWake<F> {
    pub fn new(future: F) -> Self {
        let flag = Arc::new(Flag {
            // The first poll polls the future.
            woken: AtomicBool::new(true),
            task: Mutex::new(None),
        });
        OnWake {
            future,
            waker: Waker::from(Arc::clone(&flag)),
            flag,
            task: None,
        }
    }
}

impl<F: Future> Future for OnWake<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if this.task.as_ref().is_none_or(|t| !t.will_wake(cx.waker())) {
            *this
                .flag
                .task
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(cx.waker().clone());
            *this.task = Some(cx.waker().clone());
        }
        // A plain load when nothing happened, which is nearly always.
        if !this.flag.woken.load(Ordering::Acquire) {
            return Poll::Pending;
        }
        // Cleared before the poll: a wake-up during it is kept for the next.
        this.flag.woken.store(false, Ordering::Release);
        this.future.poll(&mut Context::from_waker(this.waker))
    }
}
