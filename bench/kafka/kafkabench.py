#!/usr/bin/env python3
"""Helpers for bench/kafka/run.sh: load, verification and the report.

  kafkabench.py ports N                   N free TCP ports on 127.0.0.1, one per line
  kafkabench.py sidecarport OFFSET [AVOID..]
                                          a port P (20000..32767) with P and P+OFFSET free and
                                          neither in AVOID: the sidecar's listener and the one it
                                          opens for broker node OFFSET-1
  kafkabench.py brokers BOOTSTRAP         "NODE HOST:PORT" per broker the Metadata names
  kafkabench.py policy BROKER_PORT APP ROLE:TOPIC..
                                          CiliumNetworkPolicy (egress) with one kafka rule each
  kafkabench.py produce BOOTSTRAP TOPIC COUNT SIZE [--cpu NAME=PID].. [--tag K=V].. [--timeout S]
  kafkabench.py consume BOOTSTRAP TOPIC COUNT SIZE [--cpu NAME=PID].. [--tag K=V].. [--timeout S]
  kafkabench.py check ROWFILE             one line about a produce/consume row; exit 1 unless ok
  kafkabench.py merge ROWFILE VERIFYFILE  a produce row with its read-back (ok if both are)
  kafkabench.py count DURATION ROWFILE MIN MAX
                                          messages for DURATION s at the row's rate (2 digits)
  kafkabench.py table JSONL               the result table and the targets, from run.sh's rows

produce and consume need confluent-kafka (the repo's venv); the others are stdlib only.

Messages: message i of a (COUNT, SIZE) run is an 8-digit index, ':' and pseudo-random filler
(one of 16 fixed blocks), SIZE bytes in all, so both sides compute the same expected checksum,
sha256 over the concatenated values in order, without talking to each other. Payloads and the
expected checksum are made before the clock starts; the consumer keeps the values and hashes
them after it stops, so the measured window holds the Kafka path and the client's own loop only.

produce: one confluent-kafka (librdkafka) producer, acks=all, linger.ms (env LINGER_MS, 5),
  a queue large enough for the whole run, delivery reports for errors only; the clock runs
  from the first produce() to flush() returning (the last delivery report).
consume: assign(partition 0, offset 0) without a group protocol (no commits), fetch.wait.max.ms=1
  (tansu waits half of it per Fetch) and fetch.queue.backoff.ms=10 (librdkafka pauses fetching
  1 s when over 100k messages are queued); the clock runs from assign() to the COUNTth message.
  It also reads the high watermark Fetch reported (tansu's ListOffsets LATEST is wrong).

--cpu NAME=PID: CPU of that process over the measured window: utime+stime from /proc/PID/stat
(clock ticks, all threads), and the same quantity in nanoseconds from the sum of
/proc/PID/task/*/schedstat (the kernel's per-thread run time that utime+stime are scaled from),
used when no thread present at the start exited meanwhile; otherwise the ticks are used (10 ms
granularity). Each prints one JSON object (the row) on stdout, whatever happened; "ok" says
whether every message arrived and the checksum matched.
"""

import hashlib
import json
import os
import random
import socket
import statistics
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
# Consumer errors that end a run; the others (a dropped connection, a coordinator the policy
# refuses: assign() needs none) are kept as warnings while the messages keep coming.
STOP_CONSUMING = {"TOPIC_AUTHORIZATION_FAILED", "UNKNOWN_TOPIC_OR_PART", "_UNKNOWN_PARTITION",
                  "_UNKNOWN_TOPIC", "OFFSET_OUT_OF_RANGE", "_AUTO_OFFSET_RESET",
                  "CORRUPT_MESSAGE", "_BAD_MSG"}
MB = 1e6


# ---------------------------------------------------------------- ports, metadata, policy


def ports(n):
    socks, out = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        out.append(s.getsockname()[1])
    for s in socks:
        s.close()
    print("\n".join(map(str, out)))


def _free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def sidecarport(offset, avoid):
    """Below the usual ephemeral range (32768..60999), so clients' own sockets do not take it."""
    rng = random.Random()
    for _ in range(2000):
        p = rng.randrange(20000, 32768 - offset)
        if p in avoid or p + offset in avoid:
            continue
        if _free(p) and _free(p + offset):
            print(p)
            return
    raise SystemExit("no port P with P and P+%d free in 20000..32767" % offset)


