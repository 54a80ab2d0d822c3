//! A tansu Kafka broker (crates.io `tansu` 0.6, Apache Kafka compatible, written in Rust) in
//! memory on a free port: the broker of the Kafka tests, so that they see what a real broker
//! answers (ApiVersions, Metadata with topic ids, group coordination, record batches).
//!
//! [`Tansu::start`] runs `tansu broker --storage-engine memory://tansu/` on 127.0.0.1 at a free
//! port, advertising that address (or another, [`Tansu::start_advertising`]), and waits until
//! it accepts connections.
//! tansu does not create topics on first use: [`Tansu::create_topic`] runs `tansu topic create`
//! (one partition). Its quirks (see ../shared/DESIGN.md): a Fetch waits half the client's
//! `fetch.wait.max.ms` (the clients here set 1 ms), Fetch responses stop at 5 MiB.
//!
//! [`kafka_client`] runs `tests/python/kafka_client.py` (confluent-kafka's librdkafka 2.16 or
//! kafka-python 3) and returns its JSON answer; [`kcat`] runs Debian's kcat on that same
//! librdkafka 2.16 (its own 2.0.2 cannot talk to tansu). Both can be started by another
//! command, inside a pod's cgroup and network namespace for the interception tests:
//! [`kafka_client_via`], [`kcat_command`].
//!
//! [`Tansu::start_in_netns`] runs the broker in a test's network namespace at a remote-looking
//! address.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{Child, free_port, local, output_text, python, require, root, wait_until};

/// The tansu version scripts/install-deps.sh builds.
pub const TANSU_VERSION: &str = "0.6.0";

pub struct Tansu {
    pub port: u16,
    ip: IpAddr,
    /// The network namespace it runs in (a name under /run/netns), when not the test's own.
    netns: Option<String>,
    child: Child,
    log: PathBuf,
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.child.stop(Duration::from_secs(2));
    }
}

/// The tansu binary: `$SOCKMESH_TANSU`, or where scripts/install-deps.sh puts it.
pub fn tansu_bin() -> PathBuf {
    let path = std::env::var_os("SOCKMESH_TANSU")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache =
                std::env::var_os("SOCKMESH_CACHE").unwrap_or_else(|| "/var/cache/sockmesh".into());
            PathBuf::from(cache).join(format!("tansu-{TANSU_VERSION}/bin/tansu"))
        });
    assert!(
        path.exists(),
        "{} not found: run scripts/install-deps.sh (it builds tansu {TANSU_VERSION} once, about 15 minutes), or set SOCKMESH_TANSU",
        path.display()
    );
    path
}

impl Tansu {
    /// Starts the broker and waits until it accepts connections.
    pub fn start() -> Tansu {
        Tansu::start_advertising(None)
    }

    /// Starts the broker advertising `advertised` (a port on 127.0.0.1) as its address in
    /// Metadata instead of its own: what a broker configured to be reached through a proxy
    /// does.
    pub fn start_advertising(advertised: Option<u16>) -> Tansu {
        let port = free_port();
        let advertised = local(advertised.unwrap_or(port));
        Tansu::launch(local(port), advertised, None)
    }

    /// Starts the broker in the network namespace `netns` (a name under /run/netns) on `addr`,
    /// advertising that address: a broker the pod reaches at a remote-looking address, for the
    /// interception tests. Its commands ([`Tansu::create_topic`]) run in that namespace too.
    pub fn start_in_netns(netns: &str, addr: SocketAddr) -> Tansu {
        Tansu::launch(addr, addr, Some(netns.to_owned()))
    }

