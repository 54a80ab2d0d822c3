//! Logging never stalls the data path: with standard output stuck (a pipe nobody reads, as with
//! a paused log collector), requests and the admin server go on, and the lines that could not be
//! written are counted.

use std::process::Command;
use std::time::Duration;

use sockmesh_tests::{
    Nginx, Sidecar, TempDir, free_port, http_get, http_policy, http_request, local, metric,
    require, wait_until,
};

#[test]
fn a_stuck_stdout_drops_and_counts_log_lines_instead_of_freezing() {
    require("wrk", "apt-get install -y wrk");
    let nginx = Nginx::start();
    let dir = TempDir::new("stuck-stdout");
    let fifo = dir.path().join("stdout");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(made.success(), "mkfifo failed");
    // Read and write ends in one open (Linux allows O_RDWR on a FIFO): nothing ever reads, so
    // the pipe fills (64 KiB) and the writer blocks.
    let stuck = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .expect("open the FIFO");
    let policy = dir.write(
        "policy.yaml",
        &http_policy(nginx.port, "        - method: GET\n"),
    );
    let port = free_port();
    let (listen, upstream) = (
        format!("127.0.0.1:{port}"),
        format!("127.0.0.1:{}", nginx.port),
    );
    let sidecar = Sidecar::start_with_stdout(
        &[
            "--listen",
            &listen,
            "--upstream",
            &upstream,
            "--policy",
            &policy.display().to_string(),
            "--label",
            "app=test",
            "--log-level",
            "info",
        ],
        Some(stuck),
    );
    // Thousands of access-log lines: far more than the pipe and the writer's buffer hold.
    let url = format!("http://127.0.0.1:{port}/x");
    let out = Command::new("wrk")
        .args(["-t1", "-c4", "-d4s", "--timeout", "5s", &url])
        .output()
        .expect("run wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("Socket errors"), "requests stalled:\n{text}");
    assert!(
        wait_until(Duration::from_secs(2), || matches!(
            http_get(sidecar.admin, "/live"),
            Ok((200, _))
        )),
        "the admin server froze"
    );
    let dropped = metric(&sidecar.metrics(), "sockmesh_log_lines_dropped_total");
    assert!(dropped > 0.0, "no dropped lines counted; wrk:\n{text}");
}

/// Threads of process `pid`.
fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn the_log_writer_thread_starts_with_the_first_line() {
    let nginx = Nginx::start();
    let (sidecar, port, _dir) = Sidecar::in_front_of(
        nginx.port,
        &http_policy(nginx.port, "        - method: GET\n"),
        &[
            "--label",
            "app=test",
            "--workers",
            "1",
            "--log-level",
            "warn",
        ],
    );
    let pid = sidecar.child.pid();
    for _ in 0..20 {
        let (status, _) = http_get(local(port), "/quiet").expect("request");
        assert_eq!(status, 200);
    }
    // Nothing logged: the one worker is the process's only thread (see telemetry/writer.rs).
    assert_eq!(threads(pid), 1, "log:\n{}", sidecar.logs());
    let (status, body) = http_request(sidecar.admin, "POST", "/logging?level=info").expect("admin");
    assert_eq!(status, 200, "{body}");
    let (status, _) = http_get(local(port), "/logged").expect("request");
    assert_eq!(status, 200);
    sidecar.wait_log("/logged");
    assert_eq!(threads(pid), 2, "a writer thread once lines are written");
}

/// With the upstream down, every request fails, and the warning it causes is written at most
/// once a second per cause, with the count left out: an outage cannot fill a disk. (One line
/// per failed request was 128,236 lines, 25.5 MB in 5 s.) Both HTTP paths: the fast path
/// (HTTP/1.1, wrk) and hyper's (HTTP/2 to an HTTP/2 upstream, h2load).
#[test]
fn warnings_of_a_down_upstream_are_rate_limited_with_a_count() {
    require("wrk", "apt-get install -y wrk");
    require("h2load", "apt-get install -y nghttp2-client");
    let down = free_port();
    let rule = "        - method: GET\n";
    for (client, protocol) in [("wrk", "http1"), ("h2load", "http2")] {
        let (sidecar, port, _dir) = Sidecar::in_front_of(
            down,
            &http_policy(down, rule),
            &[
                "--label",
                "app=test",
                "--log-level",
                "warn",
                "--upstream-protocol",
                protocol,
            ],
        );
        let url = format!("http://127.0.0.1:{port}/x");
        let out = match client {
            "wrk" => Command::new("wrk")
                .args(["-t1", "-c4", "-d3s", "--timeout", "5s", &url])
                .output(),
            _ => Command::new("h2load")
                .args(["-D", "3", "-c", "4", "-m", "8", &url])
                .output(),
        }
        .expect("run the load");
        let text = String::from_utf8_lossy(&out.stdout);
        let failed = metric(&sidecar.metrics(), "sockmesh_requests_total{");
        assert!(
            failed > 1000.0,
            "{client}: too few requests to mean anything:\n{text}"
        );
        // The writer thread may trail: give it a moment.
        std::thread::sleep(Duration::from_millis(300));
        let logs = sidecar.logs();
        let lines: Vec<&str> = logs
            .lines()
            .filter(|l| l.contains("upstream request failed"))
            .collect();
        assert!(
            !lines.is_empty() && lines.len() <= 6,
            "{client}: {} warnings for {failed} failed requests in 3 s:\n{}",
            lines.len(),
            lines
                .iter()
                .take(10)
                .copied()
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert!(
            lines.iter().any(|l| l.contains("suppressed=")),
            "{client}: no count of the lines left out:\n{}",
            lines.join("\n")
        );
    }
}

/// The access log is on at `info` and follows the filter (`access=off` turns it off at run
/// time), and while stdout keeps up no line is lost: every request of a burst has its line, in
/// the format of the `fmt` layer, and nothing is counted as dropped.
#[test]
fn the_access_log_follows_the_filter_and_loses_no_line() {
    require("h2load", "apt-get install -y nghttp2-client");
    let nginx = Nginx::start();
    let (sidecar, port, _dir) = Sidecar::in_front_of(
        nginx.port,
        &http_policy(nginx.port, "        - method: GET\n"),
        &["--label", "app=test", "--upstream-protocol", "http1"],
    );
    let (status, body) =
        http_request(sidecar.admin, "POST", "/logging?level=info,access=off").expect("admin");
    assert_eq!(status, 200, "{body}");
    let (status, _) = http_get(local(port), "/unlogged").expect("request");
    assert_eq!(status, 200);
    let (status, body) = http_request(sidecar.admin, "POST", "/logging?level=info").expect("admin");
    assert_eq!(status, 200, "{body}");
    // HTTP/1.1 (fast path) and HTTP/2 (in-task path), many requests at once.
    for (args, n) in [(&["--h1"][..], 3000), (&[][..], 3000)] {
        let out = Command::new("h2load")
            .args(["-n", &n.to_string(), "-c", "8", "-m", "4"])
            .args(args)
            .arg(format!("http://127.0.0.1:{port}/counted"))
            .output()
            .expect("run h2load");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(&format!("status codes: {n} 2xx")), "{text}");
    }
    let (status, _) = http_get(local(port), "/last").expect("request");
    assert_eq!(status, 200);
    let logs = sidecar.wait_log("path=\"/last\"");
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains(" INFO access: "))
        .collect();
    let counted = lines
        .iter()
        .filter(|l| l.contains(" path=\"/counted\" ") && l.contains(" status=200 "))
        .count();
    assert_eq!(counted, 6000, "one line per request");
    assert!(
        !logs.contains("/unlogged"),
        "a line while the access log was off"
    );
    assert!(
        lines
            .iter()
            .all(|l| l.contains(" listener=\"main\" protocol=\"http") && l.ends_with(" note=\"\"")),
        "{}",
        lines.first().unwrap_or(&"")
    );
    let dropped = metric(&sidecar.metrics(), "sockmesh_log_lines_dropped_total");
    assert_eq!(dropped, 0.0);
}
