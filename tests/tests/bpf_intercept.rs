//! Interception without iptables: an unmodified client (curl, and a Python socket) in the pod
//! cgroup dials a remote-looking address; cgroup/connect4 sends it to the sidecar's outbound
//! listener, the sidecar learns the original destination from the map sock_ops fills and
//! reaches it, and its own upstream connect is exempt (not intercepted again).

use std::process::Stdio;

use sockmesh_tests::bpf::{
    Netns, PodSidecar, TestCgroup, bpf_status, peer_cmd, pin_dir, require_root, run_ok,
    spawn_server,
};
use sockmesh_tests::{Child, TempDir, require, wait_until};

const ORIGIN: &str = "10.99.0.2";

fn sidecar(ns: &Netns, cg: &TestCgroup, pin: &std::path::Path, extra: &[&str]) -> PodSidecar {
    let (pin_s, cg_s) = (pin.display().to_string(), cg.arg());
    let mut args = vec![
        "--listen",
        "127.0.0.1:15001",
        "--upstream",
        "127.0.0.1:9",
        "--protocol",
        "detect",
        "--direction",
        "outbound",
        "--bpf-cgroup",
        &cg_s,
        "--bpf-pin-path",
        &pin_s,
        "--intercept",
    ];
    args.extend_from_slice(extra);
    let s = PodSidecar::start(Some(ns), cg, 15000, &args);
    s.wait_log("acceleration on");
    s
}

