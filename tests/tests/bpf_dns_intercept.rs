//! DNS capture (issue 16): with `--intercept` and a DNS listener, an unmodified `dig`, and curl
//! through glibc's resolver, in the pod cgroup ask a resolver on port 53 (unbound on addresses of
//! the test's network namespace) and get their answers through the sidecar without being
//! pointed at it: over UDP and TCP, IPv4 and IPv6. Allowed names resolve, a denied name gets
//! REFUSED from the sidecar (the resolver itself would answer it), dig sees every answer come
//! from the address it asked (no "reply from unexpected source"), and the sidecar forwards to
//! that address, not to its cluster, with its own queries exempt.

use std::net::IpAddr;
use std::process::Stdio;

use sockmesh_tests::bpf::{
    Netns, PodSidecar, TestCgroup, bpf_status, peer_cmd, pin_dir, require_root,
};
use sockmesh_tests::unbound::dig_status;
use sockmesh_tests::{Child, TempDir, Unbound, output_text, require, wait_until};

const RESOLVER4: &str = "10.99.0.53";
const RESOLVER6: &str = "fd00:53::53";
/// The listener's cluster: a resolver the captured queries must not go to (the access log shows
/// which one each query went to); only queries that ask the listener itself go there.
const CLUSTER: &str = "[fd00:53::53]:53";

