//! The sock_ops program: attached to the pod cgroup, it puts every established socket whose
//! local or remote port is accelerated into the SOCKHASH (and publishes intercepted connects'
//! original destinations by tuple). Minimum kernel 5.15 (netns cookie in sock_ops); cgroup
//! links need 5.7.

use std::fs::File;
use std::path::Path;

use aya::Ebpf;
use aya::programs::links::{FdLink, LinkError, PinnedLink};
use aya::programs::{CgroupAttachMode, SockOps};
use sockmap_ebpf::programs::SOCKOPS;

use super::pin;

/// Errors of the sock_ops program.
#[derive(Debug, thiserror::Error)]
pub enum SockOpsError {
    /// The object has no such program (a wrong `--bpf-object`).
    #[error(
        "the eBPF object has no sock_ops program `{SOCKOPS}`; rebuild it with scripts/build-ebpf.sh"
    )]
    Missing,
    /// The kernel refused to load or attach it.
    #[error(
        "the kernel refused the sock_ops program ({0}); needs Linux 5.15+ with CONFIG_BPF_STREAM_PARSER and CONFIG_CGROUP_BPF"
    )]
    Kernel(#[source] aya::programs::ProgramError),
    /// The attachment is not a pinnable link (kernel older than 5.7).
    #[error("the sock_ops attachment is not a BPF link ({0}); needs Linux 5.7+")]
    Link(#[source] LinkError),
    /// Pinning the link failed.
    #[error("cannot pin the sock_ops link: {0}")]
    Pin(#[source] aya::pin::PinError),
}

/// Loads the sock_ops program, attaches it to `cgroup` and pins the link in `dir`.
pub fn attach(ebpf: &mut Ebpf, cgroup: &File, dir: &Path) -> Result<PinnedLink, SockOpsError> {
    let prog: &mut SockOps = ebpf
        .program_mut(SOCKOPS)
        .ok_or(SockOpsError::Missing)?
        .try_into()
        .map_err(SockOpsError::Kernel)?;
    prog.load().map_err(SockOpsError::Kernel)?;
    let id = prog
        .attach(cgroup, CgroupAttachMode::Single)
        .map_err(SockOpsError::Kernel)?;
    let link = prog.take_link(id).map_err(SockOpsError::Kernel)?;
    let fd: FdLink = link.try_into().map_err(SockOpsError::Link)?;
    fd.pin(dir.join(pin::link_name("sockops")))
        .map_err(SockOpsError::Pin)
}
