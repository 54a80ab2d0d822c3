//! gRPC through the binary with real grpcio peers: an allowed method returns OK with the server's
//! reply, a denied method raises PERMISSION_DENIED in the client with a message naming the rule.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use sockmesh_tests::{Child, Sidecar, free_port, metric, python, root};

const POLICY: &str = r#"apiVersion: cilium.io/v2
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
      - port: "PORT"
      rules:
        grpc:
        - service: demo.Greeter
          method: SayHello
"#;

fn start_server(port: u16) -> Child {
    let script = root().join("tests/python/grpc_peer.py");
    let mut child = Child::spawn(
        Command::new(python())
            .arg(&script)
            .args(["server", &port.to_string()])
            .stdout(Stdio::piped()),
    );
    let stdout = child.0.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("server output");
    assert_eq!(line.trim(), "ready", "grpc server did not start");
    child
}

fn call(target: &str, method: &str) -> (String, String, String) {
    let out = Command::new(python())
        .arg(root().join("tests/python/grpc_peer.py"))
        .args(["client", target, method])
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

#[test]
fn grpcio_client_sees_ok_and_permission_denied() {
    let server_port = free_port();
    let _server = start_server(server_port);
    let (sidecar, port, _dir) = Sidecar::in_front_of(
        server_port,
        &POLICY.replace("PORT", &server_port.to_string()),
        &["--protocol", "grpc", "--label", "app=greeter"],
    );
    let target = format!("127.0.0.1:{port}");

    let (code, _, reply) = call(&target, "SayHello");
    assert_eq!((code.as_str(), reply.as_str()), ("OK", "Hello sockmesh"));

    let (code, details, _) = call(&target, "SayGoodbye");
    assert_eq!(code, "PERMISSION_DENIED");
    assert!(
        details.contains("default-deny (ingress)"),
        "details name the rule: {details}"
    );

    // Direct to the server the denied method works: the denial is the proxy's.
    let (code, _, reply) = call(&format!("127.0.0.1:{server_port}"), "SayGoodbye");
    assert_eq!((code.as_str(), reply.as_str()), ("OK", "Goodbye sockmesh"));

    let m = sidecar.metrics();
    assert_eq!(grpc_requests(&m, "allow"), 1.0, "{m}");
    assert_eq!(grpc_requests(&m, "deny"), 1.0, "{m}");
    let logs = sidecar.wait_log("/demo.Greeter/SayHello");
    assert!(
        logs.lines().any(|l| l.contains("access")
            && l.contains("/demo.Greeter/SayHello")
            && l.contains("shop/greeter: ingress[0].toPorts[0].rules.grpc[0]")),
        "access log names the gRPC rule:\n{logs}"
    );
}

/// A gRPC client of a sidecar whose upstream speaks HTTP/1.1 (the in-task HTTP/2 path): the
/// denial is still a trailers-only PERMISSION_DENIED naming the rule, and it never reaches nginx.
#[test]
fn grpc_denial_on_the_path_to_an_http1_upstream() {
    let nginx = sockmesh_tests::Nginx::start();
    let (sidecar, port, _dir) = Sidecar::in_front_of(
        nginx.port,
        &POLICY.replace("PORT", &nginx.port.to_string()),
        &["--upstream-protocol", "http1", "--label", "app=greeter"],
    );
    let (code, details, _) = call(&format!("127.0.0.1:{port}"), "SayGoodbye");
    assert_eq!(code, "PERMISSION_DENIED", "{details}");
    assert!(
        details.contains("default-deny (ingress)"),
        "details name the rule: {details}"
    );
    let m = sidecar.metrics();
    assert_eq!(grpc_requests(&m, "deny"), 1.0, "{m}");
}

/// gRPC requests counted with `verdict` in the metrics text `m`.
fn grpc_requests(m: &str, verdict: &str) -> f64 {
    metric(
        m,
        &format!("sockmesh_requests_total{{protocol=\"grpc\",verdict=\"{verdict}\"}}"),
    )
}
