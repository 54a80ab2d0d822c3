//! SPIFFE IDs (`spiffe://TRUST-DOMAIN/PATH`), read as the SPIFFE ID standard writes them, and
//! the labels policy matches them by.
//!
//! The standard is strict on purpose, and so is this parser: a lower-case scheme and trust
//! domain of `[a-z0-9.-_]`, path segments of `[A-Za-z0-9.-_]` that are neither empty nor `.`
//! or `..`, no port, user info, query or fragment, at most 2,048 bytes. Two spellings of one
//! identity would be two identities to policy; refusing every other spelling keeps them one.
//!
//! Kubernetes workloads get `spiffe://TRUST-DOMAIN/ns/NAMESPACE/sa/ACCOUNT` (Istio, Linkerd,
//! SPIRE's k8s registrar). [`SpiffeId::labels`] gives such an ID the labels Cilium gives the
//! pod's identity, so that `fromEndpoints` selectors written for Cilium match it unchanged.

use std::collections::BTreeMap;
use std::fmt;

use crate::CertError;

/// The longest SPIFFE ID taken, in bytes (the standard's bound for URIs in SVIDs).
pub const MAX_LEN: usize = 2048;
/// The longest trust domain taken, in bytes (a DNS name's bound).
pub const MAX_TRUST_DOMAIN: usize = 255;

/// The label Cilium puts a pod's namespace in.
pub const NAMESPACE_LABEL: &str = "k8s:io.kubernetes.pod.namespace";
/// The label Cilium puts a pod's service account in.
pub const SERVICE_ACCOUNT_LABEL: &str = "k8s:io.cilium.k8s.policy.serviceaccount";

/// A SPIFFE ID, in the one spelling the standard allows.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpiffeId {
    id: String,
    /// Where the path starts in `id` (its length when there is none).
    path_at: usize,
}

impl SpiffeId {
    /// Reads `text` as a SPIFFE ID; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<SpiffeId, CertError> {
        let bad = |reason: &str| CertError::SpiffeId {
            id: shorten(text),
            reason: reason.to_owned(),
        };
        if text.len() > MAX_LEN {
            return Err(bad("is longer than 2048 bytes"));
        }
        let rest = text
            .strip_prefix("spiffe://")
            .ok_or_else(|| bad("does not start with `spiffe://` (lower case)"))?;
        let path_at = rest.find('/').unwrap_or(rest.len());
        let (domain, path) = rest.split_at(path_at);
        check_trust_domain(domain).map_err(|r| bad(&r))?;
        check_path(path).map_err(|r| bad(&r))?;
        Ok(SpiffeId {
            id: text.to_owned(),
            path_at: "spiffe://".len() + path_at,
        })
    }

    /// The trust domain (`example.org`).
    pub fn trust_domain(&self) -> &str {
        &self.id["spiffe://".len()..self.path_at]
    }

    /// The path (`/ns/prod/sa/web`), empty for a trust domain's own ID.
    pub fn path(&self) -> &str {
        &self.id[self.path_at..]
    }

    pub fn as_str(&self) -> &str {
        &self.id
    }

    /// The namespace and service account of a Kubernetes-style ID (`/ns/NS/sa/SA`).
    pub fn k8s_service_account(&self) -> Option<(&str, &str)> {
        let mut parts = self.path().strip_prefix('/')?.split('/');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("ns"), Some(ns), Some("sa"), Some(sa)) if parts.next().is_none() => {
                Some((ns, sa))
            }
            _ => None,
        }
    }

    /// The labels policy matches this identity by: for a Kubernetes-style ID, the namespace and
    /// service account labels Cilium gives the pod; else none (an identity table may add some).
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::new();
        if let Some((ns, sa)) = self.k8s_service_account() {
            labels.insert(NAMESPACE_LABEL.to_owned(), ns.to_owned());
            labels.insert(SERVICE_ACCOUNT_LABEL.to_owned(), sa.to_owned());
        }
        labels
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

impl std::str::FromStr for SpiffeId {
    type Err = CertError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SpiffeId::parse(s)
    }
}

