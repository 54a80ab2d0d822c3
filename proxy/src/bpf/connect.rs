//! The cgroup connect4/connect6 programs (interception without iptables): they rewrite the
//! pod's connects to the sidecar's listeners and record the original destination, which
//! sock_ops republishes by tuple for [`super::orig_dst`]. The running proxy (by thread-group
//! id) and the configured sidecar uid are exempt. With DNS capture on, UDP and TCP connects to
//! port 53 go to the DNS listener (see [`super::dns`]). Minimum kernel 4.17 (5.7 for cgroup
//! links).

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use aya::Ebpf;
use aya::programs::links::{FdLink, LinkError, PinnedLink};
use aya::programs::{CgroupAttachMode, CgroupSockAddr};
use sockmap_ebpf::programs::{CONNECT4, CONNECT6};

use super::pin;

/// Errors of the connect programs.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The object lacks a program (a wrong `--bpf-object`).
    #[error("the eBPF object has no program `{0}`; rebuild it with scripts/build-ebpf.sh")]
    Missing(&'static str),
    /// The kernel refused to load or attach it.
    #[error(
        "the kernel refused the {name} program ({source}); needs Linux 4.17+ (5.2+ for recvmsg4/6) with CONFIG_CGROUP_BPF"
    )]
    Kernel {
        name: &'static str,
        source: aya::programs::ProgramError,
    },
    /// The attachment is not a pinnable link (kernel older than 5.7).
    #[error("the {name} attachment is not a BPF link ({source}); needs Linux 5.7+")]
    Link {
        name: &'static str,
        source: LinkError,
    },
    /// Pinning the link failed.
    #[error("cannot pin the {name} link: {source}")]
    Pin {
        name: &'static str,
        source: aya::pin::PinError,
    },
}

/// Loads connect4 and connect6, attaches both to `cgroup` and pins their links in `dir`.
pub fn attach(ebpf: &mut Ebpf, cgroup: &File, dir: &Path) -> Result<Vec<PinnedLink>, ConnectError> {
    attach_programs(
        ebpf,
        cgroup,
        dir,
        &[(CONNECT4, "connect4"), (CONNECT6, "connect6")],
    )
}

/// Loads the cgroup sock_addr programs `(name, kind)`, attaches them to `cgroup` and pins their
/// links in `dir` as `link_<kind>`: all or none (on a failure the links made are unpinned, which
/// detaches them).
pub fn attach_programs(
    ebpf: &mut Ebpf,
    cgroup: &File,
    dir: &Path,
    programs: &[(&'static str, &'static str)],
) -> Result<Vec<PinnedLink>, ConnectError> {
    let mut links = Vec::new();
    for &(name, kind) in programs {
        match attach_one(ebpf, cgroup, dir, name, kind) {
            Ok(link) => links.push(link),
            Err(e) => {
                for link in links {
                    let _ = link.unpin();
                }
                return Err(e);
            }
        }
    }
    Ok(links)
}

fn attach_one(
    ebpf: &mut Ebpf,
    cgroup: &File,
    dir: &Path,
    name: &'static str,
    kind: &'static str,
) -> Result<PinnedLink, ConnectError> {
    let kernel = |source| ConnectError::Kernel { name, source };
    let prog: &mut CgroupSockAddr = ebpf
        .program_mut(name)
        .ok_or(ConnectError::Missing(name))?
        .try_into()
        .map_err(kernel)?;
    prog.load().map_err(kernel)?;
    let id = prog
        .attach(cgroup, CgroupAttachMode::Single)
        .map_err(kernel)?;
    let link = prog.take_link(id).map_err(kernel)?;
    let fd: FdLink = link
        .try_into()
        .map_err(|source| ConnectError::Link { name, source })?;
    fd.pin(dir.join(pin::link_name(kind)))
        .map_err(|source| ConnectError::Pin { name, source })
}

/// Network-order words of an address, as the programs store them (IPv4 in word 0).
pub fn ip_words(ip: IpAddr) -> [u32; 4] {
    match ip {
        IpAddr::V4(v4) => [u32::from_ne_bytes(v4.octets()), 0, 0, 0],
        IpAddr::V6(v6) => {
            let o = v6.octets();
            let w = |i: usize| u32::from_ne_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
            [w(0), w(4), w(8), w(12)]
        }
    }
}

/// The inverse of [`ip_words`] for a given family.
pub fn words_ip(family: u32, w: [u32; 4]) -> IpAddr {
    if family == sockmap_ebpf::AF_INET {
        IpAddr::V4(Ipv4Addr::from(w[0].to_ne_bytes()))
    } else {
        let mut o = [0u8; 16];
        for (i, word) in w.iter().enumerate() {
            o[i * 4..i * 4 + 4].copy_from_slice(&word.to_ne_bytes());
        }
        IpAddr::V6(Ipv6Addr::from(o))
    }
}

/// Where an intercepted connect goes: IPv4 word and IPv6 words of a listener. An unspecified
/// listener address (0.0.0.0 / ::) is reached over loopback.
pub fn listener_words(addr: SocketAddr) -> (u32, [u32; 4]) {
    match addr.ip() {
        IpAddr::V4(v4) => {
            let v4 = if v4.is_unspecified() {
                Ipv4Addr::LOCALHOST
            } else {
                v4
            };
            (ip_words(IpAddr::V4(v4))[0], [0; 4])
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                (ip_words(IpAddr::V4(v4))[0], [0; 4])
            } else if v6.is_unspecified() {
                (
                    ip_words(IpAddr::V4(Ipv4Addr::LOCALHOST))[0],
                    ip_words(IpAddr::V6(Ipv6Addr::LOCALHOST)),
                )
            } else {
                (0, ip_words(IpAddr::V6(v6)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        for ip in ["127.0.0.1", "10.1.2.3", "::1", "fd00::7"] {
            let ip: IpAddr = ip.parse().expect("literal");
            let fam = if ip.is_ipv4() {
                sockmap_ebpf::AF_INET
            } else {
                sockmap_ebpf::AF_INET6
            };
            assert_eq!(words_ip(fam, ip_words(ip)), ip);
        }
        // Network order: the first octet is the lowest byte of the word on little-endian.
        assert_eq!(
            ip_words("127.0.0.1".parse().expect("literal"))[0].to_ne_bytes()[0],
            127
        );
    }
}
