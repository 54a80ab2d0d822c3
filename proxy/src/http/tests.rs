use http::{HeaderMap, HeaderValue, header};

use super::headers::{remove_underscored, strip_hop_by_hop, take_connection_named, wants_upgrade};
use super::respond;
use crate::config::HeadersWithUnderscores;
use crate::failure::{Failure, GrpcCode};

#[test]
fn hop_by_hop_headers_never_cross_the_proxy() {
    let mut h = HeaderMap::new();
    h.insert(
        header::CONNECTION,
        HeaderValue::from_static("keep-alive, x-secret"),
    );
    h.insert("x-secret", HeaderValue::from_static("1"));
    h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
    h.insert(
        header::TRANSFER_ENCODING,
        HeaderValue::from_static("chunked"),
    );
    h.insert(header::TE, HeaderValue::from_static("gzip"));
    h.insert("x-kept", HeaderValue::from_static("yes"));
    strip_hop_by_hop(&mut h, false);
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h["x-kept"], "yes");
}

#[test]
fn connection_tokens_name_headers_to_drop_in_any_case_and_spacing() {
    let mut h = HeaderMap::new();
    h.append(header::CONNECTION, HeaderValue::from_static("Close ,X-Foo"));
    h.append(
        header::CONNECTION,
        HeaderValue::from_static(" keep-alive,,x-bar "),
    );
    h.insert("x-foo", HeaderValue::from_static("1"));
    h.insert("x-bar", HeaderValue::from_static("2"));
    h.insert("proxy-connection", HeaderValue::from_static("keep-alive"));
    h.insert(
        "http2-settings",
        HeaderValue::from_static("AAMAAABkAAQAAP__"),
    );
    h.insert(header::UPGRADE, HeaderValue::from_static("h2c"));
    h.insert("x-kept", HeaderValue::from_static("yes"));
    strip_hop_by_hop(&mut h, false);
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h["x-kept"], "yes");
}

/// Before policy: the fields `Connection` names go, and so do their names, so a field set later
/// (a rule's header action) survives `strip_hop_by_hop`; `Host` and the framing stay or the
/// request is refused.
#[test]
fn connection_named_fields_go_before_policy_and_host_and_framing_never_do() {
    let mut h = HeaderMap::new();
    h.append(
        header::CONNECTION,
        HeaderValue::from_static("close, X-Tenant"),
    );
    h.append(header::CONNECTION, HeaderValue::from_static("Upgrade,te"));
    h.insert("x-tenant", HeaderValue::from_static("b"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    take_connection_named(&mut h).expect("allowed");
    assert!(!h.contains_key("x-tenant"));
    assert_eq!(h[header::CONNECTION], "close, Upgrade, te");
    assert!(wants_upgrade(&h));
    // A rule's action sets it again: it now crosses the proxy.
    h.insert("x-tenant", HeaderValue::from_static("a"));
    strip_hop_by_hop(&mut h, false);
    assert_eq!(h["x-tenant"], "a");

    for named in [
        "close, Host",
        "HOST",
        "keep-alive, content-length",
        "Transfer-Encoding",
    ] {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("web"));
        h.insert(header::CONNECTION, HeaderValue::from_static(named));
        assert!(take_connection_named(&mut h).is_err(), "{named}");
    }
    // Only its own tokens: nothing to do.
    let mut h = HeaderMap::new();
    h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
    take_connection_named(&mut h).expect("allowed");
    assert_eq!(h[header::CONNECTION], "keep-alive");
}

#[test]
fn underscored_names_are_kept_dropped_or_refused() {
    let fields = || {
        let mut h = HeaderMap::new();
        h.insert("x_evil", HeaderValue::from_static("yes"));
        h.append("x_evil", HeaderValue::from_static("again"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        h
    };
    let mut h = fields();
    remove_underscored(&mut h, HeadersWithUnderscores::Allow).expect("allowed");
    assert_eq!(h.len(), 3);
    let mut h = fields();
    remove_underscored(&mut h, HeadersWithUnderscores::Drop).expect("allowed");
    assert_eq!(h.len(), 1);
    assert_eq!(h["x-kept"], "1");
    let mut h = fields();
    assert!(remove_underscored(&mut h, HeadersWithUnderscores::Reject).is_err());
    let mut plain = HeaderMap::new();
    plain.insert("x-kept", HeaderValue::from_static("1"));
    remove_underscored(&mut plain, HeadersWithUnderscores::Reject).expect("no underscore");
}

#[test]
fn te_trailers_survives_for_grpc() {
    let mut h = HeaderMap::new();
    h.insert(header::TE, HeaderValue::from_static("trailers"));
    strip_hop_by_hop(&mut h, false);
    assert_eq!(h[header::TE], "trailers");
}

#[test]
fn upgrade_passthrough_keeps_upgrade_headers() {
    let mut h = HeaderMap::new();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    assert!(wants_upgrade(&h));
    strip_hop_by_hop(&mut h, true);
    assert_eq!(h[header::UPGRADE], "websocket");
    assert_eq!(h[header::CONNECTION], "upgrade");
}

#[test]
fn grpc_denial_is_trailers_only_permission_denied() {
    let resp = respond::failure(true, Failure::Denied, "default/p: ingress[0]");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["grpc-status"], "7");
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/grpc");
    let msg = resp.headers()["grpc-message"].to_str().unwrap();
    assert!(msg.contains("default/p: ingress[0]"), "{msg}");
    let resp = respond::grpc_status(GrpcCode::Unavailable, "50% down\n");
    assert_eq!(resp.headers()["grpc-message"], "50%25 down%0A");
}

#[test]
fn http_denial_is_403_access_denied() {
    let resp = respond::failure(false, Failure::Denied, "default-deny (ingress)");
    assert_eq!(resp.status(), 403);
}
