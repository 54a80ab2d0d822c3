use std::borrow::Cow;

use super::{BadPath, normalize};
use crate::config::EscapedSlashes::{self, Decode, Reject};

fn norm_with(p: &str, slashes: EscapedSlashes) -> String {
    normalize(p, slashes).expect("valid").into_owned()
}

fn norm(p: &str) -> String {
    norm_with(p, Reject)
}

#[test]
fn normal_paths_are_borrowed() {
    for p in [
        "/",
        "/a/b",
        "/a/b/",
        "/api/v1/items?x=1&y=/../z",
        "/a?b=%2F%5c",
        "/file.txt",
        "/a/.hidden",
        "/a/..b",
        "/a/%C3%A9",
        "*",
    ] {
        for slashes in [Reject, Decode] {
            assert!(matches!(normalize(p, slashes), Ok(Cow::Borrowed(_))), "{p}");
        }
    }
}

#[test]
fn dot_segments_and_repeated_slashes_resolve() {
    assert_eq!(norm("/public/../private/secret"), "/private/secret");
    assert_eq!(norm("/v1/./admin/x"), "/v1/admin/x");
    assert_eq!(norm("/v1//admin/x"), "/v1/admin/x");
    assert_eq!(norm("/../../etc"), "/etc");
    assert_eq!(norm("/a/b/.."), "/a/");
    assert_eq!(norm("/a/b/."), "/a/b/");
    assert_eq!(norm("/.."), "/");
    assert_eq!(norm("//"), "/");
    assert_eq!(norm("/a/../b?q=/../x"), "/b?q=/../x");
}

#[test]
fn escapes_of_unreserved_characters_decode_and_others_upper_case() {
    assert_eq!(norm("/v1/%61dmin/x"), "/v1/admin/x");
    assert_eq!(norm("/public/%2e%2e/private"), "/private");
    assert_eq!(norm("/public/%2E./private"), "/private");
    assert_eq!(norm("/a%3fb"), "/a%3Fb");
    assert_eq!(norm("/%7euser/%41"), "/~user/A");
    assert_eq!(norm("/caf%C3%A9/%2e"), "/caf%C3%A9/");
    assert_eq!(norm("/ü/./x"), "/ü/x");
}

#[test]
fn escaped_slashes_are_refused_by_default() {
    for p in [
        "/a%2Fb",
        "/a%2fb",
        "/a%5Cb",
        "/a%5cb",
        "/public/..%2fprivate",
        "/public/%2e%2e%2fprivate",
        "/a%2F",
        "/x/%2e/%5c?q",
    ] {
        assert_eq!(normalize(p, Reject), Err(BadPath::EscapedSlash), "{p}");
    }
}

#[test]
fn decoded_escaped_slashes_are_normalised_like_any_slash() {
    assert_eq!(norm_with("/public/..%2fprivate/x", Decode), "/private/x");
    assert_eq!(norm_with("/public/..%5Cprivate/x", Decode), "/private/x");
    assert_eq!(norm_with("/public/%2e%2e%2Fprivate", Decode), "/private");
    assert_eq!(norm_with("/a%2Fb?c=%2F", Decode), "/a/b?c=%2F");
    assert_eq!(norm_with("/a%2F%2F%5Cb", Decode), "/a/b");
    assert_eq!(norm_with("/a%2F", Decode), "/a/");
}

#[test]
fn broken_escapes_are_refused() {
    for p in ["/a%", "/a%2", "/a%zz", "/a%2g/b", "/a%2F%zz"] {
        assert_eq!(normalize(p, Decode), Err(BadPath::InvalidEscape), "{p}");
    }
    for p in ["/a%", "/a%2", "/a%zz", "/a%2g/b"] {
        assert_eq!(normalize(p, Reject), Err(BadPath::InvalidEscape), "{p}");
    }
}
