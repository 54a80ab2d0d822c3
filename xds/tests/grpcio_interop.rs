//! Interoperability with software nobody here wrote: grpcio's built-in xDS client (C-core, via
//! `GRPC_XDS_BOOTSTRAP` and target `xds:///echo`) resolves Listener, RouteConfiguration, Cluster and
//! ClusterLoadAssignment from our control plane, ACKs them, and completes RPCs to a grpcio server
//! at the endpoint the control plane listed. Proves the server side speaks real xDS.
//!
//! Needs Python with `grpcio`: `$SOCKMESH_PYTHON`, else the repo's `.venv/bin/python`
//! (`scripts/install-deps.sh` makes it). Fails (never skips) when missing.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use sockmesh_xds::server::{ControlPlane, ControlPlaneArgs};
use sockmesh_xds::types::{CLUSTER, ENDPOINT, LISTENER, ROUTE};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn python() -> PathBuf {
    let p = std::env::var_os("SOCKMESH_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"));
    let ok = Command::new(&p)
        .args(["-c", "import grpc"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{} cannot import grpc: run `python3 -m venv .venv && .venv/bin/pip install grpcio` or set SOCKMESH_PYTHON",
        p.display()
    );
    p
}

struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_xds_client_resolves_and_calls_through_our_control_plane() {
    let py = python();
    let script = root().join("tests/python/xds/grpc_xds_client.py");
    let dir = std::env::temp_dir().join(format!("sockmesh-xds-interop-{}", std::process::id()));
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies).unwrap();

    // The grpcio server the control plane points at.
    let port = free_port();
    let mut server = Command::new(&py)
        .arg(&script)
        .args(["serve", &port.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the python gRPC server");
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "serving");
    let _server = Kill(server);

    let clusters = dir.join("clusters.yaml");
    std::fs::write(
        &clusters,
        format!(
            "clusters:\n- name: echo-backend\n  endpoints: [\"127.0.0.1:{port}\"]\n  protocol: http2\ngrpcListeners:\n- name: echo\n  cluster: echo-backend\n"
        ),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cp_addr = listener.local_addr().unwrap();
    let cp = ControlPlane::start(
        ControlPlaneArgs {
            policies,
            clusters: Some(clusters),
            listen: cp_addr,
            debounce_ms: 20,
        },
        listener,
    )
    .await
    .unwrap();

    let out = tokio::task::spawn_blocking(move || {
        Command::new(&py)
            .arg(&script)
            .args(["call", &cp_addr.to_string(), "echo", "3"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "grpcio xDS client failed:\nstdout: {stdout}\nstderr: {}\ncontrol plane: {}",
        String::from_utf8_lossy(&out.stderr),
        cp.server.tracker().status()
    );
    let result: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(
        result["replies"],
        serde_json::json!(["echo:hello-0", "echo:hello-1", "echo:hello-2"])
    );

    // The grpcio client subscribed to and ACKed every type, one after the other.
    let tracker = cp.server.tracker();
    let ok = tracker
        .wait_for("grpcio-xds-client", Duration::from_secs(5), |s| {
            [LISTENER, ROUTE, CLUSTER, ENDPOINT].iter().all(|t| {
                s.types.get(*t).is_some_and(|t| {
                    t.acks > 0
                        && t.acked_version.as_deref() == Some(t.sent_version.as_str())
                        && t.last_nack.is_none()
                })
            })
        })
        .await;
    assert!(ok, "{}", tracker.status());
    let _ = std::fs::remove_dir_all(&dir);
}
