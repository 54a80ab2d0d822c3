//! `sockmesh demo`: an upstream HTTP + gRPC service, a sidecar enforcing the example policy, and a
//! client making allowed and denied HTTP/1.1, HTTP/2 and gRPC calls, all in one process. It prints
//! what each call was expected to get and what it got, and exits 0 only if all match.

mod client;
mod upstream;

use std::net::SocketAddr;
use std::process::ExitCode;

use http::Method;

use crate::cli::DemoArgs;
use crate::config::{Config, LogFormat};
use client::{Call, Kind};

/// The demo upstream's port: the example policy's `toPorts` names it.
pub const UPSTREAM: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 18080);

const CALLS: &[Call] = &[
    Call {
        name: "HTTP/1.1 GET /public/index.html",
        kind: Kind::Http1,
        method: Method::GET,
        path: "/public/index.html",
        headers: &[],
        expect: "200",
    },
    Call {
        name: "HTTP/1.1 GET /admin",
        kind: Kind::Http1,
        method: Method::GET,
        path: "/admin",
        headers: &[],
        expect: "403",
    },
    Call {
        name: "HTTP/1.1 GET /public/secret.txt",
        kind: Kind::Http1,
        method: Method::GET,
        path: "/public/secret.txt",
        headers: &[],
        expect: "403",
    },
    Call {
        name: "HTTP/1.1 POST /api/orders (X-Team: checkout)",
        kind: Kind::Http1,
        method: Method::POST,
        path: "/api/orders",
        headers: &[("x-team", "checkout")],
        expect: "200",
    },
    Call {
        name: "HTTP/1.1 POST /api/orders (no team)",
        kind: Kind::Http1,
        method: Method::POST,
        path: "/api/orders",
        headers: &[],
        expect: "403",
    },
    Call {
        name: "HTTP/2 GET /public/app.js",
        kind: Kind::Http2,
        method: Method::GET,
        path: "/public/app.js",
        headers: &[],
        expect: "200",
    },
    Call {
        name: "HTTP/2 DELETE /public/app.js",
        kind: Kind::Http2,
        method: Method::DELETE,
        path: "/public/app.js",
        headers: &[],
        expect: "403",
    },
    Call {
        name: "gRPC demo.Greeter/SayHello",
        kind: Kind::Grpc,
        method: Method::POST,
        path: "/demo.Greeter/SayHello",
        headers: &[],
        expect: "grpc OK",
    },
    Call {
        name: "gRPC demo.Greeter/SayGoodbye",
        kind: Kind::Grpc,
        method: Method::POST,
        path: "/demo.Greeter/SayGoodbye",
        headers: &[],
        expect: "grpc PERMISSION_DENIED",
    },
];

pub fn run(args: &DemoArgs) -> ExitCode {
    let rt = match crate::runtime::build_runtime(1) {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(demo(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn demo(args: &DemoArgs) -> Result<bool, String> {
    if !args.policy.exists() {
        return Err(format!(
            "policy file {} not found: run the demo from the repository root, or pass --policy",
            args.policy.display()
        ));
    }
    let listener = upstream::bind(UPSTREAM).await.map_err(|e| {
        format!("cannot bind the demo upstream on {UPSTREAM}: {e}; is the port in use?")
    })?;
    tokio::spawn(upstream::serve(listener));

    let yaml = format!(
        "workload: {{ name: demo, labels: {{ app: demo }} }}\n\
         admin: {{ address: 127.0.0.1:0 }}\n\
         policies: [{policy}]\n\
         listeners:\n\
         - {{ name: inbound, address: 127.0.0.1:0, direction: inbound, protocol: detect, cluster: demo }}\n\
         clusters:\n\
         - {{ name: demo, endpoints: [{UPSTREAM}] }}\n",
        policy = std::path::absolute(&args.policy)
            .map_err(|e| e.to_string())?
            .display()
    );
    let dir = std::env::temp_dir().join(format!("sockmesh-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let config_path = dir.join("sidecar.yaml");
    std::fs::write(&config_path, yaml).map_err(|e| e.to_string())?;
    let config = Config::load(&config_path).map_err(|e| e.to_string())?;
    let log = crate::telemetry::init(LogFormat::Human, "warn").map_err(|e| e.to_string())?;

    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let accel = crate::bpf::AccelArgs::default();
    let sidecar =
        tokio::spawn(
            async move { crate::runtime::serve(config, &accel, log, Some(started_tx)).await },
        );
    let started = match started_rx.await {
        Ok(s) => s,
        Err(_) => {
            return Err(match sidecar.await {
                Ok(Err(e)) => format!("the sidecar did not start: {e}"),
                _ => "the sidecar did not start".into(),
            });
        }
    };
    let addr = started.listeners[0];
    println!(
        "sidecar listening on {addr} (admin http://{}), upstream on {UPSTREAM}, policy {}\n",
        started.admin,
        args.policy.display()
    );
    println!("{:<46} {:<24} {:<24}", "request", "expected", "actual");
    let mut all = true;
    for call in CALLS {
        let actual = client::perform(addr, call).await;
        let ok = actual == call.expect;
        all &= ok;
        println!(
            "{:<46} {:<24} {:<24} {}",
            call.name,
            call.expect,
            actual,
            if ok { "ok" } else { "MISMATCH" }
        );
    }
    started.exit.send_replace(true);
    let _ = sidecar.await;
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "\n{}",
        if all {
            "all verdicts as expected"
        } else {
            "some verdicts differ from the policy's intent"
        }
    );
    Ok(all)
}
