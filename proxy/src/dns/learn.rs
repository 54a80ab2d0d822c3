//! Learning for `toFQDNs`: the addresses in an allowed answer go into the policy's learned table
//! under the name asked and every name of its CNAME chain, for the record's TTL raised to
//! `dns.minTtl`. Only answers the proxy relayed to an allowed query get here, and only when a
//! rule has a `toFQDNs` selector (otherwise the answer is not even read).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use hickory_proto::op::Message;
use hickory_proto::rr::RData;
use sockmesh_policy::dns::DnsName;

use crate::conn::Shared;

use super::message::Query;

/// Longest CNAME chain followed (resolvers stop well before).
const MAX_CHAIN: usize = 16;

pub(super) fn learn(shared: &Shared, query: &Query, answer: &[u8]) {
    let policy = shared.policy.load();
    if !policy.has_fqdn() || super::message::answer_rcode(answer) != 0 {
        return;
    }
    let Ok(message) = Message::from_vec(answer) else {
        return;
    };
    let name_of = |n: &hickory_proto::rr::Name| DnsName::from_labels(n.iter()).ok();
    let mut chain: HashSet<DnsName> = HashSet::from([query.name.clone()]);
    // CNAMEs in any order: grow the chain until it stops growing.
    for _ in 0..MAX_CHAIN {
        let before = chain.len();
        for r in &message.answers {
            if let (RData::CNAME(target), Some(owner)) = (&r.data, name_of(&r.name))
                && chain.contains(&owner)
                && chain.len() < MAX_CHAIN
                && let Some(target) = name_of(&target.0)
            {
                chain.insert(target);
            }
        }
        if chain.len() == before {
            break;
        }
    }
    let now = Instant::now();
    let min_ttl = shared.dns.min_ttl;
    let learned = shared.policy.learned();
    for r in &message.answers {
        let addr = match &r.data {
            RData::A(a) => std::net::IpAddr::V4(a.0),
            RData::AAAA(a) => std::net::IpAddr::V6(a.0),
            _ => continue,
        };
        if !name_of(&r.name).is_some_and(|owner| chain.contains(&owner)) {
            continue;
        }
        let ttl = Duration::from_secs(u64::from(r.ttl)).max(min_ttl);
        for name in &chain {
            learned.learn(name, addr, ttl, now);
        }
    }
}
