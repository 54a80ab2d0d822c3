//! A peer's X.509 certificate read as an X509-SVID: the one SPIFFE ID it names, and when it is
//! valid.
//!
//! The X509-SVID standard says a leaf carries exactly one URI SAN, its SPIFFE ID, and is no CA.
//! A certificate with two URI SANs could claim two identities, and policy would have to pick
//! one: it is refused, as SPIRE's and Istio's verifiers refuse it. Chain and signature checks
//! are rustls's (against the trust bundle); this reads what they do not: who the peer is.

use time::OffsetDateTime;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::{CertError, SpiffeId};

/// What a verified peer certificate says about the peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Svid {
    pub id: SpiffeId,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl Svid {
    /// Reads the DER certificate `der` as a leaf X509-SVID.
    pub fn from_der(der: &[u8]) -> Result<Svid, CertError> {
        let (rest, cert) = X509Certificate::from_der(der)
            .map_err(|e| CertError::Certificate(format!("not an X.509 certificate: {e}")))?;
        if !rest.is_empty() {
            return Err(CertError::Certificate(format!(
                "{} bytes after the certificate",
                rest.len()
            )));
        }
        if cert.is_ca() {
            return Err(CertError::Certificate(
                "a CA certificate is no workload identity (basicConstraints CA:true)".to_owned(),
            ));
        }
        let sans = cert
            .subject_alternative_name()
            .map_err(|e| CertError::Certificate(format!("unreadable subjectAltName: {e}")))?
            .ok_or_else(|| CertError::NoSpiffeId("no subjectAltName".to_owned()))?;
        let mut uris = sans.value.general_names.iter().filter_map(|n| match n {
            GeneralName::URI(uri) => Some(*uri),
            _ => None,
        });
        let uri = uris
            .next()
            .ok_or_else(|| CertError::NoSpiffeId("no URI in subjectAltName".to_owned()))?;
        if uris.next().is_some() {
            return Err(CertError::NoSpiffeId(
                "more than one URI in subjectAltName (an X509-SVID has exactly one)".to_owned(),
            ));
        }
        let id = SpiffeId::parse(uri)?;
        if id.path().is_empty() {
            return Err(CertError::NoSpiffeId(format!(
                "{id} names a trust domain, not a workload"
            )));
        }
        let validity = cert.validity();
        Ok(Svid {
            id,
            not_before: validity.not_before.to_datetime(),
            not_after: validity.not_after.to_datetime(),
        })
    }

    /// Why the certificate is not valid at `now`, if it is not ("expired at ...", "not valid
    /// before ..."): the words the handshake failure's log line uses.
    pub fn invalid_at(&self, now: OffsetDateTime) -> Option<String> {
        if now > self.not_after {
            return Some(format!("expired at {}", self.not_after));
        }
        if now < self.not_before {
            return Some(format!("not valid before {}", self.not_before));
        }
        None
    }
}
