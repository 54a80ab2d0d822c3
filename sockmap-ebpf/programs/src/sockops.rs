//! sock_ops: on ACTIVE_ESTABLISHED and PASSIVE_ESTABLISHED, insert the socket into the SOCKHASH
//! when either end is an accelerated port; on ACTIVE_ESTABLISHED also publish the original
//! destination of an intercepted connect under the tuple the sidecar will see on accept.
//!
//! Minimum kernel: 5.15 (`bpf_get_netns_cookie` for sock_ops).

use aya_ebpf::bindings::{
    BPF_ANY, BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB, BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB, bpf_sock_ops,
};
use aya_ebpf::helpers::generated::{bpf_get_netns_cookie, bpf_get_socket_cookie};
use aya_ebpf::macros::sock_ops;
use aya_ebpf::programs::SockOpsContext;

use sockmap_ebpf::{AF_INET, AF_INET6, SockKey, counters, flags, fold_mapped, remote_port_to_host};

use crate::ctx::{field, rd, rd4};
use crate::maps::{ORIG_BY_COOKIE, ORIG_BY_TUPLE, SOCKETS, config, count, is_accelerated};

#[sock_ops]
pub fn sockmesh_sockops(ctx: SockOpsContext) -> u32 {
    let ops = ctx.ops;
    let op = rd(field!(ops, op));
    if op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB && op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB {
        return 0;
    }
    let Some(mut key) = key_of(ops) else {
        return 0;
    };
    let Some(cfg) = config() else {
        return 0;
    };
    if op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB {
        publish_orig_dst(ops, &key);
    }
    if cfg.flags & flags::ACCELERATE == 0 {
        return 0;
    }
    if !is_accelerated(key.local_port) && !is_accelerated(key.remote_port) {
        return 0;
    }
    // SAFETY: `ops` is the program's context pointer, valid for the helper call.
    match SOCKETS.update(&mut key, unsafe { &mut *ops }, BPF_ANY as u64) {
        Ok(()) => count(counters::SOCKETS_ADDED, 1),
        Err(_) => count(counters::SOCKET_ERRORS, 1),
    }
    0
}

/// The socket's own key (local = this socket), with IPv4-mapped IPv6 folded to IPv4.
#[inline(always)]
fn key_of(ops: *mut bpf_sock_ops) -> Option<SockKey> {
    let family = rd(field!(ops, family));
    let (family, local_ip, remote_ip) = if family == AF_INET {
        let l = rd(field!(ops, local_ip4));
        let r = rd(field!(ops, remote_ip4));
        (AF_INET, [l, 0, 0, 0], [r, 0, 0, 0])
    } else if family == AF_INET6 {
        let (fl, l) = fold_mapped(AF_INET6, rd4(field!(ops, local_ip6)));
        let (_, r) = fold_mapped(AF_INET6, rd4(field!(ops, remote_ip6)));
        (fl, l, r)
    } else {
        return None;
    };
    // SAFETY: the helper only reads the socket behind the context.
    let netns_cookie = unsafe { bpf_get_netns_cookie(ops.cast()) };
    Some(SockKey {
        netns_cookie,
        family,
        local_port: rd(field!(ops, local_port)),
        remote_port: remote_port_to_host(rd(field!(ops, remote_port))),
        pad: 0,
        local_ip,
        remote_ip,
    })
}

/// If connect4/6 rewrote this socket's connect, publish the original destination keyed by the
/// tuple as the sidecar's accepted socket sees it (its local = our remote). The client's
/// ACTIVE_ESTABLISHED runs before it sends the final ACK, so the entry exists before accept().
#[inline(always)]
fn publish_orig_dst(ops: *mut bpf_sock_ops, key: &SockKey) {
    // SAFETY: the helper only reads the socket behind the context.
    let cookie = unsafe { bpf_get_socket_cookie(ops.cast()) };
    let Some(orig) = ORIG_BY_COOKIE.get_ptr(cookie) else {
        return;
    };
    // SAFETY: a map value pointer returned by lookup is valid for this program run.
    let orig = unsafe { *orig };
    if ORIG_BY_TUPLE
        .insert(key.reversed(), orig, BPF_ANY as u64)
        .is_ok()
    {
        count(counters::ORIG_DST_PUBLISHED, 1);
    }
    let _ = ORIG_BY_COOKIE.remove(cookie);
}
