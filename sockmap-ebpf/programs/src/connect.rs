//! cgroup/connect4 and cgroup/connect6: rewrite TCP connects of the pod's processes to the
//! sidecar and remember where they were going.
//!
//! - Outbound: a connect to a non-loopback address goes to the outbound listener.
//! - Inbound: a connect to an app port listed in `SOCKMESH_INBOUND` goes to the inbound listener.
//! - DNS (with a DNS listener): a TCP or UDP connect to port 53 goes to the DNS listener. glibc
//!   and BIND's tools connect their UDP sockets, so their datagrams never pass sendmsg4/6; the
//!   resolver asked is stored by socket cookie in `SOCKMESH_DNS_ORIG` (UDP) for recvmsg4/6 and
//!   the proxy, or in `SOCKMESH_ORIG_CK` (TCP) like any intercepted connection.
//! - Connects by the sidecar itself (its uid, or the running proxy's thread-group id) are never
//!   rewritten, so its upstream connections reach the original destination.
//!
//! The original destination is stored by socket cookie; sock_ops republishes it by tuple once
//! the connection is established (the local port is not known yet here).
//!
//! Minimum kernel: 4.17 (cgroup sock_addr hooks; `bpf_get_socket_cookie` there needs 4.12).

use aya_ebpf::bindings::{BPF_ANY, bpf_sock_addr};
use aya_ebpf::helpers::generated::{
    bpf_get_current_pid_tgid, bpf_get_current_uid_gid, bpf_get_socket_cookie,
};
use aya_ebpf::macros::cgroup_sock_addr;
use aya_ebpf::programs::SockAddrContext;

use sockmap_ebpf::{
    AF_INET, AF_INET6, Config, DNS_PORT, OrigDst, counters, flags, remote_port_to_host,
};

use crate::ctx::{field, field_mut, rd, rd4, wr};
use crate::maps::{DNS_ORIG, INBOUND_PORTS, ORIG_BY_COOKIE, config, count};

/// `SOCK_STREAM`.
const SOCK_STREAM: u32 = 1;
/// `SOCK_DGRAM`.
const SOCK_DGRAM: u32 = 2;
/// Verdict: let the connect (or send, or receive) proceed with whatever address is now in the
/// context.
pub(crate) const ALLOW: i32 = 1;

#[cgroup_sock_addr(connect4)]
pub fn sockmesh_connect4(ctx: SockAddrContext) -> i32 {
    redirect4(ctx.sock_addr)
}

#[cgroup_sock_addr(connect6)]
pub fn sockmesh_connect6(ctx: SockAddrContext) -> i32 {
    redirect6(ctx.sock_addr)
}

/// connect4, and sendmsg4 (where only the DNS case applies: the context is a UDP socket).
#[inline(always)]
pub(crate) fn redirect4(sa: *mut bpf_sock_addr) -> i32 {
    let Some((cfg, port, stream)) = applicable(sa) else {
        return ALLOW;
    };
    let ip = rd(field!(sa, user_ip4));
    // Network-order word: the first address byte is the low byte.
    let loopback = ip & 0xff == 127;
    let (new_ip, new_port, counter) = match decide(cfg, port, stream, loopback || ip == 0) {
        Some(Target::Dns) => (cfg.dns_ip4, cfg.dns_port, counters::DNS_REDIRECTED),
        Some(Target::Inbound(p)) => (cfg.inbound_ip4, p, counters::CONNECTS_INBOUND),
        Some(Target::Outbound) => (
            cfg.outbound_ip4,
            cfg.outbound_port,
            counters::CONNECTS_OUTBOUND,
        ),
        None => return ALLOW,
    };
    if new_ip == 0 || (new_ip == ip && new_port == port) {
        return ALLOW;
    }
    record(
        sa,
        stream,
        OrigDst {
            family: AF_INET,
            port,
            ip: [ip, 0, 0, 0],
        },
    );
    wr(field_mut!(sa, user_ip4), new_ip);
    wr(field_mut!(sa, user_port), (new_port as u16).to_be() as u32);
    count(counter, 1);
    ALLOW
}

