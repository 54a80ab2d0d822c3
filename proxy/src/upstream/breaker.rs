//! Per-cluster circuit breakers, as Envoy's: caps on the connections open to a cluster's
//! endpoints, on the requests waiting for one of them, and on the requests in flight.
//!
//! Why: on the HTTP/2 to HTTP/1.1 path every stream needs an upstream connection of its own, and
//! nothing capped them: 4 clients with 256 open streams each opened 1,024 upstream connections,
//! used up a 1,024-fd limit, and every new client was refused until they left (issue 14). With
//! the caps, a request past them is refused at once (503, gRPC UNAVAILABLE) and counted in
//! `sockmesh_upstream_overflow_total{cluster,kind}`, and the process keeps the descriptors it
//! needs for new clients.
//!
//! Semantics follow Envoy's `circuit_breakers` (default priority): `maxConnections` counts open
//! connections, idle ones in the pool included; a request that needs a new connection past it
//! first closes an idle one of the same cluster to another endpoint, else waits as a pending
//! request, for one to close or come back, until its request timeout; `maxPendingRequests` caps
//! those waiting, `maxRequests` those in flight. A pooled connection belongs to the cluster that
//! opened it, wherever it is used from.
//!
//! Cost on the common path: a request takes a slot (one compare-and-swap) and gives it back (one
//! decrement); a request on a pooled connection takes no connection slot; only a new connection
//! does, and only a pending request waits on a lock (tokio's `Notify`).

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use prometheus_client::metrics::counter::Counter;
use sockmesh_xds::domain::CircuitBreakers;
use tokio::sync::Notify;

use crate::metrics::{Metrics, OverflowKind, OverflowLabels};

/// One cluster's counts against its caps.
pub struct Breaker {
    limits: CircuitBreakers,
    connections: AtomicU32,
    pending: AtomicU32,
    requests: AtomicU32,
    /// Wakes a pending request when a connection counted here closes or comes back idle.
    freed: Notify,
    /// `sockmesh_upstream_overflow_total` for this cluster, by [`OverflowKind`].
    overflow: [Counter; 3],
}

const KINDS: [OverflowKind; 3] = [
    OverflowKind::Connections,
    OverflowKind::Pending,
    OverflowKind::Requests,
];

impl Breaker {
    /// Counts against `limits` for the cluster named `cluster` (its name labels the metric).
    pub fn new(cluster: &str, limits: CircuitBreakers, metrics: &Metrics) -> Arc<Breaker> {
        let counter = |kind| {
            let labels = OverflowLabels {
                cluster: cluster.to_owned(),
                kind,
            };
            metrics.upstream_overflow.get_or_create(&labels).clone()
        };
        Arc::new(Breaker {
            limits,
            connections: AtomicU32::new(0),
            pending: AtomicU32::new(0),
            requests: AtomicU32::new(0),
            freed: Notify::new(),
            overflow: KINDS.map(counter),
        })
    }

    pub fn limits(&self) -> CircuitBreakers {
        self.limits
    }

    /// A request in flight until the slot is dropped; `None` (counted) at `maxRequests`.
    /// `breaker` is `&Breaker` on the in-task paths, an `Arc` where the slot outlives the call.
    pub fn request<B: Deref<Target = Breaker>>(breaker: B) -> Option<RequestSlot<B>> {
        if take(&breaker.requests, breaker.limits.max_requests) {
            Some(RequestSlot(breaker))
        } else {
            breaker.overflowed(OverflowKind::Requests);
            None
        }
    }

    /// A connection for a request: the one `pooled` finds, else a slot to open a new one. At
    /// `maxConnections`, `evict` closes an idle connection counted here (to another endpoint:
    /// `pooled` found none to this one) and says whether it did; with none to close, the request
    /// waits as a pending one, up to `maxPendingRequests` (`Err`, counted, past it).
    pub async fn connection<C>(
        self: &Arc<Self>,
        mut pooled: impl FnMut() -> Option<C>,
        mut evict: impl FnMut() -> bool,
    ) -> Result<Ready<C>, OverflowKind> {
        if let Some(conn) = pooled() {
            return Ok(Ready::Pooled(conn));
        }
        if let Some(slot) = self.open() {
            return Ok(Ready::New(slot));
        }
        if evict()
            && let Some(slot) = self.open()
        {
            return Ok(Ready::New(slot));
        }
        self.overflowed(OverflowKind::Connections);
        if !take(&self.pending, self.limits.max_pending_requests) {
            self.overflowed(OverflowKind::Pending);
            return Err(OverflowKind::Pending);
        }
        let _pending = Pending(self);
        loop {
            // Registered before looking: a connection freed after the look wakes this.
            let freed = self.freed.notified();
            let mut freed = std::pin::pin!(freed);
            freed.as_mut().enable();
            if let Some(conn) = pooled() {
                return Ok(Ready::Pooled(conn));
            }
            if let Some(slot) = self.open() {
                return Ok(Ready::New(slot));
            }
            // The slot of a connection closed here (now, or when its task ends) wakes this.
            evict();
            freed.await;
        }
    }

