//! The command line as a user meets it: `policy check` reports every error with file, line and
//! column and exits 1; `run` refuses bad flags and configs with exit code 2 and a hint.

use std::process::Command;

use sockmesh_tests::{TempDir, bin, root};

#[test]
fn policy_check_accepts_the_shipped_examples() {
    let out = Command::new(bin())
        .args(["policy", "check"])
        .arg(root().join("examples/policies/demo.yaml"))
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));
}

#[test]
fn policy_check_reports_positions_and_fails() {
    let dir = TempDir::new("check");
    let bad = dir.write(
        "bad.yaml",
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: bad\nspec:\n  endpointSelector: {}\n  ingress:\n  - toPorts:\n    - ports:\n      - port: \"80\"\n      rules:\n        http:\n        - path: \"/a(\"\n        kafka:\n        - {role: produce, apiKey: fetch}\n",
    );
    let out = Command::new(bin())
        .args(["policy", "check"])
        .arg(&bad)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let name = bad.display().to_string();
    assert!(
        err.contains(&format!("{name}:13:")),
        "regex error with its line: {err}"
    );
    assert!(
        err.contains(&format!("{name}:15:")),
        "kafka rule with role and apiKey, with its line: {err}"
    );
    assert!(err.contains("`role: produce` and `apiKey: fetch`"), "{err}");
}

#[test]
fn run_refuses_bad_flags_and_configs() {
    let out = Command::new(bin())
        .args(["run", "--listen", "127.0.0.1:1"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "clap requires --upstream");

    let dir = TempDir::new("badcfg");
    let cfg = dir.write(
        "c.yaml",
        "listeners:\n  - { address: 127.0.0.1:1, direction: sideways }\n",
    );
    let out = Command::new(bin())
        .args(["run", "--config"])
        .arg(&cfg)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sideways") && err.contains("c.yaml"), "{err}");

    let missing = dir.path().join("missing-policy.yaml");
    let out = Command::new(bin())
        .args([
            "run",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "127.0.0.1:1",
            "--admin",
            "127.0.0.1:0",
            "--policy",
        ])
        .arg(&missing)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing-policy.yaml"));
}

#[test]
fn bpf_attach_refuses_interception_without_foreground() {
    // The getsockopt program that answers SO_ORIGINAL_DST would leave with the process.
    let out = Command::new(bin())
        .args([
            "bpf",
            "attach",
            "--bpf-cgroup",
            "/nonexistent",
            "--intercept",
            "--listener",
            "127.0.0.1:15001",
        ])
        .output()
        .expect("bpf attach");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("add --foreground"), "{err}");
}
