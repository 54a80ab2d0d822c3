//! The grpcio peer (`tests/python/grpc_peer.py`): a `demo.Greeter` server and a client, and the
//! policy that allows `SayHello` only; plus an empty gRPC call made with curl, for paths where
//! the proxy answers itself.

use std::io::{BufRead, BufReader};
use std::process::{ChildStdout, Command, Stdio};

use crate::{Child, curl, python, root};

/// Allows `demo.Greeter/SayHello` to workload `app=greeter` on port `port`.
pub fn greeter_policy(port: u16) -> String {
    format!(
        r#"apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: greeter
  namespace: shop
spec:
  endpointSelector:
    matchLabels:
      app: greeter
  ingress:
  - toPorts:
    - ports:
      - port: "{port}"
      rules:
        grpc:
        - service: demo.Greeter
          method: SayHello
"#
    )
}

/// Starts the grpcio Greeter server on `port` and waits for its `ready`.
pub fn start_greeter(port: u16) -> Child {
    start_greeter_with(port, &[]).0
}

/// As [`start_greeter`], with the server's extra flags (`--log-calls`: a line per call, with its
/// path); returns the rest of its output too.
pub fn start_greeter_with(port: u16, flags: &[&str]) -> (Child, BufReader<ChildStdout>) {
    let mut child = Child::spawn(
        Command::new(python())
            .arg(root().join("tests/python/grpc_peer.py"))
            .args(["server", &port.to_string()])
            .args(flags)
            .stdout(Stdio::piped()),
    );
    let mut stdout = BufReader::new(child.0.stdout.take().expect("piped stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("server output");
    assert_eq!(line.trim(), "ready", "grpc server did not start");
    (child, stdout)
}

/// Calls `demo.Greeter/<method>` at `target` with grpcio: (code, details, reply).
pub fn grpc_call(target: &str, method: &str) -> (String, String, String) {
    grpc_call_path(target, &format!("/demo.Greeter/{method}"))
}

/// Calls `path` (the gRPC `:path`, exactly as given): (code, details, reply).
pub fn grpc_call_path(target: &str, path: &str) -> (String, String, String) {
    let out = Command::new(python())
        .arg(root().join("tests/python/grpc_peer.py"))
        .args(["path", target, path])
        .output()
        .expect("run grpc client");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let mut parts = text.splitn(3, '|').map(str::to_owned);
    (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    )
}

/// An empty gRPC call to `url` with curl (HTTP/2 prior knowledge): (HTTP status, the response
/// with its headers and trailers).
pub fn grpc_curl(url: &str) -> (u16, String) {
    curl(&[
        "--http2-prior-knowledge",
        "-i",
        "-X",
        "POST",
        "-H",
        "content-type: application/grpc",
        "-H",
        "te: trailers",
        "--data-binary",
        "",
        url,
    ])
}
