//! Sockmesh's eBPF programs, built for `bpfel-unknown-none` and checked in as
//! `sockmap-ebpf/obj/sockmesh.bpf.o` (rebuild: `scripts/build-ebpf.sh`).
//!
//! Why: the app <-> sidecar hop is a loopback TCP connection on both ends of every request;
//! splicing it in the kernel (sk_msg redirect into the peer's receive queue) skips the TCP/IP
//! stack twice per message, and the cgroup connect hooks intercept an unmodified app without
//! iptables.
//!
//! - [`sockops`]: sock_ops, inserts established sockets on accelerated ports into the SOCKHASH;
//! - [`sk_msg`]: sk_msg, redirects each send to the peer socket with `BPF_F_INGRESS`;
//! - [`connect`]: cgroup/connect4 and cgroup/connect6, rewrite connects to the sidecar and
//!   record the original destination;
//! - [`getsockopt`]: cgroup/getsockopt, answers `SO_ORIGINAL_DST` from the recorded destination;
//! - [`dns`]: cgroup/sendmsg4/6, recvmsg4/6 and getpeername4/6, DNS capture over UDP (datagrams
//!   to port 53 go to the DNS listener, its answers and getpeername show the resolver the app
//!   asked).
//!
//! Minimum kernel: 5.15 (`bpf_get_netns_cookie` in sock_ops and sk_msg programs; the cgroup
//! connect hooks need 4.17, SOCKHASH 4.18, LRU maps 4.10, recvmsg4/6 5.2).
#![no_std]
#![no_main]

mod connect;
mod ctx;
mod dns;
mod getsockopt;
mod maps;
mod sk_msg;
mod sockops;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // SAFETY: the verifier rejects any program that could reach a panic (no unwinding, no loops
    // without bounds), so this is never executed.
    unsafe { core::hint::unreachable_unchecked() }
}

/// The licence the kernel sees: GPL-compatible, required for the sockmap and cookie helpers.
#[unsafe(no_mangle)]
#[unsafe(link_section = "license")]
pub static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
