//! DNS capture over UDP: cgroup/sendmsg4 and sendmsg6 send an unconnected socket's datagrams to
//! port 53 to the sidecar's DNS listener (connected sockets were already sent there by
//! connect4/6, and their datagrams do not pass these hooks); cgroup/recvmsg4 and recvmsg6 make
//! what the DNS listener answers look, to the app, like it came from the resolver it asked.
//!
//! Without the recvmsg rewrite an app would see its answers come from the sidecar's address:
//! glibc drops answers from a server it did not ask, dig warns "reply from unexpected source".
//! The kernel itself accepts them on a connected socket: that socket is connected to the DNS
//! listener (the address connect4/6 wrote), so the source matches.
//!
//! cgroup/getpeername4 and getpeername6 do the same for `getpeername()` on a captured connected
//! socket (optional: without them, which needs Linux 5.8, the socket reports the listener).
//!
//! These hooks key the resolver by the app socket's cookie in `SOCKMESH_DNS_ORIG` (written here
//! and by connect4/6), which the proxy also reads to forward the query to that resolver. The
//! recvmsg hooks only rewrite datagrams whose source is the DNS listener, on sockets that have an
//! entry, so every other datagram (and the sidecar's own sockets) pass unchanged.
//!
//! Minimum kernel: 4.18 (sendmsg4/6), 5.2 (recvmsg4/6), 5.8 (getpeername4/6); 5.7 for cgroup
//! links.

use aya_ebpf::bindings::bpf_sock_addr;
use aya_ebpf::helpers::generated::bpf_get_socket_cookie;
use aya_ebpf::macros::cgroup_sock_addr;
use aya_ebpf::programs::SockAddrContext;

use sockmap_ebpf::{AF_INET, AF_INET6, OrigDst, counters, flags, remote_port_to_host};

use crate::connect::{ALLOW, redirect4, redirect6};
use crate::ctx::{field, field_mut, rd, rd4, wr};
use crate::maps::{DNS_ORIG, config, count};

#[cgroup_sock_addr(sendmsg4)]
pub fn sockmesh_sendmsg4(ctx: SockAddrContext) -> i32 {
    redirect4(ctx.sock_addr)
}

#[cgroup_sock_addr(sendmsg6)]
pub fn sockmesh_sendmsg6(ctx: SockAddrContext) -> i32 {
    redirect6(ctx.sock_addr)
}

#[cgroup_sock_addr(recvmsg4)]
pub fn sockmesh_recvmsg4(ctx: SockAddrContext) -> i32 {
    show_resolver4(ctx.sock_addr, true)
}

#[cgroup_sock_addr(recvmsg6)]
pub fn sockmesh_recvmsg6(ctx: SockAddrContext) -> i32 {
    show_resolver6(ctx.sock_addr, true)
}

/// getpeername() on a captured connected socket: the resolver it connected to, not the DNS
/// listener the kernel connected it to.
#[cgroup_sock_addr(getpeername4)]
pub fn sockmesh_getpeername4(ctx: SockAddrContext) -> i32 {
    show_resolver4(ctx.sock_addr, false)
}

#[cgroup_sock_addr(getpeername6)]
pub fn sockmesh_getpeername6(ctx: SockAddrContext) -> i32 {
    show_resolver6(ctx.sock_addr, false)
}

/// Replaces the DNS listener's address in the context by the resolver the socket asked;
/// `reply`: count it as an answer shown as the resolver's.
#[inline(always)]
fn show_resolver4(sa: *mut bpf_sock_addr, reply: bool) -> i32 {
    let Some(orig) = captured(sa, false) else {
        return ALLOW;
    };
    if orig.family != AF_INET {
        return ALLOW;
    }
    wr(field_mut!(sa, user_ip4), orig.ip[0]);
    wr(field_mut!(sa, user_port), (orig.port as u16).to_be() as u32);
    if reply {
        count(counters::DNS_REPLIES_REWRITTEN, 1);
    }
    ALLOW
}

#[inline(always)]
fn show_resolver6(sa: *mut bpf_sock_addr, reply: bool) -> i32 {
    let Some(orig) = captured(sa, true) else {
        return ALLOW;
    };
    // An IPv4 resolver asked through a dual-stack socket (::ffff:a.b.c.d) is shown that way.
    let ip = if orig.family == AF_INET6 {
        orig.ip
    } else {
        [0, 0, u32::from_be(0xffff), orig.ip[0]]
    };
    let w = field_mut!(sa, user_ip6).cast::<u32>();
    wr(w, ip[0]);
    wr(w.wrapping_add(1), ip[1]);
    wr(w.wrapping_add(2), ip[2]);
    wr(w.wrapping_add(3), ip[3]);
    wr(field_mut!(sa, user_port), (orig.port as u16).to_be() as u32);
    if reply {
        count(counters::DNS_REPLIES_REWRITTEN, 1);
    }
    ALLOW
}

/// The resolver the receiving socket asked, when the datagram comes from the DNS listener and
/// the socket's queries were captured. `v6`: the context's address is `user_ip6` (matched
/// against the listener's IPv6 address or its IPv4 one as `::ffff:a.b.c.d`), else `user_ip4`.
#[inline(always)]
fn captured(sa: *mut bpf_sock_addr, v6: bool) -> Option<OrigDst> {
    let cfg = config()?;
    if cfg.flags & flags::INTERCEPT_DNS == 0 || cfg.dns_port == 0 {
        return None;
    }
    if remote_port_to_host(rd(field!(sa, user_port))) != cfg.dns_port {
        return None;
    }
    let from_listener = if v6 {
        let ip = rd4(field!(sa, user_ip6));
        let mapped = [0, 0, u32::from_be(0xffff), cfg.dns_ip4];
        (cfg.dns_ip6 != [0; 4] && ip == cfg.dns_ip6) || (cfg.dns_ip4 != 0 && ip == mapped)
    } else {
        cfg.dns_ip4 != 0 && rd(field!(sa, user_ip4)) == cfg.dns_ip4
    };
    if !from_listener {
        return None;
    }
    // SAFETY: the helper only reads the socket behind the context.
    let cookie = unsafe { bpf_get_socket_cookie(sa.cast()) };
    // SAFETY: a map value pointer returned by lookup is valid for this program run.
    DNS_ORIG.get_ptr(cookie).map(|p| unsafe { *p })
}
