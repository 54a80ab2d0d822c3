//! The addresses learned from DNS answers, for `toFQDNs`: which names each address was an answer
//! for, until when.
//!
//! A `toFQDNs` selector does not name addresses: it allows the addresses that allowed DNS
//! answers gave for the names it matches (Cilium's DNS proxy model). The DNS path [`learn`]s
//! every address of an allowed answer under the name asked and each name of its CNAME chain,
//! for the record's TTL (raised to a configured minimum, as Cilium's `--tofqdns-min-ttl`). A
//! connection is then checked against the names its peer address was learned for and has not
//! expired; an expired entry allows no new connection (an open one is not checked again).
//! Addresses are kept as the policy sees peers: an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`,
//! which an AAAA answer may hold) is the IPv4 peer it reaches, so it is learned and looked up
//! as `a.b.c.d`.
//!
//! The table lives beside the compiled policy, not in it: it is shared by every compiled policy
//! (a reload keeps what was learned) and by the DNS path that fills it. It is bounded: per name
//! (the addresses learned for it, newest kept) and in all (entries; when full, the one that
//! expires first makes room). Entries are also kept in expiry order, so purging and making room
//! look only at the front: a full table costs a learned address O(log n), not a scan of the
//! whole table under the write lock.
//!
//! [`learn`]: Learned::learn

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::dns::DnsName;

/// How big the table may grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bounds {
    /// Addresses one name keeps (Cilium's `--tofqdns-endpoint-max-ip-per-hostname`).
    pub per_name: usize,
    /// (address, name) entries in all.
    pub total: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            per_name: 1000,
            total: 65_536,
        }
    }
}

/// The learned table. `Send + Sync`; reads take a shared lock.
#[derive(Debug, Default)]
pub struct Learned {
    inner: RwLock<Table>,
}

#[derive(Debug, Default)]
struct Table {
    bounds: Bounds,
    /// address → (name, expiry).
    by_addr: HashMap<IpAddr, Vec<(DnsName, Instant)>>,
    /// name → its addresses, oldest learned first.
    by_name: HashMap<DnsName, VecDeque<IpAddr>>,
    /// Every entry, soonest expiry first.
    by_expiry: BTreeSet<(Instant, IpAddr, DnsName)>,
}

/// One entry, as the admin endpoint shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryView {
    pub name: String,
    pub address: IpAddr,
    /// Seconds until it stops allowing new connections.
    pub expires_in_secs: u64,
}

impl Learned {
    pub fn new(bounds: Bounds) -> Learned {
        Learned {
            inner: RwLock::new(Table {
                bounds,
                ..Table::default()
            }),
        }
    }

