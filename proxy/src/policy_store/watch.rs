//! Watches policy files and reloads the [`PolicyStore`] when they change.
//!
//! With inotify directly, with masks chosen per watch (the sidecar needs Linux anyway):
//! each policy file's directory for entries created, removed or renamed (editors and
//! `kubectl`-style tooling replace files by rename; a ConfigMap update swaps a `..data` link)
//! and for files there closed after writing, and each file itself (through its links) for its
//! close after writing. Writes to other files in the directory make no event: with a
//! directory-wide write mask, as the `notify` crate sets, every line a process logged next to
//! the policies woke the watcher (2-3 us of sidecar CPU per write, measured); a close is one
//! event per file written, not one per line. The watch runs on the runtime's reactor, without a
//! thread.
//!
//! A change is a file closed after writing, or an entry renamed, removed or linked into place;
//! never a write alone. Reacting to each write (and reading 150 ms after the first) loaded a file
//! written slowly in place half-written: as 0 rules, then as 1 rule with its L7 part missing,
//! and a denied path reached the upstream meanwhile. A file created by `open` is read at its
//! close, not at its creation.
//!
//! Events are debounced so a burst of changes produces one reload. A directory that is removed
//! and made again is found within [`RECHECK`] and watched again.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask, Watches};

use super::PolicyStore;

const DEBOUNCE: Duration = Duration::from_millis(150);

/// How often the watched directories are checked for having been removed or replaced: the
/// kernel drops a directory's inotify watch with the directory, so a policy directory deleted and
/// made again (a volume re-mounted, `rm -rf` and a fresh checkout) would go unwatched for good.
const RECHECK: Duration = Duration::from_secs(2);

/// A directory: its entries coming, going, renamed or closed after writing, and itself going.
const DIR_EVENTS: WatchMask = WatchMask::CREATE
    .union(WatchMask::CLOSE_WRITE)
    .union(WatchMask::DELETE)
    .union(WatchMask::MOVED_FROM)
    .union(WatchMask::MOVED_TO)
    .union(WatchMask::DELETE_SELF)
    .union(WatchMask::MOVE_SELF)
    .union(WatchMask::ONLYDIR);
/// A policy file (the file a link leads to): closed after writing, or its metadata changed
/// (`touch`, `chmod`). Not each write: a writer may still be half-way. Not opens or reads: the
/// reload's own read would otherwise start the next reload, forever.
const FILE_EVENTS: WatchMask = WatchMask::CLOSE_WRITE
    .union(WatchMask::ATTRIB)
    .union(WatchMask::DELETE_SELF)
    .union(WatchMask::MOVE_SELF);

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(
        "cannot watch policy files for changes: {0}; edits will not be picked up until restart"
    )]
    Inotify(#[from] std::io::Error),
}

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
    let mut events = Inotify::init()?.into_event_stream(vec![0u8; 4096])?;
    let mut state = State {
        watches: events.watches(),
        files,
        dirs: Vec::new(),
        file_wds: Vec::new(),
        lost: false,
    };
    for dir in dirs {
        let wd = state.watches.add(&dir, DIR_EVENTS)?;
        let id = identity(&dir);
        state.dirs.push(Armed {
            dir,
            wd: Some(wd),
            id,
        });
    }
    state.arm_files();
    let task = tokio::spawn(async move {
        let mut recheck = tokio::time::interval(RECHECK);
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = events.next() => {
                    let Some(event) = event else {
                        tracing::warn!("policy file events ended: edits will not be picked up until restart");
                        return;
                    };
                    if !state.is_change(event) {
                        continue;
                    }
                    tokio::time::sleep(DEBOUNCE).await;
                    // What came meanwhile is part of this change (dropped, but a directory that
                    // went is still noted).
                    while let Some(Some(event)) = events.next().now_or_never() {
                        state.is_change(event);
                    }
                }
                _ = recheck.tick() => {
                    if !state.rearm() {
                        continue;
                    }
                }
            }
            // A file replaced by rename, or a link that now leads elsewhere, is another inode:
            // watched before it is read, so a write after the read is not missed.
            state.arm_files();
            // Off the event loop (compiling is CPU-bound); errors are logged and counted by the
            // store.
            let store = Arc::clone(&store);
            let _ = tokio::task::spawn_blocking(move || store.reload_files()).await;
        }
    });
    Ok(Some(PolicyWatcher { task }))
}

