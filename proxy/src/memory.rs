//! Allocator settings for a long-running sidecar whose big allocations come in bursts.
//!
//! A policy change compiles a new index (tens of MiB of regex builder state at 10,000 rules, a few
//! MiB kept) while the old one keeps enforcing, then frees the old one. With glibc's defaults two
//! things make that cost memory for good: the mmap threshold adapts upward after the first large
//! free, so later large buffers come from the heap and fragment it; and freed heap pages stay in
//! the process. [`tune`] pins the threshold, [`release_freed`] hands free pages back after a compile.
//! Other allocators (or non-glibc targets) are left alone.
//!
//! Connections come in bursts too: 1,000 clients each holding 60 KB of a request body took RSS
//! from 22 to 93 MB (debug build), and none of it came back when they closed, since their buffers
//! (below the mmap threshold) were freed into the heap and glibc only returns its top.
//! [`spawn_releaser`] looks at the free heap every 5 s and hands it back once a burst has left
//! enough of it: there, RSS was back at 23 MB within 5 s. Looking costs under 0.2 ms
//! (`mallinfo2` walks the free lists); handing back those 70 MiB took 34 ms, once.

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

/// How often the free heap is looked at.
const RELEASE_CHECK: std::time::Duration = std::time::Duration::from_secs(5);
/// Free heap grown by this much since the last release is handed back.
const RELEASE_ABOVE: usize = 8 << 20;

/// Every [`RELEASE_CHECK`], hands free heap pages back when the free heap grew by more than
/// [`RELEASE_ABOVE`] since the last time (a burst of connections closed, say). Free chunks stay
/// free after a release (their pages are given back, not the chunks), so the mark moves with the
/// free heap: down as it is used again, up only at a release. Needs a runtime.
pub fn spawn_releaser() {
    let Some(mut mark) = free_heap() else { return };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RELEASE_CHECK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(free) = free_heap() else { return };
            if free > mark.saturating_add(RELEASE_ABOVE) {
                release_freed();
                tracing::debug!(free_mib = free >> 20, "freed heap handed back");
                mark = free;
            } else {
                mark = mark.min(free);
            }
        }
    });
}

/// Bytes in free heap chunks, in all arenas; `None` where the allocator cannot tell.
fn free_heap() -> Option<usize> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 reads the allocator's statistics; it has no preconditions.
        let info = unsafe { libc::mallinfo2() };
        Some(info.fordblks)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    None
}
