//! `sockmesh certs init` and `sockmesh certs issue` as a user runs them, checked with OpenSSL:
//! the workload certificate verifies against the bundle, carries the SPIFFE ID as its one URI
//! SAN, serves both TLS ends, and its key is private to its owner.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use sockmesh_tests::{TempDir, bin, require};

fn sockmesh(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("run sockmesh")
}

fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

#[test]
fn init_and_issue_make_a_workload_certificate_openssl_verifies() {
    require("openssl", "apt-get install -y openssl");
    let dir = TempDir::new("certs");
    let ca = dir.path().join("ca").display().to_string();
    let web = dir.path().join("web");
    let out = sockmesh(&[
        "certs",
        "init",
        "--dir",
        &ca,
        "--trust-domain",
        "example.org",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = sockmesh(&[
        "certs",
        "issue",
        "--ca-dir",
        &ca,
        "--spiffe-id",
        "spiffe://example.org/ns/prod/sa/web",
        "--out",
        &web.display().to_string(),
        "--valid-for",
        "2h",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cert = web.join("cert.pem").display().to_string();
    let bundle = web.join("bundle.pem").display().to_string();
    assert_eq!(mode(&web.join("key.pem")), 0o600);
    assert_eq!(mode(&dir.path().join("ca/ca.key")), 0o600);
    let verified = openssl(&["verify", "-CAfile", &bundle, &cert]);
    assert!(verified.contains(": OK"), "{verified}");
    for purpose in ["sslserver", "sslclient"] {
        let ok = openssl(&["verify", "-purpose", purpose, "-CAfile", &bundle, &cert]);
        assert!(ok.contains(": OK"), "{purpose}: {ok}");
    }
    let text = openssl(&[
        "x509",
        "-in",
        &cert,
        "-noout",
        "-ext",
        "subjectAltName,basicConstraints",
    ]);
    assert!(
        text.contains("URI:spiffe://example.org/ns/prod/sa/web"),
        "{text}"
    );
    assert_eq!(text.matches("URI:").count(), 1, "{text}");
    assert!(text.contains("CA:FALSE"), "{text}");
    // The key is the certificate's.
    let key = web.join("key.pem").display().to_string();
    assert_eq!(
        openssl(&["pkey", "-in", &key, "-pubout"]),
        openssl(&["x509", "-in", &cert, "-noout", "-pubkey"])
    );
    // Valid for two hours (backdated five minutes for clock skew).
    let two_hours = openssl(&["x509", "-in", &cert, "-noout", "-checkend", "7000"]);
    assert!(two_hours.contains("will not expire"), "{two_hours}");
    let cmd = Command::new("openssl")
        .args(["x509", "-in", &cert, "-noout", "-checkend", "7600"])
        .output()
        .expect("run openssl");
    assert!(!cmd.status.success(), "valid for more than two hours");
}

#[test]
fn bad_ids_and_missing_cas_are_refused_with_the_reason() {
    let dir = TempDir::new("certs-bad");
    let ca = dir.path().join("ca").display().to_string();
    let out_dir = dir.path().join("x").display().to_string();
    let issue = |id: &str, ca: &str| {
        sockmesh(&[
            "certs",
            "issue",
            "--ca-dir",
            ca,
            "--spiffe-id",
            id,
            "--out",
            &out_dir,
        ])
    };
    let out = issue("spiffe://Example.org/x", &ca);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("upper case"), "{err}");
    let out = issue("spiffe://example.org/x", &ca);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ca.crt") && err.contains("No such file"),
        "{err}"
    );
    assert!(sockmesh(&["certs", "init", "--dir", &ca]).status.success());
    let again = sockmesh(&["certs", "init", "--dir", &ca]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    let out = issue("spiffe://example.org/x", &ca);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`cluster.local`, not `example.org`"),
        "the default trust domain is cluster.local: {err}"
    );
    assert!(!Path::new(&out_dir).join("key.pem").exists());
}
