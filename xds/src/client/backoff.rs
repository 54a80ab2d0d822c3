//! Jittered exponential backoff between reconnects.
//!
//! "Equal jitter": each delay is half the current step plus a random share of the other half, so a
//! fleet of sidecars that lost the control plane at the same moment does not reconnect in lockstep,
//! while no single sidecar waits less than half the step.

use std::time::Duration;

use rand::Rng;

/// Backoff state for one client.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    step: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        let initial = initial.max(Duration::from_millis(1));
        Backoff {
            initial,
            max: max.max(initial),
            step: initial,
        }
    }

    /// The next delay; doubles the step (up to `max`).
    pub fn next_delay(&mut self) -> Duration {
        let step = self.step;
        self.step = (self.step * 2).min(self.max);
        let half = step / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        let extra = if jitter_ms == 0 {
            0
        } else {
            rand::rng().random_range(0..=jitter_ms)
        };
        half + Duration::from_millis(extra)
    }

    /// Back to the initial step, after a stream worked.
    pub fn reset(&mut self) {
        self.step = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_with_jitter_and_caps() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let mut steps = vec![];
        for _ in 0..8 {
            steps.push(b.next_delay());
        }
        let bounds = [100, 200, 400, 800, 1000, 1000, 1000, 1000];
        for (d, step) in steps.iter().zip(bounds) {
            assert!(
                *d >= Duration::from_millis(step / 2),
                "{d:?} < half of {step}"
            );
            assert!(*d <= Duration::from_millis(step), "{d:?} > {step}");
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn jitter_spreads_delays() {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..50 {
            let mut b = Backoff::new(Duration::from_millis(1000), Duration::from_secs(10));
            seen.insert(b.next_delay());
        }
        assert!(seen.len() > 5, "delays are not jittered: {seen:?}");
    }
}
