//! Entry points for the fuzz targets (`proxy/fuzz/`): the codecs that read bytes from outside,
//! each called as the data path calls it. Not for the data path itself.
//!
//! Every function takes any bytes and returns without panicking. Where a codec promises more
//! than that (a rewrite that is idempotent, a head that survives being written out and read
//! again, a scan that does not depend on how the bytes were split into reads), the function
//! asserts it, so a broken promise is a crash the fuzzer reports like any other.
//! `docs/FUZZING.md` says which target calls which function and how an input is laid out; the
//! tests at the end replay the committed seed corpora (`proxy/fuzz/corpus/`) through them.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

use bytes::BytesMut;
use sockmesh_policy::{
    CompiledPolicy, ConnMeta, Direction, GrpcCall, HttpRequest, L4Protocol, Labels, NoHeaders,
};

use crate::http::fast::chunked::{Chunked, Scan};
use crate::http::fast::head::{self, FieldView, ParsedRequest, ParsedResponse};
use crate::http::h2codec::frame::{self, Frame, FrameError};
use crate::http::h2codec::hpack;
use crate::http::path;

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
    let ParsedRequest::Fast(req) = head::parse_request(data, &mut storage) else {
        return;
    };
    // What the fast path relays itself it must have checked: an origin-form target already
    // normal, a body it may buffer whole, a head inside the buffer.
    assert!(req.len <= data.len());
    assert!(req.body <= head::MAX_BODY);
    assert!(req.target.starts_with('/'), "{:?}", req.target);
    assert!(
        matches!(path::normalize(req.target), Ok(Cow::Borrowed(_))),
        "{:?}",
        req.target
    );
    // The head written upstream is one the fast path reads back as the same request.
    let mut out = Vec::new();
    head::write_request(&req, &mut out);
    let mut again_storage = head::storage();
    match head::parse_request(&out, &mut again_storage) {
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

/// SETTINGS_HEADER_TABLE_SIZE and the header list limit of the data path (`h2fast`).
const TABLE_SIZE: usize = 4096;
const MAX_HEADER_LIST: usize = 64 * 1024;

/// `h2_frames`: frames after the connection preface, as the HTTP/2 connection reads them: taken
/// off a buffer that grows one read at a time, header blocks (HEADERS, CONTINUATION) joined and
/// HPACK-decoded with one decoder for the connection. Byte 0 + 1 is the size of each read; the
/// frames must come out the same as from one read of everything.
pub fn h2_frames(data: &[u8]) {
    let Some((&control, wire)) = data.split_first() else {
        return;
    };
    let read = usize::from(control) + 1;
    let in_pieces = read_frames(wire, read);
    let whole = read_frames(wire, wire.len().max(1));
    assert_eq!(in_pieces, whole);
}

/// What a connection did with the frames, one line each, up to the error that ends it.
fn read_frames(wire: &[u8], read: usize) -> Vec<String> {
    let mut seen = Vec::new();
    let mut buf = BytesMut::new();
    let mut decoder = hpack::Decoder::new(TABLE_SIZE);
    // A header block waiting for CONTINUATION: its stream and the fragments so far.
    let mut partial: Option<(u32, BytesMut)> = None;
    for piece in wire.chunks(read) {
        buf.extend_from_slice(piece);
        loop {
            let f = match frame::parse(&mut buf, frame::DEFAULT_MAX_FRAME) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                // A stream error resets that stream; the connection reads on (the frame is
                // consumed). Inside a header block it ends the connection, as any error does.
                Err(e @ FrameError::Stream(..)) if partial.is_none() => {
                    seen.push(format!("{e:?}"));
                    continue;
                }
                Err(e) => {
                    seen.push(format!("{e:?}"));
                    return seen;
                }
            };
            if partial.is_some() && !matches!(f, Frame::Continuation { .. }) {
                seen.push("expected CONTINUATION".into());
                return seen;
            }
            let block = match f {
                Frame::Data { ref data, flow, .. } => {
                    assert!(data.len() <= flow as usize);
                    None
                }
                Frame::Settings { ref params, .. } => {
                    assert_eq!(params.len() % 6, 0);
                    None
                }
                Frame::Headers {
                    stream,
                    ref block,
                    end_headers,
                    ..
                } => {
                    assert_ne!(stream, 0);
                    if end_headers {
                        Some(BytesMut::from(&block[..]))
                    } else {
                        partial = Some((stream, BytesMut::from(&block[..])));
                        None
                    }
                }
                Frame::Continuation {
                    stream,
                    ref block,
                    end_headers,
                } => {
                    let Some((first, mut joined)) = partial.take() else {
                        seen.push("CONTINUATION without HEADERS".into());
                        return seen;
                    };
                    if first != stream || joined.len() + block.len() > 2 * MAX_HEADER_LIST {
                        seen.push("bad CONTINUATION".into());
                        return seen;
                    }
                    joined.extend_from_slice(block);
                    if end_headers {
                        Some(joined)
                    } else {
                        partial = Some((first, joined));
                        None
                    }
                }
                _ => None,
            };
            seen.push(format!("{f:?}"));
            if let Some(block) = block {
                let mut fields = Vec::new();
                let decoded = decoder.decode(&block, MAX_HEADER_LIST, |n, v| {
                    fields.push((n.to_vec(), v.to_vec()));
                });
                seen.push(format!("{decoded:?} {fields:?}"));
                if decoded.is_err() {
                    return seen;
                }
            }
        }
    }
    seen
}

