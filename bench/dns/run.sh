#!/usr/bin/env bash
# DNS data-path benchmark (issue 16): unbound direct vs. through dnsdist and through Sockmesh's
# DNS proxy, each applying the same name policy, measured with dnsperf over UDP.
#
#   bench/dns/run.sh                  # DURATION=10 s per run, 3 rounds
#   DURATION=5 ROUNDS=1 bench/dns/run.sh
#
# Environment:
#   DURATION     seconds per dnsperf run (default 10); each target gets a saturated run and a
#                fixed-rate run per round
#   ROUNDS       rounds of all targets, interleaved (default 3); the table shows medians and the
#                spread of CPU per query, so that one noisy run cannot decide a target
#   RATE         queries per second of the fixed-rate runs, where p50/p99 are taken (default 20000)
#   CLIENTS      dnsperf clients (sockets) (default 8); OUTSTANDING: queries in flight (default 100)
#   SOCKMESH_BIN sockmesh binary (default target/release/sockmesh, built if missing); a binary
#                without the DNS proxy, or one that does not answer, makes its row "unavailable"
#   KEEP_TMP=1   keep the temp dir (configs, logs, raw dnsperf output)
#
# What runs, all on 127.0.0.1 with free ports and a temp dir (nothing under /etc is used):
#   unbound  one thread, serving mesh.test. from tests/dns/ (the tests' own zone and config)
#   dnsdist  Debian's 1.7: refuses names not under mesh.test. (a SuffixMatchNodeRule), forwards
#            the rest to unbound; no packet cache; one UDP listener thread and one responder
#            thread (dnsdist's UDP path has no single-thread mode), one TCP worker
#   sockmesh run --protocol dns --direction outbound --workers 1, policy: matchPattern *.mesh.test,
#            default logging (level info: one access-log line per query, to a file), as users run it
# The query file (bench/dns/dnslib.py queries) has 10% names outside mesh.test., which both
# proxies refuse themselves (checked below with unbound stopped) and the direct row's unbound
# refuses too.
# CPU per query = (utime+stime delta from /proc/PID/stat over the saturated run) / completed
# queries. p50/p99 = percentiles of dnsperf -v's per-query latencies in the fixed-rate runs
# (Debian's dnsperf 2.10 prints only average and stddev; it has no latency histogram option).
# Results go to stdout and bench/dns/results/latest.txt.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/../lib.sh"
ROOT=$(cd "$HERE/../.." && pwd)
LIB="$HERE/dnslib.py"
TICKS="$ROOT/bench/http/benchlib.py"
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
RATE=${RATE:-20000}
CLIENTS=${CLIENTS:-8}
OUTSTANDING=${OUTSTANDING:-100}
CMDLINE="$0 $*"

# ---------------------------------------------------------------- prerequisites
missing=()
for c in unbound dnsdist dnsperf dig python3 getconf timeout; do
    command -v "$c" >/dev/null 2>&1 || missing+=("$c")
