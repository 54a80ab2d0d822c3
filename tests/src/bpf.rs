//! Harness for the eBPF tests (`tests/bpf_*.rs`): root checks, a test cgroup v2 directory, a
//! private network namespace per test (its own loopback, so interface counters are not disturbed
//! by other tests), the `bpf-peer` helper binary, and `sockmesh` started inside both.
//!
//! Prerequisites fail the test with how to provide them: root, a cgroup2 mount, iproute2, curl,
//! python3, bpftool. Nothing is skipped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::{Child, TempDir, bin, require, wait_until};

unsafe extern "C" {
    fn geteuid() -> u32;
}

/// Fails unless running as root (BPF programs, cgroups and network namespaces need it).
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { geteuid() };
    assert_eq!(
        euid, 0,
        "the eBPF tests must run as root (sudo -E cargo test -p sockmesh-tests --test 'bpf_*')"
    );
    require("ip", "apt-get install -y iproute2");
    require("nsenter", "apt-get install -y util-linux");
}

/// The cgroup v2 mount point (`/sys/fs/cgroup/unified` on hybrid hosts, else `/sys/fs/cgroup`).
pub fn cgroup2_root() -> PathBuf {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let found = mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(2) == Some(&"cgroup2")).then(|| PathBuf::from(f[1]))
        })
        .next();
    found.unwrap_or_else(|| {
        panic!("no cgroup2 mount: run `mkdir -p /sys/fs/cgroup/unified && mount -t cgroup2 none /sys/fs/cgroup/unified`")
    })
}

/// A cgroup v2 directory for one test, removed on drop (after its processes are gone).
pub struct TestCgroup(PathBuf);

impl TestCgroup {
    pub fn new(tag: &str) -> TestCgroup {
        let dir = cgroup2_root().join(format!("sockmesh-test-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("create cgroup {}: {e}", dir.display()));
        TestCgroup(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn arg(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        // Children are killed by their guards first; give the kernel a moment to reap them.
        let _ = wait_until(Duration::from_secs(5), || {
            std::fs::remove_dir(&self.0).is_ok()
        });
    }
}

/// A network namespace with loopback up, deleted on drop.
pub struct Netns(pub String);

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let name = format!("smt-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        run_ok(Command::new("ip").args(["-n", &name, "link", "set", "lo", "up"]));
        Netns(name)
    }

    /// `nsenter --net=/run/netns/NAME program`: only the network namespace changes (unlike
    /// `ip netns exec`, which remounts /sys and would hide the cgroup and bpffs mounts).
    pub fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.0)).arg(program);
        c
    }

    /// Bytes sent on this namespace's loopback so far (/proc/net/dev is per network namespace).
    pub fn lo_tx_bytes(&self) -> u64 {
        let out = run_ok(self.cmd("cat").arg("/proc/net/dev"));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with("lo:"))
            .expect("lo in /proc/net/dev");
        let fields: Vec<&str> = line
            .split(':')
            .nth(1)
            .unwrap_or("")
            .split_whitespace()
            .collect();
        fields
            .get(8)
            .and_then(|v| v.parse().ok())
            .expect("lo tx bytes")
    }

    /// Adds an address to loopback (a "remote-looking" destination inside the namespace).
    pub fn add_lo_address(&self, cidr: &str) {
        let mut cmd = Command::new("ip");
        cmd.args(["-n", &self.0, "addr", "add", cidr, "dev", "lo"]);
        if cidr.contains(':') {
            // Usable at once: skip duplicate address detection (a tentative address cannot be bound).
            cmd.arg("nodad");
        }
        run_ok(&mut cmd);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// Runs a command and fails the test with its output unless it succeeds.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The `bpf-peer` helper built next to the test binaries.
pub fn peer_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let p = dir.join("bpf-peer");
    assert!(
        p.exists(),
        "{} missing: `cargo test -p sockmesh-tests` builds it",
        p.display()
    );
    p
}

/// `nsenter --net=/run/netns/NS bpf-peer --cgroup CG ARGS` (without the netns when `ns` is None).
pub fn peer_cmd(ns: Option<&Netns>, cgroup: Option<&TestCgroup>, args: &[&str]) -> Command {
    let mut c = match ns {
        Some(ns) => ns.cmd(peer_bin()),
        None => Command::new(peer_bin()),
    };
    if let Some(cg) = cgroup {
        c.args(["--cgroup", &cg.arg()]);
    }
    c.args(args);
    c
}