/// `hpack`: header blocks of one connection, decoded in order with one decoder (so the dynamic
/// table carries over). Byte 0: bits 0-1 pick the table size (4096, 4096, 256, 0) and bit 2 a
/// small header list limit (100 bytes); then blocks, each a 2-byte big-endian length and that
/// many bytes (the last takes what is left). Each block decoded whole is encoded again with the
/// response encoder's `field` and must decode, on a fresh decoder, to the same fields.
pub fn hpack(data: &[u8]) {
    let Some((&control, mut rest)) = data.split_first() else {
        return;
    };
    let table = [TABLE_SIZE, TABLE_SIZE, 256, 0][usize::from(control & 3)];
    let max_list = if control & 4 != 0 {
        100
    } else {
        MAX_HEADER_LIST
    };
    let mut decoder = hpack::Decoder::new(table);
    while !rest.is_empty() {
        let (block, tail) = match rest {
            [hi, lo, tail @ ..] => {
                let len = usize::from(u16::from_be_bytes([*hi, *lo]));
                tail.split_at(len.min(tail.len()))
            }
            _ => (rest, &[][..]),
        };
        rest = tail;
        let mut fields: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let over = match decoder.decode(block, max_list, |n, v| {
            fields.push((n.to_vec(), v.to_vec()))
        }) {
            Ok(over) => over,
            // The connection ends with COMPRESSION_ERROR: its table is out of step.
            Err(_) => return,
        };
        let listed: usize = fields.iter().map(|(n, v)| n.len() + v.len() + 32).sum();
        assert!(listed <= max_list);
        if over {
            continue;
        }
        let mut encoded = BytesMut::new();
        for (n, v) in &fields {
            hpack::field(&mut encoded, n, v);
        }
        let mut again = Vec::new();
        hpack::Decoder::new(TABLE_SIZE)
            .decode(&encoded, usize::MAX, |n, v| {
                again.push((n.to_vec(), v.to_vec()))
            })
            .expect("the encoder's block decodes");
        assert_eq!(again, fields);
    }
}

/// `request_target`: a request target (UTF-8) through the path normalisation that policy checks
/// and the upstream receives. For an origin-form target (one starting with `/`) the result's
/// path has no `.` or `..` segment and no `//`, its query is the input's, and normalising it
/// again changes nothing. Anything else (`*`; absolute-form, which the data path never
/// normalises) comes back as it is.
pub fn request_target(data: &[u8]) {
    let Ok(target) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(normal) = path::normalize(target) else {
        return;
    };
    check_normal_target(target, &normal);
    // gRPC calls are read off the same path.
    let _ = GrpcCall::from_path(&normal);
}

/// The property [`request_target`] asserts, shared with the unit tests.
fn check_normal_target(target: &str, normal: &str) {
    let split = |t: &'_ str| -> (String, String) {
        match t.find('?') {
            Some(i) => (t[..i].to_owned(), t[i..].to_owned()),
            None => (t.to_owned(), String::new()),
        }
    };
    let (path_in, query_in) = split(target);
    let (path_out, query_out) = split(normal);
    if !path_in.starts_with('/') {
        assert_eq!(normal, target);
        return;
    }
    assert!(path_out.starts_with('/'), "{target:?} -> {normal:?}");
    assert_eq!(query_out, query_in, "{target:?} -> {normal:?}");
    assert!(!path_out.contains("//"), "{target:?} -> {normal:?}");
    assert!(
        !path_out.split('/').any(|s| s == "." || s == ".."),
        "{target:?} -> {normal:?}"
    );
    assert!(
        matches!(path::normalize(normal), Ok(Cow::Borrowed(n)) if n == normal),
        "{target:?} -> {normal:?} -> {:?}",
        path::normalize(normal)
    );
}

/// `cilium_policy`: a policy file (UTF-8) as the sidecar loads one: parsed, every error
/// formatted, compiled for a workload `app=web`, and a connection and a request checked.
pub fn cilium_policy(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let policies = match sockmesh_policy::cilium::parse_documents("fuzz.yaml", text) {
        Ok(p) => p,
        Err(errors) => {
            for e in errors {
                let _ = e.to_string();
            }
            return;
        }
    };
    let compiled = match CompiledPolicy::compile(&policies, &web_labels()) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let _ = compiled.check_connection(&conn());
    let request = HttpRequest {
        method: "GET",
        path: "/public/index.html",
        host: Some("web.shop"),
        headers: &NoHeaders,
        grpc: None,
    };
    let _ = compiled.check_http(&conn(), &request);
}

