#!/usr/bin/env bash
# Kafka data-path benchmark: produce and consume, 100 B and 10 KiB messages, one partition, to a
# tansu broker directly, through `tansu proxy` (the peer: it decodes and re-encodes every frame)
# and through Sockmesh's Kafka listener with a topic rule in force, in one run.
#
#   bench/kafka/run.sh                          # counts sized for ~2 s direct runs, 3 rounds
#   DURATION=0.5 ROUNDS=1 bench/kafka/run.sh    # a quick look
#   MESSAGES=1000000,50000 bench/kafka/run.sh   # fixed counts (100 B, 10 KiB)
#
# Environment:
#   DURATION     seconds a direct produce of each size should take (default 2): a calibration run
#                against the broker sets the message counts (two significant digits, 20k..3M
#                messages of 100 B, 2k..100k of 10 KiB: the broker keeps a topic in memory, the
#                client keeps the values, twice); every target and round then moves the same
#                counts. Ignored when MESSAGES is set.
#   MESSAGES     "N100,N10K": the counts of 100 B and 10 KiB messages per run, e.g. 200000,20000
#   ROUNDS       rounds of all cases and targets, interleaved (default 3); the table shows medians
#                and the [min..max] of CPU per message
#   RUN_TIMEOUT  seconds one produce or consume may take before it counts as failed (default 60)
#   LINGER_MS    the producer's linger.ms (default 5)
#   SOCKMESH_BIN sockmesh binary (default target/release/sockmesh; NOT built here: a missing
#                binary, one without --protocol kafka, one that exits, does not listen, or fails
#                the first produce makes its row "unavailable: <reason>", the others still run)
#   SOCKMESH_ARGS extra arguments for `sockmesh run` (e.g. "--workers 2"), default none
#   SOCKMESH_TANSU tansu 0.6 binary (default /var/cache/sockmesh/tansu-0.6.0/bin/tansu)
#   PYTHON       python with confluent-kafka (default the repo's .venv/bin/python)
#   KEEP_TMP=1   keep the temp dir (logs of every process and client, the raw rows)
#
# What runs, all on 127.0.0.1 with free ports and a temp dir:
#   tansu broker  --storage-engine memory://tansu/, advertising its own address
#   tansu proxy   --origin-url the broker, advertising itself
#   sockmesh run --listen 127.0.0.1:SP --upstream the broker --protocol kafka --direction outbound
#                --label app=bench --policy FILE: egress kafka rules, one {role, topic} per topic
#                the run uses (produce for the produce topics, consume for the consume topics);
#                default logging (one access-log line per request, to a file), as users run it.
#                The broker advertises itself; Sockmesh rewrites Metadata to its own listener for
#                node N at SP+1+N (tansu's node id is 111: SP+112 is kept free too).
# Before the rows: Metadata through each proxy must name the proxy (else the clients would go
# around it), a first produce through each must succeed, and Sockmesh must refuse a produce to
# a topic outside its policy (TOPIC_AUTHORIZATION_FAILED).
#
# Per round, for each case (produce 100 B, produce 10 KiB, consume 100 B, consume 10 KiB) and
# target (direct, tansu-proxy, sockmesh), a fresh one-partition topic:
#   produce  confluent-kafka (librdkafka 2.16), acks=all, linger.ms, queue for the whole run; the
#            clock runs from the first send to the last delivery report; then the topic is read
#            back straight from the broker and its count and sha256 (over the values in order)
#            must equal what was sent
#   consume  the topic is first filled straight from the broker; assign(partition 0, offset 0),
#            fetch.wait.max.ms=1, fetch.queue.backoff.ms=10; the clock runs from assign() to the
#            last message; count, sha256 and the high watermark must match
# msgs/s and MB/s (10^6 bytes of values per second) over that window; CPU per message =
# utime+stime of the proxy process (all threads, /proc) over the window / messages, read in
# nanoseconds from /proc/PID/task/*/schedstat (see kafkabench.py); the broker's and the client's
# CPU per message are shown beside it. Results go to stdout and bench/kafka/results/latest.txt
# (raw rows: results/latest.jsonl).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/../lib.sh"
ROOT=$(cd "$HERE/../.." && pwd)
LIB="$HERE/kafkabench.py"
PY=${PYTHON:-$ROOT/.venv/bin/python}
TANSU=${SOCKMESH_TANSU:-${SOCKMESH_CACHE:-/var/cache/sockmesh}/tansu-0.6.0/bin/tansu}
DURATION=${DURATION:-2}
ROUNDS=${ROUNDS:-3}
MESSAGES=${MESSAGES:-}
RUN_TIMEOUT=${RUN_TIMEOUT:-60}
export LINGER_MS=${LINGER_MS:-5}
SOCKMESH_ARGS=${SOCKMESH_ARGS:-}
CMDLINE="$0 $*"
SIZES=(100 10240)

