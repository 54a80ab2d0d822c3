//! `sockmesh run`: builds the runtime from a validated [`Config`], binds listeners and the admin
//! server, starts acceleration, and drains on SIGTERM/SIGINT or `POST /quitquitquit`.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use prometheus_client::registry::Registry;
use tokio::sync::watch;

use crate::admin::{self, AdminState, DynamicSection};
use crate::bpf::{AccelArgs, Acceleration, ListenerInfo};
use crate::cli::RunArgs;
use crate::config::Config;
use crate::discovery::{self, Discovery};
use crate::listener::manager::{self, BindError, Listeners};
use crate::listener::{self, Shared};
use crate::metrics::Metrics;
use crate::policy_store::{self, PolicyStore};
use crate::telemetry::{self, LogHandle};
use crate::upstream::{Clusters, Pool};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Policy(#[from] policy_store::PolicyLoadError),
    #[error(transparent)]
    Bind(#[from] BindError),
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
    registry.register_collector(Box::new(log.dropped_lines_collector()));

    // The admin port comes up first, so that a sidecar waiting for its control plane answers
    // `/live` and a 503 `/ready` instead of refusing connections.
    let admin_listener = Arc::new(admin::bind(config.admin).await.map_err(|source| {
        RunError::Bind(BindError {
            name: "admin".into(),
            addr: config.admin,
            source,
        })
    })?);
    let admin_addr = admin_listener.local_addr().unwrap_or(config.admin);

    // Configuration sources: the control plane (after its first sync) or local files.
    let discovery = match &config.xds {
        Some(xds) => {
            let d = Discovery::start(xds.clone()).map_err(RunError::Runtime)?;
            let handle = d.handle.clone();
            let (stop_tx, stop_rx) = watch::channel(false);
            let pending = tokio::spawn(admin::serve_pending(
                Arc::clone(&admin_listener),
                Arc::new(move || handle.status()),
                stop_rx,
            ));
            d.first_sync().await;
            stop_tx.send_replace(true);
            let _ = pending.await;
            Some(d)
        }
        None => None,
    };
    let initial = discovery.as_ref().map(|d| d.state()).unwrap_or_default();
    let policy = Arc::new(match &discovery {
        Some(_) => PolicyStore::new(
            &initial.policies,
            config.labels.clone(),
            Vec::new(),
            Arc::clone(&metrics),
        )?,
        None => PolicyStore::from_files(
            config.policy_files.clone(),
            config.labels.clone(),
            Arc::clone(&metrics),
        )?,
    });
    let wanted = discovery::merge_listeners(&config.listeners, &initial.listeners);
    let clusters = discovery::merge_clusters(&config.clusters, &initial.clusters);

    // Bind first, so acceleration learns the real ports before any traffic flows.
    let mut bound = Vec::new();
    for spec in &wanted {
        bound.push((spec, manager::bind(spec).await?));
    }
    let infos: Vec<ListenerInfo> = bound
        .iter()
        .map(|(spec, s)| ListenerInfo {
            address: s.local_addr().unwrap_or(spec.address),
            outbound: spec.direction == sockmesh_xds::domain::Direction::Outbound,
        })
        .collect();
    let accel = Acceleration::start(accel_args, config.acceleration.as_ref(), &infos);
    accel.register_metrics(&mut registry);

    let pool = Pool::new(Arc::clone(&metrics));
    pool.spawn_sweeper();
    let shared = Arc::new(Shared {
        policy: Arc::clone(&policy),
        clusters: Clusters::new(&clusters),
        pool,
        metrics: Arc::clone(&metrics),
        limits: config.limits.clone(),
        accel,
    });
    let listeners = Arc::new(Listeners::new(Arc::clone(&shared)));
    for (spec, socket) in bound {
        listeners.adopt(spec, socket).await;
    }
    let _watcher = match policy_store::watch::spawn(Arc::clone(&policy)) {
        Ok(w) => w,
        Err(error) => {
            tracing::warn!(%error);
            None
        }
    };
    let mut dynamic: Vec<DynamicSection> = Vec::new();
    if let Some(discovery) = discovery {
        let handle = discovery.handle.clone();
        dynamic.push(("xds", Box::new(move || handle.status())));
        discovery.spawn_apply(
            initial.generations,
            Arc::clone(&shared),
            Arc::clone(&listeners),
            config.listeners.clone(),
            config.clusters.clone(),
        );
    }

    let (exit_tx, mut exit_rx) = watch::channel(false);
    let admin_state = Arc::new(AdminState {
        config: config.clone(),
        shared: Arc::clone(&shared),
        listeners: Arc::clone(&listeners),
        registry,
        log,
        ready: Default::default(),
        dynamic,
        exit: exit_tx.clone(),
    });
    let (admin_stop_tx, admin_stop_rx) = watch::channel(false);
    tokio::spawn(admin::serve(
        admin_listener,
        Arc::clone(&admin_state),
        admin_stop_rx,
    ));

    admin_state.ready.store(true, Ordering::Release);
    tracing::info!(admin = %admin_addr, rules = policy.load().rule_count(), "sockmesh ready");
    if let Some(started) = started {
        let addrs = listeners
            .bound()
            .await
            .into_iter()
            .map(|(_, a)| a)
            .collect();
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
    listeners.stop_all().await;
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

pub async fn shutdown_signal() {
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
