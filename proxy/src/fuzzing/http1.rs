//! The HTTP/1.1 targets: request and response heads, chunked bodies.

use std::borrow::Cow;

use sockmesh_policy::HttpRequest;

use super::{conn, http_policy};
use crate::config::HttpSettings;
use crate::http::fast::chunked::{Chunked, Scan};
use crate::http::fast::head::{self, FieldView, ParsedRequest, ParsedResponse};
use crate::http::path;
use crate::http::sanitize::Reading;

/// How the fuzzed requests are read: the default settings, over plain TCP.
const READING: Reading = Reading {
    settings: HttpSettings {
        escaped_slashes: crate::config::EscapedSlashes::Reject,
        headers_with_underscores: crate::config::HeadersWithUnderscores::Drop,
    },
    tls: false,
};

/// `http1_head`: the input as an HTTP/1.1 request head (the fast path's parser, then the head it
/// writes upstream, then the policy check) and as a response head (for a GET and for a HEAD
/// request). No control byte: a seed is a plain request or response.
pub fn http1_head(data: &[u8]) {
    http1_request(data);
    http1_response(data, false, false);
    http1_response(data, true, true);
}

fn http1_request(data: &[u8]) {
    let mut storage = head::storage();
    let ParsedRequest::Fast(req) = head::parse_request(data, &mut storage, &READING) else {
        return;
    };
    // What the fast path relays itself it must have checked: an origin-form target already
    // normal, a body it may buffer whole, a head inside the buffer.
    assert!(req.len <= data.len());
    assert!(req.body <= head::MAX_BODY);
    assert!(req.target.starts_with('/'), "{:?}", req.target);
    assert!(
        matches!(
            path::normalize(req.target, READING.settings.escaped_slashes),
            Ok(Cow::Borrowed(_))
        ),
        "{:?}",
        req.target
    );
    // The head written upstream is one the fast path reads back as the same request.
    let mut out = Vec::new();
    head::write_request(&req, &mut out);
    let mut again_storage = head::storage();
    match head::parse_request(&out, &mut again_storage, &READING) {
        ParsedRequest::Fast(again) => {
            assert_eq!(
                (again.method, again.target, again.host, again.body),
                (req.method, req.target, req.host, req.body)
            );
            assert_eq!(again.len, out.len());
        }
        _ => panic!("written head does not parse back: {:?}", out.escape_ascii()),
    }
    let view = FieldView(req.headers);
    let _ = sockmesh_policy::Headers::get(&view, "x-team");
    let request = HttpRequest {
        method: req.method,
        path: req.target,
        host: Some(req.host),
        headers: &view,
        grpc: None,
    };
    let v = http_policy().check_http(&conn(), &request);
    let _ = v.rule.as_str();
}

fn http1_response(data: &[u8], head_request: bool, close_client: bool) {
    let mut out = Vec::new();
    let ParsedResponse::Done(resp) =
        head::parse_response(data, head_request, close_client, &mut out)
    else {
        return;
    };
    assert!(resp.len <= data.len());
    // What goes to the client is a complete head with the same status, and, read again, the
    // same framing: the body that follows is relayed as it came.
    let mut fields = [httparse::EMPTY_HEADER; 128];
    let mut parsed = httparse::Response::new(&mut fields);
    match parsed.parse(&out) {
        Ok(httparse::Status::Complete(n)) => assert_eq!(n, out.len()),
        other => panic!(
            "written head does not parse: {other:?}: {:?}",
            out.escape_ascii()
        ),
    }
    assert_eq!(parsed.code, Some(resp.status));
    if let ParsedResponse::Done(again) =
        head::parse_response(&out, head_request, false, &mut Vec::new())
    {
        assert_eq!(again.framing, resp.framing, "{:?}", out.escape_ascii());
    }
}

/// `http1_chunked`: a chunked body as the fast path's upstream side scans it. Byte 0: bit 0 keeps
/// the trailer section (as for an HTTP/2 client); bits 1-7 + 1 are the size of each read. The
/// body is also scanned in one read: both must agree on where it ends, its data and trailers.
pub fn http1_chunked(data: &[u8]) {
    let Some((&control, body)) = data.split_first() else {
        return;
    };
    let keep = control & 1 != 0;
    let read = usize::from(control >> 1) + 1;
    let in_pieces = scan_chunked(body, read, keep);
    let whole = scan_chunked(body, body.len().max(1), keep);
    assert_eq!(in_pieces, whole);
}

/// Where the body ended (`Ok(None)`: not yet), its de-chunked data, its trailers.
type ChunkedScan = (Result<Option<usize>, &'static str>, Vec<u8>, Vec<u8>);

fn scan_chunked(body: &[u8], read: usize, keep: bool) -> ChunkedScan {
    let mut scanner = if keep {
        Chunked::keeping_trailers()
    } else {
        Chunked::default()
    };
    let mut content = Vec::new();
    let mut at = 0;
    let mut end = Ok(None);
    for piece in body.chunks(read) {
        let scanned = scanner.scan_data(piece, |range| content.extend_from_slice(&piece[range]));
        match scanned {
            Ok(Scan::More) => at += piece.len(),
            Ok(Scan::End(n)) => {
                assert!(n <= piece.len());
                end = Ok(Some(at + n));
                break;
            }
            Err(e) => {
                end = Err(e);
                break;
            }
        }
    }
    (end, content, scanner.take_trailers())
}
