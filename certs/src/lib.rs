//! Workload identities for Sockmesh: SPIFFE IDs carried in X.509 URI SANs, a development CA
//! (`sockmesh certs ...`) and rotation without restart.
//!
//! Why a crate of its own: certificate handling has its own failure modes (expiry, rotation, trust
//! bundles) and must be testable without sockets. It feeds the proxy's TLS listeners and upstreams.
//! Empty until the mTLS issue; the proxy's listener and upstream seams already take a transport
//! layer so that TLS (and kTLS) plugs in without a rewrite.
