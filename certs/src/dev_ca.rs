//! A development CA on disk: `sockmesh certs init` makes one, `sockmesh certs issue` signs
//! workload certificates (X509-SVIDs) with it. For laptops and tests; a cluster's identities
//! come from its control plane over SDS.
//!
//! Files: `ca.crt` (0644) and `ca.key` (0600) in the CA directory; `cert.pem` (the workload's
//! certificate), `key.pem` (0600) and `bundle.pem` (the CA, the trust bundle a peer checks it
//! against) in the workload's. Each file is written to a temporary name in its directory and
//! renamed into place, so a sidecar watching the directory never reads half a file. Keys are
//! ECDSA P-256 (what rustls, Envoy and SPIRE all take; ring makes them).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::OffsetDateTime;

use crate::{CertError, SpiffeId};

/// How long the development CA is valid.
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// How long a workload certificate is valid unless asked otherwise (a day, as SPIRE's default
/// X509-SVID TTL is an hour and Istio's a day: short, and rotated).
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(24 * 3600);
/// Clock skew allowed for: certificates are valid from this long before they are made.
const BACKDATE: Duration = Duration::from_secs(300);

/// The files `init` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CaFiles {
    pub fn in_dir(dir: &Path) -> CaFiles {
        CaFiles {
            cert: dir.join("ca.crt"),
            key: dir.join("ca.key"),
        }
    }
}

/// The files `issue` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub bundle: PathBuf,
}

impl WorkloadFiles {
    pub fn in_dir(dir: &Path) -> WorkloadFiles {
        WorkloadFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            bundle: dir.join("bundle.pem"),
        }
    }
}

/// Makes a CA for `trust_domain` in `dir` (created if missing). An existing CA is kept unless
/// `force`: replacing it would orphan every certificate it signed.
pub fn init(dir: &Path, trust_domain: &str, force: bool) -> Result<CaFiles, CertError> {
    let domain = SpiffeId::parse(&format!("spiffe://{trust_domain}"))?;
    if !domain.path().is_empty() {
        return Err(CertError::Issue(format!(
            "`{trust_domain}` is not a trust domain (it has a path)"
        )));
    }
    let files = CaFiles::in_dir(dir);
    if !force && (files.cert.exists() || files.key.exists()) {
        return Err(CertError::file(
            &files.cert,
            "a CA is already there (pass --force to replace it and orphan what it signed)",
        ));
    }
    fs::create_dir_all(dir).map_err(|e| CertError::file(dir, e))?;
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "Sockmesh development CA");
    name.push(DnType::CommonName, format!("{} CA", domain.trust_domain()));
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.subject_alt_names = vec![uri_san(&domain)?];
    set_validity(&mut params, CA_VALIDITY)?;
    let key = KeyPair::generate().map_err(issue_error)?;
    let cert = params.self_signed(&key).map_err(issue_error)?;
    write_atomic(&files.key, key.serialize_pem().as_bytes(), 0o600)?;
    write_atomic(&files.cert, cert.pem().as_bytes(), 0o644)?;
    Ok(files)
}

/// Signs a certificate for `id` with the CA in `ca_dir`, valid for `valid_for`, and writes it
/// with its key and the trust bundle into `out` (created if missing).
pub fn issue(
    ca_dir: &Path,
    id: &SpiffeId,
    out: &Path,
    valid_for: Duration,
) -> Result<WorkloadFiles, CertError> {
    if id.path().is_empty() {
        return Err(CertError::Issue(format!(
            "{id} names a trust domain; a workload's ID has a path (spiffe://{}/ns/NS/sa/SA)",
            id.trust_domain()
        )));
    }
    let ca = CaFiles::in_dir(ca_dir);
    let ca_pem = read(&ca.cert)?;
    let ca_key = KeyPair::from_pem(&read(&ca.key)?)
        .map_err(|e| CertError::file(&ca.key, format!("not a private key in PEM: {e}")))?;
    let ca_domain = ca_trust_domain(&ca_pem).map_err(|e| CertError::file(&ca.cert, e))?;
    if ca_domain != id.trust_domain() {
        return Err(CertError::Issue(format!(
            "the CA in {} is for trust domain `{ca_domain}`, not `{}`",
            ca_dir.display(),
            id.trust_domain()
        )));
    }
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key)
        .map_err(|e| CertError::file(&ca.cert, format!("not a CA certificate: {e}")))?;
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "Sockmesh workload");
    params.distinguished_name = name;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.subject_alt_names = vec![uri_san(id)?];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, valid_for)?;
    let key = KeyPair::generate().map_err(issue_error)?;
    let cert = params.signed_by(&key, &issuer).map_err(issue_error)?;
    fs::create_dir_all(out).map_err(|e| CertError::file(out, e))?;
    let files = WorkloadFiles::in_dir(out);
    write_atomic(&files.key, key.serialize_pem().as_bytes(), 0o600)?;
    write_atomic(&files.bundle, ca_pem.as_bytes(), 0o644)?;
    // The certificate last: a sidecar watching the directory reloads on it, key in place.
    write_atomic(&files.cert, cert.pem().as_bytes(), 0o644)?;
    Ok(files)
}

fn uri_san(id: &SpiffeId) -> Result<SanType, CertError> {
    let uri = id
        .as_str()
        .try_into()
        .map_err(|e| CertError::Issue(format!("{id} cannot be a URI SAN: {e}")))?;
    Ok(SanType::URI(uri))
}

fn set_validity(params: &mut CertificateParams, valid_for: Duration) -> Result<(), CertError> {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now
        .checked_add(time::Duration::try_from(valid_for).map_err(issue_error)?)
        .ok_or_else(|| CertError::Issue(format!("a validity of {valid_for:?} is too long")))?;
    Ok(())
}

/// The trust domain a CA certificate (PEM) names in its URI SAN.
fn ca_trust_domain(pem: &str) -> Result<String, String> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| format!("not a certificate in PEM: {e}"))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let sans = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .ok_or("names no trust domain (no subjectAltName)")?;
    sans.value
        .general_names
        .iter()
        .find_map(|n| match n {
            x509_parser::extensions::GeneralName::URI(u) => SpiffeId::parse(u).ok(),
            _ => None,
        })
        .map(|id| id.trust_domain().to_owned())
        .ok_or_else(|| "names no trust domain (no spiffe:// URI)".to_owned())
}

fn read(path: &Path) -> Result<String, CertError> {
    fs::read_to_string(path).map_err(|e| CertError::file(path, e))
}

fn issue_error(e: impl std::fmt::Display) -> CertError {
    CertError::Issue(e.to_string())
}

/// Writes `bytes` to `path` through a temporary file in the same directory, with `mode`.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CertError> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let written = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .and_then(|mut f| {
            // The mode given to open is masked by the umask; set it as asked.
            f.set_permissions(fs::Permissions::from_mode(mode))?;
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, path));
    written.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        CertError::file(path, e)
    })
}
