//! Fallback: whenever acceleration cannot start (cgroup path absent, a program the kernel
//! refuses, not root) the sidecar still serves traffic on plain TCP and logs
//! `acceleration off: <reason>` exactly once, leaving nothing attached or pinned.

use sockmesh_tests::bpf::{
    Netns, PodSidecar, TestCgroup, cgroup_programs, check_roundtrip, corrupted_object,
    echo_upstream, pin_dir, require_root,
};
use sockmesh_tests::{TempDir, metric, require};

/// Starts a sidecar with `extra` flags (optionally as another uid), checks that traffic flows
/// and returns its log (once it holds the `acceleration off:` line).
fn serve_with(tag: &str, extra: &[&str], as_uid: Option<&str>) -> (String, String) {
    let ns = Netns::new(tag);
    let cg = TestCgroup::new(tag);
    let _up = echo_upstream(&ns, &cg);
    let mut args: Vec<&str> = Vec::new();
    if as_uid.is_some() {
        require("setpriv", "apt-get install -y util-linux");
    }
    args.extend_from_slice(&[
        "--listen",
        "127.0.0.1:15001",
        "--upstream",
        "127.0.0.1:8080",
        "--protocol",
        "tcp",
    ]);
    args.extend_from_slice(extra);
    let sc = match as_uid {
        None => PodSidecar::start(Some(&ns), &cg, 15000, &args),
        Some(uid) => PodSidecar::start_as(Some(&ns), &cg, 15000, uid, &args),
    };
    let out = check_roundtrip(Some(&ns), &cg, "127.0.0.1:15001");
    assert!(out.contains("ok=1"), "{out}");
    let metrics = sc.metrics(Some(&ns));
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("sockmesh_bpf_active ")),
        "no sockmesh_bpf_active gauge:\n{metrics}"
    );
    assert_eq!(metric(&metrics, "sockmesh_bpf_active"), 0.0, "{metrics}");
    (sc.wait_log("acceleration off:"), metrics)
}

fn off_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("acceleration off:"))
        .collect()
}

#[test]
fn absent_cgroup_path_falls_back_to_plain_tcp() {
    require_root();
    let pin = pin_dir("fb-absent");
    let absent = format!(
        "/sys/fs/cgroup/unified/sockmesh-absent-{}",
        std::process::id()
    );
    let (log, _) = serve_with(
        "fb-absent",
        &[
            "--bpf-cgroup",
            &absent,
            "--bpf-pin-path",
            &pin.display().to_string(),
        ],
        None,
    );
    let off = off_lines(&log);
    assert_eq!(off.len(), 1, "want exactly one reason line:\n{log}");
    assert!(
        off[0].contains("is not a cgroup v2 directory"),
        "{}",
        off[0]
    );
    assert!(
        !pin.exists(),
        "a failed start left {} behind",
        pin.display()
    );
}

#[test]
fn refused_program_falls_back_to_plain_tcp() {
    require_root();
    let dir = TempDir::new("fb-refused");
    let object = corrupted_object("sk_msg", &dir);
    let pin = pin_dir("fb-refused");
    let cg = TestCgroup::new("fb-refused-target");
    let (log, _) = serve_with(
        "fb-refused",
        &[
            "--bpf-cgroup",
            &cg.arg(),
            "--bpf-pin-path",
            &pin.display().to_string(),
            "--bpf-object",
            &object.display().to_string(),
        ],
        None,
    );
    let off = off_lines(&log);
    assert_eq!(off.len(), 1, "want exactly one reason line:\n{log}");
    assert!(
        off[0].contains("the kernel refused the sk_msg program"),
        "{}",
        off[0]
    );
    assert!(
        cgroup_programs(&cg).is_empty(),
        "a refused load left programs attached"
    );
    assert!(
        !pin.exists(),
        "a refused load left {} behind",
        pin.display()
    );
}

#[test]
fn unprivileged_sidecar_falls_back_to_plain_tcp() {
    require_root();
    let pin = pin_dir("fb-uid");
    let cg = TestCgroup::new("fb-uid-target");
    let (log, _) = serve_with(
        "fb-uid",
        &[
            "--bpf-cgroup",
            &cg.arg(),
            "--bpf-pin-path",
            &pin.display().to_string(),
        ],
        Some("1000"),
    );
    let off = off_lines(&log);
    assert_eq!(off.len(), 1, "want exactly one reason line:\n{log}");
    assert!(off[0].contains("not root"), "{}", off[0]);
    assert!(
        cgroup_programs(&cg).is_empty(),
        "an unprivileged start attached programs"
    );
    assert!(
        !pin.exists(),
        "an unprivileged start left {} behind",
        pin.display()
    );
}