def brokers(bootstrap):
    """NODE HOST:PORT per broker Metadata names (exit 1, reason on stdout, when none)."""
    from confluent_kafka.admin import AdminClient

    try:
        md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    except Exception as e:
        print("no Metadata from %s: %s" % (bootstrap, e))
        sys.exit(1)
    for n in sorted(md.brokers):
        b = md.brokers[n]
        print("%d %s:%d" % (n, b.host, b.port))


def policy(broker_port, app, items):
    out = [
        "# Generated by bench/kafka/kafkabench.py: one kafka rule per (role, topic) the run uses.",
        "apiVersion: cilium.io/v2",
        "kind: CiliumNetworkPolicy",
        "metadata: {name: kafka-bench, namespace: default}",
        "spec:",
        "  endpointSelector: {matchLabels: {%s: %s}}" % tuple(app.split("=", 1)),
        "  egress:",
        "  - toPorts:",
        '    - ports: [{port: "%s", protocol: TCP}]' % broker_port,
        "      rules:",
        "        kafka:",
    ]
    for it in items:
        role, topic = it.split(":", 1)
        out.append('        - {role: %s, topic: "%s"}' % (role, topic))
    print("\n".join(out))


# ---------------------------------------------------------------- messages and CPU


def payloads(count, size):
    """The values of a (count, size) run and sha256 over their concatenation."""
    if size < 9:
        raise SystemExit("SIZE must be at least 9 (an 8-digit index and a colon)")
    rng = random.Random(size)
    blocks = [rng.randbytes(size - 9) for _ in range(16)]
    vals = [b"%08d:" % (i % 100000000) + blocks[i % 16] for i in range(count)]
    h = hashlib.sha256()
    for v in vals:
        h.update(v)
    return vals, h.hexdigest()


def cpu_sample(pid):
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    fields = s[s.rindex(")") + 2 :].split()
    ticks = int(fields[11]) + int(fields[12])
    threads = {}
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                    threads[tid] = int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass  # a thread that just exited
    except OSError:
        threads = None
    return ticks, threads


def cpu_delta(a, b):
    """(ns, ticks, precise): precise when the per-thread run times cover the window."""
    (t0, th0), (t1, th1) = a, b
    ticks = t1 - t0
    if th0 is not None and th1 is not None and set(th0) <= set(th1):
        ns = sum(v - th0.get(tid, 0) for tid, v in th1.items())
        # Sanity: the precise sum and the ticks measure the same thing (2 ticks of slack
        # for truncation at both ends).
        if abs(ns - ticks * 1e9 / CLK_TCK) <= 2e9 / CLK_TCK + 0.05 * ns:
            return ns, ticks, True
    return ticks * 1e9 / CLK_TCK, ticks, False


class Cpu:
    def __init__(self, specs):
        self.pids = {}
        for spec in specs:
            name, pid = spec.split("=", 1)
            self.pids[name] = int(pid)
        self.start = {}

    def begin(self):
        self.self0 = os.times()
        self.start = {n: self._sample(p) for n, p in self.pids.items()}

    def end(self):
        self_t = os.times()
        out = {
            "client": {
                "ns": ((self_t.user - self.self0.user) + (self_t.system - self.self0.system))
                * 1e9,
                "precise": True,
            }
        }
        for n, p in self.pids.items():
            b = self._sample(p)
            a = self.start[n]
            if a is None or b is None:
                out[n] = {"ns": None, "error": "process %d gone" % p}
                continue
            ns, ticks, precise = cpu_delta(a, b)
            out[n] = {"ns": ns, "ticks": ticks, "precise": precise}
        return out

    def gone(self):
        """The watched processes that exited (zombies count: bash reaps them later)."""
        out = []
        for n, p in self.pids.items():
            try:
                with open("/proc/%d/stat" % p) as f:
                    st = f.read()
                if st[st.rindex(")") + 2] in "ZX":
                    out.append(n)
            except OSError:
                out.append(n)
        return out

    @staticmethod
    def _sample(pid):
        try:
            return cpu_sample(pid)
        except OSError:
            return None


