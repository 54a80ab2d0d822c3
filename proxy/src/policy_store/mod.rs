//! The policy in force: compiled once per change and swapped atomically, so every request reads
//! it without a lock and a reload never drops a connection.
//!
//! Sources are local CiliumNetworkPolicy files (watched, see [`watch`]) or xDS updates; both
//! produce the same `sockmesh_policy::model::Policy` values. An invalid change is refused, logged,
//! counted (`sockmesh_policy_reloads{result="failed"}`), and the last good policy keeps enforcing.
//! What counts as invalid when reading the files (an empty file, every file gone) is in
//! [`read`].

mod read;
pub mod watch;

use std::borrow::Borrow;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use sockmesh_policy::fqdn::Learned;
use sockmesh_policy::{CompileError, CompiledPolicy, Labels, ParseError, model::Policy};

use crate::metrics::{Metrics, ReloadLabels, ReloadResult};

pub use read::{Missing, read_files};

#[derive(Debug, thiserror::Error)]
pub enum PolicyLoadError {
    #[error("cannot read policy file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", render_parse_errors(.0))]
    Parse(Vec<ParseError>),
    #[error(
        "every policy file is gone (a volume unmounted, a directory being replaced?): keeping the \
         last good policy; to run without policies, restart without them"
    )]
    AllRemoved,
    #[error("policy does not compile: {0}")]
    Compile(#[from] CompileError),
}

fn render_parse_errors(errors: &[ParseError]) -> String {
    errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The compiled policy in force and where it came from.
pub struct PolicyStore {
    current: ArcSwap<CompiledPolicy>,
    labels: Labels,
    files: Vec<PathBuf>,
    metrics: Arc<Metrics>,
    last_error: Mutex<Option<String>>,
    /// What DNS answers taught `toFQDNs` selectors; every compiled policy reads this one table.
    learned: Arc<Learned>,
}

impl PolicyStore {
    /// Compiles the initial policy; an error here stops start-up (nothing good to fall back to).
    pub fn new<P: Borrow<Policy>>(
        policies: &[P],
        labels: Labels,
        files: Vec<PathBuf>,
        metrics: Arc<Metrics>,
    ) -> Result<PolicyStore, PolicyLoadError> {
        let learned = Arc::new(Learned::default());
        let compiled = CompiledPolicy::compile_with(policies, &labels, Arc::clone(&learned));
        crate::memory::release_freed();
        let compiled = compiled?;
        metrics.policy_rules.set(compiled.rule_count() as i64);
        Ok(PolicyStore {
            current: ArcSwap::from_pointee(compiled),
            labels,
            files,
            metrics,
            last_error: Mutex::new(None),
            learned,
        })
    }

    /// Loads the given files and compiles them.
    pub fn from_files(
        files: Vec<PathBuf>,
        labels: Labels,
        metrics: Arc<Metrics>,
    ) -> Result<PolicyStore, PolicyLoadError> {
        let policies = read_files(&files, Missing::Error)?;
        PolicyStore::new(&policies, labels, files, metrics)
    }

    /// The policy for the next decision. Cheap: no lock, no allocation.
    pub fn load(&self) -> arc_swap::Guard<Arc<CompiledPolicy>> {
        self.current.load()
    }

    /// The table of addresses learned from DNS answers (`toFQDNs`).
    pub fn learned(&self) -> &Arc<Learned> {
        &self.learned
    }

    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The error of the last refused change, if the last change was refused.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    /// Re-reads the policy files (a file deleted from its directory takes its policies with it);
    /// on error keeps the policy in force.
    pub fn reload_files(&self) -> Result<(), PolicyLoadError> {
        let start = std::time::Instant::now();
        let result = read_files(&self.files, Missing::Removed).and_then(|p| self.compile(&p));
        self.finish(result, start)
    }

    /// Applies policies from another source (xDS); on error keeps the policy in force.
    pub fn apply<P: Borrow<Policy>>(&self, policies: &[P]) -> Result<(), PolicyLoadError> {
        let start = std::time::Instant::now();
        let result = self.compile(policies);
        self.finish(result, start)
    }

    fn compile<P: Borrow<Policy>>(
        &self,
        policies: &[P],
    ) -> Result<CompiledPolicy, PolicyLoadError> {
        let learned = Arc::clone(&self.learned);
        Ok(CompiledPolicy::compile_with(
            policies,
            &self.labels,
            learned,
        )?)
    }

    fn finish(
        &self,
        result: Result<CompiledPolicy, PolicyLoadError>,
        start: std::time::Instant,
    ) -> Result<(), PolicyLoadError> {
        let took_ms = start.elapsed().as_millis() as u64;
        let (label, outcome) = match result {
            Ok(compiled) => {
                let rules = compiled.rule_count();
                self.current.store(Arc::new(compiled));
                self.metrics.policy_rules.set(rules as i64);
                tracing::info!(rules, took_ms, "policy reloaded");
                self.set_error(None);
                (ReloadResult::Ok, Ok(()))
            }
            Err(error) => {
                tracing::error!(%error, "policy change refused; the last good policy stays in force");
                self.set_error(Some(error.to_string()));
                (ReloadResult::Failed, Err(error))
            }
        };
        // After the swap: the old policy (unless a request still holds it) and the compile's
        // scratch are free now.
        crate::memory::release_freed();
        self.metrics
            .policy_reloads
            .get_or_create(&ReloadLabels { result: label })
            .inc();
        outcome
    }

    fn set_error(&self, error: Option<String>) {
        if let Ok(mut slot) = self.last_error.lock() {
            *slot = error;
        }
    }
}