fn http_origin(ns: &Netns, dir: &TempDir) -> Child {
    require("python3", "apt-get install -y python3");
    dir.write("hello.txt", "hello from the original destination\n");
    let mut cmd = ns.cmd("python3");
    cmd.args(["-m", "http.server", "8080", "--bind", ORIGIN, "--directory"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = Child::spawn(&mut cmd);
    let up = wait_until(std::time::Duration::from_secs(10), || {
        ns.cmd("curl")
            .args([
                "-sf",
                "-o",
                "/dev/null",
                &format!("http://{ORIGIN}:8080/hello.txt"),
            ])
            .status()
            .is_ok_and(|s| s.success())
    });
    assert!(up, "python http.server did not start");
    child
}

#[test]
fn unmodified_clients_are_intercepted_and_reach_the_original_destination() {
    require_root();
    require("curl", "apt-get install -y curl");
    let ns = Netns::new("icpt");
    ns.add_lo_address(&format!("{ORIGIN}/32"));
    let cg = TestCgroup::new("icpt");
    let pin = pin_dir("icpt");
    let dir = TempDir::new("icpt");
    let _origin = http_origin(&ns, &dir);
    // A raw TCP origin for the Python socket client (outside the pod cgroup).
    let _echo = spawn_server(peer_cmd(
        Some(&ns),
        None,
        &["echo", "--listen", &format!("{ORIGIN}:7000")],
    ));
    let sc = sidecar(&ns, &cg, &pin, &[]);

    let curl = run_ok(&mut peer_cmd(
        Some(&ns),
        Some(&cg),
        &[
            "exec",
            "curl",
            "-sS",
            "--max-time",
            "10",
            &format!("http://{ORIGIN}:8080/hello.txt"),
        ],
    ));
    assert_eq!(
        String::from_utf8_lossy(&curl.stdout),
        "hello from the original destination\n"
    );

    let py = format!(
        "import socket\ns=socket.create_connection(('{ORIGIN}',7000),timeout=10)\ns.sendall(b'ping from python')\nb=b''\nwhile len(b)<16:\n    d=s.recv(64)\n    if not d: break\n    b+=d\nprint(b.decode())"
    );
    let out = run_ok(&mut peer_cmd(
        Some(&ns),
        Some(&cg),
        &["exec", "python3", "-c", &py],
    ));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ping from python"
    );

    let (c, text) = bpf_status(&pin);
    eprintln!("{text}");
    assert!(
        c["connects_outbound"] >= 2,
        "connects were not rewritten:\n{text}"
    );
    assert!(
        c["orig_dst_published"] >= 2,
        "original destinations were not published:\n{text}"
    );
    // The sidecar's two upstream connects were exempt, not looped back to itself.
    assert!(
        c["connects_exempt"] >= 2,
        "sidecar connects not exempt:\n{text}"
    );
    // The app <-> sidecar hop of intercepted connections is spliced too.
    assert!(c["redirects"] > 0, "{text}");
    // --upstream is the discard port: the answers above came through the original destination.
    drop(sc);
}

#[test]
fn the_sidecar_uid_is_exempt() {
    require_root();
    require("setpriv", "apt-get install -y util-linux");
    let ns = Netns::new("uid");
    ns.add_lo_address(&format!("{ORIGIN}/32"));
    let cg = TestCgroup::new("uid");
    let pin = pin_dir("uid");
    let dir = TempDir::new("uid");
    let _origin = http_origin(&ns, &dir);
    let _sc = sidecar(&ns, &cg, &pin, &["--sidecar-uid", "1337"]);
    // A process running as the sidecar's uid goes straight to the destination.
    let url = format!("http://{ORIGIN}:8080/hello.txt");
    let out = run_ok(&mut peer_cmd(
        Some(&ns),
        Some(&cg),
        &[
            "exec",
            "setpriv",
            "--reuid=1337",
            "--regid=1337",
            "--clear-groups",
            "curl",
            "-sS",
            "--max-time",
            "10",
            &url,
        ],
    ));
    assert!(String::from_utf8_lossy(&out.stdout).contains("original destination"));
    let (c, text) = bpf_status(&pin);
    assert_eq!(
        c["connects_outbound"], 0,
        "the sidecar uid was intercepted:\n{text}"
    );
    assert!(c["connects_exempt"] >= 1, "{text}");
    // Any other uid is intercepted.
    let out = run_ok(&mut peer_cmd(
        Some(&ns),
        Some(&cg),
        &[
            "exec",
            "setpriv",
            "--reuid=1000",
            "--regid=1000",
            "--clear-groups",
            "curl",
            "-sS",
            "--max-time",
            "10",
            &url,
        ],
    ));
    assert!(String::from_utf8_lossy(&out.stdout).contains("original destination"));
    let (c, text) = bpf_status(&pin);
    assert_eq!(c["connects_outbound"], 1, "{text}");
}

#[test]
fn inbound_connects_to_app_ports_are_captured_by_the_inbound_listener() {
    require_root();
    let ns = Netns::new("inb");
    ns.add_lo_address(&format!("{ORIGIN}/32"));
    let cg = TestCgroup::new("inb");
    let pin = pin_dir("inb");
    let dir = TempDir::new("inb");
    // The "app": an HTTP server on port 8080; clients of the pod dial it, the sidecar's inbound
    // listener captures them and forwards to the app itself (its own connect is exempt).
    let _app = http_origin(&ns, &dir);
    let (pin_s, cg_s) = (pin.display().to_string(), cg.arg());
    let upstream = format!("{ORIGIN}:8080");
    let _sc = PodSidecar::start(
        Some(&ns),
        &cg,
        15000,
        &[
            "--listen",
            "127.0.0.1:15006",
            "--upstream",
            &upstream,
            "--protocol",
            "http",
            "--direction",
            "inbound",
            "--bpf-cgroup",
            &cg_s,
            "--bpf-pin-path",
            &pin_s,
            "--intercept-inbound-port",
            "8080",
        ],
    );
    let url = format!("http://{ORIGIN}:8080/hello.txt");
    let out = run_ok(&mut peer_cmd(
        Some(&ns),
        Some(&cg),
        &["exec", "curl", "-sS", "--max-time", "10", &url],
    ));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from the original destination\n"
    );
    let (c, text) = bpf_status(&pin);
    assert_eq!(c["connects_inbound"], 1, "not captured:\n{text}");
    assert!(
        c["connects_exempt"] >= 1,
        "the sidecar's connect to the app was not exempt:\n{text}"
    );
    assert!(
        text.contains("inbound capture:   :8080 -> :15006"),
        "{text}"
    );
}