def parse_opts(argv):
    pos, cpu, tags, timeout = [], [], {}, 120.0
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--cpu":
            cpu.append(argv[i + 1])
            i += 2
        elif a == "--tag":
            k, v = argv[i + 1].split("=", 1)
            tags[k] = v
            i += 2
        elif a == "--timeout":
            timeout = float(argv[i + 1])
            i += 2
        else:
            pos.append(a)
            i += 1
    return pos, cpu, tags, timeout


# ---------------------------------------------------------------- load


def produce(bootstrap, topic, count, size, cpu, timeout):
    from confluent_kafka import Producer

    vals, want = payloads(count, size)
    errors, warnings = [], []

    def report(err, _msg):
        if err is not None:
            errors.append(err.name().upper())

    p = Producer(
        {
            "bootstrap.servers": bootstrap,
            "client.id": "kafkabench",
            "linger.ms": int(os.environ.get("LINGER_MS", "5")),
            "queue.buffering.max.messages": max(100000, min(count + 1, 10000000)),
            "queue.buffering.max.kbytes": max(1048576, count * (size + 200) // 1024 + 1),
            "message.timeout.ms": int(timeout * 1000),
            "socket.timeout.ms": 10000,
            "delivery.report.only.error": True,
            "on_delivery": report,
            "error_cb": lambda e: len(warnings) < 20 and warnings.append(e.name().upper()),
        }
    )
    # The topic's metadata first (bootstrap connection, leader known): not part of the window.
    try:
        md = p.list_topics(topic, timeout=min(timeout, 15))
        t = md.topics.get(topic)
        if t is None or t.error is not None:
            errors.append("METADATA: %s" % (t.error.name() if t is not None else "no topic"))
    except Exception as e:  # KafkaException
        errors.append("METADATA: %s" % e)
    if errors:
        return {"ok": False, "count": 0, "seconds": None, "sha256": None, "want_sha256": want,
                "errors": errors, "warnings": sorted(set(warnings)), "cpu": {}}
    cpu.begin()
    t0 = time.perf_counter()
    n, stuck = 0, False
    deadline = t0 + timeout
    for v in vals:
        while True:
            try:
                p.produce(topic, v)
                break
            except BufferError:  # the queue holds the whole run: only if nothing moves
                p.poll(0.01)
                if time.perf_counter() > deadline or cpu.gone():
                    stuck = True
                    break
        if stuck:
            break
        n += 1
        if not n & 0x3FFF:
            p.poll(0)
            if errors:
                break
    left = len(p)
    while left:
        left = p.flush(0.2)
        if left and (time.perf_counter() > deadline or cpu.gone()):
            break
    t1 = time.perf_counter()
    cpu_used = cpu.end()
    gone = cpu.gone()
    if gone:
        errors.append("EXITED: %s, %d messages undelivered" % (",".join(gone), left))
    elif left or stuck:
        errors.append("TIMEOUT: %d messages undelivered after %.0f s" % (left, timeout))
    if n < count and not errors:
        errors.append("STOPPED: sent %d of %d" % (n, count))
    delivered = max(0, n - left - len([e for e in errors if e[:7] not in ("TIMEOUT", "EXITED:")]))
    return {
        "ok": not errors and delivered == count,
        "count": delivered,
        "seconds": t1 - t0,
        # What was sent; arrival is checked by a consume of the topic straight from the broker.
        "sha256": want if not errors else None,
        "want_sha256": want,
        "errors": sorted(set(errors)),
        "warnings": sorted(set(warnings)),
        "cpu": cpu_used,
    }


def consume(bootstrap, topic, count, size, cpu, timeout):
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    _vals, want = payloads(count, size)
    del _vals
    warnings = []
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "client.id": "kafkabench",
            "group.id": "kafkabench",  # required by the client; assign() uses no group protocol
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "error",
            "fetch.wait.max.ms": 1,
            "fetch.queue.backoff.ms": 10,
            "socket.timeout.ms": 10000,
            "error_cb": lambda e: len(warnings) < 20 and warnings.append(e.name().upper()),
        }
    )
    errors, got = [], []
    tp = TopicPartition(topic, 0, 0)
    cpu.begin()
    t0 = time.perf_counter()
    c.assign([tp])
    deadline = t0 + timeout
    append = got.append
    n = 0
    while n < count:
        now = time.perf_counter()
        if now > deadline:
            errors.append("TIMEOUT: %d of %d messages after %.0f s" % (n, count, timeout))
            break
        gone = cpu.gone()
        if gone:
            errors.append("EXITED: %s, after %d of %d messages" % (",".join(gone), n, count))
            break
        for m in c.consume(num_messages=min(10000, count - n), timeout=min(1.0, deadline - now)):
            e = m.error()
            if e is not None:
                if e.code() == KafkaError._PARTITION_EOF:
                    continue
                name = e.name().upper()
                if e.fatal() or name in STOP_CONSUMING:
                    errors.append(name)
                elif len(warnings) < 20:
                    warnings.append(name)
                continue
            append(m.value())
        n = len(got)
        if errors:
            break
    t1 = time.perf_counter()
    cpu_used = cpu.end()
    try:
        _lo, hi = c.get_watermark_offsets(tp, cached=True)
    except Exception:
        hi = None
    c.close()
    h = hashlib.sha256()
    for v in got:
        h.update(v or b"")
    sha = h.hexdigest() if got else None
    return {
        "ok": not errors and n == count and sha == want and hi in (None, count),
        "count": n,
        "seconds": t1 - t0,
        "sha256": sha,
        "want_sha256": want,
        "high_watermark": hi,
        "errors": sorted(set(errors)),
        "warnings": sorted(set(warnings)),
        "cpu": cpu_used,
    }


