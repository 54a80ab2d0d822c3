//! The DNS path: a listener on UDP and TCP at one address that checks every query's name
//! against `rules.dns` and forwards the allowed ones to the resolver, as Cilium's DNS proxy does
//! for `toFQDNs` policy.
//!
//! - [`message`]: the pure part (reading a query, recognising its answer, the proxy's own
//!   answers), fuzzed as `dns_message`.
//! - [`udp`]: one task per UDP listener, which owns everything its queries need (no lock on
//!   the path): the listener socket, one connected socket per resolver, the queries in flight.
//! - [`tcp`]: one task per TCP connection (accepted by the listener like any other); pipelined
//!   queries are answered as the resolver answers them (RFC 7766).
//! - [`exchange`]: one query to a resolver over UDP with a retry over TCP when the answer is
//!   truncated, for TCP clients.
//!
//! An allowed query goes to the resolver as the client sent it: its id, EDNS and options
//! unchanged (the id is changed only while another client's query with the same id is in
//! flight on that socket, and given back in the answer). An answer is relayed only when it comes
//! from the resolver's address (connected sockets), carries the id sent, and echoes the
//! question: a spoofed or late answer is dropped and counted. Denied queries get REFUSED (or
//! NXDOMAIN, `dns.rejectResponseCode`), queries the resolver does not answer in
//! `dns.queryTimeout` get SERVFAIL, and every failure's RCODE comes from [`crate::failure`].

pub mod message;

mod exchange;
mod learn;
mod mmsg;
mod record;
pub mod tcp;
pub mod udp;

use std::net::SocketAddr;

use sockmesh_policy::dns::DnsName;
use sockmesh_policy::{ConnMeta, Direction as PolicyDirection, L4Protocol, Verdict};
use sockmesh_xds::domain::{Direction, Listener};

use crate::conn::{Shared, fold_mapped};

/// The policy view of a query from `client` that would go to `endpoint`, as
/// [`crate::conn::ConnCtx::meta`] sees a connection: inbound the peer is the client, outbound
/// the resolver; the port is the resolver's.
fn meta(listener: &Listener, client: SocketAddr, endpoint: SocketAddr, l4: L4Protocol) -> ConnMeta {
    let (direction, peer) = match listener.direction {
        Direction::Inbound => (PolicyDirection::Ingress, client.ip()),
        Direction::Outbound => (PolicyDirection::Egress, endpoint.ip()),
    };
    ConnMeta {
        direction,
        peer: fold_mapped(peer),
        port: endpoint.port(),
        protocol: l4,
        identity: None,
    }
}

/// Where a socket to `resolver` binds: any address of its family, an ephemeral port.
fn any_local_for(resolver: SocketAddr) -> SocketAddr {
    match resolver {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    }
}

/// The verdict on a query for `name`.
fn check(shared: &Shared, meta: &ConnMeta, name: &DnsName) -> Verdict {
    shared.policy.load().check_dns(meta, name)
}