done
if ((${#missing[@]})); then
    echo "missing: ${missing[*]}" >&2
    echo "install with: apt-get install -y unbound dnsdist dnsperf dnsutils python3 coreutils" \
        "(or run scripts/install-deps.sh as root)" >&2
    exit 2
fi
CLK_TCK=$(getconf CLK_TCK)

T=$(mktemp -d /tmp/sockmesh-dnsbench.XXXXXX)
PIDS=()
cleanup() {
    stop_pids "${PIDS[@]}"
    if [[ "${KEEP_TMP:-0}" == 1 ]]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Sockmesh: missing binary -> build it as bench/http does; a failed build is a reason, not an abort.
SM_UNAVAILABLE=""
if [[ -n "${SOCKMESH_BIN:-}" ]]; then
    BIN=$SOCKMESH_BIN
    [[ -x "$BIN" ]] || SM_UNAVAILABLE="SOCKMESH_BIN=$BIN is not executable"
else
    BIN="$ROOT/target/release/sockmesh"
    if [[ ! -x "$BIN" ]]; then
        echo "building $BIN (cargo build --release -p sockmesh) ..." >&2
        if ! (cd "$ROOT" && cargo build --release -p sockmesh) >"$T/build.log" 2>&1; then
            SM_UNAVAILABLE="cargo build --release -p sockmesh failed: $(grep -m1 '^error' "$T/build.log")"
        fi
    fi
fi

mapfile -t PORTS < <(python3 "$LIB" freeports 3)
UB_P=${PORTS[0]} DD_P=${PORTS[1]} SM_P=${PORTS[2]}

# status PORT NAME [TYPE] -> the rcode dig got (or "none"); 1 s, one try
status() {
    local out
    out=$(dig @127.0.0.1 -p "$1" +tries=1 +time=1 "$2" "${3:-A}" 2>&1 || true)
    sed -n 's/.*status: \([A-Z]*\),.*/\1/p' <<<"$out" | grep . || echo none
}
# wait_status PORT NAME WANT SECONDS PID: poll until NAME gets WANT; fails if PID exits
wait_status() {
    local i
    for ((i = 0; i < $4 * 5; i++)); do
        kill -0 "$5" 2>/dev/null || return 1
        [[ "$(status "$1" "$2")" == "$3" ]] && return 0
        sleep 0.2
    done
    return 1
}

# ---------------------------------------------------------------- unbound
mkdir -p "$T/unbound"
cp "$ROOT/tests/dns/mesh.test.zone" "$T/unbound/"
sed -e "s|@DIR@|$T/unbound|g" -e "s|@PORT@|$UB_P|g" "$ROOT/tests/dns/unbound.conf.in" >"$T/unbound.conf"
grep -q '^  num-threads: 1$' "$T/unbound.conf" || { echo "unbound.conf.in is not single-threaded" >&2; exit 1; }
unbound -d -c "$T/unbound.conf" >"$T/unbound/stderr.log" 2>&1 &
UB_PID=$!; PIDS+=("$UB_PID")
wait_status "$UB_P" allowed.mesh.test NOERROR 10 "$UB_PID" || {
    echo "unbound did not start:" >&2; cat "$T/unbound/unbound.log" "$T/unbound/stderr.log" >&2; exit 1; }

# ---------------------------------------------------------------- dnsdist
cat >"$T/dnsdist.conf" <<EOF
setSecurityPollSuffix("")
setLocal("127.0.0.1:$DD_P")
setMaxTCPClientThreads(1)
newServer({address="127.0.0.1:$UB_P", checkName="allowed.mesh.test.", checkType="A"})
allowed = newSuffixMatchNode()
allowed:add(newDNSName("mesh.test."))
addAction(NotRule(SuffixMatchNodeRule(allowed, true)), RCodeAction(DNSRCode.REFUSED))
EOF
dnsdist --supervised --disable-syslog -C "$T/dnsdist.conf" >"$T/dnsdist.log" 2>&1 &
DD_PID=$!; PIDS+=("$DD_PID")
wait_status "$DD_P" allowed.mesh.test NOERROR 10 "$DD_PID" || {
    echo "dnsdist did not start:" >&2; cat "$T/dnsdist.log" >&2; exit 1; }

# ---------------------------------------------------------------- sockmesh
cat >"$T/policy.yaml" <<EOF
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: dns-bench, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: bench}}
  egress:
  - toPorts:
    - ports: [{port: "$UB_P", protocol: ANY}]
      rules:
        dns: [{matchPattern: "*.mesh.test"}]
EOF
SM_PID=""
if [[ -z "$SM_UNAVAILABLE" ]]; then
    "$BIN" run --listen "127.0.0.1:$SM_P" --upstream "127.0.0.1:$UB_P" --protocol dns \
        --direction outbound --label app=bench --policy "$T/policy.yaml" --workers 1 \
        >"$T/sockmesh.log" 2>&1 &
    SM_PID=$!; PIDS+=("$SM_PID")
    if ! wait_status "$SM_P" allowed.mesh.test NOERROR 5 "$SM_PID"; then
        if kill -0 "$SM_PID" 2>/dev/null; then
            SM_UNAVAILABLE="no NOERROR answer to dig allowed.mesh.test within 5 s (last: $(status "$SM_P" allowed.mesh.test))"
            kill -TERM "$SM_PID" 2>/dev/null || true
        else
            wait "$SM_PID" && rc=0 || rc=$?
            SM_UNAVAILABLE="sockmesh exited with status $rc"
        fi
        SM_UNAVAILABLE="$SM_UNAVAILABLE; its log: $(head -c 600 "$T/sockmesh.log" | head -4 | tr -s '[:space:]' ' ')"
        SM_PID=""
    fi
fi

# Sanity: each proxy refuses the denied names itself: with unbound stopped (SIGSTOP), a denied
# name still gets REFUSED at once. Then each answers an allowed name (a CNAME chain) again.
refused_alone() { # PORT -> the rcode for blocked.example while unbound is stopped
    kill -STOP "$UB_PID"
    status "$1" blocked.example
    kill -CONT "$UB_PID"
}
got=$(refused_alone "$DD_P")
[[ "$got" == REFUSED ]] || { echo "sanity check failed: dnsdist answered blocked.example with $got" >&2; exit 1; }
if [[ -n "$SM_PID" ]]; then
    got=$(refused_alone "$SM_P")
    if [[ "$got" != REFUSED ]]; then
        SM_UNAVAILABLE="the denied name blocked.example got $got, not REFUSED from sockmesh itself"
        kill -TERM "$SM_PID" 2>/dev/null || true
        SM_PID=""
    fi
fi
# dnsdist marked unbound down during the stop; its health check brings it back within ~1 s.
wait_status "$DD_P" alias.mesh.test NOERROR 10 "$DD_PID" || {
    echo "sanity check failed: dnsdist does not answer alias.mesh.test" >&2; exit 1; }
if [[ -n "$SM_PID" ]] && ! wait_status "$SM_P" alias.mesh.test NOERROR 5 "$SM_PID"; then
    SM_UNAVAILABLE="no NOERROR answer for alias.mesh.test (a CNAME chain) after the refusal check"
    kill -TERM "$SM_PID" 2>/dev/null || true
    SM_PID=""
fi
if [[ -n "$SM_UNAVAILABLE" ]]; then echo "sockmesh row unavailable: $SM_UNAVAILABLE" >&2; fi

# ---------------------------------------------------------------- load rows
python3 "$LIB" queries >"$T/queries.txt"
ROWS="$T/rows.tsv"; : >"$ROWS"
# row TARGET PORT PID: a saturated run (qps, CPU) then a fixed-rate run (latency percentiles)
row() {
    local target=$1 port=$2 pid=$3
    local sat="$T/$target-$ROUND-sat.out" rate="$T/$target-$ROUND-rate.out"
    local pu0 ps0 pu1 ps1 u0 u1 x
    sleep 1
    read -r pu0 ps0 < <(python3 "$TICKS" ticks "$pid")
    read -r u0 x < <(python3 "$TICKS" ticks "$UB_PID"); u0=$((u0 + x))
    timeout $((DURATION + 30)) dnsperf -s 127.0.0.1 -p "$port" -d "$T/queries.txt" -T 1 \
        -c "$CLIENTS" -q "$OUTSTANDING" -l "$DURATION" >"$sat" 2>&1
    read -r pu1 ps1 < <(python3 "$TICKS" ticks "$pid")
    read -r u1 x < <(python3 "$TICKS" ticks "$UB_PID"); u1=$((u1 + x))
    local qps done lost noerr refused other
    read -r qps done lost noerr refused other < <(python3 "$LIB" dnsperf "$sat")
    sleep 1
    timeout $((DURATION + 30)) dnsperf -s 127.0.0.1 -p "$port" -d "$T/queries.txt" -T 1 \
        -c "$CLIENTS" -q "$OUTSTANDING" -l "$DURATION" -Q "$RATE" -v >"$rate" 2>&1
    local rqps rlost p50 p99 n
    read -r rqps _ rlost _ < <(python3 "$LIB" dnsperf "$rate")
    read -r p50 p99 n < <(python3 "$LIB" latency "$rate")
    [[ "${KEEP_TMP:-0}" == 1 ]] || rm -f "$rate"
    # The direct row's "proxy" is unbound itself: its CPU is then unbound's own.
    local ut=$((u1 - u0)); [[ $target == direct ]] && ut=$((pu1 - pu0 + ps1 - ps0))
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$qps" "$done" \
        "$lost" "$noerr" "$refused" "$other" "$p50" "$p99" "$n" "$rqps" "$rlost" \
        $((pu1 - pu0)) $((ps1 - ps0)) "$ut" >>"$ROWS"
    echo "  round $ROUND: $target: $qps qps saturated; p50 $p50 us, p99 $p99 us at $rqps qps" >&2
}

START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
NT=2; [[ -n "$SM_PID" ]] && NT=3
echo "running $ROUNDS rounds of $NT targets, 2 runs of ${DURATION}s each ..." >&2
for ROUND in $(seq 1 "$ROUNDS"); do
    row direct "$UB_P" "$UB_PID"
    row dnsdist "$DD_P" "$DD_PID"
    [[ -n "$SM_PID" ]] && row sockmesh "$SM_P" "$SM_PID"
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
if [[ -z "$SM_PID" ]]; then printf 'sockmesh\tunavailable\t%s\n' "$SM_UNAVAILABLE" >>"$ROWS"; fi

# ---------------------------------------------------------------- report
mkdir -p "$HERE/results"
{
    echo "# bench/dns: $START, $(nproc) CPUs, $(uname -r), checkout at git $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$ROOT" && git diff --quiet HEAD -- 2>/dev/null || echo ' (dirty)')"
    echo "# command: DURATION=$DURATION ROUNDS=$ROUNDS RATE=$RATE CLIENTS=$CLIENTS OUTSTANDING=$OUTSTANDING $CMDLINE"
    echo "# unbound $(unbound -V | sed -n 's/^Version //p'), $(dnsdist --version | head -1 | cut -d' ' -f1-2), dnsperf $(dnsperf -h 2>&1 | sed -n 's/^Version //p')"
    if [[ -x "$BIN" ]]; then
        echo "# sockmesh binary: $BIN (sha256 $(sha256sum "$BIN" | cut -c1-12), built $(date -u -r "$BIN" +%Y-%m-%dT%H:%M:%SZ))"
    else
        echo "# sockmesh binary: $BIN (missing)"
    fi
    echo "# loadavg before/after: $LOAD0 / $LOAD1"
    echo "# unbound: num-threads 1, auth-zone mesh.test. (tests/dns/); dnsdist: NotRule(SuffixMatchNodeRule(mesh.test.)) -> REFUSED, no cache, setMaxTCPClientThreads(1)"
    echo "# sockmesh: --protocol dns --direction outbound --workers 1, policy dns matchPattern \"*.mesh.test\""
    echo "# queries: $(wc -l <"$T/queries.txt") names, 10% outside mesh.test. (refused by each proxy itself, and by unbound in the direct row)"
    echo "# saturated: dnsperf -T 1 -c $CLIENTS -q $OUTSTANDING -l $DURATION (UDP); latency: the same with -Q $RATE -v, p50/p99 of its per-query latencies"
    echo "# CPU from /proc/PID/stat utime+stime over the saturated run (CLK_TCK $CLK_TCK); \"lost\" = lost queries + answers other than NOERROR/REFUSED"
    echo
    python3 "$LIB" table "$ROWS" "$CLK_TCK"
} | tee "$HERE/results/latest.txt"
