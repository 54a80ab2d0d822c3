//! Small origins written in Python (`tests/python/*_origin.py`) for what nginx will not do on
//! request: trailers, stalls, answers before the request body, a WSGI application, an HTTP/2
//! server that shows request trailers. Each prints `ready` once listening and then one line per
//! event, which a test waits for.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use crate::{Child, free_port, root};

pub struct Origin {
    pub port: u16,
    lines: Receiver<String>,
    _child: Child,
}

impl Origin {
    /// Starts `tests/python/<script>` (standard library only) on a free port and waits for its
    /// `ready`.
    pub fn start(script: &str) -> Origin {
        Origin::spawn(std::path::Path::new("python3"), script, &[])
    }

    /// As [`Origin::start`], for a script that needs the venv's packages (`h2`).
    pub fn start_venv(script: &str) -> Origin {
        Origin::spawn(&crate::python(), script, &[])
    }

    /// As [`Origin::start`], with `args` after the port.
    pub fn start_with(script: &str, args: &[&str]) -> Origin {
        Origin::spawn(std::path::Path::new("python3"), script, args)
    }

    fn spawn(python: &std::path::Path, script: &str, args: &[&str]) -> Origin {
        let port = free_port();
        let mut child = Child::spawn(
            Command::new(python)
                .arg(root().join("tests/python").join(script))
                .arg(port.to_string())
                .args(args)
                .stdout(Stdio::piped()),
        );
        let stdout = child.0.stdout.take().expect("piped stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let origin = Origin {
            port,
            lines,
            _child: child,
        };
        origin.expect("ready", Duration::from_secs(10));
        origin
    }

    /// The lines printed since the last `expect` or `printed`, as far as they have come.
    pub fn printed(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }

    /// Waits up to `within` for the origin to print `line`; lines before it are passed over.
    pub fn expect(&self, line: &str, within: Duration) {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(got) if got == line => return,
                Ok(_) => {}
                Err(_) => panic!("the origin did not print {line:?} within {within:?}"),
            }
        }
    }
}
