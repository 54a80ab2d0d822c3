//! `sockmesh run`: builds the runtime from a validated [`Config`], binds listeners and the admin
//! server, starts acceleration, and drains on SIGTERM/SIGINT or `POST /quitquitquit`.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::admin::{self, AdminState};
use crate::bpf::{AccelArgs, Acceleration, ListenerInfo};
use crate::cli::RunArgs;
use crate::config::Config;
use crate::listener::{self, Shared};
use crate::metrics::Metrics;
use crate::policy_store::{self, PolicyStore};
use crate::telemetry::{self, LogHandle};
use crate::upstream::{Clusters, Pool};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Policy(#[from] policy_store::PolicyLoadError),
    #[error("cannot listen on {addr} ({name}): {source}; is another process using it?")]
    Bind {
        name: String,
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}

pub fn run(args: &RunArgs) -> ExitCode {
    let config = match Config::from_args(args) {
        Ok(c) => c,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let log = match telemetry::init(config.log_format, &config.log_level) {
        Ok(l) => l,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let result = build_runtime(config.workers)
        .map_err(RunError::Runtime)
        .and_then(|rt| rt.block_on(serve(config, &args.accel, log, None)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "sockmesh stopped");
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// One worker: a current-thread runtime (the sidecar default: least CPU and memory per request).
pub fn build_runtime(workers: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if workers <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
    }
}

/// Tells a caller (the demo, tests) where the sidecar ended up listening.
pub struct Started {
    pub listeners: Vec<std::net::SocketAddr>,
    pub admin: std::net::SocketAddr,
    pub exit: watch::Sender<bool>,
}

/// Runs the sidecar until shutdown. `started` receives the bound addresses once serving.
pub async fn serve(
    config: Config,
    accel_args: &AccelArgs,
    log: LogHandle,
    started: Option<tokio::sync::oneshot::Sender<Started>>,
) -> Result<(), RunError> {
    let mut registry = Registry::default();
    let metrics = Arc::new(Metrics::new(&mut registry));
    let policy = Arc::new(PolicyStore::from_files(
        config.policy_files.clone(),
        config.labels.clone(),
        Arc::clone(&metrics),
    )?);

    let mut bound = Vec::new();
    for l in &config.listeners {
        let socket = TcpListener::bind(l.address)
            .await
            .map_err(|source| RunError::Bind {
                name: l.name.clone(),
                addr: l.address,
                source,
            })?;
        bound.push((socket, Arc::new(l.clone())));
    }
    let infos: Vec<ListenerInfo> = bound
        .iter()
        .map(|(s, l)| ListenerInfo {
            address: s.local_addr().unwrap_or(l.address),
            outbound: l.direction == sockmesh_xds::domain::Direction::Outbound,
        })
        .collect();
    let accel = Acceleration::start(accel_args, config.acceleration.as_ref(), &infos);
    accel.register_metrics(&mut registry);

    let shared = Arc::new(Shared {
        policy: Arc::clone(&policy),
        clusters: Clusters::new(&config.clusters),
        pool: Pool::new(Arc::clone(&metrics)),
        metrics: Arc::clone(&metrics),
        limits: config.limits.clone(),
        accel,
    });
    let _watcher = match policy_store::watch::spawn(Arc::clone(&policy)) {
        Ok(w) => w,
        Err(error) => {
            tracing::warn!(%error);
            None
        }
    };

    let admin_listener = admin::bind(config.admin)
        .await
        .map_err(|source| RunError::Bind {
            name: "admin".into(),
            addr: config.admin,
            source,
        })?;
    let admin_addr = admin_listener.local_addr().unwrap_or(config.admin);
    let (drain_tx, drain_rx) = watch::channel(false);
    let (exit_tx, mut exit_rx) = watch::channel(false);
    let admin_state = Arc::new(AdminState {
        config: config.clone(),
        shared: Arc::clone(&shared),
        registry,
        log,
        ready: Default::default(),
        dynamic: Vec::new(),
        drain: drain_tx.clone(),
        exit: exit_tx.clone(),
    });
    let (admin_stop_tx, admin_stop_rx) = watch::channel(false);
    tokio::spawn(admin::serve(
        admin_listener,
        Arc::clone(&admin_state),
        admin_stop_rx,
    ));

    let mut addrs = Vec::new();
    for (socket, l) in bound {
        let addr = socket.local_addr().unwrap_or(l.address);
        tracing::info!(listener = %l.name, %addr, direction = ?l.direction, protocol = ?l.protocol, "listening");
        addrs.push(addr);
        tokio::spawn(listener::serve(
            socket,
            l,
            Arc::clone(&shared),
            drain_rx.clone(),
        ));
    }
    admin_state.ready.store(true, Ordering::Release);
    tracing::info!(admin = %admin_addr, rules = policy.load().rule_count(), "sockmesh ready");
    if let Some(started) = started {
        let _ = started.send(Started {
            listeners: addrs,
            admin: admin_addr,
            exit: exit_tx.clone(),
        });
    }

    tokio::select! {
        _ = shutdown_signal() => tracing::info!("shutdown signal received; draining"),
        _ = listener::signalled(&mut exit_rx) => tracing::info!("exit requested; draining"),
    }
    admin_state.ready.store(false, Ordering::Release);
    drain_tx.send_replace(true);
    let deadline = tokio::time::Instant::now() + config.limits.drain_timeout;
    while shared.metrics.downstream_active.get() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    admin_stop_tx.send_replace(true);
    tracing::info!(
        open = shared.metrics.downstream_active.get(),
        "drained; exiting"
    );
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(error) => {
            tracing::warn!(%error, "cannot handle SIGTERM; only Ctrl-C stops the proxy");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
