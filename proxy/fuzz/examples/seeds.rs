//! Writes the seed corpora of the fuzz targets, `corpus/<target>/<name>` beside this crate's
//! Cargo.toml: small real inputs, each laid out as its target reads them (docs/FUZZING.md).
//!
//!     cd proxy/fuzz && cargo run --example seeds
//!
//! A seed whose file already holds the same input is left alone (xDS seeds compare decoded:
//! Envoy messages with maps encode in hash-map order, which changes from run to run), so running
//! it again changes nothing unless this file or the example policies changed. Seeds added by
//! hand (a crash's reproducer, say) are kept.

use std::fs;
use std::path::{Path, PathBuf};

use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster};
use envoy_types::pb::envoy::config::core::v3::{
    Address, SocketAddress, TrafficDirection, address, socket_address,
};
use envoy_types::pb::envoy::config::core::v3::{DataSource as PbDataSource, data_source};
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint,
};
use envoy_types::pb::envoy::config::listener::v3::{Filter, FilterChain, Listener, filter};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager,
};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy, tcp_proxy};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, Secret, TlsCertificate, secret,
};
use envoy_types::pb::google::protobuf::{Any, Duration as PbDuration};
use prost::Message;
use sockmesh_xds::convert::listener;
use sockmesh_xds::proto::{NetworkPolicy, any_of};
use sockmesh_xds::server::{ClustersFile, Snapshot};
use sockmesh_xds::types::ResourceType;

fn main() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR"));
    let repo = fuzz.join("../..");
    let mut seeds = Seeds {
        root: fuzz.join("corpus"),
        written: 0,
        kept: 0,
    };
    http1_head(&mut seeds);
    http1_chunked(&mut seeds);
    h2_frames(&mut seeds);
    hpack(&mut seeds);
    request_target(&mut seeds);
    cilium_policy(&mut seeds, &repo);
    xds_resources(&mut seeds, &repo);
    println!(
        "seeds: {} written, {} unchanged, under {}",
        seeds.written,
        seeds.kept,
        seeds.root.display()
    );
}

struct Seeds {
    root: PathBuf,
    written: usize,
    kept: usize,
}

impl Seeds {
    fn put(&mut self, target: &str, name: &str, bytes: &[u8]) {
        self.put_if(target, name, bytes, |old| old == bytes);
    }

