//! Identities from outside: SPIFFE IDs as text and peer certificates as DER (`sockmesh-certs`).

use sockmesh_certs::{SpiffeId, Svid};

/// `spiffe_id`: the bytes as a SPIFFE ID. What parses prints back as itself, parses again to
/// the same parts, and gives the Kubernetes labels only for `/ns/NS/sa/SA` paths.
pub fn spiffe_id(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(id) = SpiffeId::parse(text) else {
        return;
    };
    assert_eq!(id.as_str(), text);
    assert!(text.len() <= sockmesh_certs::MAX_LEN);
    let again = SpiffeId::parse(id.as_str()).expect("a parsed ID parses again");
    assert_eq!(again, id);
    assert_eq!(format!("spiffe://{}{}", id.trust_domain(), id.path()), text);
    let labels = id.labels();
    assert_eq!(labels.is_empty(), id.k8s_service_account().is_none());
}

/// `svid`: the bytes as a peer's DER certificate. A certificate taken has a workload SPIFFE
/// ID (with a path) that parses again; nothing panics, whatever the bytes.
pub fn svid(data: &[u8]) {
    let Ok(svid) = Svid::from_der(data) else {
        return;
    };
    assert!(!svid.id.path().is_empty());
    assert_eq!(
        SpiffeId::parse(svid.id.as_str()).ok().as_ref(),
        Some(&svid.id)
    );
    let _ = svid.invalid_at(svid.not_before);
}
