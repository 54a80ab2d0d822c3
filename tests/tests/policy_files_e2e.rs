//! What a policy file on disk may and may not do to the policy in force: a file emptied, left
//! with only comments, or caught half-written never takes the policy down (the last good one keeps
//! enforcing, and the upstream never sees a denied request); deleting a file is how its policies
//! are removed, except for the last file, whose loss keeps the last good policy.
//!
//! nginx keeps an access log here, so each test checks what reached the upstream, not only the
//! statuses the client saw.

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use sockmesh_tests::{
    Nginx, Sidecar, TempDir, bin, curl, free_port, http_policy, metric, wait_until,
};

const BEFORE: &str = "        - method: GET\n          path: \"/public/.*\"\n";
const AFTER: &str = "        - method: GET\n          path: \"/public/.*\"\n        - method: GET\n          path: /new\n";

fn failed_reloads(sidecar: &Sidecar) -> f64 {
    metric(
        &sidecar.metrics(),
        "sockmesh_policy_reloads_total{result=\"failed\"}",
    )
}

/// GETs `path` through the sidecar on `port`; the status.
fn get(port: u16, path: &str) -> u16 {
    curl(&[&format!("http://127.0.0.1:{port}{path}")]).0
}

fn denied_reached_upstream(nginx: &Nginx) -> Vec<String> {
    nginx
        .served()
        .into_iter()
        .filter(|l| l.contains("/private"))
        .collect()
}

/// Writes `text` to `path` as a slow writer does: truncated (or created), cut before its L7
/// rules, 0.6 s of pause, the rest, closed. During the pause a denied path is probed through the
/// sidecar on `port`; the statuses it got.
fn write_slowly(path: &std::path::Path, text: &str, port: u16) -> Vec<u16> {
    let cut = text.find("      rules:").expect("the policy has L7 rules");
    let mut file = std::fs::File::create(path).expect("truncate or create");
    file.write_all(&text.as_bytes()[..cut])
        .expect("write the first part");
    let pause = Instant::now() + Duration::from_millis(600);
    let mut probes = Vec::new();
    while Instant::now() < pause {
        probes.push(get(port, "/private"));
        std::thread::sleep(Duration::from_millis(20));
    }
    file.write_all(&text.as_bytes()[cut..])
        .expect("write the rest");
    probes
}

/// A file written in place slowly (truncated, half written, a pause, the rest): nothing is read
/// until its writer closes it. The half written here is a whole policy without its L7 rules,
/// which would allow every path on the port.
#[test]
fn a_policy_file_written_slowly_is_read_when_its_writer_closes_it() {
    let nginx = Nginx::logged();
    let (sidecar, port, dir) = Sidecar::in_front_of(
        nginx.port,
        &http_policy(nginx.port, BEFORE),
        &["--label", "app=test"],
    );
    assert_eq!(get(port, "/private"), 403);
    let full = http_policy(nginx.port, AFTER);

    let probes = write_slowly(&dir.path().join("policy.yaml"), &full, port);
    assert!(
        wait_until(Duration::from_secs(5), || get(port, "/new") == 200),
        "the whole file was not applied; log:\n{}",
        sidecar.logs()
    );
    assert!(
        probes.iter().all(|&s| s == 403),
        "probes during the pause: {probes:?}"
    );
    let reached = denied_reached_upstream(&nginx);
    assert!(
        reached.is_empty(),
        "{} of {} probes of a denied path reached the upstream; log:\n{}",
        reached.len(),
        probes.len(),
        sidecar.logs()
    );
    // Log lines reach the file in batches (5 ms apart): wait for the reload's line, and a
    // while for any other, before counting them.
    sidecar.wait_log("policy reloaded");
    std::thread::sleep(Duration::from_millis(300));
    let logs = sidecar.logs();
    let reloads = logs.matches("policy reloaded").count();
    assert_eq!(
        reloads, 1,
        "the half-written file was loaded as a reload; log:\n{logs}"
    );
}