/// Starts a long-running peer (echo/sink/forward) and waits until it listens.
pub fn spawn_server(mut cmd: Command) -> Child {
    use std::io::BufRead;
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .stdin(Stdio::null());
    let mut child = Child::spawn(&mut cmd);
    let stdout = child.0.stdout.take().expect("piped stdout");
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read peer output");
    assert!(
        line.starts_with("listening="),
        "peer did not start: {line:?}"
    );
    child
}

/// The pod's app upstream: an echo server on 127.0.0.1:8080 in `ns` and `cg`.
pub fn echo_upstream(ns: &Netns, cg: &TestCgroup) -> Child {
    spawn_server(peer_cmd(
        Some(ns),
        Some(cg),
        &["echo", "--listen", "127.0.0.1:8080"],
    ))
}

/// Message sizes of the standard checksummed round trip.
pub const CHECK_SIZES: &str = "1,65536,1048576";

/// A checksummed round trip of [`CHECK_SIZES`] messages through `to` (the sidecar), from inside
/// the pod (its cgroup, and its network namespace if it has one); returns the peer's output
/// (`ok=1` on success).
pub fn check_roundtrip(ns: Option<&Netns>, cg: &TestCgroup, to: &str) -> String {
    run_client(peer_cmd(
        ns,
        Some(cg),
        &["check", "--connect", to, "--sizes", CHECK_SIZES],
    ))
}

/// Runs a client peer and returns its `key=value` output; fails with stderr on error.
pub fn run_client(mut cmd: Command) -> String {
    let out = run_ok(&mut cmd);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Value of `key=` in a peer output line.
pub fn field(out: &str, key: &str) -> Option<f64> {
    out.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        .and_then(|v| v.parse().ok())
}

/// A `sockmesh run` inside a cgroup and (optionally) a network namespace.
pub struct PodSidecar {
    pub child: Child,
    pub admin_port: u16,
    pub log: PathBuf,
    _dir: TempDir,
}

impl PodSidecar {
    /// Starts `sockmesh run ARGS --admin 127.0.0.1:ADMIN` and waits for `/ready`.
    pub fn start(
        ns: Option<&Netns>,
        cg: &TestCgroup,
        admin_port: u16,
        args: &[&str],
    ) -> PodSidecar {
        Self::start_inner(ns, cg, admin_port, None, args)
    }

    /// Like [`PodSidecar::start`], running the sidecar as `uid` (no capabilities) via setpriv.
    pub fn start_as(
        ns: Option<&Netns>,
        cg: &TestCgroup,
        admin_port: u16,
        uid: &str,
        args: &[&str],
    ) -> PodSidecar {
        Self::start_inner(ns, cg, admin_port, Some(uid), args)
    }

    fn start_inner(
        ns: Option<&Netns>,
        cg: &TestCgroup,
        admin_port: u16,
        uid: Option<&str>,
        args: &[&str],
    ) -> PodSidecar {
        let dir = TempDir::new("bpf-sidecar");
        let log = dir.path().join("sockmesh.log");
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let admin = format!("127.0.0.1:{admin_port}");
        let sockmesh = bin().display().to_string();
        let (reuid, regid) = (
            format!("--reuid={}", uid.unwrap_or("0")),
            format!("--regid={}", uid.unwrap_or("0")),
        );
        let mut full = vec!["exec"];
        if uid.is_some() {
            full.extend_from_slice(&["setpriv", &reuid, &regid, "--clear-groups"]);
        }
        full.extend_from_slice(&[&sockmesh, "run"]);
        full.extend_from_slice(args);
        full.extend_from_slice(&["--admin", &admin]);
        let mut cmd = peer_cmd(ns, Some(cg), &full);
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = Child::spawn(&mut cmd);
        let mut s = PodSidecar {
            child,
            admin_port,
            log,
            _dir: dir,
        };
        let ready = wait_until(Duration::from_secs(20), || {
            s.admin_get(ns, "/ready")
                .is_some_and(|(code, _)| code == 200)
                || !s.child.is_running()
        });
        assert!(
            ready && s.child.is_running(),
            "sockmesh did not become ready; log:\n{}",
            s.logs()
        );
        s
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (up to 5 s) until the log contains `needle` and returns the whole log.
    pub fn wait_log(&self, needle: &str) -> String {
        crate::wait_log(&self.log, needle)
    }

    /// SIGTERM, then SIGKILL if it has not exited within 10 s.
    pub fn stop(&mut self) {
        if self.child.is_running() {
            self.child.stop(Duration::from_secs(10));
        }
    }

    /// GET on the admin port via curl inside the namespace: (status, body).
    pub fn admin_get(&self, ns: Option<&Netns>, path: &str) -> Option<(u16, String)> {
        let url = format!("http://127.0.0.1:{}{path}", self.admin_port);
        let mut c = match ns {
            Some(ns) => ns.cmd("curl"),
            None => Command::new("curl"),
        };
        let out = c
            .args(["-s", "--max-time", "5", "-w", "\n%{http_code}", &url])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n')?;
        Some((code.trim().parse().ok()?, body.to_owned()))
    }

    /// The `/metrics` body; fails the test unless the admin server answers 200.
    pub fn metrics(&self, ns: Option<&Netns>) -> String {
        match self.admin_get(ns, "/metrics") {
            Some((200, body)) => body,
            other => panic!("GET /metrics answered {other:?}; log:\n{}", self.logs()),
        }
    }
}

impl Drop for PodSidecar {
    /// A graceful stop, so the sidecar detaches its programs itself.
    fn drop(&mut self) {
        self.stop();
    }
}

/// `sockmesh bpf status --bpf-pin-path PIN` as (counter name -> value), plus the raw text.
pub fn bpf_status(pin: &Path) -> (std::collections::BTreeMap<String, u64>, String) {
    let out = run_ok(
        Command::new(bin())
            .args(["bpf", "status", "--bpf-pin-path"])
            .arg(pin),
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut map = std::collections::BTreeMap::new();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        if let (Some(k), Some(v), None) = (it.next(), it.next(), it.next())
            && let Ok(v) = v.parse::<u64>()
        {
            map.insert(k.trim_end_matches(':').to_owned(), v);
        }
    }
    (map, text)
}

/// Programs attached to a cgroup according to bpftool: (attach type, name) pairs.
pub fn cgroup_programs(cg: &TestCgroup) -> Vec<(String, String)> {
    require("bpftool", "apt-get install -y bpftool");
    let out = run_ok(
        Command::new("bpftool")
            .args(["cgroup", "show"])
            .arg(cg.path()),
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.get(1)?.to_string(), f.last()?.to_string()))
        })
        .collect()
}

