//! DNS capture (with `--intercept` and a DNS listener): the sendmsg4/6 and recvmsg4/6 programs,
//! and the lookup of the resolver an app asked.
//!
//! connect4/6 send UDP and TCP connects to port 53 to the DNS listener, sendmsg4/6 unconnected
//! datagrams, recvmsg4/6 show its answers as coming from the resolver asked (and getpeername4/6
//! a connected socket's peer). TCP needs nothing
//! more: its original destination comes by tuple like any intercepted connection's. For UDP the
//! programs key the resolver by the app socket's cookie, which [`DnsCapture::original_dst`]
//! finds from the datagram's source with [`super::sock_diag`].
//!
//! If the UDP hooks cannot attach, DNS capture is off (the flag stays clear, so connect4/6 do
//! not touch port 53 either: a rewritten UDP socket without recvmsg would drop its answers) and
//! the sidecar says so once; explicit mode, and the rest of acceleration, work as before.
//! Minimum kernel 5.2 (recvmsg4/6), 5.7 for cgroup links.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};

use aya::Ebpf;
use aya::programs::links::PinnedLink;
use sockmap_ebpf::programs::{GETPEERNAME4, GETPEERNAME6, RECVMSG4, RECVMSG6, SENDMSG4, SENDMSG6};

use super::connect::{self, ConnectError, words_ip};
use super::maps::Maps;
use super::sock_diag::SockDiag;

/// Loads sendmsg4/6 and recvmsg4/6, attaches them to `cgroup` and pins their links; all or
/// none (links already made are removed when a later one fails). Then getpeername4/6, which
/// only hide the listener from `getpeername()`: if they cannot attach (before Linux 5.8) that is
/// said once and capture goes on.
pub fn attach(ebpf: &mut Ebpf, cgroup: &File, dir: &Path) -> Result<Vec<PinnedLink>, ConnectError> {
    let mut links = connect::attach_programs(
        ebpf,
        cgroup,
        dir,
        &[
            (RECVMSG4, "recvmsg4"),
            (RECVMSG6, "recvmsg6"),
            (SENDMSG4, "sendmsg4"),
            (SENDMSG6, "sendmsg6"),
        ],
    )?;
    let peer = [
        (GETPEERNAME4, "getpeername4"),
        (GETPEERNAME6, "getpeername6"),
    ];
    match connect::attach_programs(ebpf, cgroup, dir, &peer) {
        Ok(more) => links.extend(more),
        Err(e) => tracing::warn!(
            "DNS capture: {}; captured connected UDP sockets report the DNS listener as their peer",
            super::error_chain(&e)
        ),
    }
    Ok(links)
}

/// The DNS listener as the programs send apps to it, and the way back to the resolver they
/// asked.
pub struct DnsCapture {
    /// Where IPv4 sockets are sent (an unspecified listener address is reached on loopback).
    v4: Option<Ipv4Addr>,
    /// Where IPv6 sockets are sent (else to `::ffff:v4`, which arrives as IPv4).
    v6: Option<Ipv6Addr>,
    port: u16,
    maps: Arc<Maps>,
    diag: Mutex<Option<SockDiag>>,
}

impl std::fmt::Debug for DnsCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsCapture")
            .field("v4", &self.v4)
            .field("v6", &self.v6)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl DnsCapture {
    pub fn new(listener: SocketAddr, maps: Arc<Maps>) -> DnsCapture {
        let (ip4, ip6) = connect::listener_words(listener);
        DnsCapture {
            v4: (ip4 != 0).then(|| Ipv4Addr::from(ip4.to_ne_bytes())),
            v6: match words_ip(sockmap_ebpf::AF_INET6, ip6) {
                IpAddr::V6(v6) if !v6.is_unspecified() => Some(v6),
                _ => None,
            },
            port: listener.port(),
            maps,
            diag: Mutex::new(None),
        }
    }

    /// The resolver the app at `client` asked, when its datagram was captured.
    pub fn original_dst(&self, client: SocketAddr) -> Option<SocketAddr> {
        let client = SocketAddr::new(crate::conn::fold_mapped(client.ip()), client.port());
        let listener = match client.ip() {
            IpAddr::V4(_) => IpAddr::V4(self.v4?),
            IpAddr::V6(_) => IpAddr::V6(self.v6?),
        };
        let cookie = {
            let mut diag = self.diag.lock().unwrap_or_else(|e| e.into_inner());
            if diag.is_none() {
                *diag = SockDiag::open()
                    .map_err(|error| {
                        crate::telemetry::ratelimit::warn_limited!("sock_diag", %error, "dns capture: cannot open NETLINK_SOCK_DIAG");
                    })
                    .ok();
            }
            let d = diag.as_mut()?;
            match d.udp_cookie(SocketAddr::new(listener, self.port), client) {
                Ok(c) => c?,
                Err(error) => {
                    crate::telemetry::ratelimit::warn_limited!("sock_diag", %error, "dns capture: socket lookup failed");
                    // A fresh socket next time (one left with an unread answer would be stale).
                    *diag = None;
                    return None;
                }
            }
        };
        let orig = self.maps.dns_orig(cookie)?;
        (orig != SocketAddr::new(listener, self.port)).then_some(orig)
    }
}
