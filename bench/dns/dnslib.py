#!/usr/bin/env python3
"""Helpers for bench/dns/run.sh (stdlib only).

  dnslib.py freeports N           N ports on 127.0.0.1 free for both UDP and TCP, one per line
  dnslib.py queries               the dnsperf query file: 18 names the policy allows, 2 it does not
  dnslib.py dnsperf OUT           parse a dnsperf run: "qps completed lost noerror refused other"
  dnslib.py latency OUT           p50 and p99 (us) of the per-query latencies dnsperf -v printed,
                                  and how many: "p50 p99 n"
  dnslib.py table TSV CLK_TCK     print the result table and the issue's targets from the rows

CPU ticks come from bench/http/benchlib.py (`ticks PID..`).
"""

import re
import socket
import statistics
import sys

# Allowed: every name matches `*.mesh.test` (one label under mesh.test., as Cilium's `*` matches
# within a label) and is answered NOERROR by unbound; the types cover A, AAAA, a CNAME chain and
# MX. Denied: outside mesh.test., so the Sockmesh policy (matchPattern "*.mesh.test") and the
# dnsdist rule (anything not under mesh.test. -> REFUSED) both refuse them without asking
# unbound. 2 of 20 = 10%.
ALLOWED = [
    "allowed.mesh.test A", "target.mesh.test A", "alias.mesh.test A", "allowed.mesh.test AAAA",
    "denied.mesh.test A", "hop.mesh.test A", "mx.mesh.test A", "mail.mesh.test MX",
    "ns.mesh.test A", "short.mesh.test A",
    "allowed.mesh.test A", "target.mesh.test A", "alias.mesh.test A", "mx.mesh.test A",
    "denied.mesh.test A", "hop.mesh.test A", "ns.mesh.test A", "allowed.mesh.test A",
]
DENIED = ["blocked.example A", "ads.tracker.example A"]


def freeports(n):
    socks, ports = [], []
    while len(ports) < n:
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
        except OSError:
            t.close()
            u.close()
            continue
        socks += [t, u]
        ports.append(port)
    for s in socks:
        s.close()
    print("\n".join(map(str, ports)))


def queries():
    # Spread the denied names so that each block of 10 queries holds one.
    lines = ALLOWED[:9] + DENIED[:1] + ALLOWED[9:] + DENIED[1:]
    print("\n".join(lines))


def parse_dnsperf(path):
    text = open(path).read()

    def num(pattern, cast=int, default=None):
        m = re.search(pattern, text)
        if not m:
            if default is not None:
                return default
            sys.exit("dnsperf output %s has no %r:\n%s" % (path, pattern, text[-2000:]))
        return cast(m.group(1))

    qps = num(r"Queries per second:\s+([0-9.]+)", float)
    completed = num(r"Queries completed:\s+(\d+)")
    lost = num(r"Queries lost:\s+(\d+)")
    codes = dict((k, int(v)) for k, v in re.findall(r"([A-Z]+) (\d+) \(", num(
        r"Response codes:\s+(.*)", str, "")))
    noerror, refused = codes.pop("NOERROR", 0), codes.pop("REFUSED", 0)
    print("%.1f %d %d %d %d %d" % (qps, completed, lost, noerror, refused, sum(codes.values())))


def percentile(sorted_vals, q):
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, max(0, int(round(q * len(sorted_vals))) - 1))
    return sorted_vals[k]


def latency(path):
    # dnsperf -v: "> RCODE NAME TYPE SECONDS" per answered query.
    lat = []
    with open(path) as f:
        for line in f:
            if line.startswith("> "):
                parts = line.split()
                try:
                    lat.append(float(parts[-1]) * 1e6)
                except ValueError:
                    pass
    lat.sort()
    print("%.0f %.0f %d" % (percentile(lat, 0.50), percentile(lat, 0.99), len(lat)))