/// `xds_resources`: a resource payload as the xDS client receives one inside an `Any`, decoded
/// as the type the response is for and converted (policies compiled too). Byte 0 picks the type
/// (modulo 5: Cluster, ClusterLoadAssignment, Listener, Secret, NetworkPolicy, the client's
/// subscription order) and, in its next bit (`(byte / 5) % 2`), the workload labels the policy
/// is compiled for (none, or `app=web`); the rest is the protobuf payload.
pub fn xds_resources(data: &[u8]) {
    use sockmesh_xds::types::ResourceType;
    let Some((&control, payload)) = data.split_first() else {
        return;
    };
    let types = ResourceType::SIDECAR;
    let ty = types[usize::from(control) % types.len()];
    let labels = if (usize::from(control) / types.len()).is_multiple_of(2) {
        Labels::default()
    } else {
        web_labels()
    };
    // The `Any` type of the envoy-types crate, which this crate does not name: built by the
    // function the control plane packs resources with, then given the fuzzed type and payload.
    let mut any = sockmesh_xds::proto::any_of(&sockmesh_xds::proto::NetworkPolicy::default());
    any.type_url = ty.url().to_owned();
    any.value = payload.to_vec();
    match sockmesh_xds::convert::decode_resource(ty, &any, &labels) {
        Ok((name, converted)) => {
            let _ = (name, format!("{converted:?}"));
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

fn web_labels() -> Labels {
    [("app".to_owned(), "web".to_owned())].into_iter().collect()
}

fn conn() -> ConnMeta {
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

fn http_policy() -> &'static CompiledPolicy {
    static POLICY: OnceLock<CompiledPolicy> = OnceLock::new();
    POLICY.get_or_init(|| {
        let policies = sockmesh_policy::cilium::parse_documents("fuzz-http.yaml", HTTP_POLICY)
            .expect("the fuzzing policy parses");
        CompiledPolicy::compile(&policies, &web_labels()).expect("the fuzzing policy compiles")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed corpus of one target, from `proxy/fuzz/corpus/`.
    fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus")
            .join(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("corpus entry").path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no seeds in {}", dir.display());
        files
            .into_iter()
            .map(|p| {
                let bytes = std::fs::read(&p).expect("seed");
                (p.display().to_string(), bytes)
            })
            .collect()
    }

    #[test]
    fn every_seed_of_every_target_runs_clean() {
        type Target = (&'static str, fn(&[u8]));
        let targets: [Target; 7] = [
            ("http1_head", http1_head),
            ("http1_chunked", http1_chunked),
            ("h2_frames", h2_frames),
            ("hpack", hpack),
            ("request_target", request_target),
            ("cilium_policy", cilium_policy),
            ("xds_resources", xds_resources),
        ];
        for (target, run) in targets {
            for (name, seed) in corpus(target) {
                let caught = std::panic::catch_unwind(|| run(&seed));
                assert!(caught.is_ok(), "{target}: {name}");
            }
        }
    }

    #[test]
    fn the_fuzzing_policy_compiles() {
        let _ = http_policy();
    }

    /// The property `request_target` asserts holds on the spellings policy cares about.
    #[test]
    fn normalised_targets_are_normal_and_normalise_to_themselves() {
        for target in [
            "/",
            "/a/b",
            "/public/../private/secret",
            "/v1/./admin/x",
            "/v1//admin/x",
            "//",
            "///a//b///",
            "/../../etc",
            "/a/b/..",
            "/a/b/.",
            "/..",
            "/.",
            "/a/%2e%2e/b",
            "/a/%2E./b",
            "/a/.%2e",
            "/%2e",
            "/%2e%2e/%2e%2e/x",
            "/v1/%61dmin/x",
            "/a%2fb/../c",
            "/a/%2F/../b",
            "/%7euser/%41",
            "/caf%C3%A9/%2e",
            "/ü/./x",
            "/a/..b/.c/...",
            "/a/../b?q=/../x//y",
            "/a//b?",
            "/?x",
            "/%25%32%65/x",
            "/a/%2e%2e%2f/b",
            "*",
            "http://host/a/../b",
            "",
        ] {
            let normal = path::normalize(target).expect("valid");
            check_normal_target(target, &normal);
        }
    }

    /// The property is about the path: the query and targets that are not origin-form pass
    /// through unchanged, `//` and dot segments included.
    #[test]
    fn queries_and_other_forms_keep_their_text() {
        assert_eq!(
            path::normalize("/a/../b?q=/../x//y").expect("valid"),
            "/b?q=/../x//y"
        );
        assert_eq!(path::normalize("*").expect("valid"), "*");
        assert_eq!(path::normalize("a//b/../c").expect("valid"), "a//b/../c");
    }
}
