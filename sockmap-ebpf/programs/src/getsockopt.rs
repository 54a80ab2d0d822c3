//! cgroup/getsockopt: answers `SO_ORIGINAL_DST` (SOL_IP) and `IP6T_SO_ORIGINAL_DST` (SOL_IPV6) on
//! a socket the sidecar accepted from an intercepted connect, from the map sock_ops fills, so a
//! proxy that only knows the iptables interface (Envoy's `original_dst`, for one) works without
//! iptables. Every other getsockopt passes through untouched.
//!
//! Minimum kernel: 5.15 (`bpf_get_netns_cookie` in cgroup sockopt programs; the hook is 5.3).

use aya_ebpf::bindings::{bpf_sock, bpf_sockopt};
use aya_ebpf::helpers::generated::bpf_get_netns_cookie;
use aya_ebpf::macros::cgroup_sockopt;
use aya_ebpf::programs::SockoptContext;
use sockmap_ebpf::{AF_INET, AF_INET6, SockKey, counters, fold_mapped, remote_port_to_host};

use crate::ctx::{field, field_mut, rd, rd4, wr};
use crate::maps::{ORIG_BY_TUPLE, count};

/// `SOL_IP` / `SOL_IPV6` and `SO_ORIGINAL_DST` (= `IP6T_SO_ORIGINAL_DST`).
const SOL_IP: i32 = 0;
const SOL_IPV6: i32 = 41;
const SO_ORIGINAL_DST: i32 = 80;
/// Verdict: return to the caller (with whatever retval/optlen the program set).
const OK: i32 = 1;

#[cgroup_sockopt(getsockopt)]
pub fn sockmesh_getsockopt(ctx: SockoptContext) -> i32 {
    let so = ctx.sockopt;
    let level = rd(field!(so, level).cast()) as i32;
    let optname = rd(field!(so, optname).cast()) as i32;
    if optname != SO_ORIGINAL_DST || (level != SOL_IP && level != SOL_IPV6) {
        return OK;
    }
    // SAFETY: `sk` is a full socket pointer the kernel provides for sockopt programs.
    let sk: *mut bpf_sock = unsafe { (*so).__bindgen_anon_1.sk };
    if sk.is_null() {
        return OK;
    }
    let family = rd(field!(sk, family));
    let (family, local_ip, remote_ip) = if family == AF_INET {
        let l = rd(field!(sk, src_ip4));
        let r = rd(field!(sk, dst_ip4));
        (AF_INET, [l, 0, 0, 0], [r, 0, 0, 0])
    } else if family == AF_INET6 {
        let (fl, l) = fold_mapped(AF_INET6, rd4(field!(sk, src_ip6)));
        let (_, r) = fold_mapped(AF_INET6, rd4(field!(sk, dst_ip6)));
        (fl, l, r)
    } else {
        return OK;
    };
    let key = SockKey {
        // SAFETY: the helper only reads the socket behind the context.
        netns_cookie: unsafe { bpf_get_netns_cookie(so.cast()) },
        family,
        local_port: rd(field!(sk, src_port)),
        remote_port: remote_port_to_host(rd(field!(sk, dst_port).cast())),
        pad: 0,
        local_ip,
        remote_ip,
    };
    let Some(orig) = ORIG_BY_TUPLE.get_ptr(key) else {
        return OK;
    };
    // SAFETY: a map value pointer returned by lookup is valid for this program run.
    let orig = unsafe { *orig };
    let written = if orig.family == AF_INET && level == SOL_IP {
        write_sockaddr_in(so, orig.port, orig.ip[0])
    } else if orig.family == AF_INET6 && level == SOL_IPV6 {
        write_sockaddr_in6(so, orig.port, orig.ip)
    } else {
        None
    };
    if let Some(len) = written {
        wr(field_mut!(so, optlen).cast(), len);
        wr(field_mut!(so, retval).cast(), 0);
        count(counters::ORIG_DST_ANSWERED, 1);
    }
    OK
}

/// The caller's buffer, if it holds at least `len` bytes.
#[inline(always)]
fn optval(so: *mut bpf_sockopt, len: usize) -> Option<*mut u8> {
    // SAFETY: reading the context's pointer fields; bounds are checked below against optval_end,
    // which is what the verifier requires before any access through optval.
    let (start, end) = unsafe {
        (
            (*so).__bindgen_anon_2.optval as *mut u8,
            (*so).__bindgen_anon_3.optval_end as *mut u8,
        )
    };
    if start.wrapping_add(len) > end {
        return None;
    }
    Some(start)
}

#[inline(always)]
fn write_sockaddr_in(so: *mut bpf_sockopt, port: u32, ip: u32) -> Option<u32> {
    let p = optval(so, 16)?;
    // SAFETY: 16 bytes checked in bounds above; unaligned writes of a sockaddr_in.
    unsafe {
        p.cast::<u16>().write_unaligned(AF_INET as u16);
        p.add(2)
            .cast::<u16>()
            .write_unaligned((port as u16).to_be());
        p.add(4).cast::<u32>().write_unaligned(ip);
        p.add(8).cast::<u64>().write_unaligned(0);
    }
    Some(16)
}

#[inline(always)]
fn write_sockaddr_in6(so: *mut bpf_sockopt, port: u32, ip: [u32; 4]) -> Option<u32> {
    let p = optval(so, 28)?;
    // SAFETY: 28 bytes checked in bounds above; unaligned writes of a sockaddr_in6.
    unsafe {
        p.cast::<u16>().write_unaligned(AF_INET6 as u16);
        p.add(2)
            .cast::<u16>()
            .write_unaligned((port as u16).to_be());
        p.add(4).cast::<u32>().write_unaligned(0);
        p.add(8).cast::<u32>().write_unaligned(ip[0]);
        p.add(12).cast::<u32>().write_unaligned(ip[1]);
        p.add(16).cast::<u32>().write_unaligned(ip[2]);
        p.add(20).cast::<u32>().write_unaligned(ip[3]);
        p.add(24).cast::<u32>().write_unaligned(0);
    }
    Some(28)
}
