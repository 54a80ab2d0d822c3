//! An unbound resolver in a temp dir, answering authoritatively for the zone `mesh.test.`: the
//! upstream of the DNS proxy's tests, so that they exercise a real resolver's answers (CNAME
//! chains, truncation, TTLs, NXDOMAIN) rather than replies the tests made up.
//!
//! [`Unbound::start`] runs `unbound -d` (foreground, no chroot, no privilege drop, one thread) on
//! 127.0.0.1 at a free port, UDP and TCP, with `tests/dns/unbound.conf.in` and the zone file
//! `tests/dns/mesh.test.zone` (bench/dns/run.sh serves the same two). It never leaves
//! 127.0.0.1: names outside `mesh.test.` get REFUSED at once, unknown names inside it
//! NXDOMAIN (negative TTL 30 s), both without a timeout. Every answer has AA set.
//!
//! | name                          | type  | data                                   | TTL |
//! |-------------------------------|-------|----------------------------------------|-----|
//! | `allowed.mesh.test.`          | A     | 127.0.0.10                             | 300 |
//! | `allowed.mesh.test.`          | AAAA  | ::1                                    | 300 |
//! | `api.allowed.mesh.test.`      | A     | 127.0.0.11                             | 300 |
//! | `deep.api.allowed.mesh.test.` | A     | 127.0.0.12                             | 300 |
//! | `denied.mesh.test.`           | A     | 127.0.0.20                             | 300 |
//! | `alias.mesh.test.`            | CNAME | `hop.mesh.test.`                       | 300 |
//! | `hop.mesh.test.`              | CNAME | `target.mesh.test.`                    | 300 |
//! | `target.mesh.test.`           | A     | 127.0.0.30                             | 300 |
//! | `short.mesh.test.`            | A     | 127.0.0.40                             | 2   |
//! | `big.mesh.test.`              | TXT   | 30 strings `NN-xxx..x` of 100 bytes    | 300 |
//! | `mail.mesh.test.`             | MX    | 10 `mx.mesh.test.`                     | 300 |
//! | `mx.mesh.test.`               | A     | 127.0.0.50                             | 300 |
//! | `_svc._tcp.mesh.test.`        | SRV   | 10 5 8080 `target.mesh.test.`          | 300 |
//! | `ns.mesh.test.`               | A     | 127.0.0.1                              | 300 |
//! | `mesh.test.`                  | SOA   | `ns.mesh.test. hostmaster.mesh.test.`, minimum 30 | 300 |
//! | `mesh.test.`                  | NS    | `ns.mesh.test.`                        | 300 |
//!
//! A query for `alias.mesh.test. A` is answered with the whole chain (CNAME, CNAME, A) in one
//! response. `big.mesh.test. TXT` is 3432 bytes: over UDP without EDNS, or with a 512 or
//! 1232-byte EDNS size, unbound answers TC=1 with an empty answer section; over TCP, all 30.
//! `short.mesh.test.` is served with TTL 2 every time (zone data, `cache-min-ttl: 0`). Records
//! of one RRset come in zone-file order every time (`rrset-roundrobin: no`): TXT `00-` first.
//!
//! [`Unbound::start_in_netns`] runs the same server on port 53 of given addresses inside a
//! network namespace (IPv4 and IPv6, any client address allowed): what the DNS capture tests need,
//! since an app's DNS is only captured on port 53.
//!
//! [`dig`] queries any server (unbound or a proxy in front of it) with dig; [`dig_status`],
//! [`dig_flags`], [`dig_answer`] and [`dig_section`] read its output. [`dnspython`] is the Python that runs
//! `tests/python/dns_query.py`, a dnspython client ([`dns_query`]).

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{Child, TempDir, free_port, local, output_text, python, require, root, wait_until};

const CONFIG: &str = include_str!("../dns/unbound.conf.in");
const ZONE: &str = include_str!("../dns/mesh.test.zone");

pub struct Unbound {
    pub port: u16,
    child: Child,
    dir: TempDir,
}

impl Drop for Unbound {
    fn drop(&mut self) {
        self.child.stop(Duration::from_secs(2));
    }
}