    /// A connection counted here came back to the pool: a pending request may take it.
    pub fn returned(&self) {
        self.wake();
    }

    /// A slot for a new connection, unless `maxConnections` are open.
    fn open(self: &Arc<Self>) -> Option<ConnSlot> {
        take(&self.connections, self.limits.max_connections).then(|| ConnSlot(Arc::clone(self)))
    }

    fn wake(&self) {
        // SeqCst, as the count released before it and the pending count a waiter raised before
        // it looked: either the waiter sees the release or this sees the waiter.
        if self.pending.load(Ordering::SeqCst) > 0 {
            self.freed.notify_one();
        }
    }

    fn overflowed(&self, kind: OverflowKind) {
        self.overflow[kind as usize].inc();
    }
}

/// One more of `count`, unless it is at `max`: exact under concurrency, no lock.
pub(super) fn take(count: &AtomicU32, max: u32) -> bool {
    count
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            (n < max).then_some(n + 1)
        })
        .is_ok()
}

/// What [`Breaker::connection`] found.
pub enum Ready<C> {
    /// A pooled connection (it holds its own slot).
    Pooled(C),
    /// Room for a new connection, which keeps the slot for its life.
    New(ConnSlot),
}

/// A request in flight, counted until dropped.
pub struct RequestSlot<B: Deref<Target = Breaker>>(B);

