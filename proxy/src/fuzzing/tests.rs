use super::target::check_normal_target;
use super::*;
use crate::config::EscapedSlashes;
use crate::http::path;

/// The seed corpus of one target, from `proxy/fuzz/corpus/`.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("seed");
            (p.display().to_string(), bytes)
        })
        .collect()
}

#[test]
fn every_seed_of_every_target_runs_clean() {
    type Target = (&'static str, fn(&[u8]));
    let targets: [Target; 12] = [
        ("http1_head", http1_head),
        ("http1_chunked", http1_chunked),
        ("h2_frames", h2_frames),
        ("hpack", hpack),
        ("request_target", request_target),
        ("cilium_policy", cilium_policy),
        ("xds_resources", xds_resources),
        ("dns_message", dns_message),
        ("dns_name", dns_name),
        ("kafka_request", kafka_request),
        ("spiffe_id", spiffe_id),
        ("svid", svid),
    ];
    for (target, run) in targets {
        for (name, seed) in corpus(target) {
            let caught = std::panic::catch_unwind(|| run(&seed));
            assert!(caught.is_ok(), "{target}: {name}");
        }
    }
}

#[test]
fn the_fuzzing_policy_compiles() {
    let _ = http_policy();
}

/// The property `request_target` asserts holds on the spellings policy cares about.
#[test]
fn normalised_targets_are_normal_and_normalise_to_themselves() {
    for target in [
        "/",
        "/a/b",
        "/public/../private/secret",
        "/v1/./admin/x",
        "/v1//admin/x",
        "//",
        "///a//b///",
        "/../../etc",
        "/a/b/..",
        "/a/b/.",
        "/..",
        "/.",
        "/a/%2e%2e/b",
        "/a/%2E./b",
        "/a/.%2e",
        "/%2e",
        "/%2e%2e/%2e%2e/x",
        "/v1/%61dmin/x",
        "/a%2fb/../c",
        "/a/%2F/../b",
        "/%7euser/%41",
        "/caf%C3%A9/%2e",
        "/ü/./x",
        "/a/..b/.c/...",
        "/a/../b?q=/../x//y",
        "/a//b?",
        "/?x",
        "/%25%32%65/x",
        "/a/%2e%2e%2f/b",
        "*",
        "http://host/a/../b",
        "",
    ] {
        for slashes in [EscapedSlashes::Reject, EscapedSlashes::Decode] {
            match path::normalize(target, slashes) {
                Ok(normal) => check_normal_target(target, &normal, slashes),
                // Refused only for an escaped slash, and only when asked to refuse it.
                Err(_) => assert!(
                    slashes == EscapedSlashes::Reject
                        && target.to_ascii_lowercase().contains("%2f"),
                    "{target:?} refused with {slashes:?}"
                ),
            }
        }
    }
}

/// The property is about the path: the query and targets that are not origin-form pass
/// through unchanged, `//` and dot segments included.
#[test]
fn queries_and_other_forms_keep_their_text() {
    assert_eq!(
        path::normalize("/a/../b?q=/../x//y", EscapedSlashes::Reject).expect("valid"),
        "/b?q=/../x//y"
    );
    assert_eq!(
        path::normalize("*", EscapedSlashes::Reject).expect("valid"),
        "*"
    );
    assert_eq!(
        path::normalize("a//b/../c", EscapedSlashes::Reject).expect("valid"),
        "a//b/../c"
    );
}
