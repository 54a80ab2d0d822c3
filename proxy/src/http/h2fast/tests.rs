use std::net::SocketAddr;

use http::Request;

use super::exchange::{RequestBody, request_head};

fn head(req: Request<()>, body: RequestBody) -> String {
    let (parts, ()) = req.into_parts();
    let endpoint: SocketAddr = "10.0.0.1:8080".parse().expect("addr");
    let mut out = Vec::new();
    request_head(&parts, body, endpoint, &mut out);
    String::from_utf8(out).expect("utf8")
}

#[test]
fn authority_becomes_host_and_hop_by_hop_fields_stay_behind() {
    let req = Request::get("http://web.local:80/a?b=1")
        .header("host", "other")
        .header("te", "trailers")
        .header("x-a", "1")
        .body(())
        .expect("request");
    assert_eq!(
        head(req, RequestBody::None),
        "GET /a?b=1 HTTP/1.1\r\nhost: web.local:80\r\nx-a: 1\r\n\r\n"
    );
}

#[test]
fn without_authority_the_host_field_or_the_endpoint_is_the_host() {
    let req = Request::get("/x")
        .header("host", "h")
        .body(())
        .expect("request");
    assert!(head(req, RequestBody::None).contains("\r\nhost: h\r\n"));
    let req = Request::get("/x").body(()).expect("request");
    assert!(head(req, RequestBody::None).contains("\r\nhost: 10.0.0.1:8080\r\n"));
}

#[test]
fn cookies_split_by_http2_are_joined_for_http1() {
    let req = Request::get("http://w/")
        .header("cookie", "a=1")
        .header("cookie", "b=2")
        .body(())
        .expect("request");
    let out = head(req, RequestBody::None);
    assert!(out.contains("\r\ncookie: a=1; b=2\r\n"), "{out}");
    assert_eq!(out.matches("cookie").count(), 1, "{out}");
}

#[test]
fn a_body_is_sent_with_the_length_checked_or_chunked() {
    // The length written is the one decided on: the client's own field is not copied too.
    let req = Request::post("http://w/p")
        .header("content-length", "5")
        .body(())
        .expect("request");
    let out = head(req, RequestBody::Length(5));
    assert_eq!(out.matches("content-length").count(), 1, "{out}");
    assert!(out.contains("content-length: 5\r\n"), "{out}");

    let req = Request::post("http://w/p").body(()).expect("request");
    let out = head(req, RequestBody::Chunked);
    assert!(out.contains("transfer-encoding: chunked\r\n"), "{out}");
    assert!(!out.contains("content-length"), "{out}");

    // A bodiless POST keeps its client's `content-length: 0` (once).
    let req = Request::post("http://w/p")
        .header("content-length", "0")
        .body(())
        .expect("request");
    let out = head(req, RequestBody::None);
    assert_eq!(out.matches("content-length: 0\r\n").count(), 1, "{out}");

    // A POST without a body says so; a GET says nothing.
    let req = Request::post("http://w/p").body(()).expect("request");
    assert!(head(req, RequestBody::None).contains("content-length: 0\r\n"));
    let req = Request::get("http://w/p").body(()).expect("request");
    assert!(!head(req, RequestBody::None).contains("content-length"));
}

/// A header block's fields made into a request, or why it is malformed.
fn request(fields: &[(&str, &str)]) -> Result<Request<()>, &'static str> {
    let mut arena = bytes::BytesMut::new();
    super::request::start_block(&mut arena);
    let mut h = super::request::Head::default();
    for (n, v) in fields {
        h.field(&mut arena, n.as_bytes(), v.as_bytes());
    }
    h.into_request(&mut arena)
}

fn get(path: &str) -> [(&'static str, &str); 4] {
    [
        (":method", "GET"),
        (":scheme", "http"),
        (":authority", "w"),
        (":path", path),
    ]
}

#[test]
fn request_fields_follow_rfc9113_section_8() {
    let ok = request(&get("/a?b")).expect("valid");
    assert_eq!(ok.uri().path_and_query().map(|p| p.as_str()), Some("/a?b"));
    // :path must be origin form (or `*` for OPTIONS), without a fragment.
    for bad in ["?x", "*", "a", "/a#b"] {
        assert_eq!(request(&get(bad)).err(), Some("invalid :path"), "{bad}");
    }
    let options = [
        (":method", "OPTIONS"),
        (":scheme", "http"),
        (":authority", "w"),
        (":path", "*"),
    ];
    assert!(request(&options).is_ok());
    let mut f = get("/").to_vec();
    f.push(("x-a", " padded"));
    assert!(request(&f).is_err(), "leading whitespace");
    let mut f = get("/").to_vec();
    f.push(("Upper", "1"));
    assert_eq!(request(&f).err(), Some("uppercase field name"));
    let mut f = get("/").to_vec();
    f.push(("connection", "close"));
    assert_eq!(request(&f).err(), Some("connection-specific field"));
    let mut f = get("/").to_vec();
    f.extend([("content-length", "1"), ("content-length", "2")]);
    assert_eq!(request(&f).err(), Some("conflicting content-length fields"));
    // Pseudo-fields first, once each.
    let late = [(":method", "GET"), ("x", "1"), (":path", "/")];
    assert_eq!(
        request(&late).err(),
        Some("pseudo-header field after a regular field")
    );
    let twice = [(":method", "GET"), (":method", "GET")];
    assert_eq!(request(&twice).err(), Some("two :method fields"));
}
