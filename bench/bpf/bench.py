#!/usr/bin/env python3
"""Sockmesh eBPF local-hop bench: acceleration off vs on, pinned to one CPU and unpinned.

Measures, in one run:
  hop   app <-> sidecar port (bpf-peer client <-> bpf-peer echo/sink, programs attached with
        `sockmesh bpf attach`): ping-pong 1 B / 1 KiB / 16 KiB, bulk 64 KiB writes;
  tcp   app -> `sockmesh run --protocol tcp` -> upstream: the same four measurements;
  http  app -> `sockmesh run --protocol http` (hyper, the L7 path) -> HTTP/1.1 origin:
        sequential keep-alive GETs.
Bulk is reported as the sink confirms it (bytes read / time until the sink answered after EOF)
and, for comparison with sender-paced tools, as the sender saw it: spliced data is queued at the
receiver without a window, so the sender-side rate overstates the delivered rate.
Prints per case the median of the per-run medians, the spread (min..max of run medians) and the
on/off ratio (speed-up: off/on for latency, on/off for throughput).

With --probe, the hop case also runs a minimal C splice (bench/bpf/probe/: sockops + sk_msg,
no counters, no config map, no netns in the key; built with clang-14 and libbpf-dev), in the
same interleaved runs, so that Sockmesh's programs are compared with the reference of
DESIGN.md side by side rather than with figures from another day.

Run as root after `cargo build --release -p sockmesh -p sockmesh-tests --bin sockmesh --bin bpf-peer`:
    python3 bench/bpf/bench.py [--runs 3] [--bin-dir target/release] [--only hop,tcp,http] [--probe]
Everything runs in a private network namespace and a cgroup of its own.
"""
import argparse, atexit, os, re, shutil, statistics, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NS = f"smbench-{os.getpid()}"
CG = None
PIN = f"/sys/fs/bpf/sockmesh-bench-{os.getpid()}"
ARGS = None


def sh(*cmd, check=True, **kw):
    return subprocess.run(list(cmd), check=check, capture_output=True, text=True, **kw)


def cgroup_root():
    for line in open("/proc/mounts"):
        f = line.split()
        if f[2] == "cgroup2":
            return f[1]
    sys.exit("no cgroup2 mount: mount -t cgroup2 none /sys/fs/cgroup/unified")


def in_pod(args, cpu):
    """Command line running `args` inside the bench netns and cgroup, optionally on one CPU."""
    pre = ["nsenter", f"--net=/run/netns/{NS}"]
    if cpu is not None:
        pre += ["taskset", "-c", str(cpu)]
    return pre + [os.path.join(ARGS.bin_dir, "bpf-peer"), "--cgroup", CG] + args


