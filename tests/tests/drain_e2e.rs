//! SIGTERM drains without losing a request that arrived before the listener closed: HTTP/1.1
//! keep-alive connections answer the request already sent on them with `Connection: close`, and
//! HTTP/2 connections close in RFC 9113 section 6.8's two steps (GOAWAY 2^31-1, then the last
//! stream id), so a stream the client opened meanwhile is served, not refused.
//!
//! The deterministic cases stop the sidecar (SIGSTOP), send each idle connection a request,
//! then SIGTERM and SIGCONT: the signal and the waiting requests are seen in one wake-up. The
//! load cases send SIGTERM in the middle of a wrk or h2load run. nginx's access log shows what
//! reached the upstream.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use sockmesh_tests::h2raw::{Event, H2Conn, Outcome};
use sockmesh_tests::{Nginx, Sidecar, TempDir, http_policy, require, wait_until};

const RULES: &str = "        - method: GET\n          path: \"/public/.*\"\n";
const SIGCONT: i32 = 18;
const SIGSTOP: i32 = 19;
const SIGTERM: i32 = 15;
const IDLE: usize = 20;

/// A sidecar in front of `upstream`, speaking `protocol` to it; its port.
fn sidecar(upstream: u16, protocol: &str) -> (Sidecar, u16, TempDir) {
    Sidecar::in_front_of(
        upstream,
        &http_policy(upstream, RULES),
        &["--label", "app=test", "--upstream-protocol", protocol],
    )
}

/// Reads one HTTP/1.1 response with a `Content-Length` body: its status and its head.
fn response(sock: &mut TcpStream) -> std::io::Result<(u16, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let status = head
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                return Ok((status, head));
            }
        }
        let n = sock.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn get(sock: &mut TcpStream, path: &str) -> std::io::Result<()> {
    write!(sock, "GET {path} HTTP/1.1\r\nHost: web\r\n\r\n")
}

/// Requests nginx served whose URI starts with `prefix`.
fn served(nginx: &Nginx, prefix: &str) -> usize {
    let needle = format!("GET {prefix}");
    nginx
        .served()
        .iter()
        .filter(|l| l.starts_with(&needle))
        .count()
}

/// Sends a GET on each connection; one that fails shows as a lost response.
fn send_all(conns: &mut [TcpStream], prefix: &str) {
    for (i, c) in conns.iter_mut().enumerate() {
        let _ = get(c, &format!("{prefix}{i}"));
    }
}

/// 20 idle keep-alive connections, each holding a request the sidecar has not read when SIGTERM
/// comes: every one is answered, with `Connection: close`, and reached nginx. On both HTTP/1.1
/// paths: the fast path and hyper's (to an HTTP/2 upstream).
#[test]
fn idle_http1_connections_holding_a_request_are_answered_on_sigterm() {
    idle_http1_connections_answered(true);
}

/// 20 idle keep-alive connections whose clients send a request just after the drain began: each
/// is answered with `Connection: close` within the drain grace, not reset.
#[test]
fn idle_http1_connections_sending_as_the_drain_begins_are_answered() {
    idle_http1_connections_answered(false);
}

fn idle_http1_connections_answered(held: bool) {
    let nginx = Nginx::logged();
    for (upstream, protocol) in [(nginx.port, "http1"), (nginx.h2c_port, "http2")] {
        let (mut sidecar, port, _dir) = sidecar(upstream, protocol);
        let mut conns: Vec<TcpStream> = (0..IDLE)
            .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("connect"))
            .collect();
        for c in &mut conns {
            c.set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            get(c, "/public/first").expect("send");
            assert_eq!(response(c).expect("first response").0, 200);
        }
        let prefix = format!("/public/second-{protocol}-{}-", held as u8);
        if held {
            // Sent while the sidecar is stopped, then SIGTERM: it wakes to the signal and the
            // waiting requests together.
            sidecar.child.signal(SIGSTOP);
            send_all(&mut conns, &prefix);
            sidecar.child.signal(SIGTERM);
            sidecar.child.signal(SIGCONT);
        } else {
            // Sent once the drain has begun (the listener refuses new connections): a client
            // that sent on a keep-alive connection just then could not know.
            sidecar.child.signal(SIGTERM);
            assert!(wait_until(Duration::from_secs(5), || TcpStream::connect((
                "127.0.0.1",
                port
            ))
            .is_err()));
            send_all(&mut conns, &prefix);
        }
        let outcomes: Vec<String> = conns
            .iter_mut()
            .map(|c| match response(c) {
                Ok((200, head)) if head.contains("connection: close") => "ok".to_owned(),
                Ok((status, head)) => format!("{status} without close: {head}"),
                Err(e) => format!("lost: {e}"),
            })
            .collect();
        let lost: Vec<&String> = outcomes.iter().filter(|o| *o != "ok").collect();
        assert!(
            lost.is_empty(),
            "{protocol}: {} of {IDLE} requests not answered: {lost:?}\nlog:\n{}",
            lost.len(),
            sidecar.logs()
        );
        assert!(
            wait_until(Duration::from_secs(2), || served(&nginx, &prefix) == IDLE),
            "{protocol}: nginx served {} of {IDLE}",
            served(&nginx, &prefix)
        );
        assert!(
            wait_until(Duration::from_secs(8), || !sidecar.child.is_running()),
            "the sidecar did not exit after draining"
        );
    }
}

