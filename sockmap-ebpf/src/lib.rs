//! Types shared between Sockmesh's eBPF programs (in `programs/`, built for `bpfel-unknown-none`)
//! and the user-space loader in the proxy (`proxy/src/bpf/`): map names, map keys, configuration
//! and counter indices, defined once so that both sides agree on the layout.
//!
//! Why a separate crate: the kernel reads these structs byte for byte, so a field added on one side
//! only would silently corrupt lookups. Every struct is `#[repr(C)]` with explicit padding so that
//! it has no hidden bytes (the kernel hashes all key bytes, padding included).
//!
//! `no_std`: the programs link it too. The `user` feature adds `aya::Pod` impls for user space.
//!
//! Byte-order conventions (the same in every map):
//! - ports are **host** byte order in a `u32`;
//! - IP addresses are kept as the kernel stores them: four `u32` words in **network** byte order
//!   (`[u32; 4]`); an IPv4 address is word 0 with words 1..3 zero; IPv4-mapped IPv6 addresses
//!   (`::ffff:a.b.c.d`) are folded to IPv4 so both spellings of a loopback hop produce one key.
#![no_std]

/// `AF_INET` as the kernel reports it in socket contexts.
pub const AF_INET: u32 = 2;
/// `AF_INET6` as the kernel reports it in socket contexts.
pub const AF_INET6: u32 = 10;

/// Map names, as they appear in the object file and under the pin directory.
pub mod maps {
    /// `SOCKHASH` of established sockets on accelerated ports, keyed by [`crate::SockKey`].
    pub const SOCKETS: &str = "SOCKMESH_SOCKS";
    /// `HASH` port (host order, `u32`) -> `1`: the accelerated (sidecar) ports.
    pub const ACCEL_PORTS: &str = "SOCKMESH_PORTS";
    /// `ARRAY` of one [`crate::Config`].
    pub const CONFIG: &str = "SOCKMESH_CONFIG";
    /// `PERCPU_ARRAY` of `u64`, indexed by [`crate::counters`].
    pub const COUNTERS: &str = "SOCKMESH_COUNTERS";
    /// `LRU_HASH` socket cookie (`u64`) -> [`crate::OrigDst`], written by connect4/6.
    pub const ORIG_BY_COOKIE: &str = "SOCKMESH_ORIG_CK";
    /// `LRU_HASH` [`crate::SockKey`] as seen from the sidecar's accepted socket -> [`crate::OrigDst`].
    pub const ORIG_BY_TUPLE: &str = "SOCKMESH_ORIG";
    /// `HASH` app port (host order, `u32`) -> inbound listener port (host order, `u32`).
    pub const INBOUND_PORTS: &str = "SOCKMESH_INBOUND";
    /// `LRU_HASH` socket cookie (`u64`) of an app UDP socket whose datagrams to port 53 were
    /// sent to the DNS listener -> the resolver it asked ([`crate::OrigDst`]); written by
    /// connect4/6 and sendmsg4/6, read by recvmsg4/6 and by the proxy.
    pub const DNS_ORIG: &str = "SOCKMESH_DNS_ORIG";
}

/// Program names (the Rust function names in `programs/src/main.rs`).
pub mod programs {
    /// `sock_ops`: inserts established sockets on accelerated ports into the SOCKHASH.
    pub const SOCKOPS: &str = "sockmesh_sockops";
    /// `sk_msg`: redirects each send to the peer socket's ingress queue.
    pub const SK_MSG: &str = "sockmesh_sk_msg";
    /// `cgroup/connect4`: interception of IPv4 connects.
    pub const CONNECT4: &str = "sockmesh_connect4";
    /// `cgroup/connect6`: interception of IPv6 connects.
    pub const CONNECT6: &str = "sockmesh_connect6";
    /// `cgroup/getsockopt`: answers `SO_ORIGINAL_DST` for intercepted connections.
    pub const GETSOCKOPT: &str = "sockmesh_getsockopt";
    /// `cgroup/sendmsg4`: unconnected UDP datagrams to port 53 go to the DNS listener.
    pub const SENDMSG4: &str = "sockmesh_sendmsg4";
    /// `cgroup/sendmsg6`: the same for IPv6 sockets.
    pub const SENDMSG6: &str = "sockmesh_sendmsg6";
    /// `cgroup/recvmsg4`: answers from the DNS listener show the resolver the app asked.
    pub const RECVMSG4: &str = "sockmesh_recvmsg4";
    /// `cgroup/recvmsg6`: the same for IPv6 sockets.
    pub const RECVMSG6: &str = "sockmesh_recvmsg6";
    /// `cgroup/getpeername4`: a captured connected socket's peer is the resolver it asked.
    pub const GETPEERNAME4: &str = "sockmesh_getpeername4";
    /// `cgroup/getpeername6`: the same for IPv6 sockets.
    pub const GETPEERNAME6: &str = "sockmesh_getpeername6";
}