    /// The table to read. Its operations do not panic; were one to, the table would still be a
    /// table (its counts off at worst), so a poisoned lock is used as it is rather than failing
    /// every later lookup.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Table> {
        self.inner
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Table> {
        self.inner
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Changes the bounds (entries over them go as new ones come).
    pub fn set_bounds(&self, bounds: Bounds) {
        self.write().bounds = bounds;
    }

    /// Learns that `addr` answers for `name` until `now + ttl`; a later expiry replaces an
    /// earlier one, never the other way round. An IPv4-mapped IPv6 address is kept as the IPv4
    /// address it is (see the module docs).
    pub fn learn(&self, name: &DnsName, addr: IpAddr, ttl: Duration, now: Instant) {
        let addr = addr.to_canonical();
        let expires = now + ttl;
        let mut guard = self.write();
        let t = &mut *guard;
        if let Some(entry) = t
            .by_addr
            .get_mut(&addr)
            .and_then(|v| v.iter_mut().find(|(n, _)| n == name))
        {
            if expires > entry.1 {
                t.by_expiry.remove(&(entry.1, addr, name.clone()));
                t.by_expiry.insert((expires, addr, name.clone()));
                entry.1 = expires;
            }
            return;
        }
        if t.by_name
            .get(name)
            .is_some_and(|v| v.len() >= t.bounds.per_name)
        {
            // The oldest address of this name makes room.
            if let Some(old) = t.by_name.get(name).and_then(|v| v.front().copied()) {
                t.forget(old, name);
            }
        }
        t.purge(now);
        while t.by_expiry.len() >= t.bounds.total.max(1) {
            t.evict_soonest();
        }
        t.by_addr
            .entry(addr)
            .or_default()
            .push((name.clone(), expires));
        t.by_name.entry(name.clone()).or_default().push_back(addr);
        t.by_expiry.insert((expires, addr, name.clone()));
    }

    /// The names `addr` (IPv4-mapped or not: the same peer) was learned for that have not
    /// expired at `now`.
    pub fn names_of(&self, addr: IpAddr, now: Instant) -> Vec<DnsName> {
        let addr = addr.to_canonical();
        let t = self.read();
        t.by_addr
            .get(&addr)
            .map(|v| {
                v.iter()
                    .filter(|(_, exp)| *exp > now)
                    .map(|(n, _)| n.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Drops what expired before `now`.
    pub fn purge(&self, now: Instant) {
        self.write().purge(now);
    }

    /// (entries, names, addresses) in the table now.
    pub fn sizes(&self) -> (usize, usize, usize) {
        let t = self.read();
        (t.by_expiry.len(), t.by_name.len(), t.by_addr.len())
    }

    /// Every entry not expired at `now`, by name then address.
    pub fn entries(&self, now: Instant) -> Vec<EntryView> {
        let t = self.read();
        let mut out: Vec<EntryView> = t
            .by_addr
            .iter()
            .flat_map(|(addr, v)| {
                v.iter()
                    .filter(|(_, e)| *e > now)
                    .map(|(name, e)| EntryView {
                        name: name.to_string(),
                        address: *addr,
                        expires_in_secs: e.saturating_duration_since(now).as_secs(),
                    })
            })
            .collect();
        out.sort_by(|a, b| (&a.name, a.address).cmp(&(&b.name, b.address)));
        out
    }
}

impl Table {
    /// Drops the entry (`addr`, `name`) wherever it is.
    fn forget(&mut self, addr: IpAddr, name: &DnsName) {
        let expiry = self
            .by_addr
            .get(&addr)
            .and_then(|v| v.iter().find(|(n, _)| n == name))
            .map(|(_, e)| *e);
        if let Some(e) = expiry {
            self.by_expiry.remove(&(e, addr, name.clone()));
        }
        self.unlink(addr, name);
    }

    /// Drops the entry from the address and name indexes (not from `by_expiry`).
    fn unlink(&mut self, addr: IpAddr, name: &DnsName) {
        if let Some(v) = self.by_addr.get_mut(&addr) {
            v.retain(|(n, _)| n != name);
            if v.is_empty() {
                self.by_addr.remove(&addr);
            }
        }
        if let Some(v) = self.by_name.get_mut(name) {
            v.retain(|a| *a != addr);
            if v.is_empty() {
                self.by_name.remove(name);
            }
        }
    }

    /// Drops what expired at or before `now`.
    fn purge(&mut self, now: Instant) {
        while self.by_expiry.first().is_some_and(|(e, _, _)| *e <= now) {
            self.evict_soonest();
        }
    }

    fn evict_soonest(&mut self) {
        if let Some((_, addr, name)) = self.by_expiry.pop_first() {
            self.unlink(addr, &name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> DnsName {
        DnsName::parse(s).expect("name")
    }

    #[test]
    fn entries_expire_and_later_answers_extend_them() {
        let t = Learned::default();
        let now = Instant::now();
        let ip: IpAddr = "10.0.0.1".parse().expect("ip");
        t.learn(&name("a.test"), ip, Duration::from_secs(2), now);
        t.learn(&name("b.test"), ip, Duration::from_secs(10), now);
        assert_eq!(t.names_of(ip, now).len(), 2);
        assert_eq!(
            t.names_of(ip, now + Duration::from_secs(3)),
            vec![name("b.test")]
        );
        t.learn(&name("a.test"), ip, Duration::from_secs(1), now);
        assert_eq!(
            t.names_of(ip, now + Duration::from_secs(1)).len(),
            2,
            "not shortened"
        );
        t.purge(now + Duration::from_secs(3));
        assert_eq!(t.sizes(), (1, 1, 1));
        assert_eq!(t.entries(now + Duration::from_secs(3))[0].name, "b.test.");
    }

    /// An AAAA answer `::ffff:a.b.c.d` names the IPv4 peer `a.b.c.d`: a dual-stack client that
    /// connects to it reaches that address, and the policy folds such peers to IPv4. Unfolded,
    /// the entry would never match, and an egressDeny toFQDNs would not deny the address.
    #[test]
    fn ipv4_mapped_addresses_are_the_ipv4_peer() {
        let t = Learned::default();
        let now = Instant::now();
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        t.learn(
            &name("a.test"),
            ip("::ffff:10.0.0.1"),
            Duration::from_secs(60),
            now,
        );
        t.learn(
            &name("b.test"),
            ip("10.0.0.1"),
            Duration::from_secs(60),
            now,
        );
        let both = vec![name("a.test"), name("b.test")];
        assert_eq!(t.names_of(ip("10.0.0.1"), now), both);
        assert_eq!(t.names_of(ip("::ffff:10.0.0.1"), now), both);
        assert_eq!(t.sizes(), (2, 2, 1));
        assert_eq!(t.entries(now)[0].address, ip("10.0.0.1"));
        assert!(
            t.names_of(ip("::10.0.0.1"), now).is_empty(),
            "IPv4-compatible is not mapped"
        );
    }

    #[test]
    fn the_table_is_bounded_per_name_and_in_all() {
        let t = Learned::new(Bounds {
            per_name: 3,
            total: 5,
        });
        let now = Instant::now();
        for i in 0..10u8 {
            t.learn(
                &name("many.test"),
                IpAddr::from([10, 0, 0, i]),
                Duration::from_secs(60),
                now,
            );
        }
        assert_eq!(t.sizes(), (3, 1, 3));
        assert!(
            t.names_of(IpAddr::from([10, 0, 0, 9]), now).len() == 1,
            "newest kept"
        );
        assert!(
            t.names_of(IpAddr::from([10, 0, 0, 0]), now).is_empty(),
            "oldest dropped"
        );
        for i in 0..10u8 {
            let ttl = Duration::from_secs(100 + u64::from(i));
            t.learn(
                &name(&format!("n{i}.test")),
                IpAddr::from([10, 1, 0, i]),
                ttl,
                now,
            );
        }
        assert_eq!(t.sizes().0, 5);
        // What expires first made room: the 60 s entries, then the shortest TTLs.
        assert!(t.names_of(IpAddr::from([10, 1, 0, 9]), now).len() == 1);
        assert!(t.names_of(IpAddr::from([10, 0, 0, 9]), now).is_empty());
    }

    proptest::proptest! {
        /// Whatever is learned, when and for how long, the three indexes hold the same entries,
        /// with the same expiries, within the bounds.
        #[test]
        fn the_indexes_agree_within_the_bounds(
            ops in proptest::collection::vec((0u8..6, 0u8..12, 0u64..40, 0u64..40), 0..300),
        ) {
            let t = Learned::new(Bounds { per_name: 3, total: 10 });
            let t0 = Instant::now();
            for (n, a, ttl, at) in ops {
                let at = t0 + Duration::from_secs(at);
                let addr = IpAddr::from([10, 0, 0, a]);
                t.learn(&name(&format!("n{n}.test")), addr, Duration::from_secs(ttl), at);
                let table = t.read();
                let by_addr: usize = table.by_addr.values().map(Vec::len).sum();
                let by_name: usize = table.by_name.values().map(VecDeque::len).sum();
                proptest::prop_assert_eq!(by_addr, table.by_expiry.len());
                proptest::prop_assert_eq!(by_name, table.by_expiry.len());
                proptest::prop_assert!(table.by_expiry.len() <= 10);
                proptest::prop_assert!(table.by_name.values().all(|v| v.len() <= 3));
                for (e, a, n) in &table.by_expiry {
                    let held = table.by_addr.get(a).and_then(|v| v.iter().find(|(x, _)| x == n));
                    proptest::prop_assert_eq!(held.map(|(_, x)| *x), Some(*e));
                    proptest::prop_assert!(table.by_name.get(n).is_some_and(|v| v.contains(a)));
                }
            }
        }
    }
}
