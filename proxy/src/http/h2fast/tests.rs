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
