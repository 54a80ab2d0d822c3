//! Interoperability through the binary: grpcio's built-in xDS client (Python, `GRPC_XDS_BOOTSTRAP`,
//! target `xds:///echo`) resolves Listener, RouteConfiguration, Cluster and ClusterLoadAssignment
//! from `sockmesh control-plane` and completes RPCs to a grpcio server at the endpoint the control
//! plane lists; the control plane logs the grpcio node's ACKs. Software nobody here wrote, speaking
//! real xDS to our server.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use sockmesh_tests::xds::ControlPlane;
use sockmesh_tests::{Child, TempDir, free_port, python, root, wait_until};

#[test]
fn grpcio_xds_client_through_sockmesh_control_plane() {
    let py = python();
    let script = root().join("tests/python/xds/grpc_xds_client.py");
    let dir = TempDir::new("xds-grpcio");
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(&policies).expect("policies dir");

    let port = free_port();
    let mut server = Command::new(&py);
    server
        .arg(&script)
        .args(["serve", &port.to_string()])
        .stdout(Stdio::piped());
    let mut server = Child::spawn(&mut server);
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    assert_eq!(line.trim(), "serving", "python gRPC server did not start");

    let clusters = dir.write(
        "clusters.yaml",
        &format!(
            "clusters:\n- name: echo-backend\n  endpoints: [\"127.0.0.1:{port}\"]\n  protocol: http2\ngrpcListeners:\n- name: echo\n  cluster: echo-backend\n"
        ),
    );
    let cp = ControlPlane::start(
        &policies,
        &clusters,
        free_port(),
        &dir.path().join("cp.log"),
    );
    let out = Command::new(&py)
        .arg(&script)
        .args(["call", &cp.addr.to_string(), "echo", "3"])
        .output()
        .expect("run the grpcio xDS client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "grpcio xDS client failed:\nstdout: {stdout}\nstderr: {}\ncontrol plane log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        cp.logs()
    );
    assert!(
        stdout.contains(r#""replies": ["echo:hello-0", "echo:hello-1", "echo:hello-2"]"#),
        "{stdout}"
    );
    // The control plane's log lines can trail the RPCs they made possible.
    let types = [
        "envoy.config.listener.v3.Listener",
        "envoy.config.route.v3.RouteConfiguration",
        "envoy.config.cluster.v3.Cluster",
        "envoy.config.endpoint.v3.ClusterLoadAssignment",
    ];
    let acked = |logs: &str, t: &str| {
        logs.lines().any(|l| {
            l.contains("control-plane: ACK") && l.contains("grpcio-xds-client") && l.contains(t)
        })
    };
    wait_until(Duration::from_secs(5), || {
        let logs = cp.logs();
        types.iter().all(|t| acked(&logs, t))
    });
    let logs = cp.logs();
    for t in types {
        assert!(
            acked(&logs, t),
            "no ACK of {t} from the grpcio client:\n{logs}"
        );
    }
    assert!(!logs.contains("control-plane: NACK"), "{logs}");
}