/// connect6, and sendmsg6.
#[inline(always)]
pub(crate) fn redirect6(sa: *mut bpf_sock_addr) -> i32 {
    let Some((cfg, port, stream)) = applicable(sa) else {
        return ALLOW;
    };
    let ip = rd4(field!(sa, user_ip6));
    let mapped = ip[0] == 0 && ip[1] == 0 && ip[2] == u32::from_be(0xffff);
    let loopback = if mapped {
        ip[3] & 0xff == 127
    } else {
        ip[0] == 0 && ip[1] == 0 && ip[2] == 0 && (ip[3] == u32::from_be(1) || ip[3] == 0)
    };
    let (v4, v6, new_port, counter) = match decide(cfg, port, stream, loopback) {
        Some(Target::Dns) => (
            cfg.dns_ip4,
            cfg.dns_ip6,
            cfg.dns_port,
            counters::DNS_REDIRECTED,
        ),
        Some(Target::Inbound(p)) => (
            cfg.inbound_ip4,
            cfg.inbound_ip6,
            p,
            counters::CONNECTS_INBOUND,
        ),
        Some(Target::Outbound) => (
            cfg.outbound_ip4,
            cfg.outbound_ip6,
            cfg.outbound_port,
            counters::CONNECTS_OUTBOUND,
        ),
        None => return ALLOW,
    };
    // Prefer the listener's IPv6 address; else reach its IPv4 address as ::ffff:a.b.c.d.
    let new_ip = if v6 != [0; 4] {
        v6
    } else if v4 != 0 {
        [0, 0, u32::from_be(0xffff), v4]
    } else {
        return ALLOW;
    };
    if new_ip == ip && new_port == port {
        return ALLOW;
    }
    let orig = if mapped {
        OrigDst {
            family: AF_INET,
            port,
            ip: [ip[3], 0, 0, 0],
        }
    } else {
        OrigDst {
            family: AF_INET6,
            port,
            ip,
        }
    };
    record(sa, stream, orig);
    let w = field_mut!(sa, user_ip6).cast::<u32>();
    wr(w, new_ip[0]);
    wr(w.wrapping_add(1), new_ip[1]);
    wr(w.wrapping_add(2), new_ip[2]);
    wr(w.wrapping_add(3), new_ip[3]);
    wr(field_mut!(sa, user_port), (new_port as u16).to_be() as u32);
    count(counter, 1);
    ALLOW
}

enum Target {
    /// Rewrite to the DNS listener (TCP or UDP to port 53).
    Dns,
    /// Rewrite to the inbound listener on this port.
    Inbound(u32),
    /// Rewrite to the outbound listener.
    Outbound,
}

/// The configuration, destination port (host order) and whether it is a TCP socket, when this
/// connect (or datagram) is a candidate: interception on for its kind (TCP, or UDP to port 53
/// with DNS capture on), and not the sidecar's own.
#[inline(always)]
fn applicable(sa: *mut bpf_sock_addr) -> Option<(&'static Config, u32, bool)> {
    let cfg = config()?;
    let port = remote_port_to_host(rd(field!(sa, user_port)));
    let stream = rd(field!(sa, type_)) == SOCK_STREAM;
    let wanted = if stream {
        flags::INTERCEPT_OUTBOUND | flags::INTERCEPT_INBOUND | flags::INTERCEPT_DNS
    } else if rd(field!(sa, type_)) == SOCK_DGRAM && port == DNS_PORT {
        flags::INTERCEPT_DNS
    } else {
        0
    };
    if cfg.flags & wanted == 0 {
        return None;
    }
    // SAFETY: helpers without arguments that only read the current task.
    let uid = unsafe { bpf_get_current_uid_gid() } as u32;
    let tgid = (unsafe { bpf_get_current_pid_tgid() } >> 32) as u32;
    if uid == cfg.sidecar_uid || (cfg.sidecar_tgid != 0 && tgid == cfg.sidecar_tgid) {
        count(counters::CONNECTS_EXEMPT, 1);
        return None;
    }
    Some((cfg, port, stream))
}

#[inline(always)]
fn decide(cfg: &Config, port: u32, stream: bool, loopback: bool) -> Option<Target> {
    // Port 53 goes to the DNS listener wherever it was going, loopback resolvers (a node-local
    // cache, systemd-resolved's 127.0.0.53) included.
    if port == DNS_PORT && cfg.flags & flags::INTERCEPT_DNS != 0 && cfg.dns_port != 0 {
        return Some(Target::Dns);
    }
    if !stream {
        return None;
    }
    if cfg.flags & flags::INTERCEPT_INBOUND != 0
        && let Some(p) = INBOUND_PORTS.get_ptr(port)
    {
        // SAFETY: a map value pointer returned by lookup is valid for this program run.
        return Some(Target::Inbound(unsafe { *p }));
    }
    if cfg.flags & flags::INTERCEPT_OUTBOUND != 0 && !loopback && cfg.outbound_port != 0 {
        return Some(Target::Outbound);
    }
    None
}

/// Stores the original destination by socket cookie: for sock_ops to republish (TCP), or for
/// recvmsg4/6 and the proxy's DNS listener (UDP).
#[inline(always)]
fn record(sa: *mut bpf_sock_addr, stream: bool, orig: OrigDst) {
    // SAFETY: the helper only reads the socket behind the context.
    let cookie = unsafe { bpf_get_socket_cookie(sa.cast()) };
    let _ = if stream {
        ORIG_BY_COOKIE.insert(cookie, orig, BPF_ANY as u64)
    } else {
        DNS_ORIG.insert(cookie, orig, BPF_ANY as u64)
    };
}
