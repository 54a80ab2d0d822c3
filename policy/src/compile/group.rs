//! A group: the entries that cover one port segment, with their peer and L7 indexes.

use super::regexes::BuildError;
use std::net::IpAddr;
use std::time::Instant;

use crate::dns::{NamePattern, Strictness};
use crate::fqdn::Learned;

use super::bits::Bits;
use super::cidr::CidrIndex;
use super::dns::DnsIndex;
use super::entry::Entry;
use super::kafka::KafkaIndex;
use super::l7::{L7Index, L7Source};

#[derive(Debug)]
pub(crate) struct Group {
    /// Indexes into the side's entry list, ascending (= decision order).
    pub(crate) entries: Vec<usize>,
    all_peers: Bits,
    cidrs: CidrIndex,
    /// Entries with `toFQDNs` selectors, and their patterns.
    fqdns: Vec<(usize, Vec<NamePattern>)>,
    /// Entries without L7 rules.
    pub(crate) l4_only: Bits,
    pub(crate) l7: Option<L7Index>,
    pub(crate) dns: Option<DnsIndex>,
    pub(crate) kafka: Option<KafkaIndex>,
}

impl Group {
    pub(crate) fn build(all: &[Entry], entries: Vec<usize>) -> Result<Group, BuildError> {
        let n = entries.len();
        let mut all_peers = Bits::new(n);
        let mut l4_only = Bits::new(n);
        let mut cidrs = CidrIndex::default();
        let mut fqdns = Vec::new();
        let mut sources = Vec::new();
        let mut dns = Vec::new();
        let mut kafka = Vec::new();
        for (local, &idx) in entries.iter().enumerate() {
            let Some(e) = all.get(idx) else { continue };
            if e.all_peers {
                all_peers.set(local);
            }
            for (net, except) in &e.cidrs {
                cidrs.insert(*net, except.clone(), local);
            }
            if !e.fqdns.is_empty() {
                fqdns.push((local, e.fqdns.clone()));
            }
            match &e.l7 {
                None => l4_only.set(local),
                Some(l7) => {
                    for (id, r) in l7.http() {
                        sources.push((local, id.clone(), L7Source::Http(r)));
                    }
                    for (id, r) in l7.grpc() {
                        sources.push((local, id.clone(), L7Source::Grpc(r)));
                    }
                    for (id, patterns) in l7.dns_patterns() {
                        dns.push((local, id.clone(), patterns));
                    }
                    for (id, m) in l7.kafka_matchers() {
                        kafka.push((local, id.clone(), m));
                    }
                }
            }
        }
        let l7 = if sources.is_empty() {
            None
        } else {
            Some(L7Index::build(sources, &all_peers)?)
        };
        let dns = (!dns.is_empty()).then(|| DnsIndex::build(dns, &all_peers));
        let kafka = (!kafka.is_empty()).then(|| KafkaIndex::build(kafka, &all_peers));
        Ok(Group {
            entries,
            all_peers,
            cidrs,
            fqdns,
            l4_only,
            l7,
            dns,
            kafka,
        })
    }

    /// The peers' view of this group for `ip` (already folded): matching local entries, and which
    /// of them matched through a CIDR or a learned name (for [`L7Index::rules_of`]).
    /// `strictness` is the side's: learned names may hold any byte, and a deny side's
    /// `toFQDNs` wildcards must take it.
    pub(crate) fn peers(&self, ip: IpAddr, learned: &Learned, strictness: Strictness) -> Peers {
        let mut entries = self.all_peers.clone();
        let mut hits = Vec::new();
        if !self.cidrs.is_empty() {
            self.cidrs.lookup_into(ip, &mut entries, &mut hits);
        }
        if !self.fqdns.is_empty() {
            let names = learned.names_of(ip, Instant::now());
            for (local, patterns) in &self.fqdns {
                let matched = names
                    .iter()
                    .any(|n| patterns.iter().any(|p| p.matches(n, strictness)));
                if matched && !entries.get(*local) {
                    entries.set(*local);
                    hits.push(*local);
                }
            }
        }
        Peers { entries, hits }
    }
}

/// Which entries (and which of their L7 rules) a peer address matches.
pub(crate) struct Peers {
    pub(crate) entries: Bits,
    /// Entries matched through a CIDR (the others in `entries` match every peer).
    pub(crate) hits: Vec<usize>,
}
