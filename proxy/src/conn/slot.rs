//! A listener's connection slot: taken at accept, held by the connection's context for as long
//! as anything serves the connection, counted in `downstream_active` (which the drain on
//! shutdown waits for) until dropped.

use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;

use crate::metrics::Metrics;

pub struct Slot {
    _permit: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
}

impl Slot {
    pub fn new(permit: OwnedSemaphorePermit, metrics: Arc<Metrics>) -> Slot {
        metrics.downstream_active.inc();
        Slot {
            _permit: permit,
            metrics,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.metrics.downstream_active.dec();
    }
}
