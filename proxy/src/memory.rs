//! Allocator settings for a long-running sidecar whose big allocations come in bursts.
//!
//! A policy change compiles a new index (tens of MiB of regex builder state at 10,000 rules, a few
//! MiB kept) while the old one keeps enforcing, then frees the old one. With glibc's defaults two
//! things make that cost memory for good: the mmap threshold adapts upward after the first large
//! free, so later large buffers come from the heap and fragment it; and freed heap pages stay in
//! the process. [`tune`] pins the threshold, [`release_freed`] hands free pages back after a compile.
//! Other allocators (or non-glibc targets) are left alone.

/// Allocations from here up are mapped on their own and returned to the kernel when freed. Large
/// enough that the data path's buffers (hyper's read buffer tops out near 400 KiB, copy buffers
/// are 64 KiB) stay in the heap instead of costing an mmap/munmap pair each; the compiled
/// policy's big tables (NFAs, rule vectors of thousands of rules) are above it.
const MMAP_THRESHOLD: i32 = 1 << 20;

/// Pins the mmap threshold at [`MMAP_THRESHOLD`]. Call once, before other threads start.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
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
