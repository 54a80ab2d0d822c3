//! Which app socket sent a datagram: the socket cookie of the UDP socket an answer to its source
//! would reach, asked of the kernel over `NETLINK_SOCK_DIAG` (the same cookie
//! `bpf_get_socket_cookie` gives the programs).
//!
//! Why: connect4/6 see a UDP socket before its local port exists (the kernel binds it after the
//! hook), and connected sockets' datagrams never pass sendmsg4/6, so the programs cannot key
//! the resolver an app asked by the address the DNS listener sees. They key it by cookie; the
//! DNS listener turns the datagram's source into that cookie here. One request and one answer
//! per query on a socket opened once (`udp_diag`, Linux 4.6+, `CONFIG_INET_UDP_DIAG`).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `SOCK_DIAG_BY_FAMILY` from linux/sock_diag.h.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `NLMSG_ERROR`.
const NLMSG_ERROR: u16 = 2;
/// `struct nlmsghdr`.
const NLMSG_HDR: usize = 16;
/// `struct inet_diag_req_v2`: family, protocol, ext, pad, states, then the socket id.
const REQ_LEN: usize = 8 + SOCKID_LEN;
/// `struct inet_diag_sockid`: ports, two 16-byte addresses, interface, cookie.
const SOCKID_LEN: usize = 4 + 32 + 4 + 8;
/// Where the socket id starts in `struct inet_diag_msg` (after family, state, timer, retrans).
const MSG_SOCKID: usize = 4;
/// `INET_DIAG_NOCOOKIE`: do not check the cookie of the request.
const NOCOOKIE: u32 = !0;

/// A `NETLINK_SOCK_DIAG` socket.
pub struct SockDiag {
    fd: OwnedFd,
    seq: u32,
}

impl SockDiag {
    pub fn open() -> io::Result<SockDiag> {
        // SAFETY: plain socket syscall; the descriptor is owned by the returned value.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                libc::NETLINK_SOCK_DIAG,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by socket() and nothing else owns it.
        Ok(SockDiag {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            seq: 0,
        })
    }

    /// The cookie of the UDP socket that receives what `from` sends to `to` (both of one
    /// family; fold IPv4-mapped addresses first), `None` when there is none.
    pub fn udp_cookie(&mut self, from: SocketAddr, to: SocketAddr) -> io::Result<Option<u64>> {
        self.seq = self.seq.wrapping_add(1);
        let req = request(self.seq, from, to);
        // SAFETY: sends from a live buffer of the given length on our descriptor.
        let sent = unsafe { libc::send(self.fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = [0u8; 512];
        loop {
            // SAFETY: receives into a live buffer of the given length. The kernel queues the
            // answer before send() returns, so MSG_DONTWAIT never gives up on an answer to come.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            match parse(&buf[..n as usize], self.seq) {
                Answer::Cookie(c) => return Ok(Some(c)),
                Answer::NotFound => return Ok(None),
                Answer::Error(e) => return Err(io::Error::from_raw_os_error(e)),
                // An answer to an earlier request whose reader gave up: read on.
                Answer::Stale => continue,
            }
        }
    }
}

fn put_addr(out: &mut [u8], ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => out[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => out[..16].copy_from_slice(&v6.octets()),
    }
}

/// One `SOCK_DIAG_BY_FAMILY` request for the UDP socket receiving `from` -> `to`.
fn request(seq: u32, from: SocketAddr, to: SocketAddr) -> Vec<u8> {
    let len = NLMSG_HDR + REQ_LEN;
    let mut m = vec![0u8; len];
    m[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
    m[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    m[6..8].copy_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
    m[8..12].copy_from_slice(&seq.to_ne_bytes());
    let r = &mut m[NLMSG_HDR..];
    r[0] = if to.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    } as u8;
    r[1] = libc::IPPROTO_UDP as u8;
    r[4..8].copy_from_slice(&u32::MAX.to_ne_bytes());
    // The kernel looks the socket up as for a datagram from `idiag_src` to `idiag_dst`.
    let id = &mut r[8..];
    id[0..2].copy_from_slice(&from.port().to_be_bytes());
    id[2..4].copy_from_slice(&to.port().to_be_bytes());
    put_addr(&mut id[4..20], from.ip());
    put_addr(&mut id[20..36], to.ip());
    id[40..44].copy_from_slice(&NOCOOKIE.to_ne_bytes());
    id[44..48].copy_from_slice(&NOCOOKIE.to_ne_bytes());
    m
}

#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Cookie(u64),
    NotFound,
    Error(i32),
    Stale,
}

fn parse(msg: &[u8], seq: u32) -> Answer {
    let u32_at =
        |i: usize| -> Option<u32> { Some(u32::from_ne_bytes(msg.get(i..i + 4)?.try_into().ok()?)) };
    let (Some(kind), Some(got_seq)) = (
        msg.get(4..6).map(|b| u16::from_ne_bytes([b[0], b[1]])),
        u32_at(8),
    ) else {
        return Answer::Error(libc::EPROTO);
    };
    if got_seq != seq {
        return Answer::Stale;
    }
    if kind == NLMSG_ERROR {
        return match u32_at(NLMSG_HDR).map(|e| e as i32) {
            Some(e) if -e == libc::ENOENT => Answer::NotFound,
            Some(e) => Answer::Error(-e),
            None => Answer::Error(libc::EPROTO),
        };
    }
    if kind != SOCK_DIAG_BY_FAMILY {
        return Answer::Error(libc::EPROTO);
    }
    let at = NLMSG_HDR + MSG_SOCKID + 40;
    match (u32_at(at), u32_at(at + 4)) {
        (Some(lo), Some(hi)) => Answer::Cookie(u64::from(hi) << 32 | u64::from(lo)),
        _ => Answer::Error(libc::EPROTO),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_connected_socket_and_its_cookie() {
        // SO_COOKIE (Linux 4.13+) gives the cookie the diag answer must carry.
        const SO_COOKIE: libc::c_int = 57;
        let server = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let client = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        client
            .connect(server.local_addr().expect("addr"))
            .expect("connect");
        let mut cookie: u64 = 0;
        let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
        // SAFETY: getsockopt into a live u64 on a socket we own.
        let rc = unsafe {
            libc::getsockopt(
                client.as_raw_fd(),
                libc::SOL_SOCKET,
                SO_COOKIE,
                (&raw mut cookie).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0);
        let mut diag = SockDiag::open().expect("NETLINK_SOCK_DIAG");
        let from = server.local_addr().expect("addr");
        let to = client.local_addr().expect("addr");
        assert_eq!(diag.udp_cookie(from, to).expect("diag"), Some(cookie));
        // Nobody receives there.
        let nobody: SocketAddr = "127.0.0.1:9".parse().expect("addr");
        assert_eq!(diag.udp_cookie(from, nobody).expect("diag"), None);
    }
}
