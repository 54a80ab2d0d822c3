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
use crate::conn::{self, Shared};
use crate::discovery::{self, Discovery};
use crate::listener::manager::{self, BindError, Listeners};
use crate::metrics::Metrics;
use crate::policy_store::{self, PolicyStore};
use crate::telemetry::{self, LogHandle};
use crate::transport::TlsSettings;
use crate::upstream::{Clusters, Connector, Pool};

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
    let caps = config
        .clusters
        .iter()
        .map(|c| u64::from(c.circuit_breakers.max_connections))
        .sum();
    crate::fds::raise_and_log(caps);
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
    let sidecar = Sidecar::build(config, accel_args, log, TlsSettings::default()).await?;
    let running = sidecar.start().await;
    if let Some(started) = started {
        let _ = started.send(running.started());
    }
    running.run().await;
    Ok(())
}

/// A sidecar built from its configuration: policy loaded, listeners and admin port bound,
/// acceleration attached, xDS synced once (when configured); nothing served yet but the admin
/// port's readiness while a control plane is awaited.
pub struct Sidecar {
    config: Config,
    registry: Registry,
    log: LogHandle,
    admin_listener: Arc<tokio::net::TcpListener>,
    discovery: Option<(Discovery, sockmesh_xds::client::Generations)>,
    shared: Arc<Shared>,
    bound: Vec<(sockmesh_xds::domain::Listener, manager::Bound)>,
}