/// A watched directory, with the identity (device, inode) it had when its watch was set.
struct Armed {
    dir: PathBuf,
    wd: Option<WatchDescriptor>,
    id: Option<(u64, u64)>,
}

struct State {
    watches: Watches,
    files: HashSet<PathBuf>,
    dirs: Vec<Armed>,
    /// The watch on each policy file (the same descriptor when its inode is unchanged).
    file_wds: Vec<WatchDescriptor>,
    /// A watched directory itself was removed or moved: its watch is gone even if a directory
    /// with the same inode number comes back.
    lost: bool,
}

impl State {
    /// Watches each policy file as it now is (a missing one is skipped: its directory's watch
    /// sees it come back); watches on inodes no longer a policy file (replaced, still linked
    /// elsewhere) are dropped.
    fn arm_files(&mut self) {
        let mut now = Vec::with_capacity(self.files.len());
        for file in &self.files {
            match self.watches.add(file, FILE_EVENTS) {
                Ok(wd) => now.push(wd),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => {
                    tracing::warn!(file = %file.display(), %error, "cannot watch the policy file; in-place edits to it will not be seen");
                }
            }
        }
        for old in std::mem::replace(&mut self.file_wds, now) {
            if !self.file_wds.contains(&old) {
                let _ = self.watches.remove(old);
            }
        }
    }

    /// Whether `event` may have changed a policy file.
    fn is_change(&mut self, event: std::io::Result<inotify::Event<std::ffi::OsString>>) -> bool {
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                tracing::warn!(%error, "reading policy file events failed");
                return true;
            }
        };
        if event.mask.contains(EventMask::Q_OVERFLOW) {
            return true;
        }
        if self.file_wds.contains(&event.wd) {
            return true;
        }
        let Some(armed) = self.dirs.iter().find(|a| a.wd.as_ref() == Some(&event.wd)) else {
            return false;
        };
        if event
            .mask
            .intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF | EventMask::IGNORED)
        {
            self.lost = true;
            return false;
        }
        let Some(name) = event.name.as_deref() else {
            return false;
        };
        if !self.covers(&armed.dir, name) {
            return false;
        }
        // A file made by `open` is being written: its close is the change.
        !(event.mask.contains(EventMask::CREATE) && being_written(&armed.dir.join(name)))
    }

    /// A policy file, or an entry whose name starts with `..` in a policy file's directory:
    /// Kubernetes mounts a ConfigMap as `file -> ..data/file` with `..data -> ..<timestamp>`, and
    /// an update swaps the `..data` link (rename of `..data_tmp`), so no event names the file.
    fn covers(&self, dir: &Path, name: &OsStr) -> bool {
        name.as_encoded_bytes().starts_with(b"..") || self.files.contains(&dir.join(name))
    }

    /// Sets the watch again on each directory that was removed and is back (or was replaced by
    /// another; or all of them once one was seen removed); `true` when one was, since its files
    /// may have changed while nobody watched.
    fn rearm(&mut self) -> bool {
        let force = std::mem::take(&mut self.lost);
        let mut any = false;
        for armed in &mut self.dirs {
            let now = identity(&armed.dir);
            if now == armed.id && !force {
                continue;
            }
            if now.is_none() {
                // Gone (or moved away, keeping its watch: dropped, so edits there are not ours):
                // the reload this causes fails (the files are missing) and keeps the last good
                // policy; the watch is set again when the directory is back.
                if let Some(wd) = armed.wd.take() {
                    let _ = self.watches.remove(wd);
                }
                armed.id = None;
                any = true;
                continue;
            }
            if let Some(wd) = armed.wd.take() {
                let _ = self.watches.remove(wd);
            }
            match self.watches.add(&armed.dir, DIR_EVENTS) {
                Ok(wd) => {
                    tracing::info!(dir = %armed.dir.display(), "policy directory removed or replaced: watching it again");
                    armed.wd = Some(wd);
                    armed.id = now;
                    any = true;
                }
                Err(error) => {
                    tracing::warn!(dir = %armed.dir.display(), %error, "cannot watch the policy directory again; retrying");
                }
            }
        }
        any
    }
}

/// An entry just created that a writer is likely still filling: a regular file with one link
/// (not a symlink, nor a hard link to a file written elsewhere), whose close will follow.
fn being_written(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file() && m.nlink() == 1)
}

fn identity(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir).ok().map(|m| (m.dev(), m.ino()))
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}
