//! Policy change on the control plane -> enforcement at the sidecar, and the sidecar's RSS, for 10,
//! 1,000 and 10,000 HTTP rules, over SotW and delta.
//!
//! The control plane runs in this process exactly as `sockmesh control-plane` does (file watch,
//! debounce, incremental re-parse, snapshot, push). The "sidecar" is a child process (this binary
//! re-executed) running the xDS client on a current-thread runtime, the sidecar default, and
//! compiling the received policies with `CompiledPolicy::compile`, which is what the proxy swaps in;
//! it reports each applied marker and its RSS. Latency = file written -> child has compiled the
//! policy containing the new marker. Run: `cargo bench -p sockmesh-xds --bench propagation`
//! (results: bench/xds/README.md).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sockmesh_policy::{CompiledPolicy, Labels};
use sockmesh_xds::client::{ClientConfig, Mode};
use sockmesh_xds::server::{ControlPlane, ControlPlaneArgs};

const RULES_PER_POLICY: usize = 100;
const ITERATIONS: usize = 20;

fn policy_yaml(index: usize, rules: usize, marker: usize) -> String {
    let mut s = format!(
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: p{index:05}\n  namespace: bench\nspec:\n  endpointSelector:\n    matchLabels:\n      app: web\n  ingress:\n  - toPorts:\n    - ports:\n      - port: \"8080\"\n        protocol: TCP\n      rules:\n        http:\n        - method: GET\n          path: \"/marker/{marker}\"\n"
    );
    for r in 1..rules {
        if r % 10 == 0 {
            s.push_str(&format!(
                "        - method: GET\n          path: \"/api/p{index}/r{r}/.*\"\n"
            ));
        } else {
            s.push_str(&format!("        - method: POST\n          path: \"/api/p{index}/r{r}\"\n          headers: [\"X-Team: t{r}\"]\n"));
        }
    }
    s
}

fn marker_of(policies: &[std::sync::Arc<sockmesh_policy::model::Policy>]) -> Option<usize> {
    let p = policies.iter().find(|p| p.name == "p00000")?;
    let rule = &p.specs[0].ingress.as_ref()?[0].to_ports[0];
    let path = rule.rules.as_ref()?.http[0].path.as_deref()?;
    path.strip_prefix("/marker/")?.parse().ok()
}

fn unix_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// The sidecar side: xDS client + compile, one line per applied marker.
fn child(addr: &str, mode: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut cfg = ClientConfig::new(addr, format!("bench-{}", std::process::id()));
        cfg.mode = if mode == "delta" { Mode::Delta } else { Mode::Sotw };
        cfg.labels.insert("app".into(), "web".into());
        let labels: Labels = cfg.labels.clone().into_iter().collect();
        let (mut rx, _handle) = sockmesh_xds::client::spawn(cfg);
        let mut compiled: Option<Arc<CompiledPolicy>>;
        let mut compile_ms: f64;
        let mut last = None;
        let stdout = std::io::stdout();
        while rx.changed().await.is_ok() {
            let state = rx.borrow_and_update().clone();
            let marker = marker_of(&state.policies);
            if marker.is_none() || marker == last {
                continue;
            }
            let recv_ns = unix_ns();
            let rss_before = rss_kib("VmRSS:");
            // The previous compiled policy is released before the new one is built, as a
            // memory-tight sidecar would; the proxy may overlap them for a moment.
            compiled = None;
            drop(compiled);
            let t = std::time::Instant::now();
            match CompiledPolicy::compile(&state.policies, &labels) {
                Ok(c) => {
                    compile_ms = t.elapsed().as_secs_f64() * 1e3;
                    compiled = Some(Arc::new(c))
                }
                Err(e) => {
                    eprintln!("compile: {e}");
                    continue;
                }
            }
            last = marker;
            let rules = compiled.as_ref().map_or(0, |c| c.rule_count());
            let mut out = stdout.lock();
            let _ = writeln!(
                out,
                "applied {} rules={rules} compile_ms={compile_ms:.1} recv_ns={recv_ns} rss_before_compile_kib={rss_before} rss_kib={} hwm_kib={}",
                marker.unwrap_or(0),
                rss_kib("VmRSS:"),
                rss_kib("VmHWM:")
            );
            let _ = out.flush();
        }
    });
}

