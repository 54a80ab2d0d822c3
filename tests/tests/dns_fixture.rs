//! The unbound fixture serves what tests/src/unbound.rs promises: every record of its table,
//! with its TTL, through dig and through dnspython, over UDP and TCP; CNAME chains whole in one
//! answer; truncation over UDP; fast NXDOMAIN and REFUSED, never a recursion to the internet.
//! The DNS proxy's tests stand on these facts, so they are checked against unbound alone.

use std::time::{Duration, Instant};

use sockmesh_tests::unbound::{dig_answer, dig_flags, dig_section, dig_status, dns_query};
use sockmesh_tests::{Unbound, dig};

/// dig's answer records for NAME TYPE (and `extra` options), checked to be NOERROR with AA.
fn answer(u: &Unbound, name: &str, qtype: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec![name, qtype];
    args.extend_from_slice(extra);
    let out = dig(u.addr(), &args);
    assert_eq!(
        dig_status(&out).as_deref(),
        Some("NOERROR"),
        "{name} {qtype}:\n{out}"
    );
    assert!(
        dig_flags(&out).iter().any(|f| f == "aa"),
        "{name} {qtype} not authoritative:\n{out}"
    );
    dig_answer(&out)
}

#[test]
fn every_address_record_resolves_with_its_ttl() {
    let u = Unbound::start();
    for (name, qtype, data) in [
        ("allowed.mesh.test.", "A", "127.0.0.10"),
        ("allowed.mesh.test.", "AAAA", "::1"),
        ("api.allowed.mesh.test.", "A", "127.0.0.11"),
        ("deep.api.allowed.mesh.test.", "A", "127.0.0.12"),
        ("denied.mesh.test.", "A", "127.0.0.20"),
        ("target.mesh.test.", "A", "127.0.0.30"),
        ("mx.mesh.test.", "A", "127.0.0.50"),
        ("ns.mesh.test.", "A", "127.0.0.1"),
    ] {
        for transport in ["+notcp", "+tcp"] {
            let got = answer(&u, name, qtype, &[transport]);
            assert_eq!(
                got,
                [format!("{name} 300 IN {qtype} {data}")],
                "{transport}"
            );
        }
    }
}

#[test]
fn other_types_resolve() {
    let u = Unbound::start();
    assert_eq!(
        answer(&u, "mail.mesh.test.", "MX", &[]),
        ["mail.mesh.test. 300 IN MX 10 mx.mesh.test."]
    );
    assert_eq!(
        answer(&u, "_svc._tcp.mesh.test.", "SRV", &[]),
        ["_svc._tcp.mesh.test. 300 IN SRV 10 5 8080 target.mesh.test."]
    );
    let soa = answer(&u, "mesh.test.", "SOA", &[]);
    assert_eq!(
        soa,
        ["mesh.test. 300 IN SOA ns.mesh.test. hostmaster.mesh.test. 1 3600 600 86400 30"]
    );
    assert_eq!(
        answer(&u, "mesh.test.", "NS", &[]),
        ["mesh.test. 300 IN NS ns.mesh.test."]
    );
}

#[test]
fn a_cname_chain_comes_whole_in_one_answer() {
    let u = Unbound::start();
    let chain = [
        "alias.mesh.test. 300 IN CNAME hop.mesh.test.",
        "hop.mesh.test. 300 IN CNAME target.mesh.test.",
        "target.mesh.test. 300 IN A 127.0.0.30",
    ];
    // dig prints one response; +norecurse too: the chain is zone data, not a resolution.
    for extra in [&[][..], &["+tcp"], &["+norecurse"]] {
        assert_eq!(
            answer(&u, "alias.mesh.test.", "A", extra),
            chain,
            "{extra:?}"
        );
    }
    // Asked for the CNAME itself, just the first link.
    assert_eq!(answer(&u, "alias.mesh.test.", "CNAME", &[]), chain[..1]);
    assert_eq!(answer(&u, "hop.mesh.test.", "A", &[]), chain[1..]);
}