/// 20 idle HTTP/2 connections, each with a stream the sidecar has not read when SIGTERM comes:
/// the first GOAWAY names 2^31-1, every such stream is served, and the final GOAWAY names it.
/// On both HTTP/2 paths: ours (to an HTTP/1.1 upstream) and hyper's (to an HTTP/2 one).
#[test]
fn idle_http2_connections_get_two_goaways_and_their_last_streams_served() {
    let nginx = Nginx::logged();
    for (upstream, protocol) in [(nginx.port, "http1"), (nginx.h2c_port, "http2")] {
        let (sidecar, port, _dir) = sidecar(upstream, protocol);
        let mut conns: Vec<H2Conn> = (0..IDLE)
            .map(|_| H2Conn::connect(port).expect("connect"))
            .collect();
        for c in &mut conns {
            let first = c.get("/public/first").expect("send");
            assert_eq!(c.outcome(first), Outcome::Answered(Some(200)));
        }
        sidecar.child.signal(SIGSTOP);
        let prefix = format!("/public/h2-second-{protocol}-");
        let streams: Vec<u32> = conns
            .iter_mut()
            .enumerate()
            .map(|(i, c)| c.get(&format!("{prefix}{i}")).expect("send"))
            .collect();
        sidecar.child.signal(SIGTERM);
        sidecar.child.signal(SIGCONT);
        let mut lost = Vec::new();
        for (c, &stream) in conns.iter_mut().zip(&streams) {
            let outcome = c.outcome(stream);
            c.until_closed();
            if outcome != Outcome::Answered(Some(200)) || c.goaways != [0x7fff_ffff, stream] {
                lost.push(format!("{outcome:?}, GOAWAYs {:?}", c.goaways));
            }
        }
        assert!(
            lost.is_empty(),
            "{protocol}: {} of {IDLE} streams not served, or not two GOAWAYs: {lost:?}",
            lost.len()
        );
        assert!(
            wait_until(Duration::from_secs(2), || served(&nginx, &prefix) == IDLE),
            "{protocol}: nginx served {} of {IDLE}",
            served(&nginx, &prefix)
        );
    }
}

/// wrk on 32 keep-alive connections, SIGTERM half-way: every request wrk sent is answered with
/// a 2xx: no read or timeout error (a request sent on a keep-alive connection and never answered
/// is one: its reply never comes, EOF or reset), and nginx served exactly what wrk got back.
/// wrk counts a connection refused by the closed listener as a write error (its connect is
/// non-blocking, and the refusal surfaces at its first write): those requests were never sent.
#[test]
fn sigterm_under_wrk_loses_no_request() {
    require("wrk", "apt-get install -y wrk");
    let nginx = Nginx::logged();
    let (sidecar, port, _dir) = sidecar(nginx.port, "http1");
    let url = format!("http://127.0.0.1:{port}/public/load");
    let wrk = std::thread::spawn(move || {
        Command::new("wrk")
            .args(["-t2", "-c32", "-d4s", "--timeout", "5s", &url])
            .output()
            .expect("run wrk")
    });
    std::thread::sleep(Duration::from_millis(1500));
    sidecar.child.signal(SIGTERM);
    let out = wrk.join().expect("wrk thread");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("Non-2xx"), "{text}");
    let errors = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Socket errors:"))
        .unwrap_or("");
    for kind in ["read", "timeout"] {
        let n: u64 = errors
            .split(',')
            .find_map(|e| e.trim().strip_prefix(kind))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        assert_eq!(n, 0, "{kind} errors: requests lost at SIGTERM:\n{text}");
    }
    let requests: usize = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(requests > 500, "too few requests to mean anything:\n{text}");
    assert_eq!(
        served(&nginx, "/public/load"),
        requests,
        "requests nginx served against those wrk got answered:\n{text}"
    );
}