impl Unbound {
    /// Starts unbound as described in the module docs and waits until it answers over UDP and
    /// accepts TCP connections.
    pub fn start() -> Unbound {
        require("unbound", "apt-get install -y unbound");
        let dir = TempDir::new("unbound");
        let port = free_port();
        dir.write("mesh.test.zone", ZONE);
        let conf = CONFIG
            .replace("@DIR@", &dir.path().display().to_string())
            .replace("@PORT@", &port.to_string());
        let conf_path = dir.write("unbound.conf", &conf);
        let mut child = Child::spawn(
            Command::new("unbound")
                .args(["-d", "-c", &conf_path.display().to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        let addr = local(port);
        let up = wait_until(Duration::from_secs(10), || {
            child.is_running() && udp_answers(addr) && std::net::TcpStream::connect(addr).is_ok()
        });
        let log = std::fs::read_to_string(dir.path().join("unbound.log")).unwrap_or_default();
        assert!(up, "unbound did not start on {addr}:\n{log}");
        Unbound { port, child, dir }
    }

    /// Starts unbound as [`Unbound::start`] does, but on port 53 of each of `addrs` (IPv4 or
    /// IPv6, already on an interface of `ns`) inside the network namespace `ns`, answering any
    /// client address; waits until each address answers over UDP and TCP (dig in `ns`).
    pub fn start_in_netns(ns: &crate::bpf::Netns, addrs: &[std::net::IpAddr]) -> Unbound {
        require("unbound", "apt-get install -y unbound");
        require("dig", "apt-get install -y dnsutils");
        let dir = TempDir::new("unbound");
        dir.write("mesh.test.zone", ZONE);
        let interfaces: String = addrs
            .iter()
            .map(|a| format!("  interface: {a}\n"))
            .collect();
        let conf = CONFIG
            .replace("@DIR@", &dir.path().display().to_string())
            .replace("@PORT@", "53")
            .replace("  interface: 127.0.0.1\n", &interfaces)
            .replace("do-ip6: no", "do-ip6: yes")
            .replace(
                "  num-threads: 1\n",
                "  num-threads: 1\n  access-control: 0.0.0.0/0 allow\n  access-control: ::/0 allow\n",
            );
        let conf_path = dir.write("unbound.conf", &conf);
        let mut child = Child::spawn(
            ns.cmd("unbound")
                .args(["-d", "-c", &conf_path.display().to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        let answers = |addr: &std::net::IpAddr, tcp: bool| {
            let mut c = ns.cmd("dig");
            c.args([&format!("@{addr}"), "+short", "+tries=1", "+time=1"]);
            if tcp {
                c.arg("+tcp");
            }
            c.arg("allowed.mesh.test")
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "127.0.0.10")
        };
        let up = wait_until(Duration::from_secs(10), || {
            child.is_running() && addrs.iter().all(|a| answers(a, false) && answers(a, true))
        });
        let log = std::fs::read_to_string(dir.path().join("unbound.log")).unwrap_or_default();
        assert!(
            up,
            "unbound did not start on port 53 of {addrs:?} in {}:\n{log}",
            ns.0
        );
        Unbound {
            port: 53,
            child,
            dir,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        local(self.port)
    }

    /// What unbound logged (startup, errors; verbosity 1).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("unbound.log")).unwrap_or_default()
    }
}

/// Whether `addr` answers `allowed.mesh.test. A` over UDP with NOERROR and an answer, within
/// 200 ms: a hand-made query, so that readiness needs no tool.
fn udp_answers(addr: SocketAddr) -> bool {
    let Ok(sock) = UdpSocket::bind("127.0.0.1:0") else {
        return false;
    };
    let _ = sock.set_read_timeout(Some(Duration::from_millis(200)));
    // id 0x5eed, RD, one question.
    let mut q = vec![0x5e, 0xed, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in ["allowed", "mesh", "test"] {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    if sock.send_to(&q, addr).is_err() {
        return false;
    }
    let mut buf = [0u8; 512];
    match sock.recv(&mut buf) {
        // Same id, QR set, RCODE 0, ANCOUNT > 0.
        Ok(n) if n >= 12 => {
            buf[..2] == q[..2] && buf[2] & 0x80 != 0 && buf[3] & 0x0f == 0 && buf[6..8] != [0, 0]
        }
        _ => false,
    }
}

/// Runs `dig @IP -p PORT +tries=1 +time=2 ARGS...` against `server` and returns what it printed
/// (stdout and stderr). dig's exit status is not checked: a timeout (";; connection timed out")
/// or a refusal can be what a test expects, and shows in the output.
pub fn dig(server: SocketAddr, args: &[&str]) -> String {
    require("dig", "apt-get install -y dnsutils");
    let out = Command::new("dig")
        .arg(format!("@{}", server.ip()))
        .args(["-p", &server.port().to_string(), "+tries=1", "+time=2"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run dig");
    output_text(&out)
}

/// The RCODE in dig's header line (`NOERROR`, `NXDOMAIN`, `REFUSED`, ...), if it got an answer.
pub fn dig_status(out: &str) -> Option<String> {
    out.lines().find_map(|l| {
        let rest = l.split_once("status: ")?.1;
        Some(rest.split(',').next()?.trim().to_owned())
    })
}

/// The header flags dig printed (`qr`, `aa`, `tc`, `rd`, `ra`, ...): empty without an answer.
pub fn dig_flags(out: &str) -> Vec<String> {
    out.lines()
        .find_map(|l| l.strip_prefix(";; flags: "))
        .and_then(|l| l.split(';').next())
        .map(|f| f.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The records of the answer section, one `name ttl class type data` string each, with runs of
/// whitespace made single spaces (`alias.mesh.test. 300 IN CNAME hop.mesh.test.`).
pub fn dig_answer(out: &str) -> Vec<String> {
    dig_section(out, "ANSWER")
}

/// The records of a section dig printed (`ANSWER`, `AUTHORITY`, `ADDITIONAL`), as [`dig_answer`].
pub fn dig_section(out: &str, section: &str) -> Vec<String> {
    let header = format!(";; {section} SECTION:");
    let mut lines = out.lines().skip_while(|l| !l.starts_with(&header));
    lines.next();
    lines
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// The Python of [`python`], checked for dnspython (`import dns.message`).
pub fn dnspython() -> PathBuf {
    let py = python();
    let ok = Command::new(&py)
        .args(["-c", "import dns.message, dns.query"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{} cannot import dnspython: run `.venv/bin/pip install dnspython` (scripts/install-deps.sh does)",
        py.display()
    );
    py
}

/// Runs tests/python/dns_query.py (dnspython) against `server` with `args`
/// (`NAME TYPE [--tcp] [--payload N | --noedns]`) and returns what it printed: `rcode X`,
/// `flags ...` and one `answer NAME TTL TYPE DATA` line per record, or `error ...` when no
/// answer came (a timeout, a closed connection).
pub fn dns_query(server: SocketAddr, args: &[&str]) -> String {
    let out = Command::new(dnspython())
        .arg(root().join("tests/python/dns_query.py"))
        .arg(server.to_string())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run dns_query.py");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "dns_query.py {args:?} failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}
