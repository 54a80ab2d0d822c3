use std::net::SocketAddr;

use http::Request;

use super::exchange::{BodyFraming, request_head};

fn head(req: Request<()>, ended: bool) -> (String, BodyFraming) {
    let (parts, ()) = req.into_parts();
    let endpoint: SocketAddr = "10.0.0.1:8080".parse().expect("addr");
    let mut out = Vec::new();
    let framing = request_head(&parts, ended, endpoint, &mut out).expect("head");
    (String::from_utf8(out).expect("utf8"), framing)
}

#[test]
fn authority_becomes_host_and_hop_by_hop_fields_stay_behind() {
    let req = Request::get("http://web.local:80/a?b=1")
        .header("host", "other")
        .header("te", "trailers")
        .header("x-a", "1")
        .body(())
        .expect("request");
    let (out, framing) = head(req, true);
    assert_eq!(
        out,
        "GET /a?b=1 HTTP/1.1\r\nhost: web.local:80\r\nx-a: 1\r\n\r\n"
    );
    assert_eq!(framing, BodyFraming::None);
}

#[test]
fn without_authority_the_host_field_or_the_endpoint_is_the_host() {
    let req = Request::get("/x")
        .header("host", "h")
        .body(())
        .expect("request");
    assert!(head(req, true).0.contains("\r\nhost: h\r\n"));
    let req = Request::get("/x").body(()).expect("request");
    assert!(head(req, true).0.contains("\r\nhost: 10.0.0.1:8080\r\n"));
}

#[test]
fn cookies_split_by_http2_are_joined_for_http1() {
    let req = Request::get("http://w/")
        .header("cookie", "a=1")
        .header("cookie", "b=2")
        .body(())
        .expect("request");
    let (out, _) = head(req, true);
    assert!(out.contains("\r\ncookie: a=1; b=2\r\n"), "{out}");
    assert_eq!(out.matches("cookie").count(), 1, "{out}");
}

#[test]
fn bodies_keep_their_length_or_are_chunked() {
    let req = Request::post("http://w/p")
        .header("content-length", "5")
        .body(())
        .expect("request");
    let (out, framing) = head(req, false);
    assert!(out.contains("content-length: 5\r\n"));
    assert_eq!(framing, BodyFraming::Length);

    let req = Request::post("http://w/p").body(()).expect("request");
    let (out, framing) = head(req, false);
    assert!(out.contains("transfer-encoding: chunked\r\n"), "{out}");
    assert_eq!(framing, BodyFraming::Chunked);

    // A POST whose HEADERS ended the stream says it has no body; a GET says nothing.
    let req = Request::post("http://w/p").body(()).expect("request");
    assert!(head(req, true).0.contains("content-length: 0\r\n"));
    let req = Request::get("http://w/p").body(()).expect("request");
    assert!(!head(req, true).0.contains("content-length"));
}

#[test]
fn connect_has_no_http1_form_here() {
    let (parts, ()) = Request::connect("w:443")
        .body(())
        .expect("request")
        .into_parts();
    let endpoint: SocketAddr = "10.0.0.1:8080".parse().expect("addr");
    let refused = request_head(&parts, false, endpoint, &mut Vec::new());
    assert_eq!(refused, Err(http::StatusCode::NOT_IMPLEMENTED));
}