def load(op, argv):
    pos, cpus, tags, timeout = parse_opts(argv)
    bootstrap, topic, count, size = pos[0], pos[1], int(pos[2]), int(pos[3])
    cpu = Cpu(cpus)
    fn = produce if op == "produce" else consume
    try:
        r = fn(bootstrap, topic, count, size, cpu, timeout)
    except Exception as e:  # a row, not a traceback
        r = {"ok": False, "count": 0, "seconds": None, "sha256": None,
             "errors": ["EXCEPTION: %s" % e], "cpu": {}}
    row = dict(tags)
    row.update({"op": op, "topic": topic, "want": count, "size": size})
    row.update(r)
    print(json.dumps(row, sort_keys=True))


# ---------------------------------------------------------------- report


def _last_row(path):
    with open(path) as f:
        lines = [l for l in f if l.strip()]
    return json.loads(lines[-1]) if lines else {"ok": False, "errors": ["no output"]}


def check(path):
    """One line about a row (ROWFILE: its JSON); exit status 0 when it is ok."""
    try:
        r = _last_row(path)
    except (OSError, ValueError) as e:
        print("no result (%s)" % e)
        sys.exit(1)
    if not r.get("ok"):
        why = ", ".join(r.get("errors") or []) or "-"
        sha = "checksum %s" % ("-" if not r.get("sha256") else
                               "matches" if r.get("sha256") == r.get("want_sha256") else "DIFFERS")
        hw = ", high watermark %s" % r["high_watermark"] if "high_watermark" in r else ""
        warn = "; warnings: %s" % ", ".join(r["warnings"]) if r.get("warnings") else ""
        print("FAILED: %s of %s messages, %s%s; errors: %s%s" % (
            r.get("count", 0), r.get("want", "?"), sha, hw, why, warn))
        sys.exit(1)
    rate = r["count"] / r["seconds"]
    out = "%d msgs in %.2f s: %.0f msgs/s, %.1f MB/s" % (
        r["count"], r["seconds"], rate, rate * r["size"] / MB)
    for who in ("proxy", "broker"):
        cu = r["cpu"].get(who) or {}
        if cu.get("ns") is not None:
            out += ", %s %.3g us/msg" % (who, cu["ns"] / 1000.0 / r["count"])
    print(out)


