//! gRPC through the binary with real grpcio peers: an allowed method returns OK with the server's
//! reply, a denied method raises PERMISSION_DENIED in the client with a message naming the rule,
//! and no other spelling of a denied method's path reaches the server.

use std::io::BufRead;
use std::sync::mpsc::{Receiver, channel};

use sockmesh_tests::grpc::{
    greeter_policy, grpc_call, grpc_call_path, start_greeter, start_greeter_with,
};
use sockmesh_tests::{Child, Sidecar, free_port, metric};

#[test]
fn grpcio_client_sees_ok_and_permission_denied() {
    let server_port = free_port();
    let _server = start_greeter(server_port);
    let (sidecar, port, _dir) = Sidecar::in_front_of(
        server_port,
        &greeter_policy(server_port),
        &["--protocol", "grpc", "--label", "app=greeter"],
    );
    let target = format!("127.0.0.1:{port}");

    let (code, _, reply) = grpc_call(&target, "SayHello");
    assert_eq!((code.as_str(), reply.as_str()), ("OK", "Hello sockmesh"));

    let (code, details, _) = grpc_call(&target, "SayGoodbye");
    assert_eq!(code, "PERMISSION_DENIED");
    assert!(
        details.contains("default-deny (ingress)"),
        "details name the rule: {details}"
    );

    // Direct to the server the denied method works: the denial is the proxy's.
    let (code, _, reply) = grpc_call(&format!("127.0.0.1:{server_port}"), "SayGoodbye");
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
        &greeter_policy(nginx.port),
        &["--upstream-protocol", "http1", "--label", "app=greeter"],
    );
    let (code, details, _) = grpc_call(&format!("127.0.0.1:{port}"), "SayGoodbye");
    assert_eq!(code, "PERMISSION_DENIED", "{details}");
    assert!(
        details.contains("default-deny (ingress)"),
        "details name the rule: {details}"
    );
    let m = sidecar.metrics();
    assert_eq!(grpc_requests(&m, "deny"), 1.0, "{m}");
}

/// A server that prints the path of every call it is asked to dispatch; those lines come on the
/// receiver.
fn start_logging_server(port: u16) -> (Child, Receiver<String>) {
    let (child, stdout) = start_greeter_with(port, &["--log-calls"]);
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in stdout.lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    (child, rx)
}

const DENY_GOODBYE: &str = r#"apiVersion: cilium.io/v2
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
  ingressDeny:
  - toPorts:
    - ports:
      - port: "PORT"
      rules:
        grpc:
        - service: demo.Greeter
          method: SayGoodbye
"#;

/// Issue 14, item 6: a query, a `;` parameter or a bare `?` after a denied method made the
/// proxy read another method than the one denied. grpcio dispatches on the whole `:path`, so
/// each spelling must either be read as the method it names (and stay denied) or be refused
/// by the proxy: none may reach the server.
#[test]
fn no_spelling_of_a_denied_method_reaches_the_server() {
    let server_port = free_port();
    let (_server, calls) = start_logging_server(server_port);
    let (_sidecar, port, _dir) = Sidecar::in_front_of(
        server_port,
        &DENY_GOODBYE.replace("PORT", &server_port.to_string()),
        &["--protocol", "grpc", "--label", "app=greeter"],
    );
    let target = format!("127.0.0.1:{port}");
    let (code, _, reply) = grpc_call(&target, "SayHello");
    assert_eq!((code.as_str(), reply.as_str()), ("OK", "Hello sockmesh"));
    assert_eq!(
        calls.recv().ok().as_deref(),
        Some("call /demo.Greeter/SayHello")
    );
    for path in [
        "/demo.Greeter/SayGoodbye",
        "/demo.Greeter/SayGoodbye?x=1",
        "/demo.Greeter/SayGoodbye;x",
        "/demo.Greeter/SayGoodbye?",
        "/demo.Greeter/SayGoodbye/",
        "/demo.Greeter/SayGoodbye#x",
        "/demo.Greeter/Say%47oodbye",
        "/demo.Greeter/SayGoodbye%3Fx",
        "/demo.Greeter/./SayGoodbye",
        "//demo.Greeter/SayGoodbye",
    ] {
        let (code, details, _) = grpc_call_path(&target, path);
        assert_ne!(code, "OK", "{path}: {details}");
    }
    // The server prints each call as it dispatches it, in order: everything that reached it
    // comes before this last allowed call.
    assert_eq!(grpc_call(&target, "SayHello").0, "OK");
    let mut reached = Vec::new();
    loop {
        match calls.recv_timeout(std::time::Duration::from_secs(10)) {
            Ok(line) if line == "call /demo.Greeter/SayHello" => break,
            Ok(line) => reached.push(line),
            Err(_) => panic!("the server never logged the last call; before it: {reached:?}"),
        }
    }
    assert!(reached.is_empty(), "reached the server: {reached:?}");
    // The exact path is denied by the rule; a path that names no method the server could
    // dispatch to is refused as such.
    let (code, details, _) = grpc_call_path(&target, "/demo.Greeter/SayGoodbye?x=1");
    assert_eq!(code, "UNIMPLEMENTED", "{details}");
    assert!(details.contains("gRPC method path"), "{details}");
    let (code, details, _) = grpc_call_path(&target, "/demo.Greeter/Say%47oodbye");
    assert_eq!(code, "PERMISSION_DENIED", "{details}");
}

/// gRPC requests counted with `verdict` in the metrics text `m`.
fn grpc_requests(m: &str, verdict: &str) -> f64 {
    metric(
        m,
        &format!("sockmesh_requests_total{{protocol=\"grpc\",verdict=\"{verdict}\"}}"),
    )
}