#[test]
fn ipv6_connects_are_intercepted_too() {
    require_root();
    let ns = Netns::new("icpt6");
    ns.add_lo_address("fd00:5::2/128");
    let cg = TestCgroup::new("icpt6");
    let pin = pin_dir("icpt6");
    let _echo = spawn_server(peer_cmd(
        Some(&ns),
        None,
        &["echo", "--listen", "[fd00:5::2]:7000"],
    ));
    // An IPv4 outbound listener: connect6 sends IPv6 connects to ::ffff:127.0.0.1.
    let _sc = sidecar(&ns, &cg, &pin, &[]);
    let py = "import socket\ns=socket.create_connection(('fd00:5::2',7000),timeout=10)\ns.sendall(b'ping over ipv6!!')\nb=b''\nwhile len(b)<16:\n    d=s.recv(64)\n    if not d: break\n    b+=d\nprint(b.decode())";
    let out = run_ok(&mut peer_cmd(
        Some(&ns),
        Some(&cg),
        &["exec", "python3", "-c", py],
    ));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ping over ipv6!!"
    );
    let (c, text) = bpf_status(&pin);
    assert_eq!(c["connects_outbound"], 1, "{text}");
    assert_eq!(c["orig_dst_published"], 1, "{text}");
}

/// A proxy that only knows the iptables interface: a Python listener calling
/// `getsockopt(SOL_IP, SO_ORIGINAL_DST)` on what it accepts, with the programs attached by
/// `sockmesh bpf attach --foreground` (which holds the getsockopt link).
#[test]
fn so_original_dst_is_answered_by_the_getsockopt_program() {
    require_root();
    let ns = Netns::new("gso");
    let cg = TestCgroup::new("gso");
    let pin = pin_dir("gso");
    let mut attach = std::process::Command::new(sockmesh_tests::bin());
    attach
        .args([
            "bpf",
            "attach",
            "--foreground",
            "--intercept",
            "--listener",
            "127.0.0.1:15001",
        ])
        .args(["--bpf-cgroup", &cg.arg(), "--bpf-pin-path"])
        .arg(&*pin)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut attach = Child::spawn(&mut attach);
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(attach.0.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("attach output");
    assert!(line.contains("attached"), "{line}");
    let server = "import socket,struct\nl=socket.socket()\nl.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\nl.bind(('127.0.0.1',15001))\nl.listen()\nprint('listening=1',flush=True)\nc,_=l.accept()\nd=c.getsockopt(socket.SOL_IP,80,16)\nport,=struct.unpack('!H',d[2:4])\nprint('orig=%s:%d'%(socket.inet_ntoa(d[4:8]),port),flush=True)\nc.sendall(b'ok')\nc.close()";
    let mut srv = peer_cmd(
        Some(&ns),
        Some(&cg),
        &["exec", "python3", "-u", "-c", server],
    );
    srv.stdout(Stdio::piped());
    let mut srv = Child::spawn(&mut srv);
    let mut out = std::io::BufReader::new(srv.0.stdout.take().expect("stdout"));
    let mut l = String::new();
    std::io::BufRead::read_line(&mut out, &mut l).expect("server up");
    assert!(l.starts_with("listening"), "{l}");
    // An unmodified client dials a remote-looking address; it lands on the Python listener.
    let client = "import socket\ns=socket.create_connection(('192.0.2.7',4242),timeout=10)\nprint(s.recv(2).decode())";
    let got = run_ok(&mut peer_cmd(
        Some(&ns),
        Some(&cg),
        &["exec", "python3", "-c", client],
    ));
    assert_eq!(String::from_utf8_lossy(&got.stdout).trim(), "ok");
    l.clear();
    std::io::BufRead::read_line(&mut out, &mut l).expect("server result");
    assert_eq!(l.trim(), "orig=192.0.2.7:4242");
    let (c, text) = bpf_status(&pin);
    assert_eq!(c["orig_dst_answered"], 1, "{text}");
    // SIGTERM detaches everything, the held getsockopt link included.
    attach.terminate();
    assert!(!pin.exists(), "attach --foreground left pins behind");
}
