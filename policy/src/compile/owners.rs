//! Which L7 rules of a group belong to which entry, so that a peer's matching entries become the
//! set of rules it may be decided by. Shared by the HTTP/gRPC index and the DNS index.

use std::collections::HashMap;

use super::bits::Bits;

#[derive(Debug)]
pub(crate) struct RuleOwners {
    /// Rules of entries that match every peer.
    all_peer_rules: Bits,
    /// Local entry → its rules (`start..end`).
    entry_rules: HashMap<usize, (usize, usize)>,
}

impl RuleOwners {
    /// `owners[i]` is the local entry of rule `i`; rules come entry by entry, in decision order.
    /// `all_peers` marks the local entries that match every peer.
    pub(crate) fn build(
        owners: impl Iterator<Item = usize>,
        n: usize,
        all_peers: &Bits,
    ) -> RuleOwners {
        let mut all_peer_rules = Bits::new(n);
        let mut entry_rules: HashMap<usize, (usize, usize)> = HashMap::new();
        for (i, local) in owners.enumerate() {
            if all_peers.get(local) {
                all_peer_rules.set(i);
            }
            // Rules come entry by entry, so each entry's rules are one contiguous range.
            entry_rules.entry(local).or_insert((i, i)).1 = i + 1;
        }
        RuleOwners {
            all_peer_rules,
            entry_rules,
        }
    }

    /// The rules of all-peer entries plus those of the CIDR-matched entries `hits`.
    pub(crate) fn rules_of(&self, hits: &[usize]) -> Bits {
        let mut bits = self.all_peer_rules.clone();
        for (start, end) in hits.iter().filter_map(|e| self.entry_rules.get(e)) {
            for r in *start..*end {
                bits.set(r);
            }
        }
        bits
    }
}
