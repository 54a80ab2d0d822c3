//! Workload identities for Sockmesh: SPIFFE IDs carried in X.509 URI SANs, a development CA
//! (`sockmesh certs ...`) and, next, rotation without restart.
//!
//! Why a crate of its own: certificate handling has its own failure modes (expiry, rotation,
//! trust bundles, hostile peer certificates) and must be testable without sockets. It feeds the
//! proxy's TLS listeners and upstreams, and gives policy the peer's identity labels.
//!
//! - [`SpiffeId`]: the one spelling the SPIFFE standard allows, and the labels Cilium gives a
//!   Kubernetes workload, derived from `/ns/NS/sa/SA`.
//! - [`Svid`]: a peer certificate read as an X509-SVID (exactly one URI SAN, no CA).
//! - [`dev_ca`]: `init` and `issue`, files written atomically with private keys at 0600.

pub mod dev_ca;
mod error;
mod spiffe;
mod svid;

pub use error::CertError;
pub use spiffe::{MAX_LEN, NAMESPACE_LABEL, SERVICE_ACCOUNT_LABEL, SpiffeId};
pub use svid::Svid;