impl Sidecar {
    pub async fn build(
        config: Config,
        accel_args: &AccelArgs,
        log: LogHandle,
        tls: TlsSettings,
    ) -> Result<Sidecar, RunError> {
        let mut registry = Registry::default();
        let metrics = Arc::new(Metrics::new(&mut registry));
        registry.register_collector(Box::new(log.dropped_lines_collector()));

        // The admin port comes up first, so that a sidecar waiting for its control plane
        // answers `/live` and a 503 `/ready` instead of refusing connections.
        let admin_listener = Arc::new(admin::bind(config.admin).await.map_err(|source| {
            RunError::Bind(BindError {
                name: "admin".into(),
                addr: config.admin,
                source,
            })
        })?);
        let discovery = match &config.xds {
            Some(xds) => Some(first_sync(xds.clone(), &admin_listener).await?),
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
        policy.learned().set_bounds(config.dns.learned);
        let wanted = discovery::merge_listeners(&config.listeners, &initial.listeners);
        let clusters = discovery::merge_clusters(&config.clusters, &initial.clusters);

        // Bind first, so acceleration learns the real ports before any traffic flows.
        let mut bound = Vec::new();
        for spec in wanted {
            let socket = manager::bind(&spec).await?;
            bound.push((spec, socket));
        }
        let infos: Vec<ListenerInfo> = bound
            .iter()
            .map(|(spec, s)| ListenerInfo {
                address: s.local_addr().unwrap_or(spec.address),
                outbound: spec.direction == sockmesh_xds::domain::Direction::Outbound,
                dns: spec.protocol == sockmesh_xds::domain::ListenerProtocol::Dns,
            })
            .collect();
        let accel = Acceleration::start(accel_args, config.acceleration.as_ref(), &infos);
        accel.register_metrics(&mut registry);

        let pool = Pool::new(Arc::clone(&metrics), Connector::new(tls.client.clone()));
        let shared = Arc::new(Shared {
            policy,
            clusters: Clusters::new(&clusters, Arc::clone(&metrics)),
            pool,
            metrics,
            limits: config.limits.clone(),
            http: config.http,
            dns: config.dns,
            dns_tcp_exchanges: tokio::sync::Semaphore::new(config.dns.max_inflight),
            kafka: config.kafka,
            kafka_topic_ids: Default::default(),
            kafka_brokers: Default::default(),
            accel,
            tls,
        });
        Ok(Sidecar {
            config,
            registry,
            log,
            admin_listener,
            discovery: discovery.map(|d| (d, initial.generations)),
            shared,
            bound,
        })
    }

    /// Starts serving: listeners accept, the policy watcher and the xDS apply loop run, the
    /// admin server answers and reports ready.
    pub async fn start(self) -> Running {
        let Sidecar {
            config,
            registry,
            log,
            admin_listener,
            discovery,
            shared,
            bound,
        } = self;
        shared.pool.spawn_sweeper();
        crate::memory::spawn_releaser();
        let listeners = Arc::new(Listeners::new(Arc::clone(&shared)));
        for (spec, socket) in bound {
            listeners.adopt(&spec, socket).await;
        }
        let watcher = match policy_store::watch::spawn(Arc::clone(&shared.policy)) {
            Ok(w) => w,
            Err(error) => {
                tracing::warn!(%error);
                None
            }
        };
        let mut dynamic: Vec<DynamicSection> = Vec::new();
        if let Some((discovery, generations)) = discovery {
            let handle = discovery.handle.clone();
            dynamic.push(("xds", Box::new(move || handle.status())));
            discovery.spawn_apply(
                generations,
                Arc::clone(&shared),
                Arc::clone(&listeners),
                config.listeners.clone(),
                config.clusters.clone(),
            );
        }
        let admin_addr = admin_listener.local_addr().unwrap_or(config.admin);
        let (exit, _) = watch::channel(false);
        let admin_state = Arc::new(AdminState {
            config,
            shared: Arc::clone(&shared),
            listeners: Arc::clone(&listeners),
            registry,
            log,
            ready: Default::default(),
            dynamic,
            exit: exit.clone(),
        });
        let (admin_stop, admin_stop_rx) = watch::channel(false);
        tokio::spawn(admin::serve(
            admin_listener,
            Arc::clone(&admin_state),
            admin_stop_rx,
        ));
        admin_state.ready.store(true, Ordering::Release);
        let rules = shared.policy.load().rule_count();
        tracing::info!(admin = %admin_addr, rules, "sockmesh ready");
        let addrs = listeners
            .bound()
            .await
            .into_iter()
            .map(|(_, a)| a)
            .collect();
        Running {
            admin_state,
            listeners,
            shared,
            admin_addr,
            addrs,
            exit,
            admin_stop,
            _watcher: watcher,
        }
    }
}

/// Waits for the control plane's first complete sync, answering `/live` and a 503 `/ready` on
/// the admin port meanwhile: serving earlier would enforce no policy.
async fn first_sync(
    xds: sockmesh_xds::client::ClientConfig,
    admin_listener: &Arc<tokio::net::TcpListener>,
) -> Result<Discovery, RunError> {
    let d = Discovery::start(xds).map_err(RunError::Runtime)?;
    let handle = d.handle.clone();
    let (stop_tx, stop_rx) = watch::channel(false);
    let pending = tokio::spawn(admin::serve_pending(
        Arc::clone(admin_listener),
        Arc::new(move || handle.status()),
        stop_rx,
    ));
    d.first_sync().await;
    stop_tx.send_replace(true);
    let _ = pending.await;
    Ok(d)
}

/// A serving sidecar.
pub struct Running {
    admin_state: Arc<AdminState>,
    listeners: Arc<Listeners>,
    shared: Arc<Shared>,
    admin_addr: std::net::SocketAddr,
    addrs: Vec<std::net::SocketAddr>,
    exit: watch::Sender<bool>,
    admin_stop: watch::Sender<bool>,
    _watcher: Option<policy_store::watch::PolicyWatcher>,
}

impl Running {
    /// Where it listens, and the switch that makes it drain and exit.
    pub fn started(&self) -> Started {
        Started {
            listeners: self.addrs.clone(),
            admin: self.admin_addr,
            exit: self.exit.clone(),
        }
    }

    /// Serves until SIGTERM, SIGINT or an exit request, then drains: listeners stop
    /// accepting, connections finish within `drainTimeout`.
    pub async fn run(self) {
        let mut exit_rx = self.exit.subscribe();
        tokio::select! {
            _ = shutdown_signal() => tracing::info!("shutdown signal received; draining"),
            _ = conn::signalled(&mut exit_rx) => tracing::info!("exit requested; draining"),
        }
        self.admin_state.ready.store(false, Ordering::Release);
        self.listeners.stop_all().await;
        let drain = self.shared.limits.drain_timeout;
        let deadline = tokio::time::Instant::now() + drain;
        let active = &self.shared.metrics.downstream_active;
        while active.get() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        self.admin_stop.send_replace(true);
        tracing::info!(open = active.get(), "drained; exiting");
    }
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