    fn launch(addr: SocketAddr, advertised: SocketAddr, netns: Option<String>) -> Tansu {
        let log = std::env::temp_dir().join(format!(
            "sockmesh-tansu-{}-{}.log",
            netns.as_deref().unwrap_or("host"),
            addr.port()
        ));
        let file = std::fs::File::create(&log).expect("tansu log file");
        let err = file.try_clone().expect("tansu log file");
        let mut child = Child::spawn(
            in_netns(netns.as_deref(), tansu_bin())
                .args(["broker", "--storage-engine", "memory://tansu/"])
                .args([
                    "--listener-url",
                    &format!("tcp://{addr}"),
                    "--advertised-listener-url",
                    &format!("tcp://{advertised}"),
                ])
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::from(file))
                .stderr(Stdio::from(err)),
        );
        let up = wait_until(Duration::from_secs(20), || {
            child.is_running() && accepts(netns.as_deref(), addr)
        });
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(up, "tansu did not start on {addr}:\n{text}");
        Tansu {
            port: addr.port(),
            ip: addr.ip(),
            netns,
            child,
            log,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }

    /// Creates `topic` with one partition.
    pub fn create_topic(&self, topic: &str) {
        let out = in_netns(self.netns.as_deref(), tansu_bin())
            .args(["topic", "create", "--broker"])
            .arg(format!("tcp://{}", self.addr()))
            .args(["--partitions", "1", topic])
            .output()
            .expect("run tansu topic create");
        assert!(
            out.status.success(),
            "tansu topic create {topic}: {}",
            output_text(&out)
        );
    }

    /// What the broker logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// `program`, run in the network namespace `netns` when there is one (`nsenter`, which execs
/// it: the child's pid is the program's).
fn in_netns(netns: Option<&str>, program: impl AsRef<std::ffi::OsStr>) -> Command {
    match netns {
        Some(name) => {
            let mut cmd = Command::new("nsenter");
            cmd.arg(format!("--net=/run/netns/{name}")).arg(program);
            cmd
        }
        None => Command::new(program),
    }
}

/// Whether something accepts TCP connections at `addr` (in `netns`, when given).
fn accepts(netns: Option<&str>, addr: SocketAddr) -> bool {
    match netns {
        None => std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok(),
        Some(_) => in_netns(netns, "bash")
            .arg("-c")
            .arg(format!("exec 3<>/dev/tcp/{}/{}", addr.ip(), addr.port()))
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success()),
    }
}

/// Runs `tests/python/kafka_client.py LIB OP BOOTSTRAP ARGS..` and returns its JSON output.
pub fn kafka_client(
    lib: &str,
    op: &str,
    bootstrap: SocketAddr,
    args: &[&str],
) -> serde_json::Value {
    kafka_client_via(None, lib, op, bootstrap, args)
}

/// As [`kafka_client`], started by `launcher` when given: a command that execs the arguments
/// appended to it (`bpf-peer --cgroup CG exec` in a pod's network namespace, say).
pub fn kafka_client_via(
    launcher: Option<Command>,
    lib: &str,
    op: &str,
    bootstrap: SocketAddr,
    args: &[&str],
) -> serde_json::Value {
    let mut cmd = match launcher {
        Some(mut launcher) => {
            launcher.arg(python());
            launcher
        }
        None => Command::new(python()),
    };
    let out = cmd
        .arg(root().join("tests/python/kafka_client.py"))
        .args([lib, op, &bootstrap.to_string()])
        .args(args)
        .output()
        .expect("run kafka_client.py");
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "kafka_client.py {lib} {op}: not JSON ({e}):\n{}",
            output_text(&out)
        )
    })
}