fn check_trust_domain(domain: &str) -> Result<(), String> {
    if domain.is_empty() {
        return Err("has no trust domain".to_owned());
    }
    if domain.len() > MAX_TRUST_DOMAIN {
        return Err("has a trust domain longer than 255 bytes".to_owned());
    }
    if let Some(c) = domain
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '.' | '-' | '_'))
    {
        let why = match c {
            ':' => "a port".to_owned(),
            '@' => "user info".to_owned(),
            '?' | '#' => "a query or fragment".to_owned(),
            'A'..='Z' => "upper case (trust domains are lower case)".to_owned(),
            c => format!("the character {c:?}"),
        };
        return Err(format!("has {why} in its trust domain"));
    }
    Ok(())
}

fn check_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Ok(());
    }
    for segment in path.split('/').skip(1) {
        match segment {
            "" => return Err("has an empty path segment (`//` or a trailing `/`)".to_owned()),
            "." | ".." => return Err("has a `.` or `..` path segment".to_owned()),
            _ => {}
        }
        if let Some(c) = segment
            .chars()
            .find(|c| !matches!(c, 'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' | '_'))
        {
            let why = match c {
                '?' | '#' => "a query or fragment".to_owned(),
                '%' => "a percent-encoded character".to_owned(),
                c => format!("the character {c:?}"),
            };
            return Err(format!("has {why} in its path"));
        }
    }
    Ok(())
}

/// `text` cut for an error message (a hostile ID can be long).
fn shorten(text: &str) -> String {
    let mut end = text.len().min(120);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    if end < text.len() {
        format!("{}...", &text[..end])
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_standard_spelling_is_taken() {
        let id = SpiffeId::parse("spiffe://cluster.local/ns/prod/sa/web").expect("valid");
        assert_eq!(id.trust_domain(), "cluster.local");
        assert_eq!(id.path(), "/ns/prod/sa/web");
        assert_eq!(id.k8s_service_account(), Some(("prod", "web")));
        let labels = id.labels();
        assert_eq!(labels[NAMESPACE_LABEL], "prod");
        assert_eq!(labels[SERVICE_ACCOUNT_LABEL], "web");
        let domain = SpiffeId::parse("spiffe://example.org").expect("a trust domain's ID");
        assert_eq!((domain.trust_domain(), domain.path()), ("example.org", ""));
        let other = SpiffeId::parse("spiffe://example.org/workload/Batch_1.x-y").expect("valid");
        assert!(other.labels().is_empty() && other.k8s_service_account().is_none());
        assert!(
            SpiffeId::parse("spiffe://td/ns/a/sa/b/extra")
                .expect("valid")
                .k8s_service_account()
                .is_none()
        );
    }

    #[test]
    fn every_other_spelling_is_refused_with_the_reason() {
        for (bad, reason) in [
            ("SPIFFE://td/x", "spiffe://"),
            ("https://td/x", "spiffe://"),
            ("spiffe:///x", "no trust domain"),
            ("spiffe://TD/x", "upper case"),
            ("spiffe://td:8080/x", "a port"),
            ("spiffe://user@td/x", "user info"),
            ("spiffe://td/x?y=1", "query"),
            ("spiffe://td/x#y", "query"),
            ("spiffe://td/", "empty path segment"),
            ("spiffe://td//x", "empty path segment"),
            ("spiffe://td/x/", "empty path segment"),
            ("spiffe://td/./x", "`.`"),
            ("spiffe://td/x/..", "`..`"),
            ("spiffe://td/x%41", "percent"),
            ("spiffe://td/é", "character"),
            ("spiffe://td/a b", "character"),
        ] {
            let e = SpiffeId::parse(bad).expect_err(bad).to_string();
            assert!(e.contains(reason), "{bad}: {e}");
        }
        let long = format!("spiffe://td/{}", "a".repeat(MAX_LEN));
        let e = SpiffeId::parse(&long).expect_err("too long").to_string();
        assert!(e.contains("2048") && e.len() < 300, "{e}");
        let domain = format!("spiffe://{}/x", "a".repeat(256));
        assert!(SpiffeId::parse(&domain).is_err());
    }

    proptest! {
        /// Whatever the input, parsing returns (no panic), and what it takes prints back as
        /// itself and parses again to the same parts.
        #[test]
        fn parsing_round_trips(text in "(spiffe://)?[a-zA-Z0-9._:@/%?#-]{0,40}") {
            if let Ok(id) = SpiffeId::parse(&text) {
                prop_assert_eq!(id.to_string(), text.clone());
                let again = SpiffeId::parse(id.as_str()).expect("reparses");
                prop_assert_eq!(again.trust_domain(), id.trust_domain());
                prop_assert_eq!(again.path(), id.path());
            }
        }
    }
}
