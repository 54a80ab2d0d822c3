use bytes::BytesMut;

use super::{Decoder, Encoder, HpackError, field, put_int};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn decode(d: &mut Decoder, block: &[u8]) -> Result<Vec<(String, String)>, HpackError> {
    let mut out = Vec::new();
    d.decode(block, 1 << 20, |n, v| {
        out.push((
            String::from_utf8_lossy(n).into_owned(),
            String::from_utf8_lossy(v).into_owned(),
        ))
    })?;
    Ok(out)
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// The first request of RFC 7541 appendices C.3 and C.4.
fn example_request() -> Vec<(String, String)> {
    pairs(&[
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        (":authority", "www.example.com"),
    ])
}

#[test]
fn rfc7541_c3_requests_without_huffman_share_the_dynamic_table() {
    let mut d = Decoder::new(4096);
    let first = decode(
        &mut d,
        &hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d"),
    );
    assert_eq!(first.expect("first"), example_request());
    let second = decode(&mut d, &hex("8286 84be 5808 6e6f 2d63 6163 6865"));
    assert_eq!(
        second.expect("second"),
        [example_request(), pairs(&[("cache-control", "no-cache")])].concat()
    );
    assert_eq!(d.table.len(), 2);
}

#[test]
fn rfc7541_c4_requests_with_huffman() {
    let mut d = Decoder::new(4096);
    let first = decode(&mut d, &hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"));
    assert_eq!(first.expect("first"), example_request());
    let second = decode(&mut d, &hex("8286 84be 5886 a8eb 1064 9cbf"));
    assert_eq!(
        second.expect("second")[4],
        pairs(&[("cache-control", "no-cache")])[0]
    );
}

#[test]
fn bad_blocks_are_errors_not_panics() {
    let mut d = Decoder::new(4096);
    // Index 0, an index past both tables, a truncated string, an endless integer.
    assert_eq!(decode(&mut d, &[0x80]), Err(HpackError::Index(0)));
    assert_eq!(
        decode(&mut d, &[0xff, 0x10]),
        Err(HpackError::Index(127 + 16))
    );
    assert_eq!(
        decode(&mut d, &[0x40, 0x05, b'a']),
        Err(HpackError::Truncated)
    );
    assert_eq!(
        decode(&mut d, &[0x8f, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
        Err(HpackError::Integer)
    );
    // Huffman: EOS-length garbage, and padding that is not all ones.
    assert_eq!(
        decode(&mut d, &[0x00, 0x84, 0xff, 0xff, 0xff, 0xff, 0x00]),
        Err(HpackError::Huffman)
    );
    assert_eq!(
        decode(&mut d, &[0x00, 0x81, 0x00, 0x00]),
        Err(HpackError::Huffman)
    );
    // A size update after a field, or over the advertised size.
    assert_eq!(
        decode(&mut d, &[0x82, 0x20]),
        Err(HpackError::SizeUpdate(4096))
    );
    assert_eq!(
        decode(&mut d, &[0x3f, 0xe2, 0x1f]),
        Err(HpackError::SizeUpdate(4096))
    );
    // Every prefix of a valid block fails cleanly or decodes.
    let block = hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff 5886 a8eb 1064 9cbf");
    for n in 0..block.len() {
        let _ = decode(&mut Decoder::new(4096), &block[..n]);
    }
}

#[test]
fn a_list_over_the_limit_is_flagged_and_the_table_kept_in_step() {
    let mut d = Decoder::new(4096);
    let block = hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d");
    let mut seen = 0;
    let over = d.decode(&block, 100, |_, _| seen += 1).expect("decodes");
    assert!(over);
    assert_eq!(seen, 2, "fields past the limit are not emitted");
    // The indexed :authority still went into the table.
    let next = decode(&mut d, &hex("be")).expect("indexed");
    assert_eq!(next, pairs(&[(":authority", "www.example.com")]));
}

#[test]
fn size_updates_evict() {
    let mut d = Decoder::new(4096);
    let _ = decode(
        &mut d,
        &hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d"),
    );
    assert_eq!(d.table.len(), 1);
    decode(&mut d, &[0x20]).expect("size update to 0");
    assert_eq!(d.table.len(), 0);
    assert_eq!(decode(&mut d, &hex("be")), Err(HpackError::Index(62)));
}

#[test]
fn encoded_responses_decode_back() {
    let mut e = Encoder::default();
    let mut out = BytesMut::new();
    e.table_size_changed();
    e.status(&mut out, 200);
    field(&mut out, b"content-type", b"text/plain");
    field(
        &mut out,
        b"x-custom-header-with-a-long-name-over-127-bytes",
        &[b'v'; 300],
    );
    let mut second = BytesMut::new();
    e.status(&mut second, 418);
    let mut d = Decoder::new(4096);
    let got = decode(&mut d, &out).expect("decodes");
    assert_eq!(got[0], (":status".into(), "200".into()));
    assert_eq!(got[1], ("content-type".into(), "text/plain".into()));
    assert_eq!(got[2].1.len(), 300);
    assert_eq!(out[0], 0x20, "the owed size update comes first");
    let got = decode(&mut d, &second).expect("decodes");
    assert_eq!(got, pairs(&[(":status", "418")]));
}

#[test]
fn integers_follow_rfc7541_c1() {
    // C.1.1: 10 with a 5-bit prefix; C.1.2: 1337 with a 5-bit prefix; C.1.3: 42 on 8 bits.
    for (value, prefix, want) in [
        (10, 5, &[0x0a][..]),
        (1337, 5, &[0x1f, 0x9a, 0x0a]),
        (42, 8, &[0x2a]),
    ] {
        let mut out = BytesMut::new();
        put_int(&mut out, prefix, 0, value);
        assert_eq!(&out[..], want, "{value} on {prefix} bits");
    }
}
