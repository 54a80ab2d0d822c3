//! sk_msg: for every send on a socket in the SOCKHASH, look up the peer socket (the reversed
//! key) and redirect the data into its receive queue (`BPF_F_INGRESS`). On a miss (peer not
//! accelerated, or not on this host) the data goes through TCP unchanged.
//!
//! Minimum kernel: 5.15 (`bpf_get_netns_cookie` for sk_msg).

use aya_ebpf::bindings::{BPF_F_INGRESS, sk_action::SK_PASS, sk_msg_md};
use aya_ebpf::helpers::generated::bpf_get_netns_cookie;
use aya_ebpf::macros::sk_msg;
use aya_ebpf::programs::SkMsgContext;

use sockmap_ebpf::{AF_INET, AF_INET6, SockKey, counters, fold_mapped, remote_port_to_host};

use crate::ctx::{field, rd, rd4};
use crate::maps::{SOCKETS, count};

#[sk_msg]
pub fn sockmesh_sk_msg(ctx: SkMsgContext) -> u32 {
    let msg = ctx.msg;
    let Some(key) = peer_key(msg) else {
        return SK_PASS;
    };
    let size = rd(field!(msg, size));
    let mut key = key;
    if SOCKETS.redirect_msg(&ctx, &mut key, BPF_F_INGRESS as u64) == SK_PASS as i64 {
        count(counters::REDIRECTS, 1);
        count(counters::REDIRECT_BYTES, size as u64);
    } else {
        count(counters::MISSES, 1);
    }
    SK_PASS
}

/// The key of the peer socket: this socket's tuple reversed, same network namespace.
#[inline(always)]
fn peer_key(msg: *mut sk_msg_md) -> Option<SockKey> {
    let family = rd(field!(msg, family));
    let (family, local_ip, remote_ip) = if family == AF_INET {
        let l = rd(field!(msg, local_ip4));
        let r = rd(field!(msg, remote_ip4));
        (AF_INET, [l, 0, 0, 0], [r, 0, 0, 0])
    } else if family == AF_INET6 {
        let (fl, l) = fold_mapped(AF_INET6, rd4(field!(msg, local_ip6)));
        let (_, r) = fold_mapped(AF_INET6, rd4(field!(msg, remote_ip6)));
        (fl, l, r)
    } else {
        return None;
    };
    // SAFETY: the helper only reads the socket behind the context.
    let netns_cookie = unsafe { bpf_get_netns_cookie(msg.cast()) };
    Some(SockKey {
        netns_cookie,
        family,
        local_port: remote_port_to_host(rd(field!(msg, remote_port))),
        remote_port: rd(field!(msg, local_port)),
        pad: 0,
        local_ip: remote_ip,
        remote_ip: local_ip,
    })
}
