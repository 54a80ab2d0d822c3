//! Listeners that xDS adds at run time are spliced from their first connection, and a removed
//! listener's port leaves the accelerated set: `sockmesh run --xds` with acceleration on, in a
//! test cgroup, against `sockmesh control-plane` serving a clusters file that gains a listener and
//! then loses it. Host network namespace (the control plane runs outside the pod), unusual ports.

use std::time::Duration;

use sockmesh_tests::bpf::{
    PodSidecar, TestCgroup, bpf_status, check_roundtrip, field, peer_cmd, pin_dir, require_root,
    spawn_server,
};
use sockmesh_tests::xds::{ControlPlane, write_atomically};
use sockmesh_tests::{TempDir, free_port, wait_until};

const UPSTREAM: u16 = 28480;
const FIRST: u16 = 28401;
const ADDED: u16 = 28403;

fn clusters(listeners: &[(&str, u16)]) -> String {
    let mut s =
        format!("clusters:\n- name: echo\n  endpoints: [\"127.0.0.1:{UPSTREAM}\"]\nlisteners:\n");
    for (name, port) in listeners {
        s.push_str(&format!(
            "- name: {name}\n  address: 127.0.0.1:{port}\n  direction: inbound\n  protocol: tcp\n  cluster: echo\n"
        ));
    }
    s
}

/// The `accelerated ports:` line of `sockmesh bpf status`, as numbers.
fn accelerated(pin: &std::path::Path) -> Vec<u16> {
    let (_, text) = bpf_status(pin);
    text.lines()
        .find_map(|l| l.strip_prefix("accelerated ports:"))
        .map(|ports| {
            ports
                .split(',')
                .filter_map(|p| p.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn redirects(pin: &std::path::Path) -> u64 {
    bpf_status(pin).0.get("redirects").copied().unwrap_or(0)
}

#[test]
fn listeners_added_and_removed_over_xds_follow_the_accelerated_ports() {
    require_root();
    let cg = TestCgroup::new("xds-listeners");
    let pin = pin_dir("xds-listeners");
    let dir = TempDir::new("bpf-xds");
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(&policies).expect("policies dir");
    let file = dir.write("clusters.yaml", &clusters(&[("first", FIRST)]));
    let cp = ControlPlane::start(&policies, &file, free_port(), &dir.path().join("cp.log"));
    let _echo = spawn_server(peer_cmd(
        None,
        Some(&cg),
        &["echo", "--listen", &format!("127.0.0.1:{UPSTREAM}")],
    ));
    let (cg_s, pin_s, xds) = (cg.arg(), pin.display().to_string(), cp.addr.to_string());
    let sidecar = PodSidecar::start(
        None,
        &cg,
        free_port(),
        &[
            "--xds",
            &xds,
            "--node-id",
            "bpf-xds",
            "--bpf-cgroup",
            &cg_s,
            "--bpf-pin-path",
            &pin_s,
        ],
    );
    sidecar.wait_log("acceleration on");
    assert_eq!(accelerated(&pin), vec![FIRST], "{}", bpf_status(&pin).1);

    // xDS adds a listener: its port joins the set and its traffic is spliced at once.
    write_atomically(
        dir.path(),
        "clusters.yaml",
        &clusters(&[("first", FIRST), ("added", ADDED)]),
    );
    let joined = wait_until(Duration::from_secs(15), || {
        accelerated(&pin).contains(&ADDED)
    });
    assert!(
        joined,
        "port {ADDED} never accelerated:\n{}\n{}",
        bpf_status(&pin).1,
        sidecar.logs()
    );
    let before = redirects(&pin);
    let out = check_roundtrip(None, &cg, &format!("127.0.0.1:{ADDED}"));
    assert_eq!(
        field(&out, "ok"),
        Some(1.0),
        "round trip through the added listener: {out}"
    );
    let moved = redirects(&pin) - before;
    assert!(
        moved > 0,
        "no redirects through the added listener:\n{}",
        bpf_status(&pin).1
    );

    // xDS removes it: the port leaves the set, the first listener's stays.
    write_atomically(dir.path(), "clusters.yaml", &clusters(&[("first", FIRST)]));
    let left = wait_until(Duration::from_secs(15), || accelerated(&pin) == vec![FIRST]);
    assert!(
        left,
        "port {ADDED} still accelerated:\n{}\n{}",
        bpf_status(&pin).1,
        sidecar.logs()
    );
    // Logged once for the addition and once for the removal.
    let logged = wait_until(Duration::from_secs(5), || {
        sidecar
            .logs()
            .matches("acceleration: listener ports changed")
            .count()
            >= 2
    });
    assert!(logged, "the removal was not logged:\n{}", sidecar.logs());
}
