//! What can be wrong with an identity, a certificate or the files that hold them.

use std::path::PathBuf;

/// Every failure of this crate; each says what was read and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("`{id}` is not a SPIFFE ID: it {reason}")]
    SpiffeId { id: String, reason: String },
    #[error("certificate: {0}")]
    Certificate(String),
    #[error("certificate names no SPIFFE ID: {0}")]
    NoSpiffeId(String),
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("{0}")]
    Issue(String),
}

impl CertError {
    pub(crate) fn file(path: &std::path::Path, reason: impl std::fmt::Display) -> CertError {
        CertError::File {
            path: path.to_owned(),
            reason: reason.to_string(),
        }
    }
}
