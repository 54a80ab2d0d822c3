//! The HTTP/1.1 fast path against an upstream that answers in every framing HTTP/1.1 allows:
//! chunked in pieces with trailers, until close, 1xx before the answer, no body, hop-by-hop
//! fields, and a server that closes a kept-alive connection behind the proxy's back.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sockmesh_tests::{Sidecar, TempDir, http_policy, metric, wait_until};

/// Request heads the upstream saw, in order.
type Seen = Arc<Mutex<Vec<String>>>;

/// An HTTP/1.1 server answering by path; counts its accepted connections.
fn scripted_upstream() -> (u16, Seen, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let seen: Seen = Arc::default();
    let conns = Arc::new(AtomicUsize::new(0));
    let (seen2, conns2) = (Arc::clone(&seen), Arc::clone(&conns));
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            conns2.fetch_add(1, Ordering::SeqCst);
            let seen = Arc::clone(&seen2);
            std::thread::spawn(move || serve(s, &seen));
        }
    });
    (port, seen, conns)
}

fn serve(s: TcpStream, seen: &Seen) {
    let mut reader = BufReader::new(s.try_clone().expect("clone"));
    let mut s = s;
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let path = head.split(' ').nth(1).unwrap_or("").to_owned();
        seen.lock().expect("seen").push(head.clone());
        let w = &mut s;
        let r: std::io::Result<()> = (|| {
            match path.as_str() {
            "/chunked" => {
                w.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel")?;
                std::thread::sleep(Duration::from_millis(30));
                w.write_all(b"lo\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
            }
            "/until-close" => {
                w.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of ")?;
                std::thread::sleep(Duration::from_millis(30));
                w.write_all(b"this")?;
                w.shutdown(std::net::Shutdown::Both)
            }
            "/early" => w.write_all(
                b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            ),
            "/empty" => w.write_all(b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n"),
            "/slow" => {
                // Long enough for the SIGTERM to be handled before the response head, well within
                // the 5 s drain timeout and the clients' read timeouts.
                std::thread::sleep(Duration::from_millis(2000));
                w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow")
            }
            "/hop" => w.write_all(
                b"HTTP/1.1 200 OK\r\nConnection: x-secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok",
            ),
            "/bye" => {
                // Keep-alive by all appearances, then closed once the proxy has pooled it.
                w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbye")?;
                std::thread::sleep(Duration::from_millis(100));
                w.shutdown(std::net::Shutdown::Both)
            }
            _ => {
                let mut body = vec![0u8; content_length(&head)];
                reader.read_exact(&mut body)?;
                let text = format!("{head}{}", String::from_utf8_lossy(&body));
                write!(w, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{text}", text.len())
            }
        }
        })();
        if r.is_err() || path == "/until-close" || path == "/bye" {
            return;
        }
    }
}

fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0)
}

fn start() -> (Sidecar, u16, Seen, Arc<AtomicUsize>, TempDir) {
    let (upstream, seen, conns) = scripted_upstream();
    let (s, port, dir) = Sidecar::in_front_of(
        upstream,
        &http_policy(
            upstream,
            "        - path: \"/[^d].*\"\n          method: \"GET|HEAD|POST\"\n",
        ),
        &["--label", "app=test"],
    );
    (s, port, seen, conns, dir)
}

