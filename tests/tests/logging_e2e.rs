//! Logging never stalls the data path: with standard output stuck (a pipe nobody reads, as with
//! a paused log collector), requests and the admin server go on, and the lines that could not be
//! written are counted.

use std::process::Command;
use std::time::Duration;

use sockmesh_tests::{
    Nginx, Sidecar, TempDir, free_port, http_get, http_policy, metric, require, wait_until,
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
