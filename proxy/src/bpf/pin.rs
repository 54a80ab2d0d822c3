//! The pin directory on the BPF filesystem: mounting bpffs when needed, removing the state of a
//! previous run, and the names of what is pinned.
//!
//! Layout (one directory per sidecar, default `/sys/fs/bpf/sockmesh/`):
//! `link_sockops`, `link_connect4`, `link_connect6` (cgroup links: removing the pin of a link
//! nobody else holds detaches it), `prog_sk_msg` (the sk_msg program, attached to the socket
//! map), `prog_getsockopt`, and `map_<NAME>` for every map. Links are pinned so that the programs and their
//! counters outlive a crash and are found and replaced by the next start, or by
//! `sockmesh bpf detach`.

use std::ffi::CString;
use std::io;
use std::path::{Path, PathBuf};

/// `BPF_FS_MAGIC` from linux/magic.h.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// Errors of the pin directory.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    /// bpffs is not mounted above the pin directory and could not be mounted.
    #[error(
        "{path} is not on a BPF filesystem and mounting one failed ({source}); run `mount -t bpf bpf /sys/fs/bpf` as root or pass --bpf-pin-path on a bpffs"
    )]
    NotBpffs { path: PathBuf, source: io::Error },
    /// A file operation in the pin directory failed.
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

/// Name of a pinned link for a program kind.
pub fn link_name(kind: &str) -> String {
    format!("link_{kind}")
}

/// Name of a pinned map.
pub fn map_name(map: &str) -> String {
    format!("map_{map}")
}

/// Name of the pinned sk_msg program.
pub const SK_MSG_PROG: &str = "prog_sk_msg";

/// Name of the pinned getsockopt program (its link is held by the sidecar, not pinned).
pub const GETSOCKOPT_PROG: &str = "prog_getsockopt";

fn statfs_type(path: &Path) -> io::Result<i64> {
    let c = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `statfs` only writes into the zeroed struct we pass; `c` is a valid C string.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_type as i64)
}

/// Makes sure `pin_path`'s parent is on bpffs, mounting bpffs on the parent when it is not
/// (only done when the parent is an existing, empty-of-bpffs directory such as /sys/fs/bpf).
/// Returns true when it mounted.
pub fn ensure_bpffs(pin_path: &Path) -> Result<bool, PinError> {
    let parent = pin_path.parent().unwrap_or(Path::new("/"));
    if statfs_type(parent).ok() == Some(BPF_FS_MAGIC) {
        return Ok(false);
    }
    let not_bpffs = |source| PinError::NotBpffs {
        path: parent.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(parent).map_err(not_bpffs)?;
    let target = CString::new(parent.as_os_str().as_encoded_bytes())
        .map_err(|e| not_bpffs(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
    // SAFETY: all pointers are valid NUL-terminated strings; no data argument.
    let rc = unsafe {
        libc::mount(
            c"bpf".as_ptr(),
            target.as_ptr(),
            c"bpf".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(not_bpffs(io::Error::last_os_error()));
    }
    Ok(true)
}

/// Removes every pin in `dir` (which detaches pinned links and frees maps nobody else holds)
/// and the directory itself. Returns how many pins were removed; a missing directory is 0.
pub fn remove_all(dir: &Path) -> Result<usize, PinError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(source) => {
            return Err(PinError::Io {
                what: "read",
                path: dir.into(),
                source,
            });
        }
    };
    let mut n = 0;
    // Links first, so no program runs against a map that is going away.
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort_by_key(|p| {
        !p.file_name()
            .is_some_and(|f| f.to_string_lossy().starts_with("link_"))
    });
    for p in paths {
        std::fs::remove_file(&p).map_err(|source| PinError::Io {
            what: "unpin",
            path: p.clone(),
            source,
        })?;
        n += 1;
    }
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(n),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(n),
        Err(source) => Err(PinError::Io {
            what: "remove",
            path: dir.into(),
            source,
        }),
    }
}

/// Creates the pin directory.
pub fn create(dir: &Path) -> Result<(), PinError> {
    std::fs::create_dir_all(dir).map_err(|source| PinError::Io {
        what: "create",
        path: dir.into(),
        source,
    })
}
