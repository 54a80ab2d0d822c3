//! CIDR index: which entries of a group match a peer address.
//!
//! Prefixes are bucketed by length in hash maps keyed by the masked address, so a lookup costs one
//! hash probe per distinct prefix length (at most 33 for IPv4, 129 for IPv6), however many CIDRs the
//! policy lists. `except` lists stay with their CIDR and are checked only on a hit.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use super::bits::Bits;

#[derive(Debug, Default)]
pub(crate) struct CidrIndex {
    v4: PrefixMap,
    v6: PrefixMap,
}

/// Entries whose CIDR is one prefix: (local entry, that CIDR's `except` list).
type Hits = Vec<(usize, Arc<[IpNet]>)>;

#[derive(Debug, Default)]
struct PrefixMap {
    /// Distinct prefix lengths present, ascending.
    lens: Vec<u8>,
    map: HashMap<(u8, u128), Hits>,
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) become IPv4.
pub(crate) fn fold(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

fn key(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(a) => (true, u128::from(u32::from(a))),
        IpAddr::V6(a) => (false, u128::from(a)),
    }
}

fn mask(addr: u128, len: u8, width: u8) -> u128 {
    if len == 0 {
        0
    } else {
        let shift = u32::from(width - len);
        (addr >> shift) << shift
    }
}

impl CidrIndex {
    pub(crate) fn is_empty(&self) -> bool {
        self.v4.map.is_empty() && self.v6.map.is_empty()
    }

    /// Records that entry `local` matches peers in `net` except those in `except`.
    pub(crate) fn insert(&mut self, net: IpNet, except: Arc<[IpNet]>, local: usize) {
        let net = net.trunc();
        let (v4, addr) = key(net.addr());
        let (pm, width) = if v4 {
            (&mut self.v4, 32)
        } else {
            (&mut self.v6, 128)
        };
        let len = net.prefix_len();
        if let Err(pos) = pm.lens.binary_search(&len) {
            pm.lens.insert(pos, len);
        }
        pm.map
            .entry((len, mask(addr, len, width)))
            .or_default()
            .push((local, except));
    }

    /// Sets the bit of every entry whose CIDRs contain `ip` (already folded), and lists the
    /// entries whose bit was not set before in `hits`.
    pub(crate) fn lookup_into(&self, ip: IpAddr, bits: &mut Bits, hits: &mut Vec<usize>) {
        let (v4, addr) = key(ip);
        let (pm, width) = if v4 { (&self.v4, 32) } else { (&self.v6, 128) };
        for &len in &pm.lens {
            if let Some(found) = pm.map.get(&(len, mask(addr, len, width))) {
                for (local, except) in found {
                    if !bits.get(*local) && !except.iter().any(|n| n.contains(&ip)) {
                        bits.set(*local);
                        hits.push(*local);
                    }
                }
            }
        }
    }
}
