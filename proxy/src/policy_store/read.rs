//! Reading the policy files: every file's parse errors together, a file with no policy document
//! refused, and (on reload) a file deleted from its directory taken as its policies removed.
//!
//! Why an empty file is an error: a policy file emptied, cut short to nothing, or left with only
//! comments used to load as "0 policies", so the workload was no longer selected and everything
//! was allowed. A file that says nothing is far more often a file being written, truncated by
//! mistake, or a tool's failed render than a wish to drop its policies; that wish is said by
//! deleting the file.
//!
//! Why a missing file counts as removed only on reload, only when its directory is there, and
//! never for every file at once: a path given at start that does not exist is a mistake to
//! report. A file deleted from a directory that is still there was deleted on purpose (`rm`, a
//! ConfigMap key removed); a directory gone with it is a volume unmounted or a directory being
//! replaced, and all files gone at once cannot be told from that. Those keep the last good
//! policy, as Envoy keeps its last configuration when a watched file cannot be read.

use std::path::{Path, PathBuf};

use sockmesh_policy::ParseError;
use sockmesh_policy::model::Policy;

use super::PolicyLoadError;

/// What a missing policy file means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missing {
    /// An error (at start, and for `policy check`).
    Error,
    /// Its policies are removed, if its directory is there and another file is (a reload).
    Removed,
}

/// Reads and parses policy files, collecting every parse error of every file.
pub fn read_files(files: &[PathBuf], missing: Missing) -> Result<Vec<Policy>, PolicyLoadError> {
    let mut policies = Vec::new();
    let mut errors = Vec::new();
    let mut removed = Vec::new();
    for path in files {
        match read_file(path) {
            Ok(mut p) => policies.append(&mut p),
            Err(PolicyLoadError::Parse(mut e)) => errors.append(&mut e),
            Err(PolicyLoadError::Read { path, source })
                if missing == Missing::Removed && deleted_from_its_directory(&path, &source) =>
            {
                removed.push(path);
            }
            Err(other) => return Err(other),
        }
    }
    if !errors.is_empty() {
        return Err(PolicyLoadError::Parse(errors));
    }
    if removed.len() == files.len() && !files.is_empty() {
        return Err(PolicyLoadError::AllRemoved);
    }
    for path in &removed {
        tracing::info!(file = %path.display(), "policy file removed: its policies no longer apply");
    }
    Ok(policies)
}

/// A policy file's policies; a file with none is a parse error at its start.
fn read_file(path: &Path) -> Result<Vec<Policy>, PolicyLoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| PolicyLoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    let source = path.display().to_string();
    let policies =
        sockmesh_policy::cilium::parse_documents(&source, &text).map_err(PolicyLoadError::Parse)?;
    if policies.is_empty() {
        return Err(PolicyLoadError::Parse(vec![ParseError {
            source,
            line: 1,
            column: 1,
            message: "no policy document in the file (empty, cut short, or only comments)".into(),
            help: Some(
                "a file's policies are removed by deleting the file; an empty file is refused, so \
                 that a file being written or truncated cannot remove them"
                    .into(),
            ),
        }]));
    }
    Ok(policies)
}

/// The file is not there (nor where its link led), and the directory it was in is.
fn deleted_from_its_directory(path: &Path, error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::NotFound
        && path
            .parent()
            .map(|dir| {
                if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                }
            })
            .is_some_and(Path::is_dir)
}