impl<B: Deref<Target = Breaker>> Drop for RequestSlot<B> {
    fn drop(&mut self) {
        self.0.requests.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An open upstream connection, counted until dropped (with the connection).
pub struct ConnSlot(Arc<Breaker>);

impl ConnSlot {
    /// Whether this slot counts against `breaker`.
    pub fn is(&self, breaker: &Breaker) -> bool {
        std::ptr::eq(&*self.0, breaker)
    }

    pub fn breaker(&self) -> &Arc<Breaker> {
        &self.0
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::SeqCst);
        self.0.wake();
    }
}

/// A request waiting for a connection, counted until dropped.
struct Pending<'a>(&'a Breaker);

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn breaker(connections: u32, pending: u32, requests: u32) -> (Arc<Breaker>, Arc<Metrics>) {
        let mut registry = prometheus_client::registry::Registry::default();
        let metrics = Arc::new(Metrics::new(&mut registry));
        let limits = CircuitBreakers {
            max_connections: connections,
            max_pending_requests: pending,
            max_requests: requests,
        };
        (Breaker::new("web", limits, &metrics), metrics)
    }

    fn overflows(metrics: &Metrics, kind: OverflowKind) -> u64 {
        let labels = OverflowLabels {
            cluster: "web".into(),
            kind,
        };
        metrics.upstream_overflow.get_or_create(&labels).get()
    }

    fn counts(b: &Breaker) -> (u32, u32, u32) {
        (
            b.connections.load(Ordering::SeqCst),
            b.pending.load(Ordering::SeqCst),
            b.requests.load(Ordering::SeqCst),
        )
    }

    /// A connection slot when one is free (no pooled connection, nothing to evict).
    async fn new_slot(b: &Arc<Breaker>) -> Result<ConnSlot, OverflowKind> {
        match b.connection(|| None::<()>, || false).await? {
            Ready::New(slot) => Ok(slot),
            Ready::Pooled(()) => unreachable!("nothing is pooled"),
        }
    }

    #[test]
    fn requests_past_the_cap_are_refused_and_counted_until_one_ends() {
        let (b, metrics) = breaker(10, 10, 2);
        let first = Breaker::request(&*b).expect("first");
        let second = Breaker::request(Arc::clone(&b)).expect("second");
        assert!(
            Breaker::request(&*b).is_none(),
            "a third request was let in"
        );
        assert_eq!(overflows(&metrics, OverflowKind::Requests), 1);
        drop(first);
        let third = Breaker::request(&*b).expect("a slot came free");
        drop((second, third));
        assert_eq!(counts(&b), (0, 0, 0));
    }

    #[tokio::test]
    async fn a_pooled_connection_takes_no_slot() {
        let (b, _) = breaker(1, 1, 1);
        let ready = b.connection(|| Some("pooled"), || false).await;
        assert!(matches!(ready, Ok(Ready::Pooled("pooled"))));
        assert_eq!(counts(&b), (0, 0, 0));
    }

    #[tokio::test]
    async fn at_the_connection_cap_requests_wait_then_overflow_the_pending_cap() {
        let (b, metrics) = breaker(1, 1, 10);
        let open = new_slot(&b).await.expect("the first connection");
        // The second waits (pending); the third finds the pending cap full.
        let waiting = tokio::spawn({
            let b = Arc::clone(&b);
            async move { new_slot(&b).await.is_ok() }
        });
        let pending = || b.pending.load(Ordering::SeqCst);
        while pending() == 0 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(new_slot(&b).await, Err(OverflowKind::Pending)));
        assert_eq!(overflows(&metrics, OverflowKind::Connections), 2);
        assert_eq!(overflows(&metrics, OverflowKind::Pending), 1);
        // The open connection closes: the waiting request gets its slot.
        drop(open);
        let got = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert!(matches!(got, Ok(Ok(true))), "{got:?}");
        assert_eq!(counts(&b), (0, 0, 0));
    }

    #[tokio::test]
    async fn a_pending_request_takes_a_connection_that_comes_back_to_the_pool() {
        let (b, _) = breaker(1, 1, 10);
        let open = new_slot(&b).await.expect("the first connection");
        let pool = Arc::new(std::sync::Mutex::new(Vec::new()));
        let waiting = tokio::spawn({
            let (b, pool) = (Arc::clone(&b), Arc::clone(&pool));
            async move {
                let pooled = || pool.lock().ok()?.pop();
                matches!(b.connection(pooled, || false).await, Ok(Ready::Pooled(_)))
            }
        });
        while b.pending.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // Returned as the pool does it: in the pool, then the breaker told.
        pool.lock().expect("pool").push(open);
        b.returned();
        let got = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert!(matches!(got, Ok(Ok(true))), "{got:?}");
    }

    #[tokio::test]
    async fn an_idle_connection_is_evicted_to_make_room_without_waiting() {
        let (b, metrics) = breaker(1, 1, 10);
        let mut idle = Some(new_slot(&b).await.expect("the first connection"));
        let evict = || idle.take().is_some();
        let ready = b.connection(|| None::<()>, evict).await;
        assert!(matches!(ready, Ok(Ready::New(_))));
        assert_eq!(overflows(&metrics, OverflowKind::Connections), 0);
        drop(ready);
        assert_eq!(counts(&b), (0, 0, 0));
    }

    /// Many tasks on several threads take and give back slots: the caps hold at every moment
    /// and every count is back at zero at the end.
    #[test]
    fn caps_hold_under_concurrency() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .expect("runtime");
        let (b, _) = breaker(8, 64, 16);
        let peak = Arc::new(AtomicU32::new(0));
        runtime.block_on(async {
            let tasks: Vec<_> = (0..200)
                .map(|_| {
                    let (b, peak) = (Arc::clone(&b), Arc::clone(&peak));
                    tokio::spawn(async move {
                        for _ in 0..20 {
                            let Some(_request) = Breaker::request(&*b) else {
                                continue;
                            };
                            let Ok(slot) = new_slot(&b).await else {
                                continue;
                            };
                            let (connections, pending, requests) = counts(&b);
                            peak.fetch_max(connections, Ordering::SeqCst);
                            assert!(connections <= 8 && pending <= 64 && requests <= 16);
                            tokio::task::yield_now().await;
                            drop(slot);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.expect("task");
            }
        });
        assert_eq!(counts(&b), (0, 0, 0));
        assert_eq!(peak.load(Ordering::SeqCst), 8, "the cap was never reached");
    }
}