/// A file emptied, left with only comments, or with an empty document: refused like a syntax
/// error, counted, shown in `/config_dump`, and the last good policy keeps enforcing.
#[test]
fn an_emptied_policy_file_is_refused_and_the_last_good_policy_stays() {
    let nginx = Nginx::logged();
    let (sidecar, port, dir) = Sidecar::in_front_of(
        nginx.port,
        &http_policy(nginx.port, BEFORE),
        &["--label", "app=test"],
    );
    let policy = dir.path().join("policy.yaml");
    for (round, text) in ["", "# only a comment\n", "---\n# and this\n"]
        .iter()
        .enumerate()
    {
        std::fs::write(&policy, text).expect("empty the policy");
        assert!(
            wait_until(Duration::from_secs(5), || failed_reloads(&sidecar)
                >= (round + 1) as f64),
            "{text:?} was not refused; log:\n{}",
            sidecar.logs()
        );
        assert_eq!(get(port, "/private"), 403, "after {text:?}");
        assert_eq!(get(port, "/public/x"), 200, "after {text:?}");
        let (_, dump) = sidecar.get("/config_dump");
        assert!(dump.contains("no policy document"), "{dump}");
    }
    assert!(denied_reached_upstream(&nginx).is_empty());
    sidecar.wait_log("policy change refused");

    // A good file again applies, and clears the error.
    std::fs::write(&policy, http_policy(nginx.port, AFTER)).expect("write");
    assert!(wait_until(Duration::from_secs(5), || get(port, "/new") == 200));
    let (_, dump) = sidecar.get("/config_dump");
    assert!(!dump.contains("no policy document"), "{dump}");
}

/// At start, a policy file with no policy in it stops the sidecar with the reason.
#[test]
fn a_policy_file_with_no_policy_stops_the_start() {
    let dir = TempDir::new("empty-start");
    let policy = dir.write("policy.yaml", "# nothing yet\n");
    let (listen, admin) = (free_port(), free_port());
    let mut child = sockmesh_tests::Child::spawn(
        Command::new(bin())
            .args(["run", "--upstream", "127.0.0.1:1", "--label", "app=test"])
            .arg("--listen")
            .arg(format!("127.0.0.1:{listen}"))
            .arg("--admin")
            .arg(format!("127.0.0.1:{admin}"))
            .arg("--policy")
            .arg(&policy)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped()),
    );
    let exited = wait_until(Duration::from_secs(10), || !child.is_running());
    assert!(exited, "the sidecar started with an empty policy file");
    let status = child.0.wait().expect("status");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().expect("stderr"), &mut err)
        .expect("read stderr");
    assert!(!status.success());
    assert!(err.contains("no policy document"), "{err}");

    let out = Command::new(bin())
        .args(["policy", "check"])
        .arg(&policy)
        .output()
        .expect("run policy check");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:1:1: error: no policy document",
            policy.display()
        )),
        "{err}"
    );
}

/// Deleting one of the policy files removes its policies and keeps the others; deleting the last
/// one is refused (it cannot be told from a volume gone) and the last good policy stays.
#[test]
fn deleting_a_policy_file_removes_its_policies_but_the_last_one_keeps_them() {
    let nginx = Nginx::logged();
    let dir = TempDir::new("two-files");
    let base = dir.write("base.yaml", &http_policy(nginx.port, BEFORE));
    let extra_rule = "        - method: GET\n          path: /new\n";
    let extra = dir.write(
        "extra.yaml",
        &http_policy(nginx.port, extra_rule).replace("name: test", "name: extra"),
    );
    let extra_arg = extra.display().to_string();
    let (sidecar, port) = Sidecar::with_policy_file(
        nginx.port,
        &base,
        &["--policy", &extra_arg, "--label", "app=test"],
    );
    assert_eq!(get(port, "/new"), 200);

    std::fs::remove_file(&extra).expect("rm extra.yaml");
    assert!(
        wait_until(Duration::from_secs(5), || get(port, "/new") == 403),
        "the deleted file's policy still applies; log:\n{}",
        sidecar.logs()
    );
    assert_eq!(get(port, "/public/x"), 200, "the other file's policy stays");
    sidecar.wait_log("policy file removed");

    let failed = failed_reloads(&sidecar);
    std::fs::remove_file(&base).expect("rm base.yaml");
    assert!(
        wait_until(Duration::from_secs(5), || failed_reloads(&sidecar) > failed),
        "removing the last file was not refused; log:\n{}",
        sidecar.logs()
    );
    assert_eq!(get(port, "/public/x"), 200, "the last good policy stays");
    assert_eq!(get(port, "/private"), 403);
    let (_, dump) = sidecar.get("/config_dump");
    assert!(dump.contains("every policy file is gone"), "{dump}");

    // Made again by a slow writer: read at its close, not at its creation.
    let probes = write_slowly(&base, &http_policy(nginx.port, AFTER), port);
    assert!(
        wait_until(Duration::from_secs(5), || get(port, "/new") == 200),
        "the file made again was not applied; log:\n{}",
        sidecar.logs()
    );
    assert!(probes.iter().all(|&s| s == 403), "{probes:?}");
    assert!(denied_reached_upstream(&nginx).is_empty());
}