def merge(row_path, verify_path):
    """The produce row with the direct read-back of its topic: ok only if both are."""
    r = _last_row(row_path)
    try:
        v = _last_row(verify_path)
    except (OSError, ValueError) as e:
        v = {"ok": False, "count": 0, "errors": ["EXCEPTION: %s" % e]}
    r["verify"] = {k: v.get(k) for k in ("ok", "count", "sha256", "high_watermark", "errors")}
    if r.get("ok") and not v.get("ok"):
        r["ok"] = False
        r["errors"] = sorted(set((r.get("errors") or []) + ["READ-BACK: %d of %d, checksum %s%s" % (
            v.get("count") or 0, r["want"],
            "matches" if v.get("sha256") == r.get("want_sha256") else "differs",
            "; " + ", ".join(v["errors"]) if v.get("errors") else "")]))
    print(json.dumps(r, sort_keys=True))


def count_for(duration, path, lo, hi):
    """Messages that take about DURATION s at the rate of the (calibration) row in PATH,
    rounded to two significant digits, within [lo, hi]."""
    r = _last_row(path)
    if not r.get("ok") or not r.get("seconds"):
        raise SystemExit("calibration run failed: %s" % ", ".join(r.get("errors") or []))
    n = r["count"] / r["seconds"] * duration
    digits = max(0, len(str(int(n))) - 2)
    n = int(round(n / 10 ** digits) * 10 ** digits)
    print(min(hi, max(lo, n)))


