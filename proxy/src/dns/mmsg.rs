//! Datagrams in batches: `recvmmsg(2)` and `sendmmsg(2)` on a tokio UDP socket.
//!
//! Why: a DNS query through the proxy is four datagrams (client in, resolver out, resolver in,
//! client out), and with one system call each they were most of its cost: 12.1 us of CPU per
//! query through the proxy against dnsdist's 10.3 (bench/dns, saturated, 9.6 us of it in the
//! kernel). Under load, many datagrams wait on a socket at each wake-up; reading them with one
//! call and sending the answers of a batch with one call spends the system-call overhead once
//! per batch instead of once per datagram. When datagrams come one at a time, a batch is one
//! datagram and nothing changes.
//!
//! Reads go through [`UdpSocket::try_io`], so tokio's readiness stays right (a `WouldBlock`
//! clears it); sends go straight to the socket; nothing here blocks.

use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use socket2::SockAddr;
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Datagrams read or sent per call.
pub(super) const BATCH: usize = 32;

/// Buffers for one `recvmmsg`: `BATCH` slots of `slot` bytes, the senders and the lengths.
pub(super) struct RecvBatch {
    slot: usize,
    data: Vec<u8>,
    addrs: Vec<libc::sockaddr_storage>,
    msgs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
    /// After a [`RecvBatch::recv`]: (length, truncated, sender) of each datagram read.
    got: Vec<(usize, bool, Option<SocketAddr>)>,
}

// The raw pointers in `msgs` and `iovs` are rebuilt before every call and point only into this
// struct's own buffers; nothing holds them between calls.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    pub(super) fn new(slot: usize) -> RecvBatch {
        RecvBatch {
            slot,
            data: vec![0; slot * BATCH],
            // SAFETY: all-zero is a valid sockaddr_storage (family AF_UNSPEC).
            addrs: vec![unsafe { MaybeUninit::zeroed().assume_init() }; BATCH],
            // SAFETY: all-zero mmsghdr/iovec are valid (null pointers, zero lengths); they are
            // filled in before use.
            msgs: vec![unsafe { MaybeUninit::zeroed().assume_init() }; BATCH],
            iovs: vec![unsafe { MaybeUninit::zeroed().assume_init() }; BATCH],
            got: Vec::with_capacity(BATCH),
        }
    }

    /// Reads up to `BATCH` datagrams waiting on `socket`; `Err(WouldBlock)` when none waits.
    pub(super) fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        self.got.clear();
        for i in 0..BATCH {
            let iov = &mut self.iovs[i];
            iov.iov_base = self.data[i * self.slot..].as_mut_ptr().cast();
            iov.iov_len = self.slot;
            let m = &mut self.msgs[i];
            m.msg_hdr.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
            m.msg_hdr.msg_control = std::ptr::null_mut();
            m.msg_hdr.msg_controllen = 0;
            m.msg_hdr.msg_flags = 0;
            m.msg_len = 0;
        }
        let fd = socket.as_raw_fd();
        let msgs = self.msgs.as_mut_ptr();
        let n = socket.try_io(Interest::READABLE, || {
            // SAFETY: `msgs` holds BATCH initialised headers whose name and iovec pointers point
            // into `addrs` and `data`, which outlive the call and are not otherwise borrowed.
            let rc = unsafe {
                libc::recvmmsg(
                    fd,
                    msgs,
                    BATCH as u32,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if rc < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(rc as usize)
            }
        })?;
        for i in 0..n {
            let m = &self.msgs[i];
            let len = (m.msg_len as usize).min(self.slot);
            let truncated = m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            self.got.push((len, truncated, socket_addr(&self.addrs[i])));
        }
        Ok(n)
    }

    /// Datagram `i` of the last read: its bytes, whether it was cut to the slot, its sender.
    pub(super) fn get(&mut self, i: usize) -> Option<(&mut [u8], bool, Option<SocketAddr>)> {
        let (len, truncated, addr) = *self.got.get(i)?;
        let start = i * self.slot;
        Some((&mut self.data[start..start + len], truncated, addr))
    }
}

/// The sender the kernel wrote into `storage` (IPv4 or IPv6).
fn socket_addr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is large and
            // aligned enough for.
            let a =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::from((ip, u16::from_be(a.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let a = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(std::net::SocketAddrV6::new(
                ip,
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Datagrams to send with one `sendmmsg`: their bytes one after another, and where each goes
/// (`None` on a connected socket).
#[derive(Default)]
pub(super) struct SendBatch {
    data: Vec<u8>,
    items: Vec<(usize, usize, Option<SockAddr>)>,
}

// As for RecvBatch: the pointers made in `flush` live only for its call.
unsafe impl Send for SendBatch {}

impl SendBatch {
    pub(super) fn push(&mut self, bytes: &[u8], to: Option<SocketAddr>) {
        let start = self.data.len();
        self.data.extend_from_slice(bytes);
        self.items
            .push((start, bytes.len(), to.map(SockAddr::from)));
    }

    pub(super) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Sends everything queued, `BATCH` per call; returns how many datagrams the kernel refused
    /// (a full send buffer, an unreachable client): they are dropped, as a network would.
    pub(super) fn flush(&mut self, socket: &UdpSocket) -> usize {
        let mut dropped = 0;
        let mut next = 0;
        while next < self.items.len() {
            let end = (next + BATCH).min(self.items.len());
            let mut iovs: Vec<libc::iovec> = self.items[next..end]
                .iter()
                .map(|(start, len, _)| libc::iovec {
                    iov_base: self.data[*start..].as_ptr() as *mut libc::c_void,
                    iov_len: *len,
                })
                .collect();
            let mut msgs: Vec<libc::mmsghdr> = Vec::with_capacity(end - next);
            for (iov, (_, _, to)) in iovs.iter_mut().zip(&self.items[next..end]) {
                // SAFETY: zeroed msghdr is valid; the fields that matter are set below.
                let mut m: libc::mmsghdr = unsafe { MaybeUninit::zeroed().assume_init() };
                if let Some(to) = to {
                    m.msg_hdr.msg_name = to.as_ptr() as *mut libc::c_void;
                    m.msg_hdr.msg_namelen = to.len();
                }
                m.msg_hdr.msg_iov = iov;
                m.msg_hdr.msg_iovlen = 1;
                msgs.push(m);
            }
            let fd = socket.as_raw_fd();
            let count = msgs.len();
            let ptr = msgs.as_mut_ptr();
            // Straight to the socket, not through tokio's readiness: a datagram send does not
            // wait for room, and a socket the reactor has not yet reported writable would be
            // refused (it was: the first query on a new resolver socket got SERVFAIL).
            // SAFETY: `count` headers point into `iovs`, `self.data` and the SockAddrs in
            // `self.items`, all alive and unmoved for the call.
            let rc = unsafe { libc::sendmmsg(fd, ptr, count as u32, libc::MSG_DONTWAIT) };
            let sent = if rc < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(rc as usize)
            };
            match sent {
                // At least one went; go on from the first that did not.
                Ok(n) if n > 0 => next += n,
                // Full buffer, or the first datagram refused (its destination): drop it.
                _ => {
                    dropped += 1;
                    next += 1;
                }
            }
        }
        self.data.clear();
        self.items.clear();
        dropped
    }
}