# ---------------------------------------------------------------- prerequisites
if [[ ! -x "$TANSU" ]]; then
    echo "tansu not found at $TANSU: run scripts/install-deps.sh (it builds tansu 0.6.0, about 15 min) or set SOCKMESH_TANSU" >&2
    exit 2
fi
if ! "$PY" -c 'import confluent_kafka' 2>/dev/null; then
    echo "$PY has no confluent-kafka: create the repo's venv (scripts/install-deps.sh) or set PYTHON" >&2
    exit 2
fi
for c in getconf timeout sha256sum; do
    command -v "$c" >/dev/null 2>&1 || { echo "missing: $c" >&2; exit 2; }
done
[[ "$DURATION" =~ ^[0-9]*\.?[0-9]+$ ]] || { echo "DURATION must be a number of seconds" >&2; exit 2; }
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "ROUNDS must be a positive integer" >&2; exit 2; }

T=$(mktemp -d /tmp/sockmesh-kafkabench.XXXXXX)
mkdir -p "$T/rows" "$T/logs"
PIDS=()
cleanup() {
    stop_pids "${PIDS[@]}"
    if [[ "${KEEP_TMP:-0}" == 1 ]]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

SM_UNAVAILABLE=""
BIN=${SOCKMESH_BIN:-$ROOT/target/release/sockmesh}
if [[ ! -e "$BIN" ]]; then
    SM_UNAVAILABLE="$BIN does not exist (this script does not build it: cargo build --release -p sockmesh)"
elif [[ ! -x "$BIN" ]]; then
    SM_UNAVAILABLE="$BIN is not executable"
fi

# wait_port PORT SECONDS PID: poll until PORT accepts a connection; fails if PID exits
wait_port() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        kill -0 "$3" 2>/dev/null || return 1
        (: <>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
# exited PID: "exited with status N" (reaps it), or "is running"
exited() {
    if kill -0 "$1" 2>/dev/null; then echo "is running"; return; fi
    local rc=0
    wait "$1" 2>/dev/null || rc=$?
    echo "exited with status $rc"
}
# logtail FILE: its first lines on one line, for a reason
logtail() { head -c 600 "$1" 2>/dev/null | head -4 | tr -s '[:space:]' ' '; }
# lastlog FILE: the last 4 lines on one line
lastlog() { tail -4 "$1" 2>/dev/null | tr -s '[:space:]' ' ' | cut -c1-600; }

mapfile -t PORTS < <(python3 "$LIB" ports 2)
BP=${PORTS[0]} TP=${PORTS[1]}

# ---------------------------------------------------------------- tansu broker and proxy
RUST_LOG=warn "$TANSU" broker --storage-engine memory://tansu/ \
    --listener-url "tcp://127.0.0.1:$BP" --advertised-listener-url "tcp://127.0.0.1:$BP" \
    </dev/null >"$T/broker.log" 2>&1 &
BR_PID=$!; PIDS+=("$BR_PID")
wait_port "$BP" 20 "$BR_PID" || { echo "tansu broker did not start ($(exited "$BR_PID")):" >&2; cat "$T/broker.log" >&2; exit 1; }
RUST_LOG=warn "$TANSU" proxy --listener-url "tcp://127.0.0.1:$TP" \
    --advertised-listener-url "tcp://127.0.0.1:$TP" --origin-url "tcp://127.0.0.1:$BP" \
    </dev/null >"$T/tansu-proxy.log" 2>&1 &
TP_PID=$!; PIDS+=("$TP_PID")
wait_port "$TP" 20 "$TP_PID" || { echo "tansu proxy did not start ($(exited "$TP_PID")):" >&2; cat "$T/tansu-proxy.log" >&2; exit 1; }

topic_create() {
    "$TANSU" topic create --broker "tcp://127.0.0.1:$BP" --partitions 1 "$1" >>"$T/topics.log" 2>&1
}
topic_delete() {
    "$TANSU" topic delete --broker "tcp://127.0.0.1:$BP" "$1" >>"$T/topics.log" 2>&1 || true
}
# load OP PORT TOPIC COUNT SIZE OUT [ARGS..]: one produce/consume run, its row to OUT, its client
# log beside it
load() {
    local op=$1 port=$2 topic=$3 count=$4 size=$5 out=$6
    shift 6
    timeout $((RUN_TIMEOUT + 60)) "$PY" "$LIB" "$op" "127.0.0.1:$port" "$topic" "$count" "$size" \
        --timeout "$RUN_TIMEOUT" "$@" >"$out" 2>"${out%.json}.err" || true
}

# Metadata straight from the broker: its node ids (Sockmesh's listener for node N is at SP+1+N).
"$PY" "$LIB" brokers "127.0.0.1:$BP" >"$T/brokers-direct.txt" 2>"$T/logs/brokers-direct.err" || {
    echo "no Metadata from the broker: $(cat "$T/brokers-direct.txt")" >&2; exit 1; }
grep -q " 127.0.0.1:$BP\$" "$T/brokers-direct.txt" || {
    echo "the broker advertises $(tr '\n' ' ' <"$T/brokers-direct.txt"), not 127.0.0.1:$BP" >&2; exit 1; }
MAXNODE=$(sort -n "$T/brokers-direct.txt" | tail -1 | cut -d' ' -f1)
# ... and through tansu proxy, which must name itself.
"$PY" "$LIB" brokers "127.0.0.1:$TP" >"$T/brokers-tansu.txt" 2>"$T/logs/brokers-tansu.err" || true
grep -q " 127.0.0.1:$TP\$" "$T/brokers-tansu.txt" || {
    echo "Metadata through tansu proxy names $(tr '\n' ' ' <"$T/brokers-tansu.txt"), not 127.0.0.1:$TP" >&2; exit 1; }

# ---------------------------------------------------------------- message counts
if [[ -n "$MESSAGES" ]]; then
    [[ "$MESSAGES" =~ ^[1-9][0-9]*,[1-9][0-9]*$ ]] || { echo "MESSAGES must be N100,N10K (e.g. 200000,20000)" >&2; exit 2; }
    COUNT[100]=${MESSAGES%,*}
    COUNT[10240]=${MESSAGES#*,}
    SIZED="MESSAGES=$MESSAGES"
else
    # Calibration: one direct produce per size; the counts make a direct run last about DURATION.
    CAL[100]="200000 20000 3000000" CAL[10240]="20000 2000 100000"
    for size in "${SIZES[@]}"; do
        read -r n lo hi <<<"${CAL[$size]}"
        topic_create "bench-calibrate-$size"
        load produce "$BP" "bench-calibrate-$size" "$n" "$size" "$T/rows/calibrate-$size.json"
        if ! msg=$(python3 "$LIB" check "$T/rows/calibrate-$size.json"); then
            echo "calibration produce of $n x $size B to the broker failed: $msg" >&2; exit 1
        fi
        COUNT[$size]=$(python3 "$LIB" count "$DURATION" "$T/rows/calibrate-$size.json" "$lo" "$hi")
        topic_delete "bench-calibrate-$size"
        echo "calibration, $size B direct: $msg -> ${COUNT[$size]} messages per run" >&2
    done
    SIZED="DURATION=$DURATION (calibrated: ${COUNT[100]} x 100 B, ${COUNT[10240]} x 10 KiB)"
fi

tag() { if (($1 == 10240)); then echo 10kib; else echo "${1}b"; fi; }
topic_name() { echo "bench-$1-$2-$(tag "$3")-r$4"; } # TARGET OP SIZE ROUND

# ---------------------------------------------------------------- sockmesh
rules=("produce:bench-sockmesh-probe")
for ((r = 1; r <= ROUNDS; r++)); do
    for op in produce consume; do
        for size in "${SIZES[@]}"; do rules+=("$op:$(topic_name sockmesh "$op" "$size" "$r")"); done
    done
done
python3 "$LIB" policy "$BP" app=bench "${rules[@]}" >"$T/policy.yaml"
topic_create bench-sockmesh-probe
topic_create bench-denied
SP=$(python3 "$LIB" sidecarport $((1 + MAXNODE)) "$BP" "$TP")
SM_BROKER_PORT=$((SP + 1 + MAXNODE))
SM_PID=""
sm_unavailable() { # REASON [tail]: the row is out, the process stopped, its log's head (or tail) attached
    if [[ "${2:-}" == tail ]]; then
        SM_UNAVAILABLE="$1; its log ends: $(lastlog "$T/sockmesh.log")"
    else
        SM_UNAVAILABLE="$1; its log: $(logtail "$T/sockmesh.log")"
    fi
    [[ -n "$SM_PID" ]] && kill -TERM "$SM_PID" 2>/dev/null || true
    SM_PID=""
}
if [[ -z "$SM_UNAVAILABLE" ]]; then
    # shellcheck disable=SC2086 # SOCKMESH_ARGS is a list of words
    "$BIN" run --listen "127.0.0.1:$SP" --upstream "127.0.0.1:$BP" --protocol kafka \
        --direction outbound --label app=bench --policy "$T/policy.yaml" --admin 127.0.0.1:0 $SOCKMESH_ARGS \
        </dev/null >"$T/sockmesh.log" 2>&1 &
    SM_PID=$!; PIDS+=("$SM_PID")
    if ! wait_port "$SP" 5 "$SM_PID"; then
        if kill -0 "$SM_PID" 2>/dev/null; then
            sm_unavailable "not listening on 127.0.0.1:$SP within 5 s"
        else
            sm_unavailable "sockmesh $(exited "$SM_PID") at start"
        fi
    fi
fi
if [[ -n "$SM_PID" ]]; then
    # Metadata through the sidecar must name the sidecar (SP+1+node), not the broker.
    if ! "$PY" "$LIB" brokers "127.0.0.1:$SP" >"$T/brokers-sockmesh.txt" 2>"$T/logs/brokers-sockmesh.err"; then
        sm_unavailable "no Metadata through it: $(tr '\n' ' ' <"$T/brokers-sockmesh.txt")"
    elif ! grep -q " 127.0.0.1:$SM_BROKER_PORT\$" "$T/brokers-sockmesh.txt"; then
        sm_unavailable "Metadata through it names $(tr '\n' ' ' <"$T/brokers-sockmesh.txt"| sed 's/ $//'), not its broker listener 127.0.0.1:$SM_BROKER_PORT (listen port + 1 + node id $MAXNODE): the clients would go around it"
    fi
fi
if [[ -n "$SM_PID" ]]; then
    load produce "$SP" bench-sockmesh-probe 100 100 "$T/rows/probe-sockmesh.json" --timeout 15
    if ! msg=$(python3 "$LIB" check "$T/rows/probe-sockmesh.json"); then
        if kill -0 "$SM_PID" 2>/dev/null; then
            sm_unavailable "the first produce (100 x 100 B to bench-sockmesh-probe) failed: $msg"
        else
            sm_unavailable "sockmesh $(exited "$SM_PID") during the first produce"
        fi
    fi
fi
if [[ -n "$SM_PID" ]]; then
    # The topic rule is in force: a topic outside the policy is refused by the sidecar.
    load produce "$SP" bench-denied 1 100 "$T/rows/denied-sockmesh.json" --timeout 10
    if msg=$(python3 "$LIB" check "$T/rows/denied-sockmesh.json"); then
        sm_unavailable "policy not in force: a produce to bench-denied (not in the policy) succeeded: $msg"
    elif ! grep -q AUTHORIZATION_FAILED "$T/rows/denied-sockmesh.json"; then
        sm_unavailable "a produce to bench-denied (not in the policy) failed without an authorization error: $msg"
    fi
fi
topic_create bench-tansu-probe
load produce "$TP" bench-tansu-probe 100 100 "$T/rows/probe-tansu.json" --timeout 15
msg=$(python3 "$LIB" check "$T/rows/probe-tansu.json") || { echo "a first produce through tansu proxy failed: $msg" >&2; exit 1; }
if [[ -n "$SM_UNAVAILABLE" ]]; then echo "sockmesh row unavailable: $SM_UNAVAILABLE" >&2; fi

# ---------------------------------------------------------------- rows
ROWS="$T/rows.jsonl"; : >"$ROWS"
# row TARGET PORT PID OP SIZE: one measured run on a fresh topic, checked, appended to ROWS
row() {
    local target=$1 port=$2 pid=$3 op=$4 size=$5
    local n=${COUNT[$size]} topic out msg
    topic=$(topic_name "$target" "$op" "$size" "$ROUND")
    out="$T/rows/$topic.json"
    topic_create "$topic" || { echo "tansu topic create $topic failed: $(lastlog "$T/topics.log")" >&2; exit 1; }
    if [[ $op == consume ]]; then
        load produce "$BP" "$topic" "$n" "$size" "$T/rows/$topic.fill.json"
        msg=$(python3 "$LIB" check "$T/rows/$topic.fill.json") || {
            echo "filling $topic straight from the broker failed: $msg" >&2; exit 1; }
    fi
    local cpu=(--cpu "broker=$BR_PID")
    [[ $target != direct ]] && cpu+=(--cpu "proxy=$pid")
    sleep 0.3
    load "$op" "$port" "$topic" "$n" "$size" "$out" "${cpu[@]}" \
        --tag "target=$target" --tag "round=$ROUND"
    if [[ $op == produce ]]; then
        load consume "$BP" "$topic" "$n" "$size" "$T/rows/$topic.verify.json"
        python3 "$LIB" merge "$out" "$T/rows/$topic.verify.json" >"$out.merged" && mv "$out.merged" "$out"
    fi
    topic_delete "$topic"
    msg=$(python3 "$LIB" check "$out") || true
    echo "  round $ROUND: $op $(tag "$size"): $target: $msg" >&2
    if [[ $target == sockmesh ]] && ! kill -0 "$pid" 2>/dev/null; then
        sm_unavailable "sockmesh $(exited "$pid") during round $ROUND, $op $(tag "$size")" tail
        echo "sockmesh row unavailable: $SM_UNAVAILABLE" >&2
    fi
    cat "$out" >>"$ROWS"
}

START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
NT=2; [[ -n "$SM_PID" ]] && NT=3
echo "running $ROUNDS round(s) of 4 cases x $NT targets (${COUNT[100]} x 100 B, ${COUNT[10240]} x 10 KiB per run) ..." >&2
# Each round starts with the next target (direct, tansu-proxy, sockmesh; then tansu-proxy,
# sockmesh, direct; ...) so that no target always runs first after a fill.
for ROUND in $(seq 1 "$ROUNDS"); do
    for op in produce consume; do
        for size in "${SIZES[@]}"; do
            for ((k = 0; k < 3; k++)); do
                case $(((ROUND - 1 + k) % 3)) in
                0) row direct "$BP" "$BR_PID" "$op" "$size" ;;
                1) row tansu-proxy "$TP" "$TP_PID" "$op" "$size" ;;
                2) if [[ -n "$SM_PID" ]]; then row sockmesh "$SP" "$SM_PID" "$op" "$size"; fi ;;
                esac
            done
        done
    done
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
if [[ -z "$SM_PID" ]]; then
    python3 -c 'import json,sys; print(json.dumps({"target": "sockmesh", "unavailable": sys.argv[1]}))' \
        "$SM_UNAVAILABLE" >>"$ROWS"
