//! gRPC recognition by `content-type: application/grpc[+proto|+json|...]`; service and method come
//! from `:path` via `sockmesh_policy::GrpcCall::from_path`.

use http::{HeaderMap, header};

pub fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| is_grpc_content_type(v.as_bytes()))
}

/// `application/grpc`, optionally with `+format` or parameters, in any case.
pub fn is_grpc_content_type(v: &[u8]) -> bool {
    v.len() >= 16
        && v[..16].eq_ignore_ascii_case(b"application/grpc")
        && matches!(v.get(16), None | Some(b'+') | Some(b';'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_grpc_content_types() {
        let mut h = HeaderMap::new();
        for (ct, yes) in [
            ("application/grpc", true),
            ("application/grpc+proto", true),
            ("application/grpc-web", false),
            ("application/json", false),
        ] {
            h.insert(header::CONTENT_TYPE, ct.parse().unwrap());
            assert_eq!(is_grpc(&h), yes, "{ct}");
        }
    }
}