    /// Writes the seed unless `same` says the file already holds it.
    fn put_if(&mut self, target: &str, name: &str, bytes: &[u8], same: impl Fn(&[u8]) -> bool) {
        let dir = self.root.join(target);
        fs::create_dir_all(&dir).expect("corpus directory");
        let path = dir.join(name);
        if fs::read(&path).is_ok_and(|old| same(&old)) {
            self.kept += 1;
            return;
        }
        fs::write(&path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        self.written += 1;
    }
}

// ---- HTTP/1.1 heads: plain requests and responses, no control byte. ----

fn http1_head(s: &mut Seeds) {
    let heads: &[(&str, &str)] = &[
        (
            "get",
            "GET /public/index.html HTTP/1.1\r\nHost: web.shop\r\nUser-Agent: curl/8.5.0\r\n\
             Accept: */*\r\n\r\n",
        ),
        (
            "post-body",
            "POST /api/orders HTTP/1.1\r\nHost: web.shop:8080\r\nContent-Type: application/json\r\n\
             Content-Length: 9\r\nX-Team: checkout\r\nConnection: keep-alive\r\n\r\n{\"id\":42}",
        ),
        (
            "put-close",
            "PUT /api/items/7?dry=1 HTTP/1.1\r\nHost: 10.0.0.7:9090\r\nX-Request-Id: 5f2c\r\n\
             Content-Length: 0\r\nConnection: close\r\nKeep-Alive: timeout=5\r\n\r\n",
        ),
        (
            "get-repeated-fields",
            "GET /static/app.js HTTP/1.1\r\nHost: web.shop\r\nX-Team: a\r\nX-Team: b\r\n\
             Cookie: a=1\r\nCookie: b=2\r\nAccept-Encoding: gzip, br\r\n\r\n",
        ),
        (
            "get-dot-segments",
            "GET /public/../private/%2e%2e//x HTTP/1.1\r\nHost: web.shop\r\n\r\n",
        ),
        (
            "post-chunked",
            "POST /upload HTTP/1.1\r\nHost: web.shop\r\nTransfer-Encoding: chunked\r\n\r\n\
             5\r\nhello\r\n0\r\n\r\n",
        ),
        (
            "get-upgrade-h2c",
            "GET / HTTP/1.1\r\nHost: web.shop\r\nConnection: Upgrade, HTTP2-Settings\r\n\
             Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
        ),
        (
            "head-http10",
            "HEAD /index.html HTTP/1.0\r\nHost: web.shop\r\n\r\n",
        ),
        (
            "absolute-form",
            "GET http://web.shop/a/b?c HTTP/1.1\r\nHost: web.shop\r\n\r\n",
        ),
        (
            "connect",
            "CONNECT web.shop:443 HTTP/1.1\r\nHost: web.shop:443\r\n\r\n",
        ),
        (
            "two-lengths",
            "POST /a HTTP/1.1\r\nHost: web.shop\r\nContent-Length: 3\r\n\
             Content-Length: 3\r\n\r\nabc",
        ),
        (
            "expect-continue",
            "PUT /big HTTP/1.1\r\nHost: web.shop\r\nContent-Length: 100000\r\n\
             Expect: 100-continue\r\n\r\n",
        ),
        (
            "pipelined",
            "GET /a HTTP/1.1\r\nHost: web.shop\r\n\r\nGET /b HTTP/1.1\r\nHost: web.shop\r\n\r\n",
        ),
        (
            "response-length",
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\
             Date: Mon, 02 Feb 2026 10:00:00 GMT\r\n\r\nhello",
        ),
        (
            "response-chunked",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\
             Connection: keep-alive, x-internal\r\n\
             X-Internal: 1\r\nTrailer: X-Checksum\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        ),
        (
            "response-until-close",
            "HTTP/1.0 200 OK\r\nServer: nginx\r\n\r\nbody until close",
        ),
        (
            "response-204",
            "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
        ),
        (
            "response-304",
            "HTTP/1.1 304 Not Modified\r\nETag: \"abc\"\r\nContent-Length: 120\r\n\r\n",
        ),
        ("response-100", "HTTP/1.1 100 Continue\r\n\r\n"),
        (
            "response-101",
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
        ),
        (
            "response-te-gzip",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nVary: Accept-Encoding\r\n\r\n",
        ),
        (
            "response-length-and-te",
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        ),
    ];
    for (name, head) in heads {
        s.put("http1_head", name, head.as_bytes());
    }
}

// ---- Chunked bodies: byte 0 = bit 0 keep trailers, bits 1-7 = read size - 1. ----

fn http1_chunked(s: &mut Seeds) {
    let bodies: &[(&str, u8, &str)] = &[
        ("one-chunk", 0xfe, "5\r\nhello\r\n0\r\n\r\n"),
        ("one-chunk-bytewise", 0x00, "5\r\nhello\r\n0\r\n\r\n"),
        (
            "wikipedia",
            0x0e,
            "4\r\nWiki\r\n7\r\npedia i\r\nB\r\nn \r\nchunks.\r\n0\r\n\r\n",
        ),
        (
            "extensions",
            0x06,
            "4;name=value\r\nWiki\r\n5 ; last\r\npedia\r\n0;end\r\n\r\n",
        ),
        (
            "trailers-kept",
            0x05,
            "3\r\nabc\r\n0\r\nExpires: never\r\nX-Checksum: 900150983cd24fb0\r\n\r\n",
        ),
        (
            "trailers-dropped",
            0x04,
            "3\r\nabc\r\n0\r\nExpires: never\r\n\r\n",
        ),
        (
            "hex-sizes",
            0x1e,
            "1A\r\nabcdefghijklmnopqrstuvwxyz\r\na\r\n0123456789\r\n0\r\n\r\n",
        ),
        ("empty-body", 0x02, "0\r\n\r\n"),
        (
            "next-message-after",
            0x7e,
            "2\r\nok\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n",
        ),
        ("bad-size", 0x02, "zz\r\nhello\r\n"),
        ("missing-crlf", 0x02, "3\r\nabcX\r\n0\r\n\r\n"),
        ("huge-size", 0x02, "fffffffffffffffff\r\n"),
    ];
    for (name, control, body) in bodies {
        let mut seed = vec![*control];
        seed.extend_from_slice(body.as_bytes());
        s.put("http1_chunked", name, &seed);
    }
}

// ---- HTTP/2 frames: byte 0 + 1 = read size, then frames (no preface). ----

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const PRIORITY: u8 = 0x2;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY_FLAG: u8 = 0x20;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = len.to_be_bytes()[1..].to_vec();
    f.push(kind);
    f.push(flags);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// The SETTINGS a client opens with (h2load's: max concurrent streams, initial window, no push).
fn client_settings() -> Vec<u8> {
    let mut p = Vec::new();
    for (id, value) in [(0x3u16, 100u32), (0x4, 65_535), (0x2, 0)] {
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&value.to_be_bytes());
    }
    frame(SETTINGS, 0, 0, &p)
}

