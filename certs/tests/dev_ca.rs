//! The development CA and the certificates it issues, read back as a peer's would be.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{CertificateParams, KeyPair, SanType};
use sockmesh_certs::dev_ca::{self, DEFAULT_VALIDITY};
use sockmesh_certs::{CertError, NAMESPACE_LABEL, SERVICE_ACCOUNT_LABEL, SpiffeId, Svid};
use x509_parser::prelude::{FromDer, X509Certificate};

/// A directory removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("sockmesh-certs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

fn der(pem_path: &Path) -> Vec<u8> {
    let text = std::fs::read(pem_path).expect("read");
    let (_, pem) = x509_parser::pem::parse_x509_pem(&text).expect("PEM");
    pem.contents
}

#[test]
fn init_then_issue_makes_a_verifiable_svid_with_private_keys() {
    let dir = Dir::new("issue");
    let ca = dev_ca::init(&dir.0.join("ca"), "cluster.local", false).expect("init");
    assert_eq!(mode(&ca.key), 0o600);
    assert_eq!(mode(&ca.cert), 0o644);
    let id = SpiffeId::parse("spiffe://cluster.local/ns/prod/sa/web").expect("id");
    let out = dir.0.join("web");
    let files = dev_ca::issue(&dir.0.join("ca"), &id, &out, DEFAULT_VALIDITY).expect("issue");
    assert_eq!(mode(&files.key), 0o600);
    assert_eq!(
        std::fs::read(&files.bundle).expect("bundle"),
        std::fs::read(&ca.cert).expect("ca")
    );
    let leaf = der(&files.cert);
    let svid = Svid::from_der(&leaf).expect("an X509-SVID");
    assert_eq!(svid.id, id);
    let labels = svid.id.labels();
    assert_eq!(labels[NAMESPACE_LABEL], "prod");
    assert_eq!(labels[SERVICE_ACCOUNT_LABEL], "web");
    let now = time::OffsetDateTime::now_utc();
    assert_eq!(svid.invalid_at(now), None);
    let later = now + time::Duration::days(2);
    assert!(
        svid.invalid_at(later)
            .is_some_and(|w| w.starts_with("expired at"))
    );
    let earlier = now - time::Duration::hours(1);
    assert!(
        svid.invalid_at(earlier)
            .is_some_and(|w| w.starts_with("not valid before"))
    );
    // Signed by the CA: its signature verifies with the CA's key.
    let ca_der = der(&ca.cert);
    let (_, ca_cert) = X509Certificate::from_der(&ca_der).expect("CA parses");
    let (_, leaf_cert) = X509Certificate::from_der(&leaf).expect("leaf parses");
    leaf_cert
        .verify_signature(Some(ca_cert.public_key()))
        .expect("signed by the CA");
    assert!(ca_cert.is_ca() && !leaf_cert.is_ca());
    // No file was left behind half-written.
    let names: Vec<String> = std::fs::read_dir(&out)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
}

#[test]
fn a_ca_is_not_replaced_unless_forced_and_signs_its_own_trust_domain_only() {
    let dir = Dir::new("refuse");
    let ca_dir = dir.0.join("ca");
    dev_ca::init(&ca_dir, "example.org", false).expect("init");
    let first = std::fs::read(ca_dir.join("ca.crt")).expect("ca");
    let e = dev_ca::init(&ca_dir, "example.org", false).expect_err("kept");
    assert!(e.to_string().contains("--force"), "{e}");
    assert_eq!(std::fs::read(ca_dir.join("ca.crt")).expect("ca"), first);
    dev_ca::init(&ca_dir, "example.org", true).expect("forced");
    assert_ne!(std::fs::read(ca_dir.join("ca.crt")).expect("ca"), first);

    let other = SpiffeId::parse("spiffe://other.org/ns/a/sa/b").expect("id");
    let e = dev_ca::issue(&ca_dir, &other, &dir.0.join("x"), DEFAULT_VALIDITY).expect_err("td");
    assert!(
        e.to_string().contains("`example.org`, not `other.org`"),
        "{e}"
    );
    let domain_only = SpiffeId::parse("spiffe://example.org").expect("id");
    let e = dev_ca::issue(&ca_dir, &domain_only, &dir.0.join("x"), DEFAULT_VALIDITY)
        .expect_err("no path");
    assert!(e.to_string().contains("names a trust domain"), "{e}");
    assert!(dev_ca::init(&dir.0.join("bad"), "Bad.Domain", false).is_err());
    assert!(dev_ca::init(&dir.0.join("bad"), "td/path", false).is_err());
    let missing = dev_ca::issue(
        &dir.0.join("none"),
        &other,
        &dir.0.join("x"),
        Duration::ZERO,
    );
    assert!(
        matches!(missing, Err(CertError::File { .. })),
        "{missing:?}"
    );
}

fn self_signed(sans: Vec<SanType>, ca: bool) -> Vec<u8> {
    let mut params = CertificateParams::default();
    params.subject_alt_names = sans;
    if ca {
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    }
    let key = KeyPair::generate().expect("key");
    params.self_signed(&key).expect("cert").der().to_vec()
}

fn uri(s: &str) -> SanType {
    SanType::URI(s.try_into().expect("ia5"))
}

#[test]
fn certificates_that_are_no_x509_svid_are_refused_with_the_reason() {
    let cases = [
        (self_signed(vec![], false), "no subjectAltName"),
        (
            self_signed(
                vec![SanType::DnsName("web".try_into().expect("dns"))],
                false,
            ),
            "no URI",
        ),
        (
            self_signed(vec![uri("spiffe://td/a"), uri("spiffe://td/b")], false),
            "more than one URI",
        ),
        (self_signed(vec![uri("https://td/a")], false), "spiffe://"),
        (self_signed(vec![uri("spiffe://td")], false), "trust domain"),
        (
            self_signed(vec![uri("spiffe://td/a")], true),
            "CA certificate",
        ),
        (b"not a certificate".to_vec(), "not an X.509"),
    ];
    for (der, why) in cases {
        let e = Svid::from_der(&der).expect_err(why).to_string();
        assert!(e.contains(why), "{why}: {e}");
    }
    let mut trailing = self_signed(vec![uri("spiffe://td/a")], false);
    assert!(Svid::from_der(&trailing).is_ok());
    trailing.push(0);
    let e = Svid::from_der(&trailing).expect_err("trailing").to_string();
    assert!(e.contains("after the certificate"), "{e}");
    for cut in [1, 10, trailing.len() / 2, trailing.len() - 2] {
        assert!(Svid::from_der(&trailing[..cut]).is_err(), "cut at {cut}");
    }
}
