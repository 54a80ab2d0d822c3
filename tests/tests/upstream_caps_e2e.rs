//! Upstream connection caps (issue 14, item 9). On the HTTP/2 to HTTP/1.1 path every stream
//! holds an upstream connection of its own: 4 clients with 256 open streams each used up a
//! 1,024-descriptor limit, and every new client was refused until they left. Here the same
//! attack runs against nginx (whose `/upload` waits for a body that never comes), under that
//! limit: a client connection gets a bounded share of upstream connections, a cluster's circuit
//! breakers refuse (503, gRPC UNAVAILABLE, counted) what is past its caps, and new clients are
//! served throughout. The soft descriptor limit is raised to the hard one at start, and a
//! process at its limit keeps serving the connections it has without spinning on accept.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use sockmesh_tests::grpc::grpc_curl;
use sockmesh_tests::{
    Child, Nginx, Sidecar, TempDir, curl, free_port, http_get, http_policy, local, metric, python,
    require, root, wait_until,
};

/// A sidecar under `prlimit --nofile=NOFILE` in front of nginx (cluster `app`, HTTP/1.1, with
/// `breakers` as its circuitBreakers entries, if any) and the `limits` given.
fn start(nginx: &Nginx, nofile: &str, breakers: &str, limits: &str) -> (Sidecar, u16, TempDir) {
    require("prlimit", "apt-get install -y util-linux");
    let dir = TempDir::new("caps");
    let policy = dir.write(
        "p.yaml",
        &http_policy(nginx.port, "        - path: \"/.*\"\n"),
    );
    let port = free_port();
    let breakers = match breakers {
        "" => String::new(),
        b => format!(", circuitBreakers: {{ {b} }}"),
    };
    let config = format!(
        "workload: {{ labels: {{ app: test }} }}\npolicies: [{}]\nlisteners:\n- {{ address: 127.0.0.1:{port}, direction: inbound, cluster: app }}\nclusters:\n- {{ name: app, endpoints: [127.0.0.1:{}], protocol: http1{breakers} }}\nlimits: {{ {limits} }}\n",
        policy.display(),
        nginx.port,
    );
    let config = dir.write("sidecar.yaml", &config);
    let nofile = format!("--nofile={nofile}");
    let sidecar = Sidecar::start_under(
        &["prlimit", &nofile],
        &["--config", &config.display().to_string()],
    );
    (sidecar, port, dir)
}

/// HTTP/2 clients holding streams open: `conns` connections of `streams` POSTs to `/upload`,
/// each announcing a body it never sends, for `secs`.
struct Attack {
    _child: Child,
    lines: Receiver<String>,
}

impl Attack {
    fn start(port: u16, conns: u32, streams: u32, secs: u32) -> Attack {
        let mut child = Child::spawn(
            Command::new(python())
                .arg(root().join("tests/python/h2_client.py"))
                .args([&port.to_string(), "hold", "/upload"])
                .args([conns.to_string(), streams.to_string(), secs.to_string()])
                .stdout(Stdio::piped()),
        );
        let stdout = child.0.stdout.take().expect("piped stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let ready = lines.recv_timeout(Duration::from_secs(20));
        assert_eq!(ready.as_deref(), Ok("ready"), "the attack did not start");
        Attack {
            _child: child,
            lines,
        }
    }

    /// How many streams got each status (`none`: no answer) once the attack is over.
    fn outcome(self) -> Vec<(String, u32)> {
        let mut out = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(30)) {
            if let Some((status, count)) = line.split_once(": ") {
                out.push((status.to_owned(), count.parse().expect("count")));
            }
        }
        out
    }
}

fn count(outcome: &[(String, u32)], status: &str) -> u32 {
    outcome
        .iter()
        .find(|(s, _)| s == status)
        .map_or(0, |(_, n)| *n)
}

