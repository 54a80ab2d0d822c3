use super::chunked::{Chunked, Scan};
use super::head::{self, Framing, ParsedRequest, ParsedResponse};
use crate::config::{HeadersWithUnderscores, HttpSettings};
use crate::http::sanitize::Reading;

const PLAIN: Reading = Reading {
    settings: HttpSettings {
        escaped_slashes: crate::config::EscapedSlashes::Reject,
        headers_with_underscores: HeadersWithUnderscores::Drop,
    },
    tls: false,
};

fn request(raw: &str) -> Option<(String, u64, bool)> {
    request_read(raw, &PLAIN)
}

fn request_read(raw: &str, reading: &Reading) -> Option<(String, u64, bool)> {
    let mut storage = head::storage();
    match head::parse_request(raw.as_bytes(), &mut storage, reading) {
        ParsedRequest::Fast(r) => {
            let mut out = Vec::new();
            head::write_request(&r, &mut out);
            Some((String::from_utf8(out).expect("utf8"), r.body, r.close))
        }
        ParsedRequest::Slow => None,
        ParsedRequest::Partial => panic!("partial: {raw:?}"),
    }
}

#[test]
fn plain_requests_take_the_fast_path_without_hop_by_hop_fields() {
    let (out, body, close) = request(
        "GET /a?b=1 HTTP/1.1\r\nHost: web\r\nConnection: keep-alive\r\nKeep-Alive: 5\r\nX-A: 1\r\n\r\n",
    )
    .expect("fast");
    assert_eq!(out, "GET /a?b=1 HTTP/1.1\r\nHost: web\r\nX-A: 1\r\n\r\n");
    assert_eq!((body, close), (0, false));
    let (_, body, close) =
        request("POST /p HTTP/1.1\r\nHost: w\r\nContent-Length: 5\r\nConnection: close\r\n\r\n")
            .expect("fast");
    assert_eq!((body, close), (5, true));
    let (_, body, _) = request("POST /p HTTP/1.1\r\nHost: w\r\nContent-Length: 65536\r\n\r\n")
        .expect("a 64 KiB body is fast");
    assert_eq!(body, 65536);
}

#[test]
fn everything_else_goes_to_hyper() {
    for raw in [
        "GET / HTTP/1.0\r\nHost: w\r\n\r\n",
        "GET http://w/ HTTP/1.1\r\nHost: w\r\n\r\n",
        "CONNECT w:443 HTTP/1.1\r\nHost: w\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: w\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: w\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: w\r\nContent-Length: 0\r\nContent-Length: 40\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: \u{e9}\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: \u{e9}\r\nHost: w\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: w\r\nContent-Length: +5\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: w\r\nContent-Length: 65537\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: w\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: w\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: w\r\nConnection: x-secret\r\nX-Secret: 1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: w\r\nTE: trailers\r\n\r\n",
        "GET / HTTP/1.1\r\nHost w\r\n\r\n",
        // Hosts that are not a plain host[:port]: checked (and refused) by the hyper path.
        "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: u@w\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: w/x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: w:80:80\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a%2fb\r\n\r\n",
        // Hosts, paths and fields the hyper path rewrites or refuses.
        "GET / HTTP/1.1\r\nHost: Web\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: web.\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: web:\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: web:80\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: web:080\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a..b\r\n\r\n",
        "GET /a%2fb HTTP/1.1\r\nHost: w\r\n\r\n",
        "GET /a%5C HTTP/1.1\r\nHost: w\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: w\r\nX_Evil: yes\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: w\r\nConnection: close, Host\r\n\r\n",
    ] {
        assert!(request(raw).is_none(), "took the fast path: {raw:?}");
    }
}

