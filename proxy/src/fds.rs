//! The process's file descriptor limit.
//!
//! Every downstream and upstream connection is a descriptor, and the soft `RLIMIT_NOFILE` is
//! often 1,024 while the hard one is far higher (systemd's default is 1,024 soft, 524,288 hard):
//! a sidecar left at the soft limit refuses clients at a fraction of what the machine allows.
//! At start the soft limit is raised to the hard one, as nginx's `worker_rlimit_nofile` and
//! Envoy's deployments do, and the limit in force is logged: the circuit breakers
//! (`upstream::breaker`) keep upstream connections within their caps, and those caps only help
//! if the limit leaves room for them.

/// The soft limit before and after [`raise`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    pub was: u64,
    pub now: u64,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (or to `fs.nr_open` when the hard one is
/// unlimited, which the kernel refuses as a soft limit).
pub fn raise() -> std::io::Result<FdLimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let was = limit.rlim_cur;
    let target = if limit.rlim_max == libc::RLIM_INFINITY {
        nr_open().unwrap_or(was)
    } else {
        limit.rlim_max
    };
    if target > was {
        let raised = libc::rlimit {
            rlim_cur: target,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(FdLimit {
        was,
        now: target.max(was),
    })
}

/// The kernel's ceiling on a process's descriptors (`/proc/sys/fs/nr_open`).
fn nr_open() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Raises the limit and logs the one in force; warns when it leaves no room for the clusters'
/// connection caps (`caps`, their sum), which then cannot keep the descriptors from running out.
pub fn raise_and_log(caps: u64) {
    let FdLimit { was, now } = match raise() {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(%error, "cannot read or raise the file descriptor limit");
            return;
        }
    };
    if now > was {
        tracing::info!(limit = now, raised_from = was, "file descriptor limit");
    } else {
        tracing::info!(limit = now, "file descriptor limit");
    }
    if now < caps {
        tracing::warn!(
            limit = now,
            upstream_caps = caps,
            "the file descriptor limit is below the clusters' circuitBreakers.maxConnections: \
             raise the hard limit (ulimit -Hn) or lower the caps, or upstream connections can \
             use up the descriptors new clients need"
        );
    }
}