fi
for p in "$BR_PID" "$TP_PID"; do
    kill -0 "$p" 2>/dev/null || echo "warning: process $p $(exited "$p") during the run" >&2
done

# ---------------------------------------------------------------- report
mkdir -p "$HERE/results"
cp "$ROWS" "$HERE/results/latest.jsonl"
{
    echo "# bench/kafka: $START, $(nproc) CPUs, $(uname -r), checkout at git $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$ROOT" && git diff --quiet HEAD -- 2>/dev/null || echo ' (dirty)')"
    echo "# command: ROUNDS=$ROUNDS $SIZED RUN_TIMEOUT=$RUN_TIMEOUT LINGER_MS=$LINGER_MS SOCKMESH_ARGS=\"$SOCKMESH_ARGS\" $CMDLINE"
    echo "# $("$TANSU" --version 2>/dev/null | head -1 || echo tansu) ($TANSU), memory storage; confluent-kafka $("$PY" -c 'import confluent_kafka as c, importlib.metadata as m; print("%s, librdkafka %s" % (m.version("confluent-kafka"), c.libversion()[0]))')"
    if [[ -x "$BIN" ]]; then
        echo "# sockmesh binary: $BIN (sha256 $(sha256sum "$BIN" | cut -c1-12), built $(date -u -r "$BIN" +%Y-%m-%dT%H:%M:%SZ))"
    else
        echo "# sockmesh binary: $BIN (missing)"
    fi
    echo "# loadavg before/after: $LOAD0 / $LOAD1"
    echo "# tansu broker (node $MAXNODE) on one port; tansu proxy in front of it; sockmesh --protocol kafka --direction outbound${SOCKMESH_ARGS:+ $SOCKMESH_ARGS}, ${#rules[@]} egress kafka rules {role, topic}, default logging (to a file: $(cat "$T/sockmesh.log" 2>/dev/null | wc -l) lines)"
    echo "# produce: acks=all, linger.ms=$LINGER_MS, first send to last delivery report, then read back from the broker; consume: assign(p0, offset 0) to last message, fetch.wait.max.ms=1, fetch.queue.backoff.ms=10, of a topic filled straight from the broker"
    echo "# every run: a fresh topic, one partition; count and sha256 over the values in order checked; MB = 10^6 bytes of values"
    echo "# CPU per message: utime+stime of the process over the window (all threads; ns from /proc/PID/task/*/schedstat), / messages; broker and client (python + librdkafka) beside it"
    echo
    python3 "$LIB" table "$ROWS"
    echo "reference, measured before: tansu proxy at 0.97 / 0.58 (produce 100 B / 10 KiB) and 0.95 / 0.43 (consume) of direct, 0.09 / 9.0 / 0.21 / 20 us of CPU per message"
} | tee "$HERE/results/latest.txt"