/// A compliant HTTP/2 client under load (8 connections, 16 streams in flight each, no new
/// stream once a GOAWAY came), SIGTERM half-way: every stream it sent is answered with a 200,
/// none refused by a GOAWAY, none reset, none cut by the close. On both HTTP/2 paths.
#[test]
fn sigterm_under_http2_load_loses_no_stream() {
    let nginx = Nginx::start();
    for (upstream, protocol) in [(nginx.port, "http1"), (nginx.h2c_port, "http2")] {
        let (sidecar, port, _dir) = sidecar(upstream, protocol);
        let clients: Vec<_> = (0..8)
            .map(|_| std::thread::spawn(move || load(port, 16, Duration::from_secs(4))))
            .collect();
        std::thread::sleep(Duration::from_millis(1500));
        sidecar.child.signal(SIGTERM);
        let (mut sent, mut lost) = (0, Vec::new());
        for c in clients {
            let (s, mut l) = c.join().expect("client thread");
            sent += s;
            lost.append(&mut l);
        }
        assert!(sent > 500, "{protocol}: too few streams to mean anything");
        assert!(
            lost.is_empty(),
            "{protocol}: {} of {sent} streams lost at SIGTERM: {:?}",
            lost.len(),
            &lost[..lost.len().min(10)]
        );
    }
}

/// One connection keeping `depth` GETs in flight for `run` or until a GOAWAY: how many streams
/// it sent, and what became of those not answered with a 200.
fn load(port: u16, depth: usize, run: Duration) -> (usize, Vec<String>) {
    let end = std::time::Instant::now() + run;
    let mut c = H2Conn::connect(port).expect("connect");
    let (mut open, mut sent, mut lost) = (std::collections::BTreeSet::new(), 0, Vec::new());
    let mut goaway = false;
    loop {
        while !goaway && open.len() < depth && std::time::Instant::now() < end {
            match c.get("/public/load") {
                Ok(id) => {
                    open.insert(id);
                    sent += 1;
                }
                Err(e) => {
                    lost.push(format!("cannot send: {e}"));
                    break;
                }
            }
        }
        if open.is_empty() {
            return (sent, lost);
        }
        match c.next_event() {
            Event::Answered(id, status) => {
                open.remove(&id);
                if status != Some(200) {
                    lost.push(format!("stream {id}: {status:?}"));
                }
            }
            Event::Reset(id, code) => {
                open.remove(&id);
                lost.push(format!("stream {id} reset ({code})"));
            }
            Event::GoAway(last) => {
                goaway = true;
                let refused: Vec<u32> = open.iter().copied().filter(|&id| id > last).collect();
                for id in refused {
                    open.remove(&id);
                    lost.push(format!("stream {id} refused by GOAWAY {last}"));
                }
            }
            Event::Closed(e) => {
                lost.extend(open.iter().map(|id| format!("stream {id} cut: {e}")));
                return (sent, lost);
            }
        }
    }
}

/// h2load on 8 connections of 16 streams each, SIGTERM half-way: every request h2load got back
/// is a 2xx, and nginx served exactly those. (h2load counts as failed the requests it queued and
/// never sent once a GOAWAY came: nginx's own graceful quit shows some too; the compliant client
/// above checks the streams actually sent.)
#[test]
fn sigterm_under_h2load_answers_what_it_forwarded() {
    require("h2load", "apt-get install -y nghttp2-client");
    let nginx = Nginx::logged();
    for (upstream, protocol) in [(nginx.port, "http1"), (nginx.h2c_port, "http2")] {
        let (sidecar, port, _dir) = sidecar(upstream, protocol);
        let path = format!("/public/h2load-{protocol}");
        let url = format!("http://127.0.0.1:{port}{path}");
        let h2load = std::thread::spawn(move || {
            Command::new("h2load")
                .args(["-D", "4", "-c", "8", "-m", "16", &url])
                .output()
                .expect("run h2load")
        });
        std::thread::sleep(Duration::from_millis(1500));
        sidecar.child.signal(SIGTERM);
        let out = h2load.join().expect("h2load thread");
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find(|l| l.starts_with("requests:"))
            .unwrap_or_else(|| panic!("{protocol}: no summary:\n{text}"));
        // requests: N total, S started, D done, K succeeded, F failed, E errored, T timeout
        let succeeded: usize = line
            .split(',')
            .find(|f| f.trim().ends_with("succeeded"))
            .and_then(|f| f.split_whitespace().find_map(|w| w.parse().ok()))
            .unwrap_or(0);
        assert!(succeeded > 500, "{protocol}: too few requests:\n{text}");
        assert!(
            text.contains(&format!("status codes: {succeeded} 2xx")),
            "{protocol}: {text}"
        );
        assert!(
            wait_until(Duration::from_secs(2), || served(&nginx, &path)
                == succeeded),
            "{protocol}: nginx served {} against {succeeded} answered:\n{text}",
            served(&nginx, &path)
        );
    }
}
