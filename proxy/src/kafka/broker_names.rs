//! Brokers' advertised host names, resolved for the broker listeners ([`super::brokers`]).
//!
//! Every Metadata, FindCoordinator and DescribeCluster answer names the brokers again, and a
//! consumer asks for Metadata every few minutes per client (and on every leader change), so a
//! lookup per answer would put the resolver's latency, and its failures, into the responses the
//! client waits for. Names are kept [`TTL`] after a successful lookup; a lookup that takes
//! longer than [`LOOKUP_TIMEOUT`] counts as failed (the node is then sent to the bootstrap
//! listener, as for any broker the sidecar cannot front). The table holds at most
//! [`MAX_NAMES`] names, so a broker inventing names cannot grow it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::telemetry::ratelimit::warn_limited;

/// How long a resolved name is used before it is looked up again.
pub const TTL: Duration = Duration::from_secs(30);
/// The longest one lookup may take.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);
/// The most names kept (a cluster has a few brokers; past this, the table starts afresh).
pub const MAX_NAMES: usize = 1024;

/// The names resolved lately, with when.
#[derive(Debug, Default)]
pub struct BrokerNames {
    names: Mutex<HashMap<(String, u16), (SocketAddr, Instant)>>,
}

impl BrokerNames {
    /// `host:port` as a socket address; `None` when it does not resolve in time (logged).
    pub async fn resolve(&self, host: &str, port: u16) -> Option<SocketAddr> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Some(SocketAddr::new(ip, port));
        }
        let key = (host.to_owned(), port);
        if let Some(&(addr, at)) = self.lock().get(&key)
            && at.elapsed() < TTL
        {
            return Some(addr);
        }
        let looked = tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((host, port)));
        let addr = match looked.await {
            Ok(Ok(mut addrs)) => addrs.next(),
            Ok(Err(error)) => {
                warn_limited!(host.to_owned(), host = %host, %error, "cannot resolve a Kafka broker's advertised host");
                None
            }
            Err(_) => {
                warn_limited!(host.to_owned(), host = %host, timeout = ?LOOKUP_TIMEOUT, "a Kafka broker's advertised host did not resolve in time");
                None
            }
        }?;
        let mut names = self.lock();
        if names.len() >= MAX_NAMES {
            names.clear();
        }
        names.insert(key, (addr, Instant::now()));
        Some(addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, u16), (SocketAddr, Instant)>> {
        self.names.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn addresses_pass_and_names_are_kept() {
        let names = BrokerNames::default();
        let ip = names.resolve("127.0.0.9", 9092).await;
        assert_eq!(ip, Some("127.0.0.9:9092".parse().expect("addr")));
        assert!(names.lock().is_empty(), "an address is not a name to keep");
        let local = names.resolve("localhost", 9092).await;
        assert!(local.is_some_and(|a| a.ip().is_loopback()), "{local:?}");
        assert_eq!(names.lock().len(), 1);
        // A kept name is answered from the table (here: a planted address proves it).
        let planted: SocketAddr = "10.1.2.3:9092".parse().expect("addr");
        names
            .lock()
            .insert(("localhost".to_owned(), 9092), (planted, Instant::now()));
        assert_eq!(names.resolve("localhost", 9092).await, Some(planted));
    }

    #[tokio::test]
    async fn a_name_that_does_not_resolve_is_none_and_not_kept() {
        let names = BrokerNames::default();
        assert_eq!(names.resolve("no-such-broker.invalid", 9092).await, None);
        assert!(names.lock().is_empty());
    }

    #[tokio::test]
    async fn the_table_stays_bounded() {
        let names = BrokerNames::default();
        let addr: SocketAddr = "10.0.0.1:1".parse().expect("addr");
        for i in 0..MAX_NAMES {
            names
                .lock()
                .insert((format!("b{i}"), 1), (addr, Instant::now()));
        }
        let _ = names.resolve("localhost", 9092).await;
        assert!(names.lock().len() <= MAX_NAMES);
    }
}
