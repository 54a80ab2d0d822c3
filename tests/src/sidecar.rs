//! A `sockmesh run` process with an admin port, started and waited on until `/ready`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{Child, TempDir, bin, free_port, http_get, local, wait_until};

pub struct Sidecar {
    pub child: Child,
    pub admin: SocketAddr,
    pub log: PathBuf,
    _dir: TempDir,
}

impl Sidecar {
    /// Starts `sockmesh run ARGS --admin 127.0.0.1:FREE` and waits until it is ready.
    pub fn start(args: &[&str]) -> Sidecar {
        Sidecar::start_with_stdout(args, None)
    }

    /// As [`Sidecar::start`], with standard output (where the logs go) sent to `stdout` instead
    /// of the log file, which then gets standard error alone.
    pub fn start_with_stdout(args: &[&str], stdout: Option<std::fs::File>) -> Sidecar {
        Sidecar::spawn(&[], args, stdout)
    }

    /// As [`Sidecar::start`], run under `wrapper`: a command and its arguments that execs the
    /// sidecar in its place (`prlimit --nofile=256:256`, say), so the pid is the sidecar's.
    pub fn start_under(wrapper: &[&str], args: &[&str]) -> Sidecar {
        Sidecar::spawn(wrapper, args, None)
    }

    fn spawn(wrapper: &[&str], args: &[&str], stdout: Option<std::fs::File>) -> Sidecar {
        let dir = TempDir::new("sidecar");
        let admin = local(free_port());
        let log = dir.path().join("sockmesh.log");
        let err = std::fs::File::create(&log).expect("log file");
        let out = match stdout {
            Some(f) => f,
            None => err.try_clone().expect("log file"),
        };
        let mut cmd = match wrapper.split_first() {
            Some((program, wrapper_args)) => {
                let mut cmd = Command::new(program);
                cmd.args(wrapper_args).arg(bin());
                cmd
            }
            None => Command::new(bin()),
        };
        cmd.arg("run")
            .args(args)
            .args(["--admin", &admin.to_string()])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let mut child = Child::spawn(&mut cmd);
        let ready = wait_until(Duration::from_secs(15), || {
            matches!(http_get(admin, "/ready"), Ok((200, _))) || !child.is_running()
        });
        let sidecar = Sidecar {
            child,
            admin,
            log,
            _dir: dir,
        };
        assert!(
            ready && matches!(http_get(admin, "/ready"), Ok((200, _))),
            "sockmesh did not become ready; its log:\n{}",
            sidecar.logs()
        );
        sidecar
    }

    /// `sockmesh run --config`: one inbound listener on a free port in front of the cluster
    /// `app` (127.0.0.1:`upstream`, spoken to in `protocol`), workload app=test, the HTTP rules
    /// `http_rules` (YAML list items, see [`crate::http_policy`]) and the `limits` given (YAML
    /// flow mapping entries, e.g. `requestTimeout: 1s`). Returns the sidecar, its port and the
    /// directory holding the files.
    pub fn from_config(
        upstream: u16,
        protocol: &str,
        http_rules: &str,
        limits: &str,
    ) -> (Sidecar, u16, TempDir) {
        let dir = TempDir::new("config");
        let policy = dir.write("p.yaml", &crate::http_policy(upstream, http_rules));
        let port = free_port();
        let config = format!(
            "workload: {{ labels: {{ app: test }} }}\npolicies: [{}]\nlisteners:\n- {{ address: 127.0.0.1:{port}, direction: inbound, cluster: app }}\nclusters:\n- {{ name: app, endpoints: [127.0.0.1:{upstream}], protocol: {protocol} }}\nlimits: {{ {limits} }}\n",
            policy.display(),
        );
        let config = dir.write("sidecar.yaml", &config);
        let sidecar = Sidecar::start(&["--config", &config.display().to_string()]);
        (sidecar, port, dir)
    }

    /// `sockmesh run` from flags alone: listening on a free port in front of the local port
    /// `upstream`, enforcing the policy document `policy` (written to the returned directory),
    /// with `extra` flags (labels, protocol, log settings).
    pub fn in_front_of(upstream: u16, policy: &str, extra: &[&str]) -> (Sidecar, u16, TempDir) {
        let dir = TempDir::new("policy");
        let policy = dir.write("policy.yaml", policy);
        let (sidecar, port) = Sidecar::with_policy_file(upstream, &policy, extra);
        (sidecar, port, dir)
    }

    /// A sidecar on a free port in front of 127.0.0.1:`upstream`, enforcing the policy file at
    /// `policy` (which the test owns); returns it and its port.
    pub fn with_policy_file(
        upstream: u16,
        policy: &std::path::Path,
        extra: &[&str],
    ) -> (Sidecar, u16) {
        let port = free_port();
        let (listen, upstream) = (format!("127.0.0.1:{port}"), format!("127.0.0.1:{upstream}"));
        let policy = policy.display().to_string();
        let mut args = vec![
            "--listen",
            &listen,
            "--upstream",
            &upstream,
            "--policy",
            &policy,
        ];
        args.extend_from_slice(extra);
        (Sidecar::start(&args), port)
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (up to 5 s) until the log contains `needle` and returns the whole log.
    pub fn wait_log(&self, needle: &str) -> String {
        crate::wait_log(&self.log, needle)
    }

    pub fn metrics(&self) -> String {
        http_get(self.admin, "/metrics").expect("GET /metrics").1
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(self.admin, path).expect("admin GET")
    }
}