def server(args, cpu):
    p = subprocess.Popen(in_pod(args, cpu), stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if not line.startswith("listening="):
        sys.exit(f"server {args} did not start")
    return p


def sidecar(proto, upstream, accel, cpu, admin=15000):
    sm = os.path.join(ARGS.bin_dir, "sockmesh")
    cmd = ["exec", sm, "run", "--listen", "127.0.0.1:15001", "--upstream", upstream, "--protocol", proto,
           "--admin", f"127.0.0.1:{admin}", "--log-level", "warn"]
    if accel:
        cmd += ["--bpf-cgroup", CG, "--bpf-pin-path", PIN, "--accelerate-port", upstream.rsplit(":", 1)[1]]
        if ARGS.object:
            cmd += ["--bpf-object", ARGS.object]
    p = subprocess.Popen(in_pod(cmd, cpu), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 20
    while time.time() < deadline:
        r = subprocess.run(["nsenter", f"--net=/run/netns/{NS}", "curl", "-sf", f"http://127.0.0.1:{admin}/ready"],
                           capture_output=True)
        if r.returncode == 0:
            if accel and not os.path.exists(PIN):
                sys.exit("sidecar started without acceleration: " + (p.stderr.read() if p.poll() is not None else ""))
            return p
        time.sleep(0.1)
    p.kill()
    sys.exit("sidecar did not become ready: " + p.stderr.read())


def stop(p):
    p.terminate()
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def client(args, cpu):
    out = sh(*in_pod(args, cpu)).stdout
    m = re.search(r"median=([\d.]+) p10=([\d.]+) p90=([\d.]+)", out)
    if not m:
        sys.exit(f"client {args}: {out}")
    return float(m.group(1))


def bulk(target, cpu, label="64 KiB reads"):
    """Sink-confirmed and sender-side bulk rates (Gbit/s)."""
    out = sh(*in_pod(["bulk", "--connect", target, "--millis", str(ARGS.bulk_ms)], cpu)).stdout
    m = re.search(r"median=([\d.]+) .* sender_gbps=([\d.]+)", out)
    if not m:
        sys.exit(f"bulk {target}: {out}")
    return {f"bulk 64 KiB writes, {label} (Gbit/s)": float(m.group(1)),
            f"  same, {label}, sender-side (Gbit/s)": float(m.group(2))}


def build_probe():
    """Builds the reference probe (bench/bpf/probe/) into a temporary directory, removed at exit."""
    src = os.path.join(ROOT, "bench", "bpf", "probe")
    for tool, pkg in (("clang-14", "clang-14"), ("gcc", "gcc")):
        if shutil.which(tool) is None:
            sys.exit(f"--probe needs {tool}: apt-get install -y {pkg} libbpf-dev")
    if not os.path.exists("/usr/include/bpf/libbpf.h"):
        sys.exit("--probe needs libbpf: apt-get install -y libbpf-dev")
    out = tempfile.mkdtemp(prefix="sockmesh-probe-")
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    sh("clang-14", "-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu", "-c",
       os.path.join(src, "probe.bpf.c"), "-o", os.path.join(out, "probe.bpf.o"))
    sh("gcc", "-O2", "-o", os.path.join(out, "probe"), os.path.join(src, "probe.c"), "-lbpf")
    return out


def attach_probe():
    d = ARGS.probe_dir
    p = subprocess.Popen([os.path.join(d, "probe"), os.path.join(d, "probe.bpf.o"), CG],
                         stdout=subprocess.PIPE, text=True)
    if p.stdout.readline().strip() != "attached":
        sys.exit("the reference probe did not attach")
    return p


def attach(ports):
    sm = os.path.join(ARGS.bin_dir, "sockmesh")
    cmd = [sm, "bpf", "attach", "--bpf-cgroup", CG, "--bpf-pin-path", PIN]
    for p in ports:
        cmd += ["--accelerate-port", str(p)]
    if ARGS.object:
        cmd += ["--bpf-object", ARGS.object]
    sh(*cmd)


def detach():
    sh(os.path.join(ARGS.bin_dir, "sockmesh"), "bpf", "detach", "--bpf-pin-path", PIN, check=False)


def measurements(target, cpu, pp_sizes, bulk_targets):
    res = {}
    iters = ARGS.iters if cpu is not None else max(ARGS.iters // 4, 1000)
    for size in pp_sizes:
        res[f"pingpong {size} B (us)"] = client(["pingpong", "--connect", target, "--size", str(size),
                                                  "--iters", str(iters)], cpu)
    for bulk_target, label in bulk_targets:
        res.update(bulk(bulk_target, cpu, label))
    return res


def case_hop(accel, cpu):
    # Two sinks: 64 KiB reads (as much as the writer writes at a time) and 1 MiB reads, which let
    # plain TCP hand over several coalesced segments per read.
    peers = []
    try:
        peers.append(server(["echo", "--listen", "127.0.0.1:15001"], cpu))
        peers.append(server(["sink", "--listen", "127.0.0.1:15002", "--read-size", "65536"], cpu))
        peers.append(server(["sink", "--listen", "127.0.0.1:15003", "--read-size", "1048576"], cpu))
        if accel == "probe":
            peers.append(attach_probe())
        elif accel:
            attach([15001, 15002, 15003])
        return measurements("127.0.0.1:15001", cpu, [1, 1024, 16384],
                            [("127.0.0.1:15002", "64 KiB reads"), ("127.0.0.1:15003", "1 MiB reads")])
    finally:
        detach()
        for p in peers:
            stop(p)


def case_tcp(accel, cpu):
    res = {}
    for upstream_kind, port in (("echo", 8080), ("sink", 8081)):
        up = server([upstream_kind, "--listen", f"127.0.0.1:{port}"], cpu)
        sc = sidecar("tcp", f"127.0.0.1:{port}", accel, cpu)
        try:
            if upstream_kind == "echo":
                res.update(measurements("127.0.0.1:15001", cpu, [1, 1024, 16384], []))
            else:
                res.update(bulk("127.0.0.1:15001", cpu))
        finally:
            stop(sc)
            stop(up)
    return res


def case_http(accel, cpu):
    up = server(["http-serve", "--listen", "127.0.0.1:8082", "--body", "64"], cpu)
    sc = sidecar("http", "127.0.0.1:8082", accel, cpu)
    try:
        iters = ARGS.iters // 4 if cpu is not None else ARGS.iters // 8
        return {"HTTP/1.1 GET, 64 B body (us)": client(["http-ping", "--connect", "127.0.0.1:15001",
                                                        "--iters", str(max(iters, 500))], cpu)}
    finally:
        stop(sc)
        stop(up)


CASES = {"hop": case_hop, "tcp": case_tcp, "http": case_http}


def main():
    global ARGS, CG
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--iters", type=int, default=20000)
    ap.add_argument("--bulk-ms", type=int, default=1000)
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "target", "release"))
    ap.add_argument("--only", default="hop,tcp,http")
    ap.add_argument("--cpu", type=int, default=0, help="CPU for the pinned runs")
    ap.add_argument("--object", help="eBPF object to load instead of the built-in one")
    ap.add_argument("--probe", action="store_true",
                    help="hop case: also run the minimal C probe (needs clang-14, libbpf-dev)")
    ARGS = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (BPF, cgroups, network namespaces)")
    for b in ("sockmesh", "bpf-peer"):
        if not os.path.exists(os.path.join(ARGS.bin_dir, b)):
            sys.exit(f"{ARGS.bin_dir}/{b} missing: cargo build --release -p sockmesh -p sockmesh-tests "
                     "--bin sockmesh --bin bpf-peer")
    ARGS.probe_dir = build_probe() if ARGS.probe else None
    CG = os.path.join(cgroup_root(), f"sockmesh-bench-{os.getpid()}")
    os.makedirs(CG, exist_ok=True)
    sh("ip", "netns", "add", NS)
    sh("ip", "-n", NS, "link", "set", "lo", "up")
    try:
        for name in ARGS.only.split(","):
            for cpu, label in ((ARGS.cpu, f"pinned to CPU {ARGS.cpu}"), (None, "unpinned")):
                modes = [False, True] + (["probe"] if ARGS.probe and name == "hop" else [])
                runs = {m: [] for m in modes}
                for _ in range(ARGS.runs):
                    for accel in modes:  # interleaved so drift hits all alike
                        runs[accel].append(CASES[name](accel, cpu))
                print(f"\n== {name}, {label}, {ARGS.runs} runs: median of run medians [min..max] ==")
                print(f"{'measurement':44} {'off':>22} {'on':>22} {'on/off':>7}")
                medians = {}
                for key in runs[False][0]:
                    off = [r[key] for r in runs[False]]
                    on = [r[key] for r in runs[True]]
                    mo, mn = medians[key] = statistics.median(off), statistics.median(on)
                    ratio = (mo / mn) if "(us)" in key else (mn / mo)
                    print(f"{key:44} {mo:9.2f} [{min(off):.2f}..{max(off):.2f}] "
                          f"{mn:9.2f} [{min(on):.2f}..{max(on):.2f}] {ratio:6.2f}x")
                if "probe" in runs:
                    print(f"\n{'same runs, reference C probe':44} {'probe':>22} {'on/off':>7} {'sockmesh/probe':>15}")
                    for key, (mo, mn) in medians.items():
                        pr = [r[key] for r in runs["probe"]]
                        mp = statistics.median(pr)
                        lat = "(us)" in key
                        print(f"{key:44} {mp:9.2f} [{min(pr):.2f}..{max(pr):.2f}] "
                              f"{(mo / mp) if lat else (mp / mo):6.2f}x {(mp / mn) if lat else (mn / mp):14.2f}x")
                sys.stdout.flush()
    finally:
        detach()
        sh("ip", "netns", "del", NS, check=False)
        for _ in range(50):
            try:
                os.rmdir(CG)
                break
            except OSError:
                time.sleep(0.1)


if __name__ == "__main__":
    main()