#[test]
fn the_big_txt_answer_is_truncated_over_udp_and_whole_over_tcp() {
    let u = Unbound::start();
    for edns in ["+noedns", "+bufsize=512", "+bufsize=1232"] {
        let out = dig(u.addr(), &["big.mesh.test.", "TXT", "+ignore", edns]);
        assert_eq!(
            dig_status(&out).as_deref(),
            Some("NOERROR"),
            "{edns}:\n{out}"
        );
        assert!(
            dig_flags(&out).iter().any(|f| f == "tc"),
            "no TC with {edns}:\n{out}"
        );
        assert!(out.contains("MSG SIZE  rcvd:"), "{out}");
    }
    let out = dig(u.addr(), &["big.mesh.test.", "TXT", "+tcp"]);
    assert!(!dig_flags(&out).iter().any(|f| f == "tc"), "{out}");
    let txt = dig_answer(&out);
    assert_eq!(txt.len(), 30, "{out}");
    for (i, rr) in txt.iter().enumerate() {
        let string = format!("\"{i:02}-{}\"", "x".repeat(97));
        assert_eq!(*rr, format!("big.mesh.test. 300 IN TXT {string}"));
    }
    let size: usize = out
        .split("MSG SIZE  rcvd: ")
        .nth(1)
        .and_then(|s| s.trim().parse().ok())
        .expect("message size");
    assert!(size > 3000, "{size} bytes:\n{out}");
}

#[test]
fn the_short_ttl_is_served_as_written() {
    let u = Unbound::start();
    // Twice, a second apart: the second answer may come from unbound's cache, which must not
    // raise the TTL either.
    for _ in 0..2 {
        let got = answer(&u, "short.mesh.test.", "A", &[]);
        assert_eq!(got.len(), 1, "{got:?}");
        let fields: Vec<&str> = got[0].split(' ').collect();
        let ttl: u32 = fields[1].parse().expect("ttl");
        assert!(ttl <= 2, "TTL {ttl}: {got:?}");
        assert_eq!(fields[4], "127.0.0.40");
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn unknown_names_are_answered_at_once() {
    let u = Unbound::start();
    for (name, status) in [
        ("nope.mesh.test.", "NXDOMAIN"),
        ("deeper.nope.mesh.test.", "NXDOMAIN"),
        ("other.test.", "REFUSED"),
        ("example.com.", "REFUSED"),
        (".", "REFUSED"),
    ] {
        let t = Instant::now();
        let out = dig(u.addr(), &[name, "A"]);
        let took = t.elapsed();
        assert_eq!(dig_status(&out).as_deref(), Some(status), "{name}:\n{out}");
        assert!(took < Duration::from_millis(500), "{name} took {took:?}");
        if status == "NXDOMAIN" {
            let soa = dig_section(&out, "AUTHORITY");
            assert!(
                soa.len() == 1 && soa[0].starts_with("mesh.test. 30 IN SOA "),
                "negative TTL 30:\n{out}"
            );
        }
    }
    // An existing name with no record of the type: NOERROR, empty answer.
    let out = dig(u.addr(), &["denied.mesh.test.", "AAAA"]);
    assert_eq!(dig_status(&out).as_deref(), Some("NOERROR"), "{out}");
    assert!(dig_answer(&out).is_empty(), "{out}");
}

#[test]
fn dnspython_reads_the_same_answers() {
    let u = Unbound::start();
    let addr = u.addr();
    for transport in [&[][..], &["--tcp"]] {
        let mut args = vec!["alias.mesh.test.", "A"];
        args.extend_from_slice(transport);
        let out = dns_query(addr, &args);
        assert_eq!(
            out,
            "rcode NOERROR\nflags QR AA RD RA\n\
             answer alias.mesh.test. 300 CNAME hop.mesh.test.\n\
             answer hop.mesh.test. 300 CNAME target.mesh.test.\n\
             answer target.mesh.test. 300 A 127.0.0.30\n",
            "{transport:?}"
        );
    }
    let udp = dns_query(addr, &["big.mesh.test.", "TXT", "--payload", "512"]);
    assert_eq!(udp, "rcode NOERROR\nflags QR AA TC RD RA\n");
    let tcp = dns_query(addr, &["big.mesh.test.", "TXT", "--tcp"]);
    assert_eq!(
        tcp.lines()
            .filter(|l| l.starts_with("answer big.mesh.test. 300 TXT"))
            .count(),
        30
    );
    let nx = dns_query(addr, &["nope.mesh.test.", "A"]);
    assert!(nx.starts_with("rcode NXDOMAIN\n"), "{nx}");
}
