//! Seeds of the HTTP/2 frames and HPACK blocks.

use super::Seeds;

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

pub fn h2_frames(s: &mut Seeds) {
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

pub fn hpack(s: &mut Seeds) {
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
