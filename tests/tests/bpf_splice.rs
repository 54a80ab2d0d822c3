//! Local-hop splicing through the real `sockmesh` binary: client -> sidecar -> upstream over
//! loopback inside a test cgroup and a private network namespace. With acceleration on, the
//! bytes arrive intact (1 B to 4 MiB messages echoed back, checksummed both ways), the redirect
//! counters grow (in `sockmesh bpf status` and `/metrics`), and the namespace's loopback
//! interface carries almost nothing compared with the same transfer with acceleration off.

use sockmesh_tests::bpf::{
    Netns, PodSidecar, TestCgroup, bpf_status, check_roundtrip, peer_cmd, pin_dir, require_root,
    run_client, spawn_server,
};
use sockmesh_tests::metric;

const SIZES: &str = "1,2,100,1024,4096,65536,262144,1048576,4194304";
const SIDECAR: &str = "127.0.0.1:15001";
const UPSTREAM: &str = "127.0.0.1:8080";

/// `sockmesh bpf status`: counters and the full text.
type Status = (std::collections::BTreeMap<String, u64>, String);

/// One transfer through a fresh sidecar; returns (loopback bytes, bytes moved, status, metrics).
fn transfer(
    ns: &Netns,
    cg: &TestCgroup,
    accelerate: bool,
    tag: &str,
) -> (u64, f64, Option<Status>, String) {
    let pin = pin_dir(tag);
    let pin_s = pin.display().to_string();
    let cg_s = cg.arg();
    let mut args = vec![
        "--listen",
        SIDECAR,
        "--upstream",
        UPSTREAM,
        "--protocol",
        "tcp",
        "--direction",
        "inbound",
    ];
    if accelerate {
        args.extend_from_slice(&[
            "--bpf-cgroup",
            &cg_s,
            "--bpf-pin-path",
            &pin_s,
            "--accelerate-port",
            "8080",
        ]);
    }
    let sidecar = PodSidecar::start(Some(ns), cg, 15000, &args);
    if accelerate {
        sidecar.wait_log("acceleration on");
    }
    let before = ns.lo_tx_bytes();
    let out = run_client(peer_cmd(
        Some(ns),
        Some(cg),
        &["check", "--connect", SIDECAR, "--sizes", SIZES],
    ));
    let after = ns.lo_tx_bytes();
    let moved = sockmesh_tests::bpf::field(&out, "bytes").expect("bytes in client output");
    assert_eq!(
        sockmesh_tests::bpf::field(&out, "ok"),
        Some(1.0),
        "client: {out}"
    );
    let status = accelerate.then(|| bpf_status(&pin));
    let metrics = sidecar.metrics(Some(ns));
    (after - before, moved, status, metrics)
}

#[test]
fn spliced_hop_delivers_intact_bytes_and_bypasses_loopback() {
    require_root();
    let ns = Netns::new("splice");
    let cg = TestCgroup::new("splice");
    let _upstream = spawn_server(peer_cmd(
        Some(&ns),
        Some(&cg),
        &["echo", "--listen", UPSTREAM],
    ));

    let (lo_off, moved_off, _, metrics_off) = transfer(&ns, &cg, false, "splice-off");
    assert!(
        metrics_off.contains("sockmesh_bpf_active 0"),
        "metrics without acceleration:\n{metrics_off}"
    );
    let (lo_on, moved_on, status, metrics_on) = transfer(&ns, &cg, true, "splice-on");
    let (counters, text) = status.expect("status with acceleration on");
    eprintln!(
        "loopback tx bytes: off {lo_off}, on {lo_on} (payload {moved_on} B each way)\n{text}"
    );

    assert_eq!(moved_off, moved_on);
    // Four hops carry the payload: client->sidecar, sidecar->upstream and back.
    let payload = moved_on as u64;
    assert!(
        lo_off >= 4 * payload,
        "plain TCP should move the payload over lo 4 times: {lo_off}"
    );
    assert!(
        lo_on * 50 < lo_off,
        "spliced transfer still used loopback: on {lo_on} vs off {lo_off}"
    );
    assert!(
        counters["redirect_bytes"] >= 4 * payload,
        "redirected bytes too low:\n{text}"
    );
    assert!(counters["redirects"] >= 4 * 9, "too few redirects:\n{text}");
    assert_eq!(counters["misses"], 0, "{text}");
    assert!(counters["sockets_added"] >= 4, "{text}");
    assert!(
        text.contains("sockops") && text.contains("sk_msg"),
        "{text}"
    );
    assert!(text.contains("accelerated ports: 8080, 15001"), "{text}");
    // /metrics exports the same counters.
    assert_eq!(
        metric(&metrics_on, "sockmesh_bpf_active"),
        1.0,
        "{metrics_on}"
    );
    assert!(
        metric(&metrics_on, "sockmesh_bpf_redirect_bytes_total") >= (4 * payload) as f64,
        "{metrics_on}"
    );
    assert!(
        metric(&metrics_on, "sockmesh_bpf_redirects_total") > 0.0,
        "{metrics_on}"
    );
}

#[test]
fn ipv6_and_mapped_loopback_are_spliced() {
    require_root();
    let ns = Netns::new("splice6");
    let cg = TestCgroup::new("splice6");
    let pin = pin_dir("splice6");
    let (pin_s, cg_s) = (pin.display().to_string(), cg.arg());
    let _upstream = spawn_server(peer_cmd(
        Some(&ns),
        Some(&cg),
        &["echo", "--listen", "[::1]:8080"],
    ));
    let _sidecar = PodSidecar::start(
        Some(&ns),
        &cg,
        15000,
        &[
            "--listen",
            "[::]:15001",
            "--upstream",
            "[::1]:8080",
            "--protocol",
            "tcp",
            "--bpf-cgroup",
            &cg_s,
            "--bpf-pin-path",
            &pin_s,
            "--accelerate-port",
            "8080",
        ],
    );
    // IPv6 loopback, and IPv4 to a dual-stack listener (an IPv4-mapped socket on the server side).
    for to in ["[::1]:15001", "127.0.0.1:15001"] {
        let out = check_roundtrip(Some(&ns), &cg, to);
        assert!(out.contains("ok=1"), "{to}: {out}");
    }
    let (c, text) = bpf_status(&pin);
    assert!(
        c["redirect_bytes"] >= 4 * 2 * (1 + 65536 + 1048576),
        "{text}"
    );
    assert_eq!(c["misses"], 0, "{text}");
}