def table(path, clk_tck):
    """Medians over the rounds, CPU per query with its [min..max], and the issue's targets."""
    runs, order, unavailable = {}, [], {}
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if not f[0]:
            continue
        target = f[0]
        if target not in order:
            order.append(target)
        if f[1] == "unavailable":
            unavailable[target] = f[2]
            continue
        (qps, done, lost, noerr, refused, other, p50, p99, n, rqps, rlost, ptu, pts,
         utk) = f[1:]
        done = int(done)

        def us(ticks):
            return int(ticks) * 1e6 / clk_tck / done if done else float("nan")

        runs.setdefault(target, []).append(dict(
            qps=float(qps), p50=float(p50), p99=float(p99), rqps=float(rqps),
            cpu=us(int(ptu) + int(pts)), user=us(ptu), sys=us(pts), unbound=us(utk),
            lost=int(lost) + int(rlost), other=int(other),
            refused=100.0 * int(refused) / done if done else float("nan")))
    med = {}
    for t, rs in runs.items():
        m = {k: statistics.median(r[k] for r in rs)
             for k in ("qps", "p50", "p99", "rqps", "cpu", "user", "sys", "unbound", "refused")}
        m.update(lost=sum(r["lost"] for r in rs), other=sum(r["other"] for r in rs),
                 lo=min(r["cpu"] for r in rs), hi=max(r["cpu"] for r in rs), n=len(rs))
        med[t] = m
    hdr = ("target", "qps", "vs direct", "p50 us", "p99 us", "at qps", "CPU us/q",
           "[min..max]", "(user+sys)", "unbound us/q", "refused", "lost")
    fmt = "%-9s %8s %9s %6s %6s %7s %8s %13s %10s %12s %7s %5s"
    print(fmt % hdr)
    print("-" * 116)
    direct = med.get("direct")
    for t in order:
        if t in unavailable:
            print("%-9s unavailable: %s" % (t, unavailable[t]))
            continue
        m = med[t]
        ratio = m["qps"] / direct["qps"] if direct and direct["qps"] else float("nan")
        cpu = "%.2f" % m["cpu"]
        if t == "direct":
            cpu = "(%s)" % cpu
        print(fmt % (t, "%.0f" % m["qps"], "%.2f" % ratio, "%.0f" % m["p50"], "%.0f" % m["p99"],
                     "%.0f" % m["rqps"], cpu, "[%.2f..%.2f]" % (m["lo"], m["hi"]),
                     "%.1f+%.1f" % (m["user"], m["sys"]), "%.2f" % m["unbound"],
                     "%.0f%%" % m["refused"], "%d" % (m["lost"] + m["other"])))
    rounds = max((m["n"] for m in med.values()), default=0)
    print("(medians of %d rounds; qps and CPU from the saturated runs, p50/p99 from the fixed-rate"
          " runs; direct: CPU is unbound's own; proxies: the proxy's, and unbound's beside it)"
          % rounds)
    print()
    sm, dd = med.get("sockmesh"), med.get("dnsdist")
    if not sm:
        why = unavailable.get("sockmesh", "no row")
        for name in ("qps above dnsdist's", "CPU per query below dnsdist's",
                     "qps at least 0.8 of direct"):
            print("target: sockmesh %-30s not measured (%s)" % (name, why.split(";")[0]))
        return
    checks = []
    if dd:
        checks.append(("qps above dnsdist's", "%.0f vs %.0f" % (sm["qps"], dd["qps"]),
                       sm["qps"] > dd["qps"]))
        checks.append(("CPU per query below dnsdist's", "%.2f vs %.2f us" % (sm["cpu"], dd["cpu"]),
                       sm["cpu"] < dd["cpu"]))
    if direct:
        r = sm["qps"] / direct["qps"]
        checks.append(("qps at least 0.8 of direct", "%.2f" % r, r >= 0.8))
    for name, val, ok in checks:
        print("target: sockmesh %-30s %-22s %s" % (name, val, "MET" if ok else "NOT MET"))


def main(argv):
    cmd = argv[1]
    if cmd == "freeports":
        freeports(int(argv[2]))
    elif cmd == "queries":
        queries()
    elif cmd == "dnsperf":
        parse_dnsperf(argv[2])
    elif cmd == "latency":
        latency(argv[2])
    elif cmd == "table":
        table(argv[2], int(argv[3]))
    else:
        sys.exit("unknown command %s" % cmd)


if __name__ == "__main__":
    main(sys.argv)
