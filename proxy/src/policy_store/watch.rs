//! Watches policy files and reloads the [`PolicyStore`] when they change.
//!
//! Directories are watched rather than files, because editors and `kubectl`-style tooling replace
//! files by rename; events are debounced so a burst of writes produces one reload.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
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

/// Keeps the watcher alive; dropping it stops reloads.
pub struct PolicyWatcher {
    _watcher: notify::RecommendedWatcher,
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
    let watched = Watched {
        files,
        dirs: dirs.clone(),
    };
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Reads are not changes: inotify reports opens too, and the reload's own read of the
        // files would otherwise start the next reload, forever (a compile every debounce period).
        // A write shows up as a modification as well, so nothing is lost by skipping accesses.
        let changed = match &event {
            Ok(ev) => !ev.kind.is_access() && ev.paths.iter().any(|p| watched.covers(p)),
            Err(_) => true,
        };
        if changed {
            // A full channel already has a reload pending: nothing is lost.
            let _ = tx.try_send(());
        }
    })?;
    for dir in &dirs {
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
    }
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            tokio::time::sleep(DEBOUNCE).await;
            while rx.try_recv().is_ok() {}
            // Off the event loop (compiling is CPU-bound); errors are logged and counted by the
            // store.
            let store = Arc::clone(&store);
            let _ = tokio::task::spawn_blocking(move || store.reload_files()).await;
        }
    });
    Ok(Some(PolicyWatcher { _watcher: watcher }))
}

/// The policy files and their directories.
struct Watched {
    files: HashSet<PathBuf>,
    dirs: HashSet<PathBuf>,
}

impl Watched {
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