fn policy(dir: &TempDir) -> String {
    let p = dir.write(
        "dns-policy.yaml",
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: dns, namespace: test}\nspec:\n  endpointSelector: {matchLabels: {app: test}}\n  egress:\n  - toPorts:\n    - ports: [{port: \"53\", protocol: ANY}]\n      rules:\n        dns: [{matchPattern: \"*.allowed.mesh.test\"}, {matchName: allowed.mesh.test}]\n",
    );
    p.display().to_string()
}

/// `dig @SERVER [+tcp] NAME TYPE` run by bpf-peer inside the pod cgroup and namespace.
fn dig_in_pod(
    ns: &Netns,
    cg: &TestCgroup,
    server: &str,
    tcp: bool,
    name: &str,
    qtype: &str,
) -> String {
    let at = format!("@{server}");
    let mut args = vec!["exec", "dig", &at, "+tries=1", "+time=3"];
    if tcp {
        args.push("+tcp");
    }
    args.extend_from_slice(&[name, qtype]);
    let out = peer_cmd(Some(ns), Some(cg), &args)
        .stdin(Stdio::null())
        .output()
        .expect("run dig");
    output_text(&out)
}

/// `curl URL` inside the pod, with glibc's resolver pointed at `resolver` by a private mount of
/// /etc/resolv.conf (the file the host sees stays as it is): (exit code, output).
fn curl_in_pod(
    ns: &Netns,
    cg: &TestCgroup,
    dir: &TempDir,
    resolver: &str,
    url: &str,
) -> (i32, String) {
    let conf = dir.write(
        "resolv.conf",
        &format!("nameserver {resolver}\noptions attempts:1 timeout:3\n"),
    );
    let script = format!(
        "mount --bind {} /etc/resolv.conf && exec curl -sS --max-time 10 {url}",
        conf.display()
    );
    let out = peer_cmd(
        Some(ns),
        Some(cg),
        &[
            "exec",
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            &script,
        ],
    )
    .stdin(Stdio::null())
    .output()
    .expect("run curl");
    (out.status.code().unwrap_or(-1), output_text(&out))
}

/// One query from a Python UDP socket inside the pod, unconnected (sendto/recvfrom, which pass
/// sendmsg4/6 rather than connect4/6) or, with `connect`, connected (connect, getpeername, send,
/// recvfrom): "SOURCE PORT RCODE ANCOUNT" of the answer as recvfrom reports its source, then
/// for a connected socket "peer IP PORT" as getpeername reported it.
fn sendto_in_pod(ns: &Netns, cg: &TestCgroup, server: &str, name: &str, connect: bool) -> String {
    const PY: &str = "import socket,struct,sys
fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.settimeout(5)
q = struct.pack('>HHHHHH', 0x1234, 0x0100, 1, 0, 0, 0)
q += b''.join(bytes([len(l)]) + l.encode() for l in sys.argv[2].split('.')) + b'\\0'
q += struct.pack('>HH', 1 if fam == socket.AF_INET else 28, 1)
if len(sys.argv) > 3:
    s.connect((sys.argv[1], 53))
    peer = s.getpeername()
    s.send(q)
else:
    s.sendto(q, (sys.argv[1], 53))
data, addr = s.recvfrom(4096)
print(addr[0], addr[1], data[3] & 15, struct.unpack('>H', data[6:8])[0])
if len(sys.argv) > 3:
    print('peer', peer[0], peer[1])
";
    let mut args = vec!["exec", "python3", "-c", PY, server, name];
    if connect {
        args.push("connect");
    }
    let out = peer_cmd(Some(ns), Some(cg), &args)
        .stdin(Stdio::null())
        .output()
        .expect("run python3");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        out.status.success(),
        "sendto {server} {name}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The access log lines of DNS queries for `name` (with its trailing dot).
fn access_lines(log: &str, name: &str) -> Vec<String> {
    let path = format!("path=\"{name}\"");
    log.lines()
        .filter(|l| l.contains("protocol=\"dns\"") && l.contains(&path))
        .map(str::to_owned)
        .collect()
}

#[test]
fn unmodified_dig_and_curl_are_captured_and_answered_as_if_by_the_resolver_they_asked() {
    require_root();
    require("dig", "apt-get install -y dnsutils");
    require("curl", "apt-get install -y curl");
    require("unshare", "apt-get install -y util-linux");
    require("python3", "apt-get install -y python3");
    let ns = Netns::new("dnscap");
    ns.add_lo_address(&format!("{RESOLVER4}/32"));
    ns.add_lo_address(&format!("{RESOLVER6}/128"));
    let cg = TestCgroup::new("dnscap");
    let pin = pin_dir("dnscap");
    let dir = TempDir::new("dnscap");
    let unbound = Unbound::start_in_netns(
        &ns,
        &[
            RESOLVER4.parse::<IpAddr>().expect("literal"),
            RESOLVER6.parse::<IpAddr>().expect("literal"),
        ],
    );
    // The resolver answers the denied name itself: a REFUSED below comes from the sidecar.
    let direct = ns
        .cmd("dig")
        .args([
            &format!("@{RESOLVER4}"),
            "+tries=1",
            "+time=2",
            "denied.mesh.test",
        ])
        .output()
        .expect("dig");
    assert_eq!(
        dig_status(&String::from_utf8_lossy(&direct.stdout)).as_deref(),
        Some("NOERROR"),
        "the resolver should answer denied.mesh.test directly"
    );

    let (policy, pin_s, cg_s) = (policy(&dir), pin.display().to_string(), cg.arg());
    let sc = PodSidecar::start(
        Some(&ns),
        &cg,
        15000,
        &[
            // Dual stack: IPv4 apps are sent to 127.0.0.1:15053, IPv6 apps to [::1]:15053.
            "--listen",
            "[::]:15053",
            "--upstream",
            CLUSTER,
            "--protocol",
            "dns",
            "--direction",
            "outbound",
            "--label",
            "app=test",
            "--policy",
            &policy,
            "--bpf-cgroup",
            &cg_s,
            "--bpf-pin-path",
            &pin_s,
            "--intercept",
        ],
    );
    sc.wait_log("acceleration on");
    assert!(
        !std::fs::read_to_string(&sc.log)
            .unwrap_or_default()
            .contains("DNS capture off"),
        "the DNS capture hooks did not attach"
    );

    // dig, IPv4 and IPv6, UDP and TCP: allowed names resolve, the denied one is refused, and
    // every answer comes from the address dig asked.
    for (server, allowed, qtype, want) in [
        (RESOLVER4, "api.allowed.mesh.test", "A", "127.0.0.11"),
        (RESOLVER6, "allowed.mesh.test", "AAAA", "::1"),
    ] {
        for tcp in [false, true] {
            let how = if tcp { "TCP" } else { "UDP" };
            let out = dig_in_pod(&ns, &cg, server, tcp, allowed, qtype);
            assert_eq!(
                dig_status(&out).as_deref(),
                Some("NOERROR"),
                "{server} {how}:\n{out}"
            );
            assert!(out.contains(want), "{server} {how}: no {want}:\n{out}");
            assert!(
                out.contains(&format!(";; SERVER: {server}#53({server}) ({how})")),
                "{server} {how}: the answer did not come from the address asked:\n{out}"
            );
            assert!(!out.contains("unexpected source"), "{server} {how}:\n{out}");
            let out = dig_in_pod(&ns, &cg, server, tcp, "denied.mesh.test", "A");
            assert_eq!(
                dig_status(&out).as_deref(),
                Some("REFUSED"),
                "{server} {how}:\n{out}"
            );
            assert!(!out.contains("unexpected source"), "{server} {how}:\n{out}");
        }
    }

    // Unconnected sockets: sendto is sent to the listener, recvfrom shows the resolver asked.
    assert_eq!(
        sendto_in_pod(&ns, &cg, RESOLVER4, "api.allowed.mesh.test", false),
        format!("{RESOLVER4} 53 0 1")
    );
    assert_eq!(
        sendto_in_pod(&ns, &cg, RESOLVER4, "denied.mesh.test", false),
        format!("{RESOLVER4} 53 5 0")
    );
    assert_eq!(
        sendto_in_pod(&ns, &cg, RESOLVER6, "allowed.mesh.test", false),
        format!("{RESOLVER6} 53 0 1")
    );
    // A connected socket's peer is the resolver too (getpeername4/6), and so is its answer's source.
    assert_eq!(
        sendto_in_pod(&ns, &cg, RESOLVER4, "api.allowed.mesh.test", true),
        format!("{RESOLVER4} 53 0 1\npeer {RESOLVER4} 53")
    );
    assert_eq!(
        sendto_in_pod(&ns, &cg, RESOLVER6, "allowed.mesh.test", true),
        format!("{RESOLVER6} 53 0 1\npeer {RESOLVER6} 53")
    );

    // curl through glibc's resolver (a connected UDP socket, A and AAAA in one sendmmsg).
    dir.write("hello.txt", "hello from api.allowed\n");
    let mut http = ns.cmd("python3");
    http.args([
        "-m",
        "http.server",
        "8080",
        "--bind",
        "127.0.0.11",
        "--directory",
    ])
    .arg(dir.path())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    let _http = Child::spawn(&mut http);
    let up = wait_until(std::time::Duration::from_secs(10), || {
        ns.cmd("curl")
            .args(["-sf", "-o", "/dev/null", "http://127.0.0.11:8080/hello.txt"])
            .status()
            .is_ok_and(|s| s.success())
    });
    assert!(up, "python http.server did not start");
    let (code, out) = curl_in_pod(
        &ns,
        &cg,
        &dir,
        RESOLVER4,
        "http://api.allowed.mesh.test:8080/hello.txt",
    );
    assert_eq!((code, out.as_str()), (0, "hello from api.allowed\n"));
    let (code, out) = curl_in_pod(
        &ns,
        &cg,
        &dir,
        RESOLVER4,
        "http://denied.mesh.test:8080/hello.txt",
    );
    assert_eq!(code, 6, "curl should fail to resolve a denied name: {out}");

    // A client that asks the listener itself is served from the cluster, as without capture.
    let explicit = dig_in_pod(&ns, &cg, "127.0.0.1", false, "-p15053", "allowed.mesh.test");
    assert_eq!(
        dig_status(&explicit).as_deref(),
        Some("NOERROR"),
        "{explicit}"
    );

    // The explicit query is the last one made: once its line is written, all are (the writer
    // thread trails the queries it reports).
    let log = sc.wait_log("method=\"A\" path=\"allowed.mesh.test.\"");
    // Captured queries went to the resolver asked, checked as egress to its port 53...
    let api = access_lines(&log, "api.allowed.mesh.test.");
    assert!(
        api.len() >= 5,
        "dig UDP/TCP, sendto and curl's A and AAAA:\n{log}"
    );
    for l in &api {
        assert!(
            l.contains(&format!("upstream={RESOLVER4}:53")),
            "not sent to the resolver asked: {l}"
        );
        assert!(l.contains("verdict=\"allow\""), "{l}");
    }
    let v6: Vec<String> = access_lines(&log, "allowed.mesh.test.")
        .into_iter()
        .filter(|l| l.contains("method=\"AAAA\""))
        .collect();
    assert_eq!(
        v6.len(),
        4,
        "dig UDP/TCP, sendto and connected Python:\n{log}"
    );
    assert!(
        v6.iter()
            .all(|l| l.contains(&format!("upstream=[{RESOLVER6}]:53"))),
        "{v6:?}"
    );
    let denied = access_lines(&log, "denied.mesh.test.");
    assert!(denied.len() >= 6, "dig x4, sendto and curl:\n{log}");
    assert!(
        denied.iter().all(|l| l.contains("verdict=\"deny\"")),
        "{denied:?}"
    );
    // ...and the explicit query to the cluster.
    assert!(
        access_lines(&log, "allowed.mesh.test.")
            .iter()
            .any(|l| l.contains("method=\"A\"") && l.contains(&format!("upstream={CLUSTER}"))),
        "{log}"
    );

    let (c, text) = bpf_status(&pin);
    eprintln!("{text}");
    assert!(
        text.contains("dns capture:       :53 -> 127.0.0.1:15053"),
        "{text}"
    );
    // 8 dig runs, 3 sendto and curl's two lookups went to the listener (connect4/6 or
    // sendmsg4/6)...
    assert!(c["dns_redirected"] >= 13, "{text}");
    // ...the UDP answers (4 dig, 3 sendto, at least 2 glibc) were shown as the resolver's...
    assert!(c["dns_replies_rewritten"] >= 9, "{text}");
    // ...and the sidecar's own sockets to the resolvers were not captured.
    assert!(c["connects_exempt"] >= 2, "{text}");
    drop(sc);
    drop(unbound);
}
