//! Seeds of the HTTP/1.1 heads, chunked bodies and request targets.

use super::Seeds;

pub fn http1_head(s: &mut Seeds) {
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

pub fn http1_chunked(s: &mut Seeds) {
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

pub fn request_target(s: &mut Seeds) {
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