fn write_atomically(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).expect("write policy");
    std::fs::rename(&tmp, dir.join(name)).expect("rename policy");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn run(rt: &tokio::runtime::Runtime, rules: usize, mode: &str) {
    let dir = std::env::temp_dir().join(format!(
        "sockmesh-xds-bench-{}-{rules}-{mode}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let policies = rules.div_ceil(RULES_PER_POLICY);
    for i in 0..policies {
        let n = RULES_PER_POLICY.min(rules - i * RULES_PER_POLICY);
        write_atomically(&dir, &format!("p{i:05}.yaml"), &policy_yaml(i, n, 0));
    }
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let cp = rt
        .block_on(ControlPlane::start(
            ControlPlaneArgs {
                policies: dir.clone(),
                clusters: None,
                listen: addr,
                debounce_ms: 20,
            },
            listener,
        ))
        .expect("control plane");
    let t_start = Instant::now();
    let mut child = Command::new(std::env::current_exe().expect("exe"))
        .env("SOCKMESH_XDS_BENCH_CHILD", format!("{addr} {mode}"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn sidecar child");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut wait_marker = |m: usize| -> String {
        loop {
            let line = lines.next().expect("child alive").expect("read");
            if line.starts_with(&format!("applied {m} ")) {
                return line;
            }
        }
    };
    let first = wait_marker(0);
    let initial_sync = t_start.elapsed();
    let mut times = Vec::with_capacity(ITERATIONS);
    let mut xds_times = Vec::with_capacity(ITERATIONS);
    let field = |l: &str, k: &str| {
        l.split_whitespace()
            .find_map(|f| f.strip_prefix(k).map(str::to_owned))
            .unwrap_or_default()
    };
    let mut last_line = first.clone();
    let client_only_kib = field(&first, "rss_before_compile_kib=");
    for k in 1..=ITERATIONS {
        let text = policy_yaml(0, RULES_PER_POLICY.min(rules), k);
        let t0 = Instant::now();
        let w_ns = unix_ns();
        write_atomically(&dir, "p00000.yaml", &text);
        last_line = wait_marker(k);
        times.push(t0.elapsed());
        let recv: u128 = field(&last_line, "recv_ns=").parse().unwrap_or(0);
        xds_times.push(Duration::from_nanos(recv.saturating_sub(w_ns) as u64));
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    drop(cp);
    let _ = std::fs::remove_dir_all(&dir);
    times.sort();
    xds_times.sort();
    let kib = |s: String| s.parse::<f64>().unwrap_or(0.0) / 1024.0;
    println!(
        "{mode:5} rules={rules:6} | change->enforced p50={:7.2?} p95={:7.2?} max={:7.2?} | of which xDS (file->state at sidecar) p50={:7.2?} p95={:7.2?}, compile {:>6} ms | sidecar RSS: xDS client+state {:5.1} MiB, with compiled policy {:5.1} MiB (peak {:5.1}) | first sync+compile {:.2?} | rules {}",
        percentile(&times, 0.5),
        percentile(&times, 0.95),
        times[times.len() - 1],
        percentile(&xds_times, 0.5),
        percentile(&xds_times, 0.95),
        field(&last_line, "compile_ms="),
        kib(client_only_kib),
        kib(field(&last_line, "rss_kib=")),
        kib(field(&last_line, "hwm_kib=")),
        initial_sync,
        field(&last_line, "rules="),
    );
}

fn main() {
    if let Ok(spec) = std::env::var("SOCKMESH_XDS_BENCH_CHILD") {
        let (addr, mode) = spec.split_once(' ').unwrap_or((spec.as_str(), "sotw"));
        child(addr, mode);
        return;
    }
    // `cargo test --benches` runs benches with --test-ish args; keep that cheap.
    let quick = std::env::args().any(|a| a == "--test");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let sizes: &[usize] = if quick { &[10] } else { &[10, 1_000, 10_000] };
    for &rules in sizes {
        for mode in ["sotw", "delta"] {
            run(&rt, rules, mode);
        }
    }
}