#[test]
fn the_settings_decide_what_is_plain() {
    let raw = "GET /a?q=%2F HTTP/1.1\r\nHost: w:8080\r\nX_A: 1\r\n\r\n";
    assert!(request(raw).is_none());
    let allow = Reading {
        settings: HttpSettings {
            headers_with_underscores: HeadersWithUnderscores::Allow,
            ..PLAIN.settings
        },
        ..PLAIN
    };
    let (out, ..) = request_read(raw, &allow).expect("fast when underscores are allowed");
    assert_eq!(
        out,
        "GET /a?q=%2F HTTP/1.1\r\nHost: w:8080\r\nX_A: 1\r\n\r\n"
    );
    // On a TLS connection 443 is the default port, 80 is not.
    let tls = Reading { tls: true, ..PLAIN };
    let raw = "GET / HTTP/1.1\r\nHost: w:80\r\n\r\n";
    assert!(request_read(raw, &tls).is_some());
    let raw = "GET / HTTP/1.1\r\nHost: w:443\r\n\r\n";
    assert!(request_read(raw, &tls).is_none());
}

#[test]
fn an_incomplete_head_is_partial() {
    let mut storage = head::storage();
    assert!(matches!(
        head::parse_request(b"GET / HTTP/1.1\r\nHost: w\r\n", &mut storage, &PLAIN),
        ParsedRequest::Partial
    ));
}

fn response(raw: &str, head_request: bool, close: bool) -> Result<(Framing, bool, String), String> {
    let mut out = Vec::new();
    match head::parse_response(raw.as_bytes(), head_request, close, &mut out) {
        ParsedResponse::Done(r) => Ok((
            r.framing,
            r.upstream_close,
            String::from_utf8(out).expect("utf8"),
        )),
        ParsedResponse::Invalid(why) => Err(why.to_owned()),
        ParsedResponse::Partial => Err("partial".to_owned()),
    }
}

#[test]
fn response_framing_follows_rfc_9112() {
    let ok = |raw: &str, head: bool| response(raw, head, false).expect("valid").0;
    assert_eq!(
        ok("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", false),
        Framing::Length(3)
    );
    assert_eq!(
        ok("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", true),
        Framing::Empty
    );
    assert_eq!(
        ok("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false),
        Framing::Empty
    );
    assert_eq!(ok("HTTP/1.1 204 No Content\r\n\r\n", false), Framing::Empty);
    assert_eq!(
        ok("HTTP/1.1 304 Not Modified\r\n\r\n", false),
        Framing::Empty
    );
    assert_eq!(
        ok("HTTP/1.1 103 Early Hints\r\n\r\n", false),
        Framing::Empty
    );
    assert_eq!(
        ok(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            false
        ),
        Framing::Chunked
    );
    let (framing, upstream_close, head) =
        response("HTTP/1.1 200 OK\r\n\r\n", false, false).expect("valid");
    assert_eq!(framing, Framing::UntilClose);
    assert!(upstream_close);
    assert!(head.ends_with("connection: close\r\n\r\n"), "{head}");
    for bad in [
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
    ] {
        assert!(response(bad, false, false).is_err(), "accepted {bad:?}");
    }
}

#[test]
fn framing_fields_stay_even_when_connection_names_them() {
    let (framing, _, head) = response(
        "HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 2\r\n\r\n",
        false,
        false,
    )
    .expect("valid");
    assert_eq!(framing, Framing::Length(2));
    assert!(head.contains("Content-Length: 2\r\n"), "{head}");
}

#[test]
fn response_heads_lose_hop_by_hop_fields() {
    let (_, upstream_close, head) = response(
        "HTTP/1.1 200 OK\r\nConnection: close, x-secret\r\nX-Secret: 1\r\nKeep-Alive: 5\r\nContent-Length: 2\r\nX-Kept: 1\r\n\r\n",
        false,
        true,
    )
    .expect("valid");
    assert!(upstream_close);
    assert_eq!(
        head,
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Kept: 1\r\nconnection: close\r\n\r\n"
    );
}

fn scan_all(body: &[u8], step: usize) -> Result<Option<usize>, &'static str> {
    let mut c = Chunked::default();
    for (i, part) in body.chunks(step).enumerate() {
        if let Scan::End(n) = c.scan_data(part, |_| {})? {
            return Ok(Some(i * step + n));
        }
    }
    Ok(None)
}