/// A directory holding the librdkafka of the confluent-kafka wheel (2.16) under the name kcat
/// links (`librdkafka.so.1`), for kcat's `LD_LIBRARY_PATH`: Debian's kcat links librdkafka
/// 2.0.2, which misreads tansu's ApiVersions v3 answer (../shared/DESIGN.md). The wheel names
/// its copy `librdkafka-HASH.so.1`, so the directory has a link by the usual name. It is kept
/// (under the temp dir, named after the library's path) and reused by later runs.
pub fn kcat_library_dir() -> PathBuf {
    let out = Command::new(python())
        .args([
            "-c",
            "import glob, os, confluent_kafka as c; d = os.path.dirname(c.__file__); print(*sorted(glob.glob(d + '.libs/librdkafka*.so*')), sep='\\n')",
        ])
        .output()
        .expect("run python to find confluent-kafka's librdkafka");
    let found = String::from_utf8_lossy(&out.stdout);
    let lib = found.lines().next().map(PathBuf::from).unwrap_or_else(|| {
        panic!(
            "no librdkafka in confluent-kafka's wheel (confluent_kafka.libs/librdkafka*.so*): run scripts/install-deps.sh; {}",
            output_text(&out)
        )
    });
    let tag: u64 = lib
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
        });
    let dir = std::env::temp_dir().join(format!("sockmesh-kcat-librdkafka-{tag:016x}"));
    let link = dir.join("librdkafka.so.1");
    if std::fs::read_link(&link).ok().as_deref() != Some(lib.as_path()) {
        std::fs::create_dir_all(&dir).expect("create kcat's library dir");
        // Made aside and renamed into place: test binaries running at once may race here.
        let aside = dir.join(format!("librdkafka.so.1.{}", std::process::id()));
        let _ = std::fs::remove_file(&aside);
        std::os::unix::fs::symlink(&lib, &aside).expect("link librdkafka for kcat");
        std::fs::rename(&aside, &link).expect("link librdkafka for kcat");
    }
    dir
}

/// A kcat command (no arguments yet) running on the wheel's librdkafka 2.16
/// ([`kcat_library_dir`]), started by `launcher` when given (a command that execs the
/// arguments appended to it). Fails the test when kcat is not installed.
pub fn kcat_command(launcher: Option<Command>) -> Command {
    require("kcat", "apt-get install -y kcat");
    let mut cmd = match launcher {
        Some(mut launcher) => {
            launcher.arg("kcat");
            launcher
        }
        None => Command::new("kcat"),
    };
    cmd.env("LD_LIBRARY_PATH", kcat_library_dir());
    cmd
}

/// Runs `cmd` (from [`kcat_command`]) with `input` on its standard input; fails the test if it
/// has not exited within `timeout` (it is killed then). Returns what it printed and its status.
pub fn kcat_run(mut cmd: Command, input: &[u8], timeout: Duration) -> std::process::Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kcat");
    let pid = child.id();
    let mut stdin = child.stdin.take().expect("kcat's stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let out = match rx.recv_timeout(timeout) {
        Ok(out) => out.expect("wait for kcat"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            let out = rx.recv().expect("kcat's output").expect("wait for kcat");
            panic!(
                "kcat {:?} did not exit within {timeout:?}:\n{}",
                cmd.get_args().collect::<Vec<_>>(),
                output_text(&out)
            );
        }
    };
    // A consumer may exit without reading its input: a failed write is no failure.
    let _ = writer.join();
    out
}

/// kcat with `args` (and `input` on standard input), in the test's own namespace and cgroup; at
/// most 60 s.
pub fn kcat(args: &[&str], input: &[u8]) -> std::process::Output {
    let mut cmd = kcat_command(None);
    cmd.args(args);
    kcat_run(cmd, input, Duration::from_secs(60))
}

/// An egress CiliumNetworkPolicy for workload `app=test` whose rules on a broker at `port` are
/// `rules` (YAML flow items under `kafka:`).
pub fn kafka_policy(port: u16, rules: &str) -> String {
    format!(
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {{name: kafka, namespace: test}}\nspec:\n  endpointSelector: {{matchLabels: {{app: test}}}}\n  egress:\n  - toPorts:\n    - ports: [{{port: \"{port}\", protocol: TCP}}]\n      rules:\n        kafka: [{rules}]\n"
    )
}

/// The flags of a Kafka sidecar for workload `app=test` in front of a broker (explicit mode).
pub const KAFKA_SIDECAR: &[&str] = &[
    "--protocol",
    "kafka",
    "--direction",
    "outbound",
    "--label",
    "app=test",
];

/// The error names a `kafka_client` result reports (its `errors` list).
pub fn client_errors(v: &serde_json::Value) -> Vec<String> {
    v["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
