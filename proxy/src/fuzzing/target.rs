//! The request-target target: normalisation as policy checks and
//! the upstream receives it.

use std::borrow::Cow;

use sockmesh_policy::GrpcCall;

use crate::config::EscapedSlashes;
use crate::http::path;

/// `request_target`: a request target (UTF-8) through the path normalisation that policy checks
/// and the upstream receives. For an origin-form target (one starting with `/`) the result's
/// path has no `.` or `..` segment and no `//`, its query is the input's, and normalising it
/// again changes nothing; an escaped slash is refused, or (in `decode` mode) decoded. Anything else (`*`; absolute-form, which the data path never
/// normalises) comes back as it is.
pub fn request_target(data: &[u8]) {
    let Ok(target) = std::str::from_utf8(data) else {
        return;
    };
    for slashes in [EscapedSlashes::Reject, EscapedSlashes::Decode] {
        let Ok(normal) = path::normalize(target, slashes) else {
            continue;
        };
        check_normal_target(target, &normal, slashes);
        // gRPC calls are read off the same path.
        let _ = GrpcCall::from_path(&normal);
    }
}

/// The property [`request_target`] asserts, shared with the unit tests.
pub(super) fn check_normal_target(target: &str, normal: &str, slashes: EscapedSlashes) {
    let split = |t: &'_ str| -> (String, String) {
        match t.find('?') {
            Some(i) => (t[..i].to_owned(), t[i..].to_owned()),
            None => (t.to_owned(), String::new()),
        }
    };
    let (path_in, query_in) = split(target);
    let (path_out, query_out) = split(normal);
    if !path_in.starts_with('/') {
        assert_eq!(normal, target);
        return;
    }
    assert!(path_out.starts_with('/'), "{target:?} -> {normal:?}");
    assert_eq!(query_out, query_in, "{target:?} -> {normal:?}");
    assert!(!path_out.contains("//"), "{target:?} -> {normal:?}");
    // An escaped slash is refused or decoded: either way the path checked has none.
    let lower = path_out.to_ascii_lowercase();
    assert!(
        !lower.contains("%2f") && !lower.contains("%5c"),
        "{target:?} -> {normal:?}"
    );
    assert!(
        !path_out.split('/').any(|s| s == "." || s == ".."),
        "{target:?} -> {normal:?}"
    );
    assert!(
        matches!(path::normalize(normal, slashes), Ok(Cow::Borrowed(n)) if n == normal),
        "{target:?} -> {normal:?} -> {:?}",
        path::normalize(normal, slashes)
    );
}