def fmt_size(size):
    return "%d KiB" % (size // 1024) if size % 1024 == 0 else "%d B" % size


def table(path):
    rows, unavailable = [], {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            r = json.loads(line)
            if r.get("unavailable"):
                unavailable[r["target"]] = r["unavailable"]
            else:
                rows.append(r)
    targets = []
    for r in rows:
        if r["target"] not in targets:
            targets.append(r["target"])
    for t in unavailable:
        if t not in targets:
            targets.append(t)
    known = ["direct", "tansu-proxy", "sockmesh"]
    targets.sort(key=lambda t: known.index(t) if t in known else len(known))
    cases = []
    for r in rows:
        c = (r["op"], r["size"])
        if c not in cases:
            cases.append(c)

    def runs(t, c):
        return [r for r in rows if r["target"] == t and (r["op"], r["size"]) == c]

    def by_round(t, c):
        return {r["round"]: r for r in runs(t, c)}

    def med(xs):
        return statistics.median(xs) if xs else None

    def us_per_msg(r, who):
        cu = (r.get("cpu") or {}).get(who) or {}
        ns = cu.get("ns")
        if ns is None or not r.get("count"):
            return None, True
        return ns / 1000.0 / r["count"], cu.get("precise", False)

    fmt = "%-15s %-12s %9s %7s %-22s %-26s %8s %8s %9s"
    hdr = fmt % ("case", "target", "msgs/s", "MB/s", "vs direct [min..max]",
                 "proxy CPU us/msg [min..max]", "broker", "client", "verified")
    print(hdr)
    print("-" * len(hdr))
    summary = {}  # (target, case) -> (ratio, cpu)
    imprecise = False
    for c in cases:
        label = "%s %s" % (c[0], fmt_size(c[1]))
        direct = by_round("direct", c)
        for t in targets:
            rs = runs(t, c)
            if t in unavailable and not rs:
                print("%-15s %-12s unavailable (below)" % (label, t))
                label = ""
                continue
            if not rs:
                continue
            good = [r for r in rs if r.get("ok") and r.get("seconds")]
            rate = [r["count"] / r["seconds"] for r in good]
            mbs = [r["count"] * r["size"] / MB / r["seconds"] for r in good]
            ratios = []
            for r in good:
                d = direct.get(r["round"])
                if d and d.get("ok") and d.get("seconds"):
                    ratios.append((r["count"] / r["seconds"]) / (d["count"] / d["seconds"]))
            pcpu, bcpu, ccpu = [], [], []
            for r in good:
                if t != "direct":
                    v, p = us_per_msg(r, "proxy")
                    if v is not None:
                        pcpu.append(v)
                        imprecise |= not p
                v, _ = us_per_msg(r, "broker")
                if v is not None:
                    bcpu.append(v)
                v, _ = us_per_msg(r, "client")
                if v is not None:
                    ccpu.append(v)
            ver = "%d/%d" % (len([r for r in rs if r.get("ok")]), len(rs))
            if len(good) < len(rs):
                ver += " FAIL"
            if good:
                if t == "direct":
                    rat = "1.00"
                elif ratios:
                    rat = "%.2f [%.2f..%.2f]" % (med(ratios), min(ratios), max(ratios))
                else:
                    rat = "-"
                spread = "%.3g [%.3g..%.3g]" % (med(pcpu), min(pcpu), max(pcpu)) if pcpu else "-"
                print(fmt % (
                    label, t, "%.0f" % med(rate), "%.1f" % med(mbs), rat, spread,
                    "%.3g" % med(bcpu) if bcpu else "-",
                    "%.3g" % med(ccpu) if ccpu else "-",
                    ver))
            else:
                print(fmt % (label, t, "-", "-", "-", "-", "-", "-", ver))
            label = ""
            summary[(t, c)] = (med(ratios) if ratios else None, med(pcpu) if pcpu else None,
                               len(good) == len(rs) and bool(rs))
        print()
    nrounds = len({r["round"] for r in rows})
    print("(medians of %d round(s); \"vs direct\": msgs/s over direct's msgs/s in the same round, "
          "median and range over the rounds;\n CPU per message: utime+stime over the measured window "
          "/ messages, of the proxy, and beside it of the broker and of the client (python + "
          "librdkafka)%s)" % (nrounds, "; some windows fell back to 10 ms ticks" if imprecise else ""))
    for t, why in unavailable.items():
        print("%s unavailable: %s" % (t, why))
    for r in rows:
        if not r.get("ok"):
            print("FAILED: %s %s %s round %s: %d of %d, sha %s, errors %s" % (
                r["target"], r["op"], fmt_size(r["size"]), r.get("round"), r.get("count") or 0,
                r["want"], "-" if not r.get("sha256") else
                "match" if r.get("sha256") == r.get("want_sha256") else "MISMATCH",
                ",".join(r.get("errors") or []) or "-"))
    print()
    sm, tp = "sockmesh", "tansu-proxy"
    for c in cases:
        label = "%s %s" % (c[0], fmt_size(c[1]))
        s = summary.get((sm, c))
        if sm in unavailable or s is None:
            print("target: sockmesh %-15s at least 0.9 of direct      n/a (sockmesh unavailable)" % label)
            continue
        ratio, _, allok = s
        verdict = "MET" if ratio is not None and ratio >= 0.9 and allok else "NOT MET"
        print("target: sockmesh %-15s at least 0.9 of direct      %-22s %s" % (
            label, "%.2f" % ratio if ratio is not None else "-", verdict))
    for c in cases:
        label = "%s %s" % (c[0], fmt_size(c[1]))
        s, ref = summary.get((sm, c)), summary.get((tp, c))
        if sm in unavailable or s is None:
            print("target: sockmesh %-15s CPU/msg <= 0.5 x tansu's   n/a (sockmesh unavailable)" % label)
            continue
        cs, ct = s[1], ref[1] if ref else None
        if cs is None or ct is None:
            print("target: sockmesh %-15s CPU/msg <= 0.5 x tansu's   -                      NOT MET" % label)
            continue
        verdict = "MET" if cs <= 0.5 * ct and s[2] else "NOT MET"
        print("target: sockmesh %-15s CPU/msg <= 0.5 x tansu's   %-22s %s" % (
            label, "%.3g vs %.3g us (%.2fx)" % (cs, ct, cs / ct if ct else float("nan")), verdict))


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "ports":
        ports(int(argv[2]))
    elif cmd == "sidecarport":
        sidecarport(int(argv[2]), {int(x) for x in argv[3:]})
    elif cmd == "brokers":
        brokers(argv[2])
    elif cmd == "merge":
        merge(argv[2], argv[3])
    elif cmd == "check":
        check(argv[2])
    elif cmd == "count":
        count_for(float(argv[2]), argv[3], int(argv[4]), int(argv[5]))
    elif cmd == "policy":
        policy(argv[2], argv[3], argv[4:])
    elif cmd in ("produce", "consume"):
        load(cmd, argv[2:])
    elif cmd == "table":
        table(argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
