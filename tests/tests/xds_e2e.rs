//! xDS through the binaries: `sockmesh control-plane` serving files, `sockmesh run --xds` enforcing
//! them in front of nginx, curl and a kept-alive connection as clients. Both SotW and delta:
//!
//! 1. the first sync brings listener, cluster and policy: allowed -> nginx, denied -> 403;
//! 2. a policy file change reaches enforcement and the ACK is recorded on both sides;
//! 3. a resource with an invalid regex is NACKed with an error naming it, the other resource changed
//!    in the same push applies, the old version of the bad one keeps enforcing;
//! 4. control plane SIGKILLed: the sidecar keeps enforcing and serving (and stays ready);
//! 5. control plane restarted with new content: the sidecar resyncs, the kept-alive client
//!    connection survives all of it.

use std::time::Duration;

use sockmesh_tests::xds::{
    ControlPlane, KeepAlive, allow_get, allow_get_json, clusters_file, config_dump,
    write_atomically,
};
use sockmesh_tests::{Nginx, Sidecar, TempDir, curl, free_port, local, wait_until};

fn status_of(port: u16, path: &str) -> u16 {
    curl(&[&format!("http://127.0.0.1:{port}{path}")]).0
}

/// Waits up to 30 s for `path` to get `want` through the sidecar (after a control plane restart,
/// the sidecar's reconnect backoff alone can take more than 10 s).
fn eventually(port: u16, path: &str, want: u16, what: &str, sidecar: &Sidecar, cp: &ControlPlane) {
    let ok = wait_until(Duration::from_secs(30), || status_of(port, path) == want);
    assert!(
        ok,
        "{what}: GET {path} is {} not {want}\nconfig_dump: {}\nsidecar log:\n{}\ncontrol plane log:\n{}",
        status_of(port, path),
        config_dump(sidecar),
        sidecar.logs(),
        cp.logs()
    );
}

fn scenario(mode: &str) {
    let nginx = Nginx::start();
    let dir = TempDir::new(&format!("xds-{mode}"));
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(&policies).expect("policies dir");
    let listen = free_port();
    let clusters = dir.write("clusters.yaml", &clusters_file(nginx.port, listen));
    // Policy `a` comes as a resource in JSON (so a later invalid version reaches the sidecar),
    // policy `b` as CiliumNetworkPolicy YAML.
    write_atomically(
        &policies,
        "a.json",
        &allow_get_json("a", nginx.port, "/a/.*"),
    );
    write_atomically(&policies, "b.yaml", &allow_get("b", nginx.port, &["/b/v1"]));
    let cp_port = free_port();
    let cp_log = dir.path().join("control-plane.log");
    let mut cp = ControlPlane::start(&policies, &clusters, cp_port, &cp_log);

    let node = format!("e2e-{mode}");
    let cp_addr = cp.addr.to_string();
    let sidecar = Sidecar::start(&[
        "--xds",
        &cp_addr,
        "--xds-mode",
        mode,
        "--node-id",
        &node,
        "--label",
        "app=test",
        "--log-format",
        "json",
    ]);

    // 1. Listener, cluster and policies all came from the control plane.
    let (status, body) = curl(&[&format!("http://127.0.0.1:{listen}/a/x")]);
    assert_eq!(
        (status, body.as_str()),
        (200, "nginx GET /a/x\n"),
        "{}",
        sidecar.logs()
    );
    assert_eq!(status_of(listen, "/b/v1"), 200);
    assert_eq!(status_of(listen, "/private"), 403);
    let mut kept = KeepAlive::connect(local(listen));
    assert_eq!(kept.get("/a/kept").0, 200);

    // 2. A policy change reaches enforcement; the ACK is recorded.
    write_atomically(
        &policies,
        "b.yaml",
        &allow_get("b", nginx.port, &["/b/v1", "/b/new"]),
    );
    eventually(listen, "/b/new", 200, "policy change", &sidecar, &cp);
    assert!(
        wait_until(Duration::from_secs(5), || cp
            .logs()
            .matches("control-plane: ACK")
            .count()
            >= 6
            && cp.logs().contains(&node)),
        "control plane did not log ACKs from {node}:\n{}",
        cp.logs()
    );
    let dump = config_dump(&sidecar);
    assert!(
        dump.contains("sockmesh.policy.v1.NetworkPolicy") && dump.contains("acceptedVersion"),
        "{dump}"
    );
    assert!(dump.contains("\"lastAck\""), "{dump}");

    // 3. `a` turns invalid and `b` changes, in one push: NACK names `a`, `b` applies, old `a` stays.
    write_atomically(
        &policies,
        "a.json",
        &allow_get_json("a", nginx.port, "/a/(broken"),
    );
    write_atomically(&policies, "b.yaml", &allow_get("b", nginx.port, &["/b/v2"]));
    eventually(
        listen,
        "/b/v2",
        200,
        "valid resource next to a rejected one",
        &sidecar,
        &cp,
    );
    assert_eq!(
        status_of(listen, "/b/v1"),
        403,
        "b's new version replaced the old"
    );
    assert_eq!(
        status_of(listen, "/a/still"),
        200,
        "the old version of the rejected `a` enforces"
    );
    assert!(
        wait_until(Duration::from_secs(5), || {
            let d = config_dump(&sidecar);
            d.contains("lastNack") && d.contains("resource `a`") && d.contains("invalid regex")
        }),
        "no NACK for `a` in /config_dump: {}",
        config_dump(&sidecar)
    );
    assert!(
        wait_until(Duration::from_secs(5), || {
            let l = cp.logs();
            l.contains("control-plane: NACK")
                && l.contains("resource `a`")
                && l.contains("/a/(broken")
        }),
        "control plane did not log the NACK with its error:\n{}",
        cp.logs()
    );

    // 4. The control plane dies: enforcement and traffic go on, /ready stays up.
    cp.kill();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(status_of(listen, "/b/v2"), 200);
    assert_eq!(status_of(listen, "/a/x"), 200);
    assert_eq!(status_of(listen, "/private"), 403);
    assert_eq!(
        sidecar.get("/ready").0,
        200,
        "ready stays true without the control plane"
    );
    assert_eq!(
        kept.get("/a/kept").0,
        200,
        "kept-alive connection survives the loss"
    );

    // 5. Restart with new content (and `a` fixed): resync without dropping the client connection.
    write_atomically(
        &policies,
        "a.json",
        &allow_get_json("a", nginx.port, "/a2/.*"),
    );
    write_atomically(&policies, "b.yaml", &allow_get("b", nginx.port, &["/b/v3"]));
    let cp2 = ControlPlane::start(&policies, &clusters, cp_port, &cp_log);
    eventually(listen, "/b/v3", 200, "resync after restart", &sidecar, &cp2);
    eventually(
        listen,
        "/a2/x",
        200,
        "fixed `a` after restart",
        &sidecar,
        &cp2,
    );
    assert_eq!(status_of(listen, "/a/x"), 403);
    assert_eq!(
        kept.get("/a2/kept").0,
        200,
        "kept-alive connection survives the resync"
    );
    assert_eq!(kept.get("/a/kept").0, 403, "and sees the new policy");
    let dump = config_dump(&sidecar);
    assert!(
        dump.contains("\"connected\":true") || dump.contains("\"connected\": true"),
        "{dump}"
    );
}

