#!/usr/bin/env python3
"""Policy change -> enforcement through the real binaries, and the sidecar's RSS.

`sockmesh control-plane` serves N HTTP rules from CiliumNetworkPolicy files; `sockmesh run --xds`
enforces them on an inbound HTTP listener whose upstream is a closed port, so an allowed request
answers 502/503 and a denied one 403: no origin server is needed to see the verdict. Each
iteration rewrites one policy file with a new marker path and polls `GET /marker/<k>` over one
kept-alive connection until it is no longer 403. RSS is VmRSS of the `sockmesh run` process.

  python3 bench/xds/binary_bench.py [--bin target/release/sockmesh] [--sizes 10,1000,10000]

Standard library only.
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

RULES_PER_POLICY = 100


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def policy_yaml(index, rules, marker, port):
    out = [
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n"
        f"  name: p{index:05}\n  namespace: bench\nspec:\n  endpointSelector:\n    matchLabels:\n"
        "      app: web\n  ingress:\n  - toPorts:\n    - ports:\n"
        f"      - port: \"{port}\"\n        protocol: TCP\n      rules:\n        http:\n"
        f"        - method: GET\n          path: \"/marker/{marker}\"\n"
    ]
    for r in range(1, rules):
        if r % 10 == 0:
            out.append(f"        - method: GET\n          path: \"/api/p{index}/r{r}/.*\"\n")
        else:
            out.append(
                f"        - method: POST\n          path: \"/api/p{index}/r{r}\"\n"
                f"          headers: [\"X-Team: t{r}\"]\n"
            )
    return "".join(out)


def write_atomically(d, name, text):
    tmp = os.path.join(d, "." + name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, os.path.join(d, name))


def rss_mib(pid, field="VmRSS:"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) / 1024.0
    return 0.0


class Conn:
    def __init__(self, port):
        self.port = port
        self.sock = None

    def status(self, path):
        for _ in range(2):
            try:
                if self.sock is None:
                    self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                    self.file = self.sock.makefile("rb")
                self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: b\r\n\r\n".encode())
                status = int(self.file.readline().split()[1])
                length = 0
                while True:
                    line = self.file.readline()
                    if line in (b"\r\n", b""):
                        break
                    k, _, v = line.decode().partition(":")
                    if k.lower() == "content-length":
                        length = int(v)
                self.file.read(length)
                return status
            except (OSError, IndexError, ValueError):
                self.sock = None
        return 0


def wait_http(port, path, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
                if b" 200 " in s.recv(100):
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def run(binary, rules, mode, iterations):
    d = tempfile.mkdtemp(prefix="sockmesh-xds-binbench-")
    pol = os.path.join(d, "policies")
    os.mkdir(pol)
    dead, listen, cp_port, admin = free_port(), free_port(), free_port(), free_port()
    policies = (rules + RULES_PER_POLICY - 1) // RULES_PER_POLICY
    for i in range(policies):
        n = min(RULES_PER_POLICY, rules - i * RULES_PER_POLICY)
        write_atomically(pol, f"p{i:05}.yaml", policy_yaml(i, n, 0, dead))
    clusters = os.path.join(d, "clusters.yaml")
    with open(clusters, "w") as f:
        f.write(
            f"clusters:\n- name: web\n  endpoints: [\"127.0.0.1:{dead}\"]\n  connectTimeoutMs: 200\n"
            f"listeners:\n- name: inbound\n  address: 127.0.0.1:{listen}\n  direction: inbound\n"
            "  protocol: http\n  cluster: web\n"
        )
    log = open(os.path.join(d, "log"), "w")
    cp = subprocess.Popen(
        [binary, "control-plane", "--policies", pol, "--clusters", clusters,
         "--listen", f"127.0.0.1:{cp_port}"], stdout=log, stderr=log)
    time.sleep(0.3)
    t0 = time.monotonic()
    sc = subprocess.Popen(
        [binary, "run", "--xds", f"127.0.0.1:{cp_port}", "--xds-mode", mode, "--node-id", "bench",
         "--label", "app=web", "--admin", f"127.0.0.1:{admin}", "--log-level", "warn"],
        stdout=log, stderr=log)
    try:
        if not wait_http(admin, "/ready", 120):
            sys.exit(f"sidecar not ready; log in {d}/log")
        startup = time.monotonic() - t0
        conn = Conn(listen)
        assert conn.status("/marker/0") != 403, "marker 0 should be allowed"
        assert conn.status("/marker/none") == 403, "unknown path should be denied"
        times = []
        for k in range(1, iterations + 1):
            text = policy_yaml(0, min(RULES_PER_POLICY, rules), k, dead)
            t = time.monotonic()
            write_atomically(pol, "p00000.yaml", text)
            while conn.status(f"/marker/{k}") == 403:
                time.sleep(0.001)  # poll every ~1 ms without starving the sidecar of CPU
                if time.monotonic() - t > 30:
                    sys.exit(f"change {k} never enforced; log in {d}/log")
            times.append(time.monotonic() - t)
            time.sleep(0.05)
        times.sort()
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        print(f"{mode:5} rules={rules:6} change->enforced p50={statistics.median(times)*1e3:7.1f} ms "
              f"p95={p95*1e3:7.1f} ms max={times[-1]*1e3:7.1f} ms | sidecar RSS {rss_mib(sc.pid):5.1f} MiB "
              f"(peak {rss_mib(sc.pid, 'VmHWM:'):5.1f}) | start->ready {startup:.2f} s", flush=True)
    finally:
        sc.terminate()
        cp.terminate()
        sc.wait()
        cp.wait()
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/sockmesh")
    ap.add_argument("--sizes", default="10,1000,10000")
    ap.add_argument("--iterations", type=int, default=20)
    a = ap.parse_args()
    for n in [int(x) for x in a.sizes.split(",")]:
        for mode in ("sotw", "delta"):
            run(a.bin, n, mode, a.iterations)


if __name__ == "__main__":
    main()