#[test]
fn chunked_bodies_end_where_rfc_9112_says() {
    let body = b"5\r\nhello\r\n6;name=v\r\n world\r\n0\r\nX-T: 1\r\n\r\nNEXT";
    for step in [1, 2, 3, 7, body.len()] {
        assert_eq!(
            scan_all(body, step),
            Ok(Some(body.len() - 4)),
            "step {step}"
        );
    }
    assert_eq!(scan_all(b"0\r\n\r\n", 1), Ok(Some(5)));
    assert_eq!(scan_all(b"A\r\n0123456789", 4), Ok(None));
    for bad in [
        &b"x\r\n"[..],
        b"5\r\nhelloXX",
        b"\r\n",
        b"FFFFFFFFFFFFFFFFF\r\n",
        b"5\nhello",
        b"0\r\nX\n",
    ] {
        assert!(scan_all(bad, 1).is_err(), "accepted {bad:?}");
    }
    assert!(scan_all(&[b'1'; 5000], 64).is_err(), "endless size line");
}

#[test]
fn chunked_bodies_give_their_data_and_trailers_in_any_split() {
    let body = b"5\r\nhello\r\n6;name=v\r\n world\r\n0\r\nX-T: 1\r\nGrpc-Status: 0\r\n\r\n";
    for step in [1, 2, 3, 7, body.len()] {
        let mut c = Chunked::keeping_trailers();
        let mut data = Vec::new();
        let mut end = None;
        for (i, part) in body.chunks(step).enumerate() {
            let scan = c
                .scan_data(part, |r| data.extend_from_slice(&part[r]))
                .expect("valid");
            if let Scan::End(n) = scan {
                end = Some(i * step + n);
            }
        }
        assert_eq!(end, Some(body.len()), "step {step}");
        assert_eq!(data, b"hello world", "step {step}");
        assert_eq!(
            c.take_trailers(),
            b"X-T: 1\r\nGrpc-Status: 0\r\n",
            "step {step}"
        );
    }
    let mut plain = Chunked::keeping_trailers();
    assert_eq!(plain.scan_data(b"0\r\n\r\n", |_| {}), Ok(Scan::End(5)));
    assert!(plain.take_trailers().is_empty());
    let mut huge = Chunked::keeping_trailers();
    let mut endless = b"0\r\n".to_vec();
    for _ in 0..1000 {
        endless.extend_from_slice(b"X-Long: 0123456789012345678901\r\n");
    }
    assert!(
        huge.scan_data(&endless, |_| {}).is_err(),
        "unbounded trailers"
    );
}

/// The fast path forwards a `Host` that `plain_host` accepts without the hyper path's check:
/// every such value must pass that check too, or the two paths would disagree on a request;
/// and one it also takes as canonical must be left as it is by the hyper path.
#[test]
fn a_host_the_fast_path_forwards_is_one_the_hyper_path_accepts() {
    use crate::http::host::{canonical, is_canonical};
    use crate::http::sanitize::is_host_port;
    const ALPHABET: &[u8] = b"a7-._~!$&'()*+,;=:@[]/%? 0A8";
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut accepted = 0;
    for _ in 0..200_000 {
        let len = (next() % 9) as usize;
        let v: String = (0..len)
            .map(|_| char::from(ALPHABET[(next() % ALPHABET.len() as u64) as usize]))
            .collect();
        if !v.is_empty() && head::plain_host(&v) {
            accepted += 1;
            assert!(
                is_host_port(v.as_bytes()),
                "{v:?}: fast path forwards it, hyper path refuses it"
            );
            if is_canonical(&v, 80) {
                assert!(
                    matches!(canonical(&v, 80), Ok(std::borrow::Cow::Borrowed(_))),
                    "{v:?}: fast path forwards it, hyper path rewrites it"
                );
            }
        }
    }
    assert!(
        accepted > 1_000,
        "too few values accepted to mean anything: {accepted}"
    );
    for ok in ["web", "web:8080", "10.0.0.1:80", "a.b-c_d~e"] {
        assert!(head::plain_host(ok), "{ok}");
    }
    for slow in ["a:1:2", "[::1]:80", "a b", "a@b", "a/b", "a%20"] {
        assert!(!head::plain_host(slow), "{slow}");
    }
}
