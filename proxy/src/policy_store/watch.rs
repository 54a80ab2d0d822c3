//! Watches policy files and reloads the [`PolicyStore`] when they change.
//!
//! Directories are watched rather than files, because editors and `kubectl`-style tooling replace
//! files by rename; events are debounced so a burst of writes produces one reload. A directory
//! that is removed and made again is found within [`RECHECK`] and watched again.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use super::PolicyStore;

const DEBOUNCE: Duration = Duration::from_millis(150);

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(
        "cannot watch policy files for changes: {0}; edits will not be picked up until restart"
    )]
    Notify(#[from] notify::Error),
}

/// How often the watched directories are checked for having been removed or replaced: the
/// kernel drops a directory's inotify watch with the directory, so a policy directory deleted and
/// made again (a volume re-mounted, `rm -rf` and a fresh checkout) would go unwatched for good.
const RECHECK: Duration = Duration::from_secs(2);

/// Keeps the watch running; dropping it stops reloads.
pub struct PolicyWatcher {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PolicyWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts watching the store's files. Must be called inside a tokio runtime.
pub fn spawn(store: Arc<PolicyStore>) -> Result<Option<PolicyWatcher>, WatchError> {
    if store.files().is_empty() {
        return Ok(None);
    }
    let files: HashSet<PathBuf> = store.files().iter().map(|f| absolute(f)).collect();
    let dirs: HashSet<PathBuf> = files
        .iter()
        .filter_map(|f| f.parent().map(PathBuf::from))
        .collect();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
    // Set when a watched directory itself is removed: its watch is gone even if a directory
    // with the same inode number comes back.
    let lost = Arc::new(AtomicBool::new(false));
    let lost_in_callback = Arc::clone(&lost);
    let watched = Watched {
        files,
        dirs: dirs.clone(),
    };
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Reads are not changes: inotify reports opens too, and the reload's own read of the
        // files would otherwise start the next reload, forever (a compile every debounce period).
        // A write shows up as a modification as well, so nothing is lost by skipping accesses.
        let changed = match &event {
            Ok(ev) => {
                if ev.kind.is_remove() && ev.paths.iter().any(|p| watched.is_dir(p)) {
                    lost_in_callback.store(true, Ordering::Relaxed);
                }
                !ev.kind.is_access() && ev.paths.iter().any(|p| watched.covers(p))
            }
            Err(_) => true,
        };
        if changed {
            // A full channel already has a reload pending: nothing is lost.
            let _ = tx.try_send(());
        }
    })?;
    // Each directory with the identity (device, inode) it had when its watch was set.
    let mut armed: Vec<(PathBuf, Option<(u64, u64)>)> = Vec::new();
    for dir in dirs {
        watcher.watch(&dir, RecursiveMode::NonRecursive)?;
        let id = identity(&dir);
        armed.push((dir, id));
    }
    let task = tokio::spawn(async move {
        let mut recheck = tokio::time::interval(RECHECK);
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                got = rx.recv() => {
                    if got.is_none() {
                        return;
                    }
                    tokio::time::sleep(DEBOUNCE).await;
                    while rx.try_recv().is_ok() {}
                }
                _ = recheck.tick() => {
                    let force = lost.swap(false, Ordering::Relaxed);
                    if !rearm(&mut watcher, &mut armed, force) {
                        continue;
                    }
                }
            }
            // Off the event loop (compiling is CPU-bound); errors are logged and counted by the
            // store.
            let store = Arc::clone(&store);
            let _ = tokio::task::spawn_blocking(move || store.reload_files()).await;
        }
    });
    Ok(Some(PolicyWatcher { task }))
}

/// Sets the watch again on each directory that was removed and is back (or was replaced by
/// another; `force`: a directory was seen removed); `true` when one was, since its files may have
/// changed while nobody watched.
fn rearm(
    watcher: &mut notify::RecommendedWatcher,
    armed: &mut [(PathBuf, Option<(u64, u64)>)],
    force: bool,
) -> bool {
    let mut any = false;
    for (dir, id) in armed.iter_mut() {
        let now = identity(dir);
        if now == *id && !force {
            continue;
        }
        if now.is_none() {
            // Gone: the reload this causes fails (the files are missing) and keeps the last
            // good policy; the watch is set again when the directory is back.
            *id = None;
            any = true;
            continue;
        }
        let _ = watcher.unwatch(dir);
        match watcher.watch(dir, RecursiveMode::NonRecursive) {
            Ok(()) => {
                tracing::info!(dir = %dir.display(), "policy directory removed or replaced: watching it again");
                *id = now;
                any = true;
            }
            Err(error) => {
                tracing::warn!(dir = %dir.display(), %error, "cannot watch the policy directory again; retrying");
            }
        }
    }
    any
}

fn identity(dir: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir).ok().map(|m| (m.dev(), m.ino()))
}

/// The policy files and their directories.
struct Watched {
    files: HashSet<PathBuf>,
    dirs: HashSet<PathBuf>,
}

impl Watched {
    fn is_dir(&self, path: &std::path::Path) -> bool {
        self.dirs.contains(&absolute(path))
    }

    /// A policy file, or an entry whose name starts with `..` in a policy file's directory:
    /// Kubernetes mounts a ConfigMap as `file -> ..data/file` with `..data -> ..<timestamp>`, and
    /// an update swaps the `..data` link (rename of `..data_tmp`), so no event names the file.
    fn covers(&self, path: &std::path::Path) -> bool {
        let path = absolute(path);
        self.files.contains(&path)
            || path
                .file_name()
                .is_some_and(|n| n.as_encoded_bytes().starts_with(b".."))
                && path.parent().is_some_and(|d| self.dirs.contains(d))
    }
}

fn absolute(path: &std::path::Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}