/// Writes `raw` on one connection and reads until the proxy closes it or `until` is seen. Five
/// seconds without either fails the test: a connection the proxy should close must be closed.
fn exchange(port: u16, raw: &str, until: &str) -> String {
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    c.write_all(raw.as_bytes()).expect("write");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&out).contains(until) {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => panic!(
                "neither {until:?} nor a close within 5 s; read so far: {:?}",
                String::from_utf8_lossy(&out)
            ),
            // A reset is a close too, as far as reading goes.
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn every_response_framing_is_relayed_intact() {
    let (_s, port, _seen, _conns, _d) = start();
    let get = |path: &str, until: &str| {
        exchange(
            port,
            &format!("GET {path} HTTP/1.1\r\nHost: web\r\n\r\n"),
            until,
        )
    };

    let r = get("/chunked", "\r\n0\r\nX-Trailer: t\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
    assert!(
        r.ends_with("\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"),
        "chunked body changed: {r:?}"
    );

    let r = get("/until-close", "never");
    assert!(r.contains("connection: close\r\n"), "{r}");
    assert!(r.ends_with("\r\n\r\nall of this"), "{r:?}");

    let r = get("/early", "\r\n\r\nok");
    assert!(
        r.starts_with("HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\n"),
        "{r:?}"
    );

    let r = get("/empty", "\r\n\r\n");
    assert!(
        r.starts_with("HTTP/1.1 204 No Content\r\nX-A: 1\r\n"),
        "{r:?}"
    );

    let r = get("/hop", "\r\n\r\nok");
    assert!(
        r.starts_with("HTTP/1.1 200 OK\r\n") && r.ends_with("\r\n\r\nok"),
        "{r:?}"
    );
    let lower = r.to_ascii_lowercase();
    assert!(
        !lower.contains("x-secret") && !lower.contains("keep-alive"),
        "hop-by-hop fields crossed the proxy: {r:?}"
    );

    let r = exchange(
        port,
        "HEAD /x HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n",
        "never",
    );
    assert!(
        r.starts_with("HTTP/1.1 200 OK\r\n") && r.ends_with("\r\n\r\n"),
        "{r:?}"
    );
}

#[test]
fn pipelined_requests_and_bodies_arrive_in_order() {
    let (s, port, seen, _conns, _d) = start();
    let r = exchange(
        port,
        "GET /one HTTP/1.1\r\nHost: web\r\nConnection: keep-alive, Keep-Alive\r\nKeep-Alive: 5\r\n\r\n\
         POST /two HTTP/1.1\r\nHost: web\r\nContent-Length: 5\r\n\r\nhello\
         GET /three HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n",
        "never",
    );
    let one = r.find("GET /one").expect("first answered");
    let two = r.find("POST /two").expect("second answered");
    let three = r.find("GET /three").expect("third answered");
    assert!(one < two && two < three, "{r}");
    assert!(r.contains("\r\n\r\nhello"), "the body did not arrive: {r}");
    let seen = seen.lock().expect("seen").join("");
    assert!(
        !seen.to_ascii_lowercase().contains("keep-alive"),
        "hop-by-hop fields reached the upstream: {seen}"
    );
    let m = s.metrics();
    assert_eq!(
        metric(
            &m,
            "sockmesh_requests_total{protocol=\"http1\",verdict=\"allow\"}"
        ),
        3.0,
        "{m}"
    );
}

#[test]
fn a_pooled_connection_the_server_closed_is_replaced_by_a_fresh_one() {
    let (_s, port, _seen, conns, _d) = start();
    let get = |path: &str| {
        exchange(
            port,
            &format!("GET {path} HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n"),
            "never",
        )
    };
    // Pooled: a second client connection's request reuses the upstream connection.
    assert!(get("/first").starts_with("HTTP/1.1 200 OK"));
    assert!(get("/bye").ends_with("bye"));
    assert_eq!(
        conns.load(Ordering::SeqCst),
        1,
        "the upstream connection was not reused"
    );
    // The upstream closed that connection after answering; the next request must not fail.
    std::thread::sleep(Duration::from_millis(300));
    let r = get("/after");
    assert!(r.starts_with("HTTP/1.1 200 OK"), "{r}");
    assert_eq!(
        conns.load(Ordering::SeqCst),
        2,
        "expected one fresh connection"
    );
}

#[test]
fn a_denied_request_is_answered_by_the_proxy_and_the_connection_goes_on() {
    let (_s, port, seen, _conns, _d) = start();
    let r = exchange(
        port,
        "DELETE /x HTTP/1.1\r\nHost: web\r\nContent-Length: 3\r\n\r\nabcGET /after HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n",
        "never",
    );
    assert!(
        r.starts_with("HTTP/1.1 403 Forbidden\r\n") && r.contains("\r\n\r\nAccess denied"),
        "{r}"
    );
    assert!(
        r.contains("GET /after"),
        "the next request on the connection was lost: {r}"
    );
    assert!(
        !seen
            .lock()
            .expect("seen")
            .iter()
            .any(|h| h.starts_with("DELETE")),
        "a denied request reached the upstream"
    );
    // A denied HEAD gets the head alone: a body would be read as the next response.
    let r = exchange(
        port,
        "HEAD /denied HTTP/1.1\r\nHost: web\r\n\r\nGET /after-head HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n",
        "never",
    );
    let (first, rest) = r.split_once("\r\n\r\n").expect("a head");
    assert!(first.starts_with("HTTP/1.1 403 Forbidden"), "{r}");
    assert!(
        rest.starts_with("HTTP/1.1 200 OK"),
        "body after a HEAD answer: {r:?}"
    );
}

/// SIGTERM drains: a request in flight is answered (with `connection: close`), an idle
/// keep-alive connection is closed, and the sidecar exits 0.
#[test]
fn shutdown_finishes_the_request_in_flight_and_closes() {
    let (mut s, port, seen, _conns, _d) = start();
    let mut idle = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let warm = "GET /warm HTTP/1.1\r\nHost: web\r\n\r\n";
    idle.write_all(warm.as_bytes()).expect("write");
    // The whole answer (it echoes the request), which may come in more than one read: a part
    // left unread would be taken below for data on a connection that should be closed.
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.ends_with(warm.as_bytes()) {
        let n = idle.read(&mut buf).expect("warm-up answer");
        assert!(n > 0, "closed before the warm-up answer ended: {answer:?}");
        answer.extend_from_slice(&buf[..n]);
    }

    let busy = std::thread::spawn(move || {
        exchange(port, "GET /slow HTTP/1.1\r\nHost: web\r\n\r\n", "never")
    });
    // SIGTERM once the request is upstream (before, the proxy would rightly refuse it).
    let upstream = wait_until(Duration::from_secs(5), || {
        seen.lock()
            .expect("seen")
            .iter()
            .any(|h| h.starts_with("GET /slow"))
    });
    assert!(upstream, "the slow request never reached the upstream");
    let status = s.child.terminate();
    let answer = busy.join().expect("client thread");
    assert!(
        answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.ends_with("slow"),
        "the request in flight was not answered: {answer:?}"
    );
    assert!(
        answer.contains("connection: close\r\n"),
        "no connection: close while draining: {answer:?}"
    );
    assert_eq!(
        idle.read(&mut buf).ok(),
        Some(0),
        "the idle connection was left open"
    );
    assert!(status.success(), "sockmesh exited with {status}");
}