/// A pin directory for one test under /sys/fs/bpf (the sidecar mounts bpffs if needed); on drop
/// whatever is still pinned there is detached (`sockmesh bpf detach`), so a failed or killed
/// test leaves no programs behind.
pub struct PinDir(PathBuf);

pub fn pin_dir(tag: &str) -> PinDir {
    PinDir(PathBuf::from(format!(
        "/sys/fs/bpf/sockmesh-test-{tag}-{}",
        std::process::id()
    )))
}

impl std::ops::Deref for PinDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for PinDir {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl Drop for PinDir {
    fn drop(&mut self) {
        if self.0.exists() {
            let _ = Command::new(bin())
                .args(["bpf", "detach", "--bpf-pin-path"])
                .arg(&self.0)
                .output();
        }
    }
}

/// A copy of the built-in object with the first instruction of `section` replaced by an invalid
/// opcode, so the kernel's verifier refuses that program.
pub fn corrupted_object(section: &str, dir: &TempDir) -> PathBuf {
    let mut obj =
        std::fs::read(crate::root().join("sockmap-ebpf/obj/sockmesh.bpf.o")).expect("object");
    let u16at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let u64at =
        |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes")) as usize;
    let u32at =
        |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes")) as usize;
    let (shoff, shentsize, shnum, shstrndx) = (
        u64at(&obj, 0x28),
        u16at(&obj, 0x3a),
        u16at(&obj, 0x3c),
        u16at(&obj, 0x3e),
    );
    let strtab = u64at(&obj, shoff + shstrndx * shentsize + 0x18);
    let offset = (0..shnum)
        .map(|i| shoff + i * shentsize)
        .find(|h| {
            let name = strtab + u32at(&obj, *h);
            obj[name..].split(|b| *b == 0).next() == Some(section.as_bytes())
        })
        .map(|h| u64at(&obj, h + 0x18))
        .unwrap_or_else(|| panic!("no section {section} in the object"));
    obj[offset] = 0xff;
    let path = dir.path().join("refused.bpf.o");
    std::fs::write(&path, obj).expect("write object");
    path
}
