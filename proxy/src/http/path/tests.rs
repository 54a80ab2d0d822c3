use std::borrow::Cow;

use super::{InvalidEscape, normalize};

fn norm(p: &str) -> String {
    normalize(p).expect("valid").into_owned()
}

#[test]
fn normal_paths_are_borrowed() {
    for p in [
        "/",
        "/a/b",
        "/a/b/",
        "/api/v1/items?x=1&y=/../z",
        "/a/%2F/b",
        "/file.txt",
        "/a/.hidden",
        "/a/..b",
        "*",
    ] {
        assert!(matches!(normalize(p), Ok(Cow::Borrowed(_))), "{p}");
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
    assert_eq!(norm("/a%2fb"), "/a%2Fb");
    assert_eq!(norm("/%7euser/%41"), "/~user/A");
    assert_eq!(norm("/caf%C3%A9/%2e"), "/caf%C3%A9/");
    assert_eq!(norm("/ü/./x"), "/ü/x");
}

#[test]
fn broken_escapes_are_refused() {
    for p in ["/a%", "/a%2", "/a%zz", "/a%2g/b"] {
        assert_eq!(normalize(p), Err(InvalidEscape), "{p}");
    }
}