/// Connections nginx has accepted and holds open: what the upstream itself sees.
fn upstream_connections(port: u16) -> usize {
    require("ss", "apt-get install -y iproute2");
    let out = Command::new("ss")
        .args([
            "-Htn",
            "state",
            "established",
            &format!("( sport = :{port} )"),
        ])
        .output()
        .expect("run ss");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

fn metrics(sidecar: &Sidecar) -> String {
    http_get(sidecar.admin, "/metrics").expect("metrics").1
}

/// The attack of the report, with the default caps: each attacking connection gets its share
/// (100) of upstream connections, its other streams wait their turn, and new clients, over
/// HTTP/1.1 and HTTP/2, are served while it lasts.
#[test]
fn http2_streams_cannot_use_up_the_descriptors_new_clients_need() {
    let nginx = Nginx::start();
    let (sidecar, port, _dir) = start(&nginx, "1024:1024", "", "requestTimeout: 30s");
    sidecar.wait_log("file descriptor limit limit=1024");
    let attack = Attack::start(port, 4, 256, 15);
    // Counted at nginx: a sidecar out of descriptors answers no metrics either.
    let taken = wait_until(Duration::from_secs(15), || {
        upstream_connections(nginx.port) >= 400
    });
    let at_nginx = upstream_connections(nginx.port);
    assert!(taken, "the attack took {at_nginx} upstream connections");

    let url = format!("http://127.0.0.1:{port}/new");
    for args in [vec![url.as_str()], vec!["--http2-prior-knowledge", &url]] {
        let (status, body) = curl(&args);
        assert_eq!(
            (status, body.as_str()),
            (200, "nginx GET /new\n"),
            "a new client ({args:?}) was not served during the attack"
        );
    }

    // Four shares, and the new clients' connections: no more reached nginx.
    let at_nginx = upstream_connections(nginx.port);
    assert!(at_nginx <= 402, "nginx holds {at_nginx} connections");
    assert!(metric(&metrics(&sidecar), "sockmesh_upstream_connections_active") <= 402.0);
    drop(attack);
}

/// Caps below what the attack wants: 50 connections, 10 requests waiting for one. The rest of
/// the attack's streams are refused at once with 503 and counted as overflows; nginx never sees
/// more than the cap; a gRPC call past the caps gets UNAVAILABLE.
#[test]
fn requests_past_a_clusters_caps_are_refused_with_503_and_counted() {
    let nginx = Nginx::start();
    let breakers = "maxConnections: 50, maxPendingRequests: 10";
    let (sidecar, port, _dir) = start(&nginx, "1024:1024", breakers, "requestTimeout: 30s");
    let attack = Attack::start(port, 4, 256, 6);
    let overflow = "sockmesh_upstream_overflow_total{cluster=\"app\",kind=\"pending\"}";
    let refused = wait_until(Duration::from_secs(15), || {
        metric(&metrics(&sidecar), overflow) >= 900.0
    });
    let counted = metric(&metrics(&sidecar), overflow);
    assert!(refused, "{counted} overflows counted");
    let at_nginx = upstream_connections(nginx.port);
    assert!(at_nginx <= 50, "nginx holds {at_nginx} connections");

    let (status, body) = curl(&[&format!("http://127.0.0.1:{port}/over")]);
    assert_eq!((status, body.as_str()), (503, "overloaded"));
    let url = format!("http://127.0.0.1:{port}/pkg.Svc/Call");
    let (status, text) = grpc_curl(&url);
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("grpc-status: 14"), "{text}");

    let outcome = attack.outcome();
    // 60 held (connected or waiting), the rest answered 503 as they came.
    assert!(count(&outcome, "503") >= 900, "{outcome:?}");
    assert!(count(&outcome, "none") <= 60, "{outcome:?}");
    sidecar.wait_log("status=503");
}

#[test]
fn the_soft_descriptor_limit_is_raised_to_the_hard_one_at_start() {
    let nginx = Nginx::start();
    let (sidecar, _port, _dir) = start(&nginx, "256:4096", "", "");
    sidecar.wait_log("file descriptor limit limit=4096 raised_from=256");
    let limits =
        std::fs::read_to_string(format!("/proc/{}/limits", sidecar.child.pid())).expect("limits");
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files");
    let values: Vec<&str> = open_files.split_whitespace().skip(3).take(2).collect();
    assert_eq!(values, ["4096", "4096"], "{open_files}");
}

/// CPU time (user and system) the process has used, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // The fields after the command name (which may hold spaces): utime and stime are the 12th
    // and 13th of them.
    let after = stat.rsplit_once(')').expect("stat format").1;
    let fields: Vec<u64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|f| f.parse().expect("ticks"))
        .collect();
    fields.iter().sum()
}

/// A sidecar out of descriptors (64, filled with idle client connections): the client already
/// connected keeps getting answers on its keep-alive connection, the accept loop backs off
/// instead of spinning (CPU stays low, one log line for the episode), and once descriptors are
/// free new clients are served again.
#[test]
fn at_the_descriptor_limit_open_connections_keep_being_served() {
    let nginx = Nginx::start();
    let (sidecar, port, _dir) = start(&nginx, "64:64", "", "idleTimeout: 60s");
    let mut client = TcpStream::connect(local(port)).expect("connect");
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut ask = |n: usize| {
        write!(client, "GET /still-{n} HTTP/1.1\r\nHost: web\r\n\r\n").expect("request");
        let mut buf = [0u8; 4096];
        // A signal to the test process (its children exit) may interrupt the read: read again.
        let got = loop {
            match client.read(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other.expect("response"),
            }
        };
        String::from_utf8_lossy(&buf[..got]).into_owned()
    };
    assert!(ask(0).starts_with("HTTP/1.1 200"));

    let idle: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(local(port)).expect("connect"))
        .collect();
    sidecar.wait_log("accept failed");
    let pid = sidecar.child.pid();
    let (cpu_before, started) = (cpu_ticks(pid), Instant::now());
    for n in 1..=20 {
        let answer = ask(n);
        assert!(answer.starts_with("HTTP/1.1 200"), "request {n}: {answer}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let cpu = cpu_ticks(pid) - cpu_before;
    let wall = started.elapsed().as_secs_f64() * 100.0;
    // Clock ticks are 1/100 s: half the wall time is a generous bound for 20 requests.
    assert!(
        (cpu as f64) < wall / 2.0,
        "{cpu} ticks of CPU in {wall:.0} ticks at the descriptor limit"
    );
    let failures = sidecar.logs().matches("accept failed").count();
    assert!(failures <= 2, "{failures} accept failures logged");

    drop(idle);
    let served = wait_until(Duration::from_secs(10), || {
        curl(&[&format!("http://127.0.0.1:{port}/again")]).0 == 200
    });
    assert!(
        served,
        "no new client was served after the descriptors came free"
    );
    sidecar.wait_log("accepting again");
}
