//! Restart: a sidecar killed with SIGKILL leaves its pinned programs behind; the next start
//! replaces them, so exactly one set stays attached. In-flight spliced connections end (with an
//! error) instead of hanging, and a clean SIGTERM leaves nothing attached or pinned.

use std::process::Stdio;
use std::time::{Duration, Instant};

use sockmesh_tests::bpf::{
    Netns, PodSidecar, TestCgroup, bpf_status, cgroup_programs, check_roundtrip, echo_upstream,
    peer_cmd, pin_dir, require_root,
};
use sockmesh_tests::wait_until;

fn start(ns: &Netns, cg: &TestCgroup, pin: &std::path::Path) -> PodSidecar {
    let (pin_s, cg_s) = (pin.display().to_string(), cg.arg());
    PodSidecar::start(
        Some(ns),
        cg,
        15000,
        &[
            "--listen",
            "127.0.0.1:15001",
            "--upstream",
            "127.0.0.1:8080",
            "--protocol",
            "tcp",
            "--direction",
            "outbound",
            "--bpf-cgroup",
            &cg_s,
            "--bpf-pin-path",
            &pin_s,
            "--intercept",
            "--accelerate-port",
            "8080",
        ],
    )
}

fn kinds(cg: &TestCgroup) -> Vec<String> {
    let mut k: Vec<String> = cgroup_programs(cg).into_iter().map(|(t, _)| t).collect();
    k.sort();
    k
}

/// A running sidecar with interception: the pinned links plus the getsockopt link it holds.
const ONE_SET: [&str; 4] = [
    "cgroup_getsockopt",
    "cgroup_inet4_connect",
    "cgroup_inet6_connect",
    "cgroup_sock_ops",
];
/// What a crash leaves: the pinned links (the held getsockopt link died with the process).
const PINNED_SET: [&str; 3] = [
    "cgroup_inet4_connect",
    "cgroup_inet6_connect",
    "cgroup_sock_ops",
];

#[test]
fn kill_and_restart_leaves_exactly_one_program_set() {
    require_root();
    let ns = Netns::new("restart");
    let cg = TestCgroup::new("restart");
    let pin = pin_dir("restart");
    let _up = echo_upstream(&ns, &cg);

    let mut first = start(&ns, &cg, &pin);
    assert_eq!(kinds(&cg), ONE_SET);
    // A long spliced transfer in flight while the sidecar dies.
    let sizes = vec!["4194304"; 400].join(",");
    let mut client = peer_cmd(
        Some(&ns),
        Some(&cg),
        &["check", "--connect", "127.0.0.1:15001", "--sizes", &sizes],
    );
    let mut client = client
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("client");
    let spliced = wait_until(Duration::from_secs(15), || {
        bpf_status(&pin).0.get("redirects").copied().unwrap_or(0) > 0
    });
    assert!(
        spliced,
        "transfer not spliced before the kill:\n{}",
        bpf_status(&pin).1
    );
    first.child.0.kill().expect("SIGKILL sidecar");
    let _ = first.child.0.wait();
    let t = Instant::now();
    let status = loop {
        if let Some(s) = client.try_wait().expect("wait client") {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "in-flight connection hung after the sidecar died"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        !status.success(),
        "a 1.6 GB echo cannot have completed before the kill"
    );
    // SIGKILL skips cleanup: the pinned set is still attached.
    assert_eq!(
        kinds(&cg),
        PINNED_SET,
        "pinned programs should survive a crash"
    );
    assert!(pin.exists());

    let mut second = start(&ns, &cg, &pin);
    second.wait_log("stale eBPF pins");
    assert_eq!(kinds(&cg), ONE_SET, "restart must replace, not add");
    let out = check_roundtrip(Some(&ns), &cg, "127.0.0.1:15001");
    assert!(out.contains("ok=1"), "{out}");
    let (c, text) = bpf_status(&pin);
    assert!(
        c["redirect_bytes"] >= 4 * (1 + 65536 + 1048576),
        "new set does not splice:\n{text}"
    );

    // Clean shutdown detaches and unpins everything.
    let st = second.child.terminate();
    assert!(
        st.success(),
        "SIGTERM should end the sidecar cleanly: {st:?}"
    );
    assert!(
        kinds(&cg).is_empty(),
        "SIGTERM left programs attached: {:?}",
        kinds(&cg)
    );
    assert!(!pin.exists(), "SIGTERM left {} pinned", pin.display());
}

#[test]
fn a_second_sidecar_on_the_same_pin_path_leaves_the_running_one_alone() {
    require_root();
    let ns = Netns::new("pinuse");
    let cg = TestCgroup::new("pinuse");
    let pin = pin_dir("pinuse");
    let _up = echo_upstream(&ns, &cg);
    let first = start(&ns, &cg, &pin);
    let (pin_s, cg_s) = (pin.display().to_string(), cg.arg());
    let second = PodSidecar::start(
        Some(&ns),
        &cg,
        15100,
        &[
            "--listen",
            "127.0.0.1:15101",
            "--upstream",
            "127.0.0.1:8080",
            "--protocol",
            "tcp",
            "--bpf-cgroup",
            &cg_s,
            "--bpf-pin-path",
            &pin_s,
        ],
    );
    let log = second.wait_log("belongs to a running sidecar");
    assert!(
        log.contains("acceleration off:") && log.contains("belongs to a running sidecar"),
        "{log}"
    );
    assert_eq!(
        kinds(&cg),
        ONE_SET,
        "the first sidecar's programs were touched"
    );
    let out = check_roundtrip(Some(&ns), &cg, "127.0.0.1:15001");
    assert!(out.contains("ok=1"), "{out}");
    assert!(bpf_status(&pin).0["redirect_bytes"] >= 4 * (1 + 65536 + 1048576));
    drop(second);
    drop(first);
}
