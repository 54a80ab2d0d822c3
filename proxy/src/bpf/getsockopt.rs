//! The cgroup/getsockopt program: answers `SO_ORIGINAL_DST` / `IP6T_SO_ORIGINAL_DST` on sockets
//! accepted from intercepted connects, so proxies that only know the iptables interface work
//! without iptables (Sockmesh itself asks [`super::Acceleration::original_dst`] first). Attached
//! with the connect programs. Minimum kernel 5.15 (netns cookie in sockopt programs).
//!
//! Unlike the other cgroup programs its link is not pinned (aya 0.14 cannot turn a sockopt link
//! into a pinnable one): it is held by the running sidecar and detaches when the sidecar exits,
//! which is also when nobody is left to ask for original destinations.

use std::fs::File;
use std::path::Path;

use aya::Ebpf;
use aya::programs::cgroup_sockopt::CgroupSockoptLink;
use aya::programs::{CgroupAttachMode, CgroupSockopt};
use sockmap_ebpf::programs::GETSOCKOPT;

use super::pin;

/// Errors of the getsockopt program.
#[derive(Debug, thiserror::Error)]
pub enum GetsockoptError {
    /// The object lacks the program (a wrong `--bpf-object`).
    #[error(
        "the eBPF object has no getsockopt program `{GETSOCKOPT}`; rebuild it with scripts/build-ebpf.sh"
    )]
    Missing,
    /// The kernel refused to load or attach it.
    #[error(
        "the kernel refused the getsockopt program ({0}); needs Linux 5.15+ with CONFIG_CGROUP_BPF"
    )]
    Kernel(#[source] aya::programs::ProgramError),
    /// Pinning the program failed.
    #[error("cannot pin the getsockopt program: {0}")]
    Pin(#[source] aya::pin::PinError),
}

/// Loads the getsockopt program, attaches it to `cgroup` and pins the program (not the link) in
/// `dir`. Dropping the returned link detaches it.
pub fn attach(
    ebpf: &mut Ebpf,
    cgroup: &File,
    dir: &Path,
) -> Result<CgroupSockoptLink, GetsockoptError> {
    let prog: &mut CgroupSockopt = ebpf
        .program_mut(GETSOCKOPT)
        .ok_or(GetsockoptError::Missing)?
        .try_into()
        .map_err(GetsockoptError::Kernel)?;
    prog.load().map_err(GetsockoptError::Kernel)?;
    // Flags must be 0 for cgroup BPF links (Linux 5.7+): links always coexist like ALLOW_MULTI.
    let id = prog
        .attach(cgroup, CgroupAttachMode::Single)
        .map_err(GetsockoptError::Kernel)?;
    prog.pin(dir.join(pin::GETSOCKOPT_PROG))
        .map_err(GetsockoptError::Pin)?;
    prog.take_link(id).map_err(GetsockoptError::Kernel)
}