/// Indices into the per-CPU counter array.
pub mod counters {
    /// sk_msg sends redirected to the peer socket.
    pub const REDIRECTS: u32 = 0;
    /// sk_msg sends whose peer socket was not in the map (passed to TCP unchanged).
    pub const MISSES: u32 = 1;
    /// Bytes redirected by sk_msg.
    pub const REDIRECT_BYTES: u32 = 2;
    /// Sockets inserted into the SOCKHASH by sock_ops.
    pub const SOCKETS_ADDED: u32 = 3;
    /// SOCKHASH insertions the kernel refused (map full, unsupported socket state).
    pub const SOCKET_ERRORS: u32 = 4;
    /// Connects rewritten to the sidecar's outbound listener.
    pub const CONNECTS_OUTBOUND: u32 = 5;
    /// Connects rewritten to the sidecar's inbound listener.
    pub const CONNECTS_INBOUND: u32 = 6;
    /// Connects let through because they came from the sidecar itself.
    pub const CONNECTS_EXEMPT: u32 = 7;
    /// Original destinations published by client tuple for the proxy to read.
    pub const ORIG_DST_PUBLISHED: u32 = 8;
    /// `SO_ORIGINAL_DST` getsockopt calls answered by the getsockopt program.
    pub const ORIG_DST_ANSWERED: u32 = 9;
    /// UDP connects and datagrams, and TCP connects, to port 53 sent to the DNS listener.
    pub const DNS_REDIRECTED: u32 = 10;
    /// Datagrams from the DNS listener shown to the app as coming from the resolver it asked.
    pub const DNS_REPLIES_REWRITTEN: u32 = 11;
    /// Number of counters (the array's size).
    pub const COUNT: u32 = 12;
    /// Counter names for status output and metrics, in index order.
    pub const NAMES: [&str; COUNT as usize] = [
        "redirects",
        "misses",
        "redirect_bytes",
        "sockets_added",
        "socket_errors",
        "connects_outbound",
        "connects_inbound",
        "connects_exempt",
        "orig_dst_published",
        "orig_dst_answered",
        "dns_redirected",
        "dns_replies_rewritten",
    ];
}

/// [`Config::flags`] bits.
pub mod flags {
    /// sock_ops inserts sockets on accelerated ports.
    pub const ACCELERATE: u32 = 1;
    /// connect4/6 rewrite non-loopback connects to the outbound listener.
    pub const INTERCEPT_OUTBOUND: u32 = 2;
    /// connect4/6 rewrite connects to app ports ([`crate::maps::INBOUND_PORTS`]) to the inbound listener.
    pub const INTERCEPT_INBOUND: u32 = 4;
    /// connect4/6 and sendmsg4/6 send UDP and TCP to port 53 to the DNS listener; recvmsg4/6
    /// make its answers look like the resolver's. Set only once all four UDP hooks attached.
    pub const INTERCEPT_DNS: u32 = 8;
}

/// The port whose traffic DNS capture sends to the DNS listener.
pub const DNS_PORT: u32 = 53;

/// SOCKHASH key: one TCP socket, seen from its own side (local = this socket).
///
/// The netns cookie keeps equal loopback tuples of two pods apart.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SockKey {
    /// `bpf_get_netns_cookie` of the socket's network namespace.
    pub netns_cookie: u64,
    /// [`AF_INET`] or [`AF_INET6`] (after folding IPv4-mapped addresses).
    pub family: u32,
    /// Local port, host byte order.
    pub local_port: u32,
    /// Remote port, host byte order.
    pub remote_port: u32,
    /// Always zero (explicit padding: the kernel hashes every key byte).
    pub pad: u32,
    /// Local address, network-order words.
    pub local_ip: [u32; 4],
    /// Remote address, network-order words.
    pub remote_ip: [u32; 4],
}

impl SockKey {
    /// The key of the peer socket of a loopback connection: same namespace, ends swapped.
    #[inline(always)]
    pub fn reversed(&self) -> SockKey {
        SockKey {
            netns_cookie: self.netns_cookie,
            family: self.family,
            local_port: self.remote_port,
            remote_port: self.local_port,
            pad: 0,
            local_ip: self.remote_ip,
            remote_ip: self.local_ip,
        }
    }
}