/// An HPACK integer with a `prefix`-bit prefix and `flags` above it (RFC 7541 section 5.1).
fn hpack_int(out: &mut Vec<u8>, prefix: u8, flags: u8, mut value: usize) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    value -= max;
    while value >= 0x80 {
        out.push((value & 0x7f) as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn hpack_str(out: &mut Vec<u8>, s: &str) {
    hpack_int(out, 7, 0, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// A header block of literals: with incremental indexing when `index`, else without indexing;
/// a name from the static table when given one.
fn block(fields: &[(usize, &str, &str)], index: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for &(name_index, name, value) in fields {
        if index {
            hpack_int(&mut out, 6, 0x40, name_index);
        } else {
            hpack_int(&mut out, 4, 0x00, name_index);
        }
        if name_index == 0 {
            hpack_str(&mut out, name);
        }
        hpack_str(&mut out, value);
    }
    out
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn h2_frames(s: &mut Seeds) {
    // RFC 7541 C.3.1 and C.4.1: GET / of www.example.com, raw and Huffman-coded.
    let get_raw = hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d");
    let get_huffman = hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff");
    let post = [
        vec![0x83, 0x87], // :method POST, :scheme https
        block(
            &[
                (4, "", "/api/orders"),
                (1, "", "web.shop"),
                (31, "", "application/json"),
                (28, "", "9"),
                (0, "x-team", "checkout"),
            ],
            true,
        ),
    ]
    .concat();
    let grpc = [
        vec![0x83, 0x86], // :method POST, :scheme http
        block(
            &[
                (4, "", "/shop.Catalog/GetItem"),
                (1, "", "web.shop:8080"),
                (31, "", "application/grpc"),
                (0, "te", "trailers"),
                (0, "grpc-timeout", "1S"),
            ],
            false,
        ),
    ]
    .concat();
    let grpc_message = [&[0u8, 0, 0, 0, 4][..], &[0x08, 0x07, 0x10, 0x01]].concat();

    let (first, rest) = post.split_at(post.len() / 2);
    let (second, third) = rest.split_at(rest.len() / 2);
    let mut padded = vec![3u8];
    padded.extend_from_slice(&0x8000_0000u32.to_be_bytes()); // exclusive, depends on 0
    padded.push(15); // weight
    padded.extend_from_slice(&get_raw);
    padded.extend_from_slice(&[0, 0, 0]);
    let seeds: Vec<(&str, u8, Vec<u8>)> = vec![
        (
            "get",
            0xff,
            [
                client_settings(),
                frame(WINDOW_UPDATE, 0, 0, &0x00ef_0001u32.to_be_bytes()),
                frame(HEADERS, END_HEADERS | END_STREAM, 1, &get_raw),
            ]
            .concat(),
        ),
        (
            "get-huffman-bytewise",
            0x00,
            [
                client_settings(),
                frame(HEADERS, END_HEADERS | END_STREAM, 1, &get_huffman),
            ]
            .concat(),
        ),
        (
            "post-data",
            0x10,
            [
                client_settings(),
                frame(HEADERS, END_HEADERS, 1, &post),
                frame(DATA, END_STREAM, 1, b"{\"id\":42}"),
                // A second request reusing the dynamic table entries the first added.
                frame(
                    HEADERS,
                    END_HEADERS,
                    3,
                    &[&[0x83, 0x87][..], &hex("c2c1 c0bf be")].concat(),
                ),
                frame(DATA, END_STREAM, 3, b"{\"id\":43}"),
            ]
            .concat(),
        ),
        (
            "grpc",
            0x3f,
            [
                client_settings(),
                frame(HEADERS, END_HEADERS, 1, &grpc),
                frame(DATA, END_STREAM, 1, &grpc_message),
                frame(PING, 0, 0, b"\0\0\0\0\0\0\0\x01"),
            ]
            .concat(),
        ),
        (
            "continuation",
            0x07,
            [
                frame(HEADERS, 0, 1, first),
                frame(CONTINUATION, 0, 1, second),
                frame(CONTINUATION, END_HEADERS, 1, third),
                frame(DATA, END_STREAM, 1, b"{\"id\":42}"),
            ]
            .concat(),
        ),
        (
            "padded-priority",
            0x1f,
            [
                frame(HEADERS, END_HEADERS | PADDED | PRIORITY_FLAG, 5, &padded),
                frame(DATA, PADDED | END_STREAM, 5, b"\x02ab\0\0"),
                frame(PRIORITY, 0, 7, &[0, 0, 0, 5, 200]),
            ]
            .concat(),
        ),
        (
            "control",
            0xff,
            [
                frame(SETTINGS, 1, 0, &[]),
                frame(PING, 1, 0, b"12345678"),
                frame(WINDOW_UPDATE, 0, 1, &1024u32.to_be_bytes()),
                frame(RST_STREAM, 0, 1, &8u32.to_be_bytes()),
                frame(0x0a, 0, 0, b"unknown frame type"),
                frame(GOAWAY, 0, 0, &[0, 0, 0, 1, 0, 0, 0, 0, b'b', b'y', b'e']),
            ]
            .concat(),
        ),
        (
            "stream-errors",
            0x08,
            [
                frame(PRIORITY, 0, 3, &[0, 0, 0, 3, 16]),
                frame(WINDOW_UPDATE, 0, 3, &0u32.to_be_bytes()),
                frame(SETTINGS, 0, 0, &[0, 4, 0, 0]),
            ]
            .concat(),
        ),
    ];
    for (name, control, wire) in seeds {
        s.put("h2_frames", name, &[&[control][..], &wire].concat());
    }
}

// ---- HPACK: byte 0 = table size and limit choice, then blocks with 2-byte lengths. ----

fn hpack(s: &mut Seeds) {
    // RFC 7541 appendix C, each sequence as the blocks of one connection.
    let sequences: &[(&str, u8, &[&str])] = &[
        (
            "c2-literals",
            0x00,
            &[
                "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
                "040c 2f73 616d 706c 652f 7061 7468",
                "1008 7061 7373 776f 7264 0673 6563 7265 74",
                "82",
            ],
        ),
        (
            "c3-requests",
            0x00,
            &[
                "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                "8286 84be 5808 6e6f 2d63 6163 6865",
                "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
            ],
        ),
        (
            "c4-requests-huffman",
            0x00,
            &[
                "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
                "8286 84be 5886 a8eb 1064 9cbf",
                "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
            ],
        ),
        (
            "c5-responses-eviction",
            0x02,
            &[
                "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 \
                 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 \
                 7861 6d70 6c65 2e63 6f6d",
                "4803 3330 37c1 c0bf",
                "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 \
                 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 \
                 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 \
                 6572 7369 6f6e 3d31",
            ],
        ),
        (
            "c6-responses-huffman",
            0x02,
            &[
                "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 \
                 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
                "4883 640e ffc1 c0bf",
                "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b \
                 d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 \
                 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
            ],
        ),
        (
            "size-updates",
            0x00,
            &[
                "3fe1 1f82",
                "20 8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                "3f61 84",
            ],
        ),
        (
            "small-list-limit",
            0x04,
            &["8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d 5808 6e6f 2d63 6163 6865"],
        ),
        (
            "empty-table",
            0x03,
            &["8286 418c f1e3 c2e5 f23a 6ba0 ab90 f4ff 84", "be"],
        ),
    ];
    for (name, control, blocks) in sequences {
        let mut seed = vec![*control];
        for b in *blocks {
            let b = hex(b);
            seed.extend_from_slice(&(b.len() as u16).to_be_bytes());
            seed.extend_from_slice(&b);
        }
        s.put("hpack", name, &seed);
    }
}

// ---- Request targets: the text alone. ----

fn request_target(s: &mut Seeds) {
    let targets: &[(&str, &str)] = &[
        ("root", "/"),
        ("plain", "/api/v1/items/7"),
        ("query", "/search?q=a/../b&x=//y"),
        ("dot-dot", "/public/../private/secret"),
        ("dot", "/v1/./admin/x"),
        ("slashes", "//v1///admin//"),
        ("above-root", "/../../etc/passwd"),
        ("escaped-dots", "/public/%2e%2e/private/%2E."),
        ("escaped-unreserved", "/v1/%61dmin/%7euser/%41"),
        ("escaped-slash", "/a%2fb/../c%2F"),
        ("escaped-utf8", "/caf%C3%A9/%e2%82%ac/./x"),
        ("utf8", "/ü/./€/.."),
        ("dots-in-names", "/a/..b/.c/.../x."),
        ("broken-escape", "/a%2g/b"),
        ("asterisk", "*"),
        ("absolute-form", "http://web.shop/a/../b"),
        ("grpc", "/shop.Catalog/GetItem"),
    ];
    for (name, target) in targets {
        s.put("request_target", name, target.as_bytes());
    }
}

// ---- CiliumNetworkPolicy YAML: the repository's policies and a few more. ----

fn cilium_policy(s: &mut Seeds, repo: &Path) {
    for (name, path) in [
        ("examples-web", "examples/policies/web.yaml"),
        ("examples-demo", "examples/policies/demo.yaml"),
        ("fixture-web", "policy/tests/fixtures/web.yaml"),
    ] {
        let text = fs::read(repo.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        s.put("cilium_policy", name, &text);
    }
    s.put("cilium_policy", "flow-style-anchors", FLOW_STYLE.as_bytes());
    s.put("cilium_policy", "errors", ERRORS.as_bytes());
    s.put("cilium_policy", "grpc-deny", GRPC_DENY.as_bytes());
}

/// Flow style, an anchor and its alias, a folded scalar, quoting of every kind.
const FLOW_STYLE: &str = r#"apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: api, namespace: shop, labels: {team: a}}
spec:
  endpointSelector: &sel {matchLabels: {app: web}}
  egress:
  - toCIDRSet: [{cidr: 0.0.0.0/0, except: [169.254.0.0/16]}]
    toPorts: [{ports: [{port: '53', protocol: UDP}]}]
  - toEndpoints: [*sel]
    toPorts:
    - ports: [{port: "8080", endPort: 8090}]
      rules:
        http:
        - method: >-
            GET
          path: '/v[0-9]+/.*'
          host: "api\\.shop"
"#;

/// One of each kind of error: version, kind, a misspelt field, a bad port, a bad regex, an
/// unsupported protocol.
const ERRORS: &str = r#"apiVersion: cilium.io/v1
kind: NetworkPolicy
metadata:
  name: bad
spec:
  endpointSelecter: {}
  ingress:
  - toPorts:
    - ports: [{port: x}]
      rules:
        http: [{path: '/a/(v3'}]
        kafka: [{topic: t}]
"#;

/// A clusterwide deny on gRPC methods, with selector expressions and document markers.
const GRPC_DENY: &str = r#"---
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata:
  name: grpc
spec:
  endpointSelector:
    matchExpressions:
    - {key: app, operator: NotIn, values: [db]}
    - {key: tier, operator: Exists}
  ingressDeny:
  - fromCIDR: ['::1/128']
    toPorts:
    - ports: [{port: '50051'}]
      rules:
        grpc:
        - serviceRegex: 'shop\..*'
          methodRegex: 'Delete.*'
...
"#;

// ---- xDS resources: byte 0 = type (mod 5) and labels, then the protobuf payload. ----

/// Byte 0 of a seed: the type's place in `ResourceType::SIDECAR`, plus 5 for labels `app=web`.
fn xds_control(ty: ResourceType, web: bool) -> u8 {
    let i = ResourceType::SIDECAR
        .iter()
        .position(|t| *t == ty)
        .expect("a sidecar type") as u8;
    i + if web { 5 } else { 0 }
}

fn put_xds(s: &mut Seeds, name: &str, ty: ResourceType, web: bool, any: &Any) {
    assert_eq!(any.type_url, ty.url());
    let seed = [&[xds_control(ty, web)][..], &any.value].concat();
    s.put_if("xds_resources", name, &seed, |old| {
        old.first() == seed.first() && same_message(ty, &old[1..], &seed[1..])
    });
}

/// Whether two payloads decode to the same message (map order aside).
fn same_message(ty: ResourceType, a: &[u8], b: &[u8]) -> bool {
    fn eq<T: Message + Default + PartialEq>(a: &[u8], b: &[u8]) -> bool {
        matches!((T::decode(a), T::decode(b)), (Ok(x), Ok(y)) if x == y)
    }
    match ty {
        ResourceType::Cluster => eq::<Cluster>(a, b),
        ResourceType::Endpoint => eq::<ClusterLoadAssignment>(a, b),
        ResourceType::Listener => eq::<Listener>(a, b),
        ResourceType::Secret => eq::<Secret>(a, b),
        ResourceType::NetworkPolicy => eq::<NetworkPolicy>(a, b),
        ResourceType::Route => a == b,
    }
}

fn sock(ip: &str, port: u32) -> Option<Address> {
    Some(Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: ip.into(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(port)),
            ..Default::default()
        })),
    })
}

/// The clusters file of docs/xds.md, as the control plane serves it.
const CLUSTERS: &str = r#"
clusters:
- name: web
  endpoints: ["127.0.0.1:8080", "[::1]:8080"]
  protocol: http1
  connectTimeoutMs: 1000
- name: api
  endpoints: ["10.0.0.7:9090"]
  protocol: http2
listeners:
- name: inbound
  address: 127.0.0.1:15006
  direction: inbound
  protocol: detect
- name: outbound-tcp
  address: 127.0.0.1:15001
  direction: outbound
  protocol: tcp
  cluster: api
grpcListeners:
- name: echo
  cluster: web
secrets:
- name: default
  certificateChainFile: /etc/sockmesh/cert.pem
  privateKeyFile: /etc/sockmesh/key.pem
- name: ca
  trustedCaFile: /etc/sockmesh/ca.pem
"#;

fn xds_resources(s: &mut Seeds, repo: &Path) {
    // What `sockmesh control-plane` serves: the example policies and a clusters file.
    for (name, path) in [
        ("policy-examples-web", "examples/policies/web.yaml"),
        ("policy-examples-demo", "examples/policies/demo.yaml"),
        ("policy-fixture-web", "policy/tests/fixtures/web.yaml"),
    ] {
        let full = repo.join(path);
        let text = fs::read_to_string(&full).unwrap_or_else(|e| panic!("{path}: {e}"));
        let policies = sockmesh_xds::server::files::parse_policy_file(&full, &text)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .expect("a policy file");
        for (i, p) in policies.iter().enumerate() {
            let web = i % 2 == 0;
            put_xds(
                s,
                &format!("{name}-{i}"),
                ResourceType::NetworkPolicy,
                web,
                &any_of(p),
            );
        }
    }
    let file = ClustersFile::parse(Path::new("clusters.yaml"), CLUSTERS).expect("clusters file");
    let mut snap = Snapshot::default();
    sockmesh_xds::server::files::build_clusters(&mut snap, &file);
    for ty in ResourceType::SIDECAR {
        for (name, versioned) in snap.resources(ty) {
            put_xds(
                s,
                &format!("{}-{name}", ty.short_name()),
                ty,
                false,
                &versioned.any,
            );
        }
    }

    // After Envoy's documented examples (as xds/src/convert/envoy_tests.rs builds them).
    let hcm = HttpConnectionManager {
        stat_prefix: "ingress_http".into(),
        route_specifier: Some(http_connection_manager::RouteSpecifier::RouteConfig(
            listener::route_configuration("local_route", "service_envoyproxy_io"),
        )),
        ..Default::default()
    };
    let static_listener = Listener {
        name: "listener_0".into(),
        address: sock("0.0.0.0", 10000),
        filter_chains: vec![FilterChain {
            filters: vec![Filter {
                name: "envoy.filters.network.http_connection_manager".into(),
                config_type: Some(filter::ConfigType::TypedConfig(any_of(&hcm))),
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    put_xds(
        s,
        "envoy-static-listener",
        ResourceType::Listener,
        true,
        &any_of(&static_listener),
    );
    let tcp = TcpProxy {
        stat_prefix: "tcp".into(),
        cluster_specifier: Some(tcp_proxy::ClusterSpecifier::Cluster(
            "example_proxy_cluster".into(),
        )),
        ..Default::default()
    };
    let tcp_listener = Listener {
        name: "outbound_tcp".into(),
        address: sock("127.0.0.1", 15001),
        traffic_direction: TrafficDirection::Outbound as i32,
        filter_chains: vec![FilterChain {
            filters: vec![Filter {
                name: "envoy.filters.network.tcp_proxy".into(),
                config_type: Some(filter::ConfigType::TypedConfig(any_of(&tcp))),
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    put_xds(
        s,
        "envoy-tcp-listener",
        ResourceType::Listener,
        false,
        &any_of(&tcp_listener),
    );
    let static_cluster = Cluster {
        name: "service_envoyproxy_io".into(),
        connect_timeout: Some(PbDuration {
            seconds: 30,
            nanos: 0,
        }),
        cluster_discovery_type: Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::Static as i32,
        )),
        load_assignment: Some(ClusterLoadAssignment {
            cluster_name: "service_envoyproxy_io".into(),
            endpoints: vec![LocalityLbEndpoints {
                lb_endpoints: vec![LbEndpoint {
                    host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
                        address: sock("127.0.0.1", 8080),
                        ..Default::default()
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    put_xds(
        s,
        "envoy-static-cluster",
        ResourceType::Cluster,
        false,
        &any_of(&static_cluster),
    );
    let mut dns = static_cluster.clone();
    dns.cluster_discovery_type = Some(cluster::ClusterDiscoveryType::Type(
        cluster::DiscoveryType::LogicalDns as i32,
    ));
    put_xds(
        s,
        "envoy-dns-cluster",
        ResourceType::Cluster,
        false,
        &any_of(&dns),
    );
    let eds = Cluster {
        name: "example_proxy_cluster".into(),
        cluster_discovery_type: Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::Eds as i32,
        )),
        eds_cluster_config: Some(cluster::EdsClusterConfig {
            eds_config: Some(sockmesh_xds::convert::cluster::ads_config_source()),
            service_name: "example_service".into(),
        }),
        ..Default::default()
    };
    put_xds(
        s,
        "envoy-eds-cluster",
        ResourceType::Cluster,
        false,
        &any_of(&eds),
    );
    let cla = ClusterLoadAssignment {
        cluster_name: "example_service".into(),
        endpoints: vec![LocalityLbEndpoints {
            lb_endpoints: ["10.0.0.1", "::1", "service.local"]
                .iter()
                .map(|ip| LbEndpoint {
                    host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
                        address: sock(ip, 80),
                        ..Default::default()
                    })),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    };
    put_xds(
        s,
        "envoy-endpoints",
        ResourceType::Endpoint,
        false,
        &any_of(&cla),
    );
    let inline = |text: &str| {
        Some(PbDataSource {
            specifier: Some(data_source::Specifier::InlineString(text.into())),
            ..Default::default()
        })
    };
    let cert = Secret {
        name: "server_cert".into(),
        r#type: Some(secret::Type::TlsCertificate(TlsCertificate {
            certificate_chain: inline("-----BEGIN CERTIFICATE-----"),
            private_key: Some(PbDataSource {
                specifier: Some(data_source::Specifier::Filename(
                    "/etc/certs/key.pem".into(),
                )),
                ..Default::default()
            }),
            ..Default::default()
        })),
    };
    put_xds(
        s,
        "envoy-secret-cert",
        ResourceType::Secret,
        false,
        &any_of(&cert),
    );
    let ca = Secret {
        name: "validation".into(),
        r#type: Some(secret::Type::ValidationContext(
            CertificateValidationContext {
                trusted_ca: inline("-----BEGIN CERTIFICATE-----"),
                ..Default::default()
            },
        )),
    };
    put_xds(
        s,
        "envoy-secret-ca",
        ResourceType::Secret,
        true,
        &any_of(&ca),
    );
}
