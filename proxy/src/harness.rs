//! An in-process sidecar for tests, as ztunnel's `test_helpers/app.rs`: the whole runtime
//! (listeners, policy, upstream pool, admin server) on the test's own tokio runtime, from the
//! same config file text `sockmesh run --config` reads, with what only code can set (TLS) beside
//! it.
//!
//! Why in-process: a test then owns its sidecar's lifetime, ports and failures (no process to
//! find, wait for or kill), runs in milliseconds, and can hand the sidecar what no flag carries
//! yet. The end-to-end tests in `tests/` keep driving the built binary against real peers;
//! this harness is for the seams below them.
//!
//! ```ignore
//! let sidecar = TestSidecar::start(&yaml, TlsSettings::default()).await?;
//! let addr = sidecar.listeners[0];
//! // ... requests ...
//! sidecar.stop().await;
//! ```

use std::net::SocketAddr;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::bpf::AccelArgs;
use crate::config::{Config, LogFormat};
use crate::runtime::Sidecar;
use crate::transport::TlsSettings;

/// A sidecar running in this process.
pub struct TestSidecar {
    /// The bound listener addresses, in the config's order of names.
    pub listeners: Vec<SocketAddr>,
    pub admin: SocketAddr,
    exit: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl TestSidecar {
    /// Starts a sidecar from config file text (YAML; relative paths in it are read from the
    /// current directory) and serves until [`TestSidecar::stop`].
    pub async fn start(config_yaml: &str, tls: TlsSettings) -> Result<TestSidecar, String> {
        let dir = std::env::temp_dir().join(format!(
            "sockmesh-harness-{}-{:p}",
            std::process::id(),
            &config_yaml
        ));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let path = dir.join("sidecar.yaml");
        std::fs::write(&path, config_yaml).map_err(|e| e.to_string())?;
        let config = Config::load(&path).map_err(|e| e.to_string());
        let _ = std::fs::remove_dir_all(&dir);
        let config = config?;
        let log = crate::telemetry::init(LogFormat::Human, "warn").map_err(|e| e.to_string())?;
        let sidecar = Sidecar::build(config, &AccelArgs::default(), log, tls)
            .await
            .map_err(|e| e.to_string())?;
        let running = sidecar.start().await;
        let started = running.started();
        let task = tokio::spawn(running.run());
        Ok(TestSidecar {
            listeners: started.listeners,
            admin: started.admin,
            exit: started.exit,
            task,
        })
    }

    /// Drains and stops the sidecar, as SIGTERM would.
    pub async fn stop(self) {
        self.exit.send_replace(true);
        let _ = self.task.await;
    }
}
