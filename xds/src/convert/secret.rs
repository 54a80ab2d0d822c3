//! `envoy.extensions.transport_sockets.tls.v3.Secret` <-> [`domain::Secret`].
//!
//! Only the two kinds mTLS needs are accepted: a `tls_certificate` (chain and key) and a
//! `validation_context` (trusted CA). Material is inline bytes/strings or a file path; environment
//! variables are refused because the sidecar's environment is not the control plane's business.

use envoy_types::pb::envoy::config::core::v3::{DataSource as PbDataSource, data_source};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, Secret, TlsCertificate, secret,
};

use crate::domain::{self, DataSource, SecretKind};

/// Why a Secret cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretConvertError {
    #[error("empty name; every secret needs a name")]
    EmptyName,
    #[error("unsupported secret type {0}; send a tls_certificate or a validation_context")]
    UnsupportedType(&'static str),
    #[error("{0}: missing; set inline_bytes, inline_string or filename")]
    Missing(&'static str),
    #[error(
        "{0}: environment_variable data sources are not supported; use inline_bytes, inline_string or filename"
    )]
    EnvironmentVariable(&'static str),
}

fn source(
    ds: Option<&PbDataSource>,
    field: &'static str,
) -> Result<DataSource, SecretConvertError> {
    match ds.and_then(|d| d.specifier.as_ref()) {
        Some(data_source::Specifier::InlineBytes(b)) => Ok(DataSource::Inline(b.clone())),
        Some(data_source::Specifier::InlineString(s)) => {
            Ok(DataSource::Inline(s.as_bytes().to_vec()))
        }
        Some(data_source::Specifier::Filename(f)) if !f.is_empty() => {
            Ok(DataSource::File(f.into()))
        }
        Some(data_source::Specifier::EnvironmentVariable(_)) => {
            Err(SecretConvertError::EnvironmentVariable(field))
        }
        _ => Err(SecretConvertError::Missing(field)),
    }
}

fn pb_source(ds: &DataSource) -> PbDataSource {
    PbDataSource {
        specifier: Some(match ds {
            DataSource::Inline(b) => data_source::Specifier::InlineBytes(b.clone()),
            DataSource::File(p) => data_source::Specifier::Filename(p.display().to_string()),
        }),
        ..Default::default()
    }
}

/// Converts a `Secret`.
pub fn secret_to_domain(s: &Secret) -> Result<domain::Secret, SecretConvertError> {
    if s.name.is_empty() {
        return Err(SecretConvertError::EmptyName);
    }
    let kind = match &s.r#type {
        Some(secret::Type::TlsCertificate(c)) => SecretKind::Certificate {
            certificate_chain: source(
                c.certificate_chain.as_ref(),
                "tls_certificate.certificate_chain",
            )?,
            private_key: source(c.private_key.as_ref(), "tls_certificate.private_key")?,
        },
        Some(secret::Type::ValidationContext(v)) => SecretKind::ValidationContext {
            trusted_ca: source(v.trusted_ca.as_ref(), "validation_context.trusted_ca")?,
        },
        Some(secret::Type::SessionTicketKeys(_)) => {
            return Err(SecretConvertError::UnsupportedType("session_ticket_keys"));
        }
        Some(secret::Type::GenericSecret(_)) => {
            return Err(SecretConvertError::UnsupportedType("generic_secret"));
        }
        None => return Err(SecretConvertError::UnsupportedType("(none)")),
    };
    Ok(domain::Secret {
        name: s.name.clone(),
        kind,
    })
}

/// The control plane's form of a domain secret.
pub fn secret_from_domain(s: &domain::Secret) -> Secret {
    let r#type = match &s.kind {
        SecretKind::Certificate {
            certificate_chain,
            private_key,
        } => secret::Type::TlsCertificate(TlsCertificate {
            certificate_chain: Some(pb_source(certificate_chain)),
            private_key: Some(pb_source(private_key)),
            ..Default::default()
        }),
        SecretKind::ValidationContext { trusted_ca } => {
            secret::Type::ValidationContext(CertificateValidationContext {
                trusted_ca: Some(pb_source(trusted_ca)),
                ..Default::default()
            })
        }
    };
    Secret {
        name: s.name.clone(),
        r#type: Some(r#type),
    }
}
