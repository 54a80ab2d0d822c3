//! Allocator settings for a long-running sidecar whose big allocations come in bursts.
//!
//! A policy change compiles a new index (tens of MiB of regex builder state at 10,000 rules, a few
//! MiB kept) while the old one keeps enforcing, then frees the old one. With glibc's defaults two
//! things make that cost memory for good: the mmap threshold adapts upward after the first large
//! free, so later large buffers come from the heap and fragment it; and freed heap pages stay in
//! the process. [`tune`] pins the threshold, [`release_freed`] hands free pages back after a compile.
//! Other allocators (or non-glibc targets) are left alone.

/// Large allocations (128 KiB and up: regex tables, rule vectors) are mapped on their own and
/// returned to the kernel when freed. Call once, before other threads start.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Hands free heap pages back to the kernel, so that an idle sidecar's RSS reflects what it uses.
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap pages; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
