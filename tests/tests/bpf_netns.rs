//! Two pods in two network namespaces with identical loopback 4-tuples (127.0.0.1:40000 ->
//! 127.0.0.1:15001 in both) under one set of programs: both hops are spliced and neither sees
//! the other's data. The SOCKHASH key carries the netns cookie; without it the second insert
//! would replace the first and redirects would cross namespaces.

use std::process::Stdio;

use sockmesh_tests::bpf::{
    Netns, TestCgroup, bpf_status, cgroup_programs, peer_cmd, pin_dir, require_root, run_ok,
    spawn_server,
};
use sockmesh_tests::{Child, bin};

#[test]
fn identical_tuples_in_two_namespaces_stay_apart() {
    require_root();
    let cg = TestCgroup::new("netns");
    let pin = pin_dir("netns");
    let pods = [Netns::new("podA"), Netns::new("podB")];
    // Node-level attach: one program set over the parent cgroup of both pods.
    let attach = run_ok(
        std::process::Command::new(bin())
            .args(["bpf", "attach", "--bpf-cgroup"])
            .arg(cg.path())
            .arg("--bpf-pin-path")
            .arg(&pin)
            .args(["--accelerate-port", "15001"]),
    );
    assert!(String::from_utf8_lossy(&attach.stdout).contains("attached"));
    let _servers: Vec<Child> = pods
        .iter()
        .map(|ns| {
            spawn_server(peer_cmd(
                Some(ns),
                Some(&cg),
                &["echo", "--listen", "127.0.0.1:15001"],
            ))
        })
        .collect();

    let sizes = "1,1024,65536,1048576,4194304,1048576,65536,1";
    let clients: Vec<_> = pods
        .iter()
        .enumerate()
        .map(|(i, ns)| {
            let seed = (i as u64 + 1) * 7919;
            let mut cmd = peer_cmd(
                Some(ns),
                Some(&cg),
                &[
                    "check",
                    "--connect",
                    "127.0.0.1:15001",
                    "--bind",
                    "127.0.0.1:40000",
                    "--sizes",
                    sizes,
                    "--seed",
                    &seed.to_string(),
                    "--pause-ms",
                    "500",
                ],
            );
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            cmd.spawn().expect("start client")
        })
        .collect();
    let outputs: Vec<_> = clients
        .into_iter()
        .map(|c| c.wait_with_output().expect("client"))
        .collect();
    let (c, text) = bpf_status(&pin);
    let _ = run_ok(
        std::process::Command::new(bin())
            .args(["bpf", "detach", "--bpf-pin-path"])
            .arg(&pin),
    );
    for (i, out) in outputs.iter().enumerate() {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success()
                && stdout.contains("ok=1")
                && stdout.contains("local=127.0.0.1:40000"),
            "pod {i}: {stdout} {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let one_way: u64 = sizes
        .split(',')
        .map(|s| s.parse::<u64>().expect("size"))
        .sum();
    // Both pods' client and server sockets were in the map at once, and every send was spliced.
    assert_eq!(c["sockets_added"], 4, "{text}");
    assert_eq!(c["misses"], 0, "{text}");
    assert!(c["redirect_bytes"] >= 2 * 2 * one_way, "{text}");
    assert!(
        cgroup_programs(&cg).is_empty(),
        "bpf detach left programs attached"
    );
}