/// Folds an IPv6 address (network-order words) to IPv4 when it is IPv4-mapped.
/// Returns the family and the (possibly folded) words.
#[inline(always)]
pub fn fold_mapped(family: u32, ip: [u32; 4]) -> (u32, [u32; 4]) {
    // ::ffff:0:0/96: words 0 and 1 zero, word 2 = 0x0000ffff in network order.
    if family == AF_INET6 && ip[0] == 0 && ip[1] == 0 && ip[2] == u32::from_be(0x0000_ffff) {
        (AF_INET, [ip[3], 0, 0, 0])
    } else {
        (family, ip)
    }
}

/// Converts a port as the kernel exposes `remote_port` (network order in the low *or* high
/// 16 bits of a `u32`, depending on kernel version and context) to host order.
#[inline(always)]
pub fn remote_port_to_host(raw: u32) -> u32 {
    let be16 = if raw & 0xffff == 0 {
        raw >> 16
    } else {
        raw & 0xffff
    };
    u16::from_be(be16 as u16) as u32
}

/// An original destination recorded by connect4/6.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OrigDst {
    /// [`AF_INET`] or [`AF_INET6`].
    pub family: u32,
    /// Destination port, host byte order.
    pub port: u32,
    /// Destination address, network-order words (IPv4 in word 0).
    pub ip: [u32; 4],
}

/// Runtime configuration, written by the proxy into [`maps::CONFIG`] index 0.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// [`flags`] bits.
    pub flags: u32,
    /// Connects by this uid are never intercepted (the sidecar's own uid).
    pub sidecar_uid: u32,
    /// Connects by this thread-group id are never intercepted (the running proxy); 0 = none.
    pub sidecar_tgid: u32,
    /// Outbound listener port, host order (0 = no outbound interception).
    pub outbound_port: u32,
    /// Outbound listener IPv4 address, network order (0 = none: IPv4 connects are not rewritten).
    pub outbound_ip4: u32,
    /// Inbound listener IPv4 address, network order.
    pub inbound_ip4: u32,
    /// Outbound listener IPv6 address, network-order words (all zero = use `::ffff:outbound_ip4`).
    pub outbound_ip6: [u32; 4],
    /// Inbound listener IPv6 address, network-order words (all zero = use `::ffff:inbound_ip4`).
    pub inbound_ip6: [u32; 4],
    /// DNS listener port, host order (0 = no DNS capture).
    pub dns_port: u32,
    /// DNS listener IPv4 address, network order.
    pub dns_ip4: u32,
    /// DNS listener IPv6 address, network-order words (all zero = use `::ffff:dns_ip4`).
    pub dns_ip6: [u32; 4],
}

/// The checked-in eBPF object (`obj/sockmesh.bpf.o`, built from `programs/` by
/// `scripts/build-ebpf.sh`), aligned for the ELF parser.
#[cfg(feature = "user")]
pub static OBJECT: &[u8] = aya::include_bytes_aligned!("../obj/sockmesh.bpf.o");

#[cfg(feature = "user")]
mod user {
    // SAFETY: all of these are `#[repr(C)]`, `Copy`, made of integers only, with explicit
    // padding fields, so every bit pattern is valid and there are no uninitialised bytes.
    unsafe impl aya::Pod for super::SockKey {}
    unsafe impl aya::Pod for super::OrigDst {}
    unsafe impl aya::Pod for super::Config {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_have_no_hidden_padding() {
        assert_eq!(core::mem::size_of::<SockKey>(), 8 + 4 * 4 + 32);
        assert_eq!(core::mem::size_of::<OrigDst>(), 24);
        assert_eq!(core::mem::size_of::<Config>(), 8 * 4 + 48);
    }

    #[test]
    fn mapped_addresses_fold_to_ipv4() {
        let lo = u32::from_be_bytes([127, 0, 0, 1]).to_be();
        let mapped = [0, 0, u32::from_be(0xffff), lo];
        assert_eq!(fold_mapped(AF_INET6, mapped), (AF_INET, [lo, 0, 0, 0]));
        let v6lo = [0, 0, 0, u32::from_be(1)];
        assert_eq!(fold_mapped(AF_INET6, v6lo), (AF_INET6, v6lo));
    }

    #[test]
    fn remote_port_either_half() {
        let be = (15001u16).to_be() as u32;
        assert_eq!(remote_port_to_host(be), 15001);
        assert_eq!(remote_port_to_host(be << 16), 15001);
    }

    #[test]
    fn reversed_swaps_ends() {
        let k = SockKey {
            netns_cookie: 7,
            family: AF_INET,
            local_port: 1,
            remote_port: 2,
            pad: 0,
            local_ip: [3, 0, 0, 0],
            remote_ip: [4, 0, 0, 0],
        };
        let r = k.reversed();
        assert_eq!(
            (r.local_port, r.remote_port, r.local_ip[0], r.remote_ip[0]),
            (2, 1, 4, 3)
        );
        assert_eq!(r.reversed(), k);
    }
}
