//! `SO_ORIGINAL_DST`: where a connection redirected by iptables/nftables REDIRECT (or answered by
//! a cgroup getsockopt program) was originally going.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

use tokio::net::TcpStream;

/// `SO_ORIGINAL_DST` (linux/netfilter_ipv4.h) and `IP6T_SO_ORIGINAL_DST` share the value 80.
const SO_ORIGINAL_DST: libc::c_int = 80;

/// The original destination, or `None` when the connection was not redirected (no conntrack
/// entry, or the answer is the listener's own address).
pub fn so_original_dst(stream: &TcpStream, local: SocketAddr) -> Option<SocketAddr> {
    let fd = stream.as_raw_fd();
    let found = match local {
        SocketAddr::V4(_) => v4(fd),
        SocketAddr::V6(_) => v6(fd),
    }?;
    (found != local && !found.ip().is_unspecified()).then_some(found)
}

fn v4(fd: libc::c_int) -> Option<SocketAddr> {
    // SAFETY: sockaddr_in is plain old data; the kernel writes at most `len` bytes into it.
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: valid fd, pointer and length describing `addr`.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_IP,
            SO_ORIGINAL_DST,
            (&mut addr as *mut libc::sockaddr_in).cast(),
            &mut len,
        )
    };
    if rc != 0 || addr.sin_family != libc::AF_INET as libc::sa_family_t {
        return None;
    }
    let ip = Ipv4Addr::from(u32::from_be(addr.sin_addr.s_addr));
    Some(SocketAddr::V4(SocketAddrV4::new(
        ip,
        u16::from_be(addr.sin_port),
    )))
}

fn v6(fd: libc::c_int) -> Option<SocketAddr> {
    // SAFETY: as above, for sockaddr_in6.
    let mut addr: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    // SAFETY: valid fd, pointer and length describing `addr`.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_IPV6,
            SO_ORIGINAL_DST,
            (&mut addr as *mut libc::sockaddr_in6).cast(),
            &mut len,
        )
    };
    if rc != 0 || addr.sin6_family != libc::AF_INET6 as libc::sa_family_t {
        return None;
    }
    let ip = Ipv6Addr::from(addr.sin6_addr.s6_addr);
    Some(SocketAddr::V6(SocketAddrV6::new(
        ip,
        u16::from_be(addr.sin6_port),
        0,
        0,
    )))
}
