//! The original destination of an intercepted connection, read by the proxy from the map that
//! sock_ops fills (keyed by the sidecar-side tuple and the proxy's network namespace cookie).

use std::io;
use std::net::{IpAddr, SocketAddr};

use sockmap_ebpf::{AF_INET, AF_INET6, SockKey, fold_mapped};

use super::connect::{ip_words, words_ip};
use super::maps::Maps;

/// `SO_NETNS_COOKIE` (Linux 5.14+), not in every libc release.
const SO_NETNS_COOKIE: libc::c_int = 71;

/// The network namespace cookie of the calling process's namespace, as `bpf_get_netns_cookie`
/// returns it for sockets created here.
pub fn own_netns_cookie() -> io::Result<u64> {
    // SAFETY: plain socket syscalls on a descriptor we own and close.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut cookie: u64 = 0;
        let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
        let rc = libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            SO_NETNS_COOKIE,
            (&raw mut cookie).cast(),
            &mut len,
        );
        let err = io::Error::last_os_error();
        libc::close(fd);
        if rc != 0 {
            return Err(err);
        }
        Ok(cookie)
    }
}

/// The key the programs use for the socket with these ends, in namespace `netns_cookie`.
pub fn key(netns_cookie: u64, local: SocketAddr, peer: SocketAddr) -> SockKey {
    let fam = |ip: IpAddr| if ip.is_ipv4() { AF_INET } else { AF_INET6 };
    let (family, local_ip) = fold_mapped(fam(local.ip()), ip_words(local.ip()));
    let (_, remote_ip) = fold_mapped(fam(peer.ip()), ip_words(peer.ip()));
    SockKey {
        netns_cookie,
        family,
        local_port: u32::from(local.port()),
        remote_port: u32::from(peer.port()),
        pad: 0,
        local_ip,
        remote_ip,
    }
}

/// Looks up (and consumes) the original destination of the accepted connection `local`<-`peer`.
pub fn lookup(
    maps: &Maps,
    netns_cookie: u64,
    local: SocketAddr,
    peer: SocketAddr,
) -> Option<SocketAddr> {
    let k = key(netns_cookie, local, peer);
    let mut orig = maps.orig.lock().unwrap_or_else(|e| e.into_inner());
    let v = orig.get(&k, 0).ok()?;
    // One connection, one answer: a later connection reusing the tuple must not inherit it.
    let _ = orig.remove(&k);
    let port = u16::try_from(v.port).ok()?;
    Some(SocketAddr::new(words_ip(v.family, v.ip), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_and_plain_ipv4_give_one_key() {
        let a = key(
            5,
            "127.0.0.1:15001".parse().expect("addr"),
            "127.0.0.1:40000".parse().expect("addr"),
        );
        let b = key(
            5,
            "[::ffff:127.0.0.1]:15001".parse().expect("addr"),
            "[::ffff:127.0.0.1]:40000".parse().expect("addr"),
        );
        assert_eq!(a, b);
        assert_eq!(a.family, AF_INET);
    }

    #[test]
    fn netns_cookie_is_readable() {
        // Linux 5.14+: every socket reports a non-zero namespace cookie.
        assert_ne!(
            own_netns_cookie().expect("SO_NETNS_COOKIE needs Linux 5.14+"),
            0
        );
    }
}
