//! The sk_msg program: attached to the SOCKHASH, it runs on every send of a socket in the map
//! and redirects the data into the peer socket's receive queue (`BPF_F_INGRESS`). The
//! attachment belongs to the map, so it lives as long as the (pinned) map. Minimum kernel 5.15.

use std::path::Path;

use aya::Ebpf;
use aya::maps::{MapData, SockHash};
use aya::programs::SkMsg;
use aya::programs::sk_msg::SkMsgLink;
use sockmap_ebpf::SockKey;
use sockmap_ebpf::programs::SK_MSG;

use super::pin;

/// Errors of the sk_msg program.
#[derive(Debug, thiserror::Error)]
pub enum SkMsgError {
    /// The object has no such program (a wrong `--bpf-object`).
    #[error(
        "the eBPF object has no sk_msg program `{SK_MSG}`; rebuild it with scripts/build-ebpf.sh"
    )]
    Missing,
    /// The kernel refused to load or attach it.
    #[error(
        "the kernel refused the sk_msg program ({0}); needs Linux 5.15+ with CONFIG_BPF_STREAM_PARSER"
    )]
    Kernel(#[source] aya::programs::ProgramError),
    /// Pinning the program failed.
    #[error("cannot pin the sk_msg program: {0}")]
    Pin(#[source] aya::pin::PinError),
}

/// Loads the sk_msg program, attaches it to `sockets` and pins the program in `dir`. Dropping
/// the returned link detaches the program from the map; forgetting it leaves it attached for as
/// long as the map lives.
pub fn attach(
    ebpf: &mut Ebpf,
    sockets: &SockHash<MapData, SockKey>,
    dir: &Path,
) -> Result<SkMsgLink, SkMsgError> {
    let prog: &mut SkMsg = ebpf
        .program_mut(SK_MSG)
        .ok_or(SkMsgError::Missing)?
        .try_into()
        .map_err(SkMsgError::Kernel)?;
    prog.load().map_err(SkMsgError::Kernel)?;
    let id = prog.attach(sockets.fd()).map_err(SkMsgError::Kernel)?;
    prog.pin(dir.join(pin::SK_MSG_PROG))
        .map_err(SkMsgError::Pin)?;
    prog.take_link(id).map_err(SkMsgError::Kernel)
}
