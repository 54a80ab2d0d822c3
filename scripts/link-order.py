#!/usr/bin/env python3
"""Regenerates proxy/link-order.txt: the functions the sidecar runs at start-up and on its
request paths, in the order they first run, for the linker to lay out side by side.

Why: the kernel maps a binary's code in 64 KiB windows around each page it faults in. Left in
the linker's default order, the few functions a start-up runs (parsing, policy compile, runtime)
are spread over most of the 8 MiB of text, so an idle sidecar had 5 MiB of it resident. Laid
out together, about 2 MiB of it is. proxy/build.rs hands the file to LLD
(`--symbol-ordering-file`); names it does not find (code changed since) are skipped, so a stale
file costs memory, never correctness.

    python3 scripts/link-order.py      # root not needed; needs valgrind, curl, python3

Runs, under callgrind, `sockmesh run` from flags with a policy of 1,000 HTTP rules (start-up,
HTTP/1.1 and HTTP/2 requests, a denial, the admin endpoints), then `sockmesh demo` (HTTP/1.1,
HTTP/2 and gRPC through both upstream paths).
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "sockmesh")
OUT = os.path.join(ROOT, "proxy", "link-order.txt")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def callgrind(out, args, **kw):
    return subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--demangle=no", f"--callgrind-out-file={out}", BIN, *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)


def wait_ready(url, proc):
    for _ in range(600):
        if proc.poll() is not None:
            sys.exit(f"sockmesh exited early ({proc.returncode}) under valgrind")
        try:
            if urllib.request.urlopen(url, timeout=1).status == 200:
                return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"{url} never became ready")


def run_scenario(tmp):
    origin_port, port, admin = free_port(), free_port(), free_port()
    origin = subprocess.Popen([sys.executable, "-m", "http.server", str(origin_port), "--bind", "127.0.0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp)
    policy = os.path.join(tmp, "policy.yaml")
    with open(policy, "w") as f:
        f.write(subprocess.run([sys.executable, os.path.join(ROOT, "bench", "http", "benchlib.py"), "policy",
                                "1000", "bench", str(origin_port), str(origin_port)],
                               check=True, capture_output=True, text=True).stdout)
    out = os.path.join(tmp, "run.cg")
    proc = callgrind(out, ["run", "--listen", f"127.0.0.1:{port}", "--upstream", f"127.0.0.1:{origin_port}",
                           "--policy", policy, "--label", "app=bench", "--admin", f"127.0.0.1:{admin}",
                           "--upstream-protocol", "http1"])
    try:
        wait_ready(f"http://127.0.0.1:{admin}/ready", proc)
        url = f"http://127.0.0.1:{port}"
        for args in ([f"{url}/bench"], ["--http2-prior-knowledge", f"{url}/bench"],
                     [f"{url}/denied"], ["--http2-prior-knowledge", f"{url}/denied"],
                     [f"http://127.0.0.1:{admin}/metrics"], [f"http://127.0.0.1:{admin}/policy"]):
            subprocess.run(["curl", "-s", "-o", "/dev/null", "--max-time", "30", *args], check=False)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait()
        origin.kill()
    return out


def demo_scenario(tmp):
    out = os.path.join(tmp, "demo.cg")
    proc = callgrind(out, ["demo"], cwd=ROOT)
    if proc.wait() != 0:
        sys.exit("sockmesh demo failed under valgrind")
    return out


def functions(path):
    """The binary's functions in a callgrind profile, in the order the profile first names them."""
    objects, seen, order = {}, set(), []
    ob = cob = None
    for line in open(path, errors="replace"):
        m = re.match(r"^(c?ob)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if m:
            kind, i, obj = m.groups()
            if obj:
                objects[i] = obj
            if kind == "ob":
                ob, cob = objects.get(i), None
            else:
                cob = objects.get(i)
            continue
        if line.startswith("calls="):
            # A callee's object is named for one call; the next call is in the caller's again.
            cob = None
            continue
        m = re.match(r"^(c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if not m:
            continue
        kind, i, name = m.groups()
        owner = ob if kind == "fn" else (cob or ob)
        if kind == "fn":
            cob = None
        if name and i not in seen:
            seen.add(i)
            if owner and os.path.realpath(owner) == os.path.realpath(BIN):
                # callgrind marks recursion levels with 'N; addresses and pseudo-frames are no symbols.
                name = re.sub(r"'\d+$", "", name)
                if re.match(r"^[A-Za-z_.$][\w.$]*$", name):
                    order.append(name)
    return order


def main():
    for tool in ("valgrind", "curl"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed: apt-get install -y {tool}")
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} missing: cargo build --release -p sockmesh")
    with tempfile.TemporaryDirectory() as tmp:
        seen, order = set(), []
        for profile in (run_scenario(tmp), demo_scenario(tmp)):
            for name in functions(profile):
                if name not in seen:
                    seen.add(name)
                    order.append(name)
    with open(OUT, "w") as f:
        f.write("\n".join(order) + "\n")
    print(f"{OUT}: {len(order)} functions")


if __name__ == "__main__":
    main()
