//! DNS seeds: queries as clients send them (dig, dnspython, glibc), a few broken ones, and
//! `matchPattern`/name pairs.

use super::Seeds;

/// A query: id, flags, one question for `name` (dotted) of `qtype`, an OPT record if `edns`.
fn query(id: u16, flags: u16, name: &str, qtype: u16, edns: Option<(u16, bool)>) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, u8::from(edns.is_some())]);
    m.extend_from_slice(&wire(name));
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&[0, 1]);
    if let Some((size, dnssec_ok)) = edns {
        m.extend_from_slice(&[0, 0, 41]);
        m.extend_from_slice(&size.to_be_bytes());
        m.extend_from_slice(&[0, 0, if dnssec_ok { 0x80 } else { 0 }, 0, 0, 0]);
    }
    m
}

fn wire(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

pub fn dns_message(s: &mut Seeds) {
    let rd = 0x0100;
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("a", query(0x1234, rd, "api.example.com", 1, None)),
        ("aaaa-edns", query(7, rd, "web.shop.svc.cluster.local", 28, Some((1232, false)))),
        ("txt-do", query(9, rd | 0x0010, "x.cdn.example", 16, Some((4096, true)))),
        ("any-upper", query(11, rd, "A.EVIL.Example", 255, None)),
        ("root-ns", query(12, 0, "", 2, None)),
        ("notify", query(13, 0x2000, "example.com", 6, None)),
        ("response", query(14, 0x8180, "example.com", 1, None)),
        ("compressed-loop", {
            let mut m = query(15, rd, "", 1, None);
            m.truncate(12);
            m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
            m
        }),
        ("two-questions", {
            let mut m = query(16, rd, "a.example", 1, None);
            m[5] = 2;
            let q = m[12..].to_vec();
            m.extend_from_slice(&q);
            m
        }),
        ("cut", query(17, rd, "api.example.com", 1, None)[..20].to_vec()),
        ("long-label", query(18, rd, &format!("{}.example", "a".repeat(63)), 1, None)),
    ];
    for (name, bytes) in seeds {
        s.put("dns_message", name, &bytes);
    }
}

pub fn dns_name(s: &mut Seeds) {
    let pairs: &[(&str, &str, &[u8])] = &[
        ("star", "*.example.com", b""),
        ("double-star", "**.example.com", b""),
        ("inner-star", "api-*.example.com", b""),
        ("all", "*", b""),
        ("exact", "api.example.com", b""),
        ("odd-byte", "*.evil.example", b"\x03a b"),
        ("dotted-label", "*.y.evil.example", b"\x03x.y"),
    ];
    for (name, pattern, first_label) in pairs {
        let mut bytes = pattern.as_bytes().to_vec();
        bytes.push(0);
        bytes.extend_from_slice(first_label);
        let rest = pattern.trim_start_matches("**.").trim_start_matches("*.");
        let mut labels = wire(&format!("api.{rest}"));
        labels.pop();
        bytes.extend_from_slice(&labels);
        s.put("dns_name", name, &bytes);
    }
}
