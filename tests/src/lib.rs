//! Shared harness for the end-to-end tests: the built `sockmesh` binary against real servers and
//! clients (nginx, curl, h2load, wrk, Python grpcio; unbound, dig, dnspython), over real loopback
//! sockets.
//!
//! Missing prerequisites fail the test with the command that installs them; nothing is skipped.
//! `scripts/test.sh` installs everything and builds the binary first.

pub mod bpf;
pub mod grpc;
pub mod h2raw;
pub mod kafka_raw;
pub mod nginx;
pub mod origin;
pub mod proc;
pub mod sidecar;
pub mod tansu;
pub mod unbound;
pub mod xds;

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

pub use nginx::Nginx;
pub use origin::Origin;
pub use proc::{Child, TempDir};
pub use sidecar::Sidecar;
pub use tansu::{Tansu, kafka_client};
pub use unbound::{Unbound, dig};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace")
        .to_path_buf()
}

/// The `sockmesh` binary: `$SOCKMESH_BIN`, or `target/debug/sockmesh`.
pub fn bin() -> PathBuf {
    let path = std::env::var_os("SOCKMESH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/debug/sockmesh"));
    assert!(
        path.exists(),
        "{} not found: build it first with `cargo build -p sockmesh` (scripts/test.sh does), or set SOCKMESH_BIN",
        path.display()
    );
    path
}

/// Fails the test unless `tool` is on PATH, naming how to install it.
pub fn require(tool: &str, install: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is required for this test: install it with `{install}` (scripts/test.sh installs everything)"
    );
}

/// Python with the test clients (grpcio, h2, dnspython, the Kafka clients): `$SOCKMESH_PYTHON`, or the repo's `.venv` made by
/// scripts/test.sh.
pub fn python() -> PathBuf {
    let path = std::env::var_os("SOCKMESH_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"));
    let ok = Command::new(&path)
        .args(["-c", "import grpc, h2, dns.message, confluent_kafka, kafka"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{} cannot import grpc, h2, dnspython, confluent_kafka and kafka: run scripts/install-deps.sh (it makes .venv; scripts/test.sh runs it)",
        path.display()
    );
    path
}

/// A port nobody listens on right now, and never handed out before in this process: the tests of
/// one binary run in parallel, and a port given to one test but not yet bound by its server could
/// otherwise be offered again by the kernel to another.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut given = GIVEN.lock().unwrap_or_else(PoisonError::into_inner);
    // Listeners on repeated ports stay bound until a new one is found, so the kernel moves on.
    let mut repeats = Vec::new();
    for _ in 0..1000 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let port = listener.local_addr().expect("bound address").port();
        if given.insert(port) {
            return port;
        }
        repeats.push(listener);
    }
    panic!("no ephemeral port left that was not handed out already");
}

/// Waits (up to 5 s) until the log file at `path` contains `needle` and returns the whole log.
/// Logs are written by the proxy's writer thread, so a line can trail the event it reports.
pub fn wait_log(path: &Path, needle: &str) -> String {
    let read = || std::fs::read_to_string(path).unwrap_or_default();
    let found = wait_until(Duration::from_secs(5), || read().contains(needle));
    let logs = read();
    assert!(
        found,
        "`{needle}` never appeared in the sidecar log:\n{logs}"
    );
    logs
}

pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Polls `f` until it returns true or `timeout` passes; returns whether it did.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    f()
}

/// A minimal HTTP/1.0 GET (for admin endpoints): status and body.
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    http_request(addr, "GET", path)
}

pub fn http_request(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: admin\r\nContent-Length: 0\r\n\r\n"
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// Sends `request` (raw HTTP/1.1 bytes, which should say `Connection: close`) to the local
/// `port` and reads until the server closes; returns the status and the body (empty status 0
/// when the connection closed without an answer).
pub fn raw_http(port: u16, request: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(local(port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(request.as_bytes()).expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

/// stdout then stderr of `out`, as text.
pub fn output_text(out: &std::process::Output) -> String {
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text
}

/// Runs curl with `args`; returns (HTTP status, body). `-s -o - -w` adds the status at the end.
pub fn curl(args: &[&str]) -> (u16, String) {
    require("curl", "apt-get install -y curl");
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// Runs `nghttp -v` (HTTP/2 prior knowledge) with `args`; returns the response's status and what
/// nghttp printed (frames and body). For requests with bodies that the server may answer before
/// taking whole: Debian's curl 7.88 reports the RST_STREAM(NO_ERROR) that RFC 9113 section 8.1
/// has a server send then as a failure; nghttp does not.
pub fn nghttp(args: &[&str]) -> (u16, String) {
    require("nghttp", "apt-get install -y nghttp2-client");
    let out = Command::new("nghttp")
        .args(["-v", "-t", "20"])
        .args(args)
        .output()
        .expect("run nghttp");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = text
        .lines()
        .find_map(|l| l.split_once(":status: ").map(|(_, s)| s.trim().to_owned()))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// Runs tests/python/h2_client.py (the Python `h2` stack) against `port` with `args`: an HTTP/2
/// client that can reset a stream or frame a body as a test needs. Returns what it printed.
pub fn h2_client(port: u16, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(root().join("tests/python/h2_client.py"))
        .arg(port.to_string())
        .args(args)
        .output()
        .expect("run h2_client.py");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "h2_client.py {args:?} failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// A sum over all series of a Prometheus metric whose line starts with `prefix`
/// (e.g. `sockmesh_requests_total{protocol="http1",verdict="deny"}`).
pub fn metric(metrics: &str, prefix: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#') && l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

/// Writes a policy file allowing `rules` (YAML list items under `http:`) on `port` for app=test.
pub fn http_policy(port: u16, http_rules: &str) -> String {
    format!(
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: test\nspec:\n  endpointSelector:\n    matchLabels:\n      app: test\n  ingress:\n  - toPorts:\n    - ports:\n      - port: \"{port}\"\n        protocol: TCP\n      rules:\n        http:\n{http_rules}"
    )
}

/// A policy for app=test on each of `ports`: ingress allowed by the HTTP rules `allow` (YAML
/// list items at the indentation of [`http_policy`]'s), and denied by the HTTP rules `deny`
/// when there are any (an `ingressDeny` section with L7 rules).
pub fn http_policy_with_deny(ports: &[u16], allow: &str, deny: &str) -> String {
    let ports: String = ports
        .iter()
        .map(|p| format!("      - port: \"{p}\"\n        protocol: TCP\n"))
        .collect();
    let section = |name: &str, rules: &str| {
        format!(
            "  {name}:\n  - toPorts:\n    - ports:\n{ports}      rules:\n        http:\n{rules}"
        )
    };
    let mut policy = format!(
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: test\nspec:\n  endpointSelector:\n    matchLabels:\n      app: test\n{}",
        section("ingress", allow)
    );
    if !deny.is_empty() {
        policy.push_str(&section("ingressDeny", deny));
    }
    policy
}

/// Whether the frames a server sent (`out`, read from the start) include a GOAWAY.
pub fn has_goaway(mut out: &[u8]) -> bool {
    while out.len() >= 9 {
        if out[3] == 7 {
            return true;
        }
        let len = usize::from(out[0]) << 16 | usize::from(out[1]) << 8 | usize::from(out[2]);
        out = out.get(9 + len..).unwrap_or_default();
    }
    false
}
