//! Entry points for the fuzz targets (`proxy/fuzz/`): the codecs that read bytes from outside,
//! each called as the data path calls it. Not for the data path itself.
//!
//! Every function takes any bytes and returns without panicking. Where a codec promises more
//! than that (a rewrite that is idempotent, a head that survives being written out and read
//! again, a scan that does not depend on how the bytes were split into reads), the function
//! asserts it, so a broken promise is a crash the fuzzer reports like any other.
//! `docs/FUZZING.md` says which target calls which function and how an input is laid out; the
//! tests at the end replay the committed seed corpora (`proxy/fuzz/corpus/`) through them.

mod config;
mod dns;
mod h2;
mod http1;
mod identity;
mod kafka;
mod target;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

use sockmesh_policy::{CompiledPolicy, ConnMeta, Direction, L4Protocol, Labels};

pub use config::{cilium_policy, xds_resources};
pub use dns::{dns_message, dns_name};
pub use h2::{h2_frames, hpack};
pub use http1::{http1_chunked, http1_head};
pub use identity::{spiffe_id, svid};
pub use kafka::kafka_request;
pub use target::request_target;

pub(super) fn web_labels() -> Labels {
    [("app".to_owned(), "web".to_owned())].into_iter().collect()
}

pub(super) fn conn() -> ConnMeta {
    ConnMeta {
        direction: Direction::Ingress,
        peer: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 8080,
        protocol: L4Protocol::Tcp,
        identity: None,
    }
}

/// What the HTTP/1.1 requests are checked against: allow and deny rules on every field the
/// fast path hands the policy engine (method, path, host, header fields through [`FieldView`]).
const HTTP_POLICY: &str = r#"
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: fuzz-http
  namespace: shop
spec:
  endpointSelector:
    matchLabels:
      app: web
  ingress:
    - toPorts:
        - ports:
            - port: "8080"
              protocol: TCP
          rules:
            http:
              - method: GET
                path: "/(public|static)/.*"
              - method: POST
                path: /api/orders
                host: "web\\.shop(:[0-9]+)?"
                headers:
                  - "X-Team: checkout"
              - method: "PUT|PATCH"
                path: "/api/items/[0-9]+"
                headerMatches:
                  - name: X-Request-Id
  ingressDeny:
    - toPorts:
        - ports:
            - port: "8080"
          rules:
            http:
              - path: "/public/secret.*"
              - headers:
                  - "X-Debug"
"#;

pub(super) fn http_policy() -> &'static CompiledPolicy {
    static POLICY: OnceLock<CompiledPolicy> = OnceLock::new();
    POLICY.get_or_init(|| {
        let policies = sockmesh_policy::cilium::parse_documents("fuzz-http.yaml", HTTP_POLICY)
            .expect("the fuzzing policy parses");
        CompiledPolicy::compile(&policies, &web_labels()).expect("the fuzzing policy compiles")
    })
}