#[test]
fn xds_sotw_change_nack_kill_restart() {
    scenario("sotw");
}

#[test]
fn xds_delta_change_nack_kill_restart() {
    scenario("delta");
}

/// `/ready` stays false while no control plane has answered; the first complete sync makes the
/// sidecar ready and its listeners serve the control plane's policy.
#[test]
fn xds_not_ready_until_first_sync() {
    use sockmesh_tests::{Child, bin, http_get};
    use std::process::{Command, Stdio};

    let nginx = Nginx::start();
    let dir = TempDir::new("xds-ready");
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(&policies).expect("policies dir");
    let listen = free_port();
    let clusters = dir.write("clusters.yaml", &clusters_file(nginx.port, listen));
    write_atomically(&policies, "a.yaml", &allow_get("a", nginx.port, &["/ok"]));
    let cp_port = free_port();
    let admin = local(free_port());
    let log = dir.path().join("sidecar.log");
    let out = std::fs::File::create(&log).expect("log");
    let err = out.try_clone().expect("log");
    let mut cmd = Command::new(bin());
    cmd.args([
        "run",
        "--xds",
        &local(cp_port).to_string(),
        "--label",
        "app=test",
    ])
    .args(["--admin", &admin.to_string()])
    .stdin(Stdio::null())
    .stdout(out)
    .stderr(err);
    let mut sidecar = Child::spawn(&mut cmd);
    // Up, and it has tried the absent control plane at least once.
    let logs = || std::fs::read_to_string(&log).unwrap_or_default();
    let waiting = wait_until(Duration::from_secs(15), || {
        (matches!(http_get(admin, "/live"), Ok((200, _)))
            && logs().contains("control plane unavailable"))
            || !sidecar.is_running()
    });
    assert!(
        waiting && sidecar.is_running(),
        "not up and retrying the control plane:\n{}",
        logs()
    );
    let (status, body) = http_get(admin, "/ready").expect("admin answers before the first sync");
    assert_eq!(status, 503, "not ready without a control plane: {body}");
    assert_eq!(http_get(admin, "/live").map(|r| r.0).ok(), Some(200));
    let (_, dump) = http_get(admin, "/config_dump").expect("config_dump before the first sync");
    assert!(
        dump.contains("\"ready\": false"),
        "xDS status while waiting: {dump}"
    );
    assert_ne!(
        status_of(listen, "/ok"),
        200,
        "serving before the first sync"
    );

    let cp = ControlPlane::start(&policies, &clusters, cp_port, &dir.path().join("cp.log"));
    let ready = wait_until(Duration::from_secs(20), || {
        matches!(http_get(admin, "/ready"), Ok((200, _)))
    });
    assert!(
        ready,
        "not ready after the control plane came up:\n{}\n{}",
        logs(),
        cp.logs()
    );
    assert_eq!(status_of(listen, "/ok"), 200);
    assert_eq!(status_of(listen, "/other"), 403);
}
