//! The admin server (loopback by default): health, metrics, configuration and policy views, log
//! level and shutdown. It runs on the proxy's runtime but on its own port, like Envoy's admin.
//!
//! | path | what |
//! |---|---|
//! | `GET /live` | 200 while the process runs |
//! | `GET /ready` | 200 once listeners are bound and the first configuration is in force |
//! | `GET /metrics` | Prometheus text |
//! | `GET /config_dump` | effective config: listeners, clusters, limits, http, dns and kafka settings, policy sources, xDS state |
//! | `GET /policy` | the compiled rules in force |
//! | `GET /logging`, `POST /logging?level=FILTER` | read or change the log filter |
//! | `POST /drain` | stop accepting; finish in-flight requests |
//! | `POST /quitquitquit` | drain, then exit |

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::conn::Shared;
use crate::listener::manager::Listeners;
use crate::telemetry::LogHandle;
use crate::telemetry::ratelimit::warn_limited;

/// A `/config_dump` section computed on request (for example the xDS state).
pub type DynamicSection = (
    &'static str,
    Box<dyn Fn() -> serde_json::Value + Send + Sync>,
);

/// What the admin endpoints read.
pub struct AdminState {
    pub config: Config,
    pub shared: Arc<Shared>,
    pub listeners: Arc<Listeners>,
    pub registry: Registry,
    pub log: LogHandle,
    pub ready: AtomicBool,
    /// Extra sections for `/config_dump`, computed on request.
    pub dynamic: Vec<DynamicSection>,
    /// Flipping this drains and exits.
    pub exit: watch::Sender<bool>,
}

pub async fn serve(
    listener: Arc<TcpListener>,
    state: Arc<AdminState>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let (stream, _) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(error) => {
                    warn_limited!(error.kind(), %error, "admin accept failed");
                    continue;
                }
            },
            _ = crate::conn::signalled(&mut shutdown) => return,
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let svc = service_fn(move |req| handle(Arc::clone(&state), req));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn handle(
    state: Arc<AdminState>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let query = req.uri().query().unwrap_or("");
    let resp = match (req.method(), req.uri().path()) {
        (&Method::GET, "/live") => text(StatusCode::OK, "live\n"),
        (&Method::GET, "/ready") => {
            if state.ready.load(Ordering::Acquire) {
                text(StatusCode::OK, "ready\n")
            } else {
                text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
            }
        }
        (&Method::GET, "/metrics") => metrics(&state),
        (&Method::GET, "/config_dump") => json(&config_dump(&state).await),
        (&Method::GET, "/policy") => json(&policy(&state)),
        (&Method::GET, "/fqdn") => json(&fqdn(&state)),
        (&Method::GET, "/logging") => text(StatusCode::OK, &format!("{}\n", state.log.current())),
        (&Method::POST, "/logging") => set_log_level(&state, query),
        (&Method::POST, "/drain") => {
            state.ready.store(false, Ordering::Release);
            state.listeners.stop_all().await;
            text(StatusCode::OK, "draining\n")
        }
        (&Method::POST, "/quitquitquit") => {
            state.ready.store(false, Ordering::Release);
            state.exit.send_replace(true);
            text(StatusCode::OK, "exiting\n")
        }
        (
            _,
            "/live" | "/ready" | "/metrics" | "/config_dump" | "/policy" | "/fqdn" | "/logging"
            | "/drain" | "/quitquitquit",
        ) => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n"),
        _ => text(
            StatusCode::NOT_FOUND,
            "not found; try /live /ready /metrics /config_dump /policy /fqdn /logging\n",
        ),
    };
    Ok(resp)
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::copy_from_slice(body.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn json(value: &serde_json::Value) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec_pretty(value).unwrap_or_default();
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn metrics(state: &AdminState) -> Response<Full<Bytes>> {
    let (entries, names, addresses) = state.shared.policy.learned().sizes();
    let m = &state.shared.metrics;
    m.fqdn_entries.set(entries as i64);
    m.fqdn_names.set(names as i64);
    m.fqdn_addresses.set(addresses as i64);
    let mut out = String::new();
    if let Err(error) = prometheus_client::encoding::text::encode(&mut out, &state.registry) {
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("encoding failed: {error}\n"),
        );
    }
    let mut resp = Response::new(Full::new(Bytes::from(out)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    resp
}

async fn config_dump(state: &AdminState) -> serde_json::Value {
    let c = &state.config;
    let listeners: Vec<serde_json::Value> = state
        .listeners
        .bound()
        .await
        .into_iter()
        .map(|(spec, addr)| serde_json::json!({ "spec": spec, "bound": addr.to_string() }))
        .collect();
    let mut dump = serde_json::json!({
        "workload": { "name": c.workload_name, "labels": c.labels },
        "admin": c.admin.to_string(),
        "workers": c.workers,
        "listeners": listeners,
        "clusters": state.shared.clusters.snapshot(),
        "limits": c.limits,
        "http": c.http,
        "dns": c.dns,
        "kafka": c.kafka,
        "policy": {
            "files": state.shared.policy.files(),
            "rules": state.shared.policy.load().rule_count(),
            "lastError": state.shared.policy.last_error(),
        },
    });
    if let Some(obj) = dump.as_object_mut() {
        for (name, section) in &state.dynamic {
            obj.insert((*name).to_owned(), section());
        }
    }
    dump
}

/// The addresses DNS answers taught `toFQDNs` selectors, with the time each has left.
fn fqdn(state: &AdminState) -> serde_json::Value {
    let learned = state.shared.policy.learned();
    let (entries, names, addresses) = learned.sizes();
    serde_json::json!({
        "entries": entries,
        "names": names,
        "addresses": addresses,
        "learned": learned.entries(std::time::Instant::now()),
    })
}

fn policy(state: &AdminState) -> serde_json::Value {
    state.shared.policy.load().describe()
}

fn set_log_level(state: &AdminState, query: &str) -> Response<Full<Bytes>> {
    let level = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "level")
        .map(|(_, v)| v.replace("%2C", ",").replace("%3D", "="));
    match level {
        None => text(
            StatusCode::BAD_REQUEST,
            "pass ?level=FILTER, e.g. ?level=debug\n",
        ),
        Some(level) => match state.log.set_level(&level) {
            Ok(()) => text(StatusCode::OK, &format!("log filter set to {level}\n")),
            Err(error) => text(StatusCode::BAD_REQUEST, &format!("{error}\n")),
        },
    }
}

/// Serves the admin port while the sidecar waits for its first configuration (xDS sync): alive,
/// not ready, and `/config_dump` shows what the wait is about. Returns when `stop` flips.
pub async fn serve_pending(
    listener: Arc<TcpListener>,
    status: Arc<dyn Fn() -> serde_json::Value + Send + Sync>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (stream, _) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(_) => continue,
            },
            _ = crate::conn::signalled(&mut stop) => return,
        };
        let status = Arc::clone(&status);
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                let resp = match req.uri().path() {
                    "/live" => text(StatusCode::OK, "live\n"),
                    "/config_dump" => json(&serde_json::json!({ "xds": status() })),
                    _ => text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "not ready: waiting for the first configuration from the control plane\n",
                    ),
                };
                std::future::ready(Ok::<_, Infallible>(resp))
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// Binds the admin address; an address in use is reported by the caller.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
