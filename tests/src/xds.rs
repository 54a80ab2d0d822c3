//! `sockmesh control-plane` as a child process, for the xDS end-to-end tests, plus a keep-alive
//! HTTP/1.1 client that proves connections survive control plane restarts.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{Child, bin, local, wait_until};

/// A running `sockmesh control-plane --policies DIR --clusters FILE --listen ADDR`.
pub struct ControlPlane {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl ControlPlane {
    /// Starts it (log appended to `log`) and waits until its port accepts connections.
    pub fn start(policies: &Path, clusters: &Path, port: u16, log: &Path) -> ControlPlane {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("control plane log");
        let err = out.try_clone().expect("log file");
        let addr = local(port);
        let mut cmd = Command::new(bin());
        cmd.arg("control-plane")
            .arg("--policies")
            .arg(policies)
            .arg("--clusters")
            .arg(clusters)
            .arg("--listen")
            .arg(addr.to_string())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let mut child = Child::spawn(&mut cmd);
        let up = wait_until(Duration::from_secs(15), || {
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
                || !child.is_running()
        });
        let cp = ControlPlane {
            child,
            addr,
            log: log.to_owned(),
        };
        assert!(
            up && TcpStream::connect(addr).is_ok(),
            "control plane did not come up; its log:\n{}",
            cp.logs()
        );
        cp
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: a crash, no goodbye on the streams.
    pub fn kill(&mut self) {
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
    }
}

/// One HTTP/1.1 connection reused for several requests.
pub struct KeepAlive {
    stream: BufReader<TcpStream>,
}

impl KeepAlive {
    pub fn connect(addr: SocketAddr) -> KeepAlive {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        KeepAlive {
            stream: BufReader::new(s),
        }
    }

    /// `GET path` on this connection: (status, body). Fails the test if the connection broke.
    pub fn get(&mut self, path: &str) -> (u16, String) {
        write!(
            self.stream.get_mut(),
            "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: keep-alive\r\n\r\n"
        )
        .expect("write on the kept-alive connection");
        let mut status_line = String::new();
        self.stream
            .read_line(&mut status_line)
            .expect("read status");
        assert!(!status_line.is_empty(), "connection closed by the proxy");
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            self.stream.read_line(&mut line).expect("read header");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).expect("read body");
        (status, String::from_utf8_lossy(&body).into_owned())
    }
}

/// A CiliumNetworkPolicy named `name` allowing GET on `paths` (full-match regexes) to `port`.
pub fn allow_get(name: &str, port: u16, paths: &[&str]) -> String {
    let mut rules = String::new();
    for p in paths {
        rules.push_str(&format!("        - method: GET\n          path: \"{p}\"\n"));
    }
    format!(
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: {name}\nspec:\n  endpointSelector:\n    matchLabels:\n      app: test\n  ingress:\n  - toPorts:\n    - ports:\n      - port: \"{port}\"\n        protocol: TCP\n      rules:\n        http:\n{rules}"
    )
}

/// The same policy as a `sockmesh.policy.v1.NetworkPolicy` in its JSON form (served unvalidated).
pub fn allow_get_json(name: &str, port: u16, path: &str) -> String {
    format!(
        r#"{{"name": "{name}", "specs": [{{"endpointSelector": {{"matchLabels": {{"app": "test"}}}},
  "ingress": {{"rules": [{{"toPorts": [{{"ports": [{{"port": {port}, "protocol": "TCP"}}],
    "rules": {{"httpRules": [{{"method": "GET", "path": "{path}"}}]}}}}]}}]}}}}]}}"#
    )
}

/// A clusters file: one cluster `web` at `upstream`, one inbound HTTP listener on `listen`.
pub fn clusters_file(upstream: u16, listen: u16) -> String {
    format!(
        "clusters:\n- name: web\n  endpoints: [\"127.0.0.1:{upstream}\"]\n  connectTimeoutMs: 2000\nlisteners:\n- name: inbound\n  address: 127.0.0.1:{listen}\n  direction: inbound\n  protocol: http\n  cluster: web\n"
    )
}

/// Writes `text` to `dir/name` atomically (temp file + rename), as editors and config tools do.
pub fn write_atomically(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, dir.join(name)).expect("rename");
}

/// The sidecar's `/config_dump` body (its `xds` section holds the client status).
pub fn config_dump(sidecar: &crate::Sidecar) -> String {
    sidecar.get("/config_dump").1
}
