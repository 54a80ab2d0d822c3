#!/usr/bin/env bash
# HTTP data-path benchmark: nginx direct vs. through Sockmesh, HAProxy and nginx-as-proxy.
#
#   bench/http/run.sh                 # DURATION=10 s per row
#   DURATION=5 bench/http/run.sh      # quicker
#
# Environment:
#   DURATION     seconds per row (default 10)
#   ROUNDS       rounds of all rows, interleaved (default 3); the table shows per-row medians and
#                the spread of CPU per request, so that one noisy row cannot decide a target
#   SOCKMESH_BIN sockmesh binary (default target/release/sockmesh, built if missing)
#   RULES        HTTP rules in the policy in force during the load rows (default 100)
#   RSS_RULES    rules loaded for the idle-RSS measurement (default 1000)
#   CONNS        connections per load generator (default 50)
#   KEEP_TMP=1   keep the temp dir (configs, logs, raw tool output)
#   LOGGED=0     skip the rows with access logs on ("+log": each proxy's default access log to a
#                file, Sockmesh at its default level `info` with stdout to a file; "+json": the
#                same in Sockmesh's JSON format, wrk only)
#   SPLICE=0     skip the "sockmesh+splice" rows (run by default as root with cgroup v2: the
#                load generator and a third Sockmesh share a cgroup, and the client -> Sockmesh
#                hop is spliced by its eBPF programs; Sockmesh -> origin stays plain TCP, as the
#                network side of a real sidecar would)
#
# Everything runs on 127.0.0.1 with free ports and a temp dir; /etc/nginx is never touched.
# Each proxy runs single-threaded with upstream keep-alive (HTTP/1.1 to the origin).
# CPU per request = (utime+stime delta from /proc/PID/stat over the row) / completed requests.
# Results go to stdout and bench/http/results/latest.txt.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/../lib.sh"
ROOT=$(cd "$HERE/../.." && pwd)
LIB="$HERE/benchlib.py"
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
RULES=${RULES:-100}
RSS_RULES=${RSS_RULES:-1000}
CONNS=${CONNS:-50}
PATH_REQ=/bench
CMDLINE="$0 $*"

# ---------------------------------------------------------------- prerequisites
missing=()
for c in nginx haproxy wrk h2load curl python3 getconf timeout; do
    command -v "$c" >/dev/null 2>&1 || missing+=("$c")
done
if ((${#missing[@]})); then
    echo "missing: ${missing[*]}" >&2
    echo "install with: apt-get install -y nginx-light haproxy wrk nghttp2-client curl python3 coreutils" >&2
    exit 2
fi
CLK_TCK=$(getconf CLK_TCK)

if [[ -n "${SOCKMESH_BIN:-}" ]]; then
    BIN=$SOCKMESH_BIN
    [[ -x "$BIN" ]] || { echo "SOCKMESH_BIN=$BIN is not executable" >&2; exit 2; }
else
    BIN="$ROOT/target/release/sockmesh"
    if [[ ! -x "$BIN" ]]; then
        echo "building $BIN (cargo build --release -p sockmesh) ..." >&2
        (cd "$ROOT" && cargo build --release -p sockmesh) >&2
    fi
fi

# ---------------------------------------------------------------- processes and cleanup
T=$(mktemp -d /tmp/sockmesh-bench.XXXXXX)
PIDS=()
cleanup() {
    stop_pids "${PIDS[@]}"
    if [[ -n "${SPLICE_CG:-}" ]]; then rmdir "$SPLICE_CG" 2>/dev/null || true; fi
    if [[ "${KEEP_TMP:-0}" == 1 ]]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mapfile -t PORTS < <(python3 "$LIB" freeports 22)
O_H1=${PORTS[0]} O_H2=${PORTS[1]}
SM_P=${PORTS[2]} SM_A=${PORTS[3]}
SM2_P=${PORTS[4]} SM2_A=${PORTS[5]}
HA_H1=${PORTS[6]} HA_H2=${PORTS[7]}
NP_H1=${PORTS[8]} NP_H2=${PORTS[9]}
SMH2_P=${PORTS[10]} SMH2_A=${PORTS[11]}
SMB_P=${PORTS[12]} SMB_A=${PORTS[13]}
SML_P=${PORTS[14]} SML_A=${PORTS[15]}
SMJ_P=${PORTS[16]} SMJ_A=${PORTS[17]}
HAL_H1=${PORTS[18]} HAL_H2=${PORTS[19]}
NPL_H1=${PORTS[20]} NPL_H2=${PORTS[21]}
LOGGED=${LOGGED:-1}

# http_code URL [curl args...] -> prints the status code (000 if no answer)
http_code() { local u=$1; shift; curl -s -o /dev/null -m 2 -w '%{http_code}' "$@" "$u" || true; }

# wait_code URL CODE [curl args...]: poll up to 15 s
wait_code() {
    local u=$1 want=$2; shift 2
    local got
    for _ in $(seq 1 150); do
        got=$(http_code "$u" "$@")
        [[ "$got" == "$want" ]] && return 0
        sleep 0.1
    done
    echo "timed out waiting for $u to answer $want (last: $got)" >&2
    return 1
}

check() { # check NAME URL WANT [curl args...]
    local name=$1 u=$2 want=$3; shift 3
    local got; got=$(http_code "$u" "$@")
    if [[ "$got" != "$want" ]]; then
        echo "sanity check failed: $name $u -> $got, expected $want" >&2
        exit 1
    fi
}

children() { pgrep -P "$1" | tr '\n' ' '; }

# ---------------------------------------------------------------- origin (nginx, 1 worker)
mkdir -p "$T/origin" "$T/nproxy" "$T/nproxylog"
nginx_common() { # temp paths inside the prefix so nothing under /var/lib/nginx is needed
    cat <<EOF
worker_processes 1;
daemon off;
pid $1/nginx.pid;
events { worker_connections 4096; }
EOF
}
nginx_http_common() {
    cat <<EOF
    access_log off;
    client_body_temp_path $1/body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    sendfile off;
EOF
}
{
    nginx_common "$T/origin"
    echo "http {"
    nginx_http_common "$T/origin"
    cat <<EOF
    default_type text/plain;
    server {
        listen 127.0.0.1:$O_H1;
        location / { return 200 "ok\n"; }
    }
    server {
        listen 127.0.0.1:$O_H2 http2;
        location / { return 200 "ok\n"; }
    }
}
EOF
} >"$T/origin.conf"
nginx -p "$T/origin" -c "$T/origin.conf" -e "$T/origin/error.log" &
ORIGIN=$!; PIDS+=("$ORIGIN")
wait_code "http://127.0.0.1:$O_H1$PATH_REQ" 200
wait_code "http://127.0.0.1:$O_H2$PATH_REQ" 200 --http2-prior-knowledge
ORIGIN_PIDS="$ORIGIN $(children "$ORIGIN")"

# ---------------------------------------------------------------- policies
# In a directory of their own, as a deployment keeps them; the load rows write h2load's
# per-request logs into $T. (Until Sockmesh's watcher set its own inotify masks, each of those
# writes woke it: see RESULTS.md, 18:06.)
POL="$T/policies"; mkdir -p "$POL"
python3 "$LIB" policy "$RULES" bench "$O_H1" "$O_H2" >"$POL/policy-$RULES.yaml"
python3 "$LIB" policy "$RSS_RULES" bench "$O_H1" "$O_H2" >"$POL/policy-$RSS_RULES.yaml"
python3 "$LIB" policy 1 bench "$O_H1" "$O_H2" >"$POL/policy-1.yaml"

HELP=$("$BIN" run --help)
UPSTREAM_PROTO_FLAG=0
grep -q -- '--upstream-protocol' <<<"$HELP" && UPSTREAM_PROTO_FLAG=1

# start_sockmesh NAME LISTEN ADMIN UPSTREAM POLICY [extra args...] -> sets SM_LAST_PID
# Log level warn (no access log) unless SM_LEVEL says otherwise; stdout and stderr to a file.
start_sockmesh() {
    local name=$1 listen=$2 admin=$3 up=$4 pol=$5; shift 5
    "$BIN" run --listen "127.0.0.1:$listen" --upstream "127.0.0.1:$up" --policy "$pol" \
        --workers 1 --admin "127.0.0.1:$admin" --log-level "${SM_LEVEL:-warn}" --label app=bench "$@" \
        >"$T/$name.log" 2>&1 &
    SM_LAST_PID=$!; PIDS+=("$SM_LAST_PID")
    if ! wait_code "http://127.0.0.1:$admin/ready" 200; then
        cat "$T/$name.log" >&2; exit 1
    fi
}

# ---------------------------------------------------------------- idle RSS (1 and RSS_RULES rules)
declare -A RSS RSS1
for n in 1 "$RSS_RULES"; do
    start_sockmesh "sm-rss-$n" "$SM2_P" "$SM2_A" "$O_H1" "$POL/policy-$n.yaml"
    sleep 1 # idle: /ready answered 200, no request served yet
    RSS[$n]=$(python3 "$LIB" rss "$SM_LAST_PID")
    check "sockmesh($n rules)" "http://127.0.0.1:$SM2_P$PATH_REQ" 200
    sleep 0.5 # after one allowed request (lazy per-thread caches, e.g. regex, now allocated)
    RSS1[$n]=$(python3 "$LIB" rss "$SM_LAST_PID")
    kill -TERM "$SM_LAST_PID"; wait "$SM_LAST_PID" 2>/dev/null || true
done

# ---------------------------------------------------------------- proxies
# Sockmesh: RULES-rule policy, protocol detection on one port (h1 and h2c clients).
if ((UPSTREAM_PROTO_FLAG)); then
    start_sockmesh sm "$SM_P" "$SM_A" "$O_H1" "$POL/policy-$RULES.yaml" --upstream-protocol http1
    SM_PID=$SM_LAST_PID; SMH2_PID=$SM_PID; SMH2_P=$SM_P
    SM_NOTE="h2c rows: --upstream-protocol http1 (HTTP/1.1 keep-alive to nginx, like the others)"
else
    # No way to choose the upstream version: it follows the client's, so the h2c rows use a
    # second instance whose upstream is nginx's h2c port.
    start_sockmesh sm "$SM_P" "$SM_A" "$O_H1" "$POL/policy-$RULES.yaml"
    SM_PID=$SM_LAST_PID
    start_sockmesh smh2 "$SMH2_P" "$SMH2_A" "$O_H2" "$POL/policy-$RULES.yaml"
    SMH2_PID=$SM_LAST_PID
    SM_NOTE="h2c rows: no --upstream-protocol flag, so h2c to nginx's h2c port"
fi
RSS_SM_IDLE=$(python3 "$LIB" rss "$SM_PID")

# Sockmesh with its default logging: level info, one access-log line per request, human format
# (and a JSON twin), stdout to a file, as a container runtime's log file would take it.
SML_PID="" SMJ_PID=""
if [[ "$LOGGED" == 1 ]]; then
    UP1=(); ((UPSTREAM_PROTO_FLAG)) && UP1=(--upstream-protocol http1)
    SM_LEVEL=info start_sockmesh sm-log "$SML_P" "$SML_A" "$O_H1" "$POL/policy-$RULES.yaml" "${UP1[@]}"
    SML_PID=$SM_LAST_PID
    SM_LEVEL=info start_sockmesh sm-json "$SMJ_P" "$SMJ_A" "$O_H1" "$POL/policy-$RULES.yaml" "${UP1[@]}" \
        --log-format json
    SMJ_PID=$SM_LAST_PID
fi

# Sockmesh with the local hop spliced: it and the load generator run in a cgroup of their own.
# An array, not a function: run in the background, `$!` is then the program's own PID.
IN_CGROUP=(bash -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' _)
SPLICE_NOTE="sockmesh+splice rows: skipped"
SMB_PID=""
if [[ "${SPLICE:-1}" == 1 ]]; then
    CG_ROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
    if [[ $EUID -ne 0 || -z "$CG_ROOT" ]]; then
        SPLICE_NOTE="sockmesh+splice rows: skipped (need root and a cgroup v2 mount)"
    else
        SPLICE_CG="$CG_ROOT/sockmesh-bench-$$"
        mkdir -p "$SPLICE_CG"
        "${IN_CGROUP[@]}" "$SPLICE_CG" "$BIN" run --listen "127.0.0.1:$SMB_P" --upstream "127.0.0.1:$O_H1" \
            --policy "$POL/policy-$RULES.yaml" --workers 1 --admin "127.0.0.1:$SMB_A" \
            --log-level info --label app=bench --bpf-cgroup "$SPLICE_CG" \
            --bpf-pin-path "/sys/fs/bpf/sockmesh-bench-$$" --upstream-protocol http1 \
            >"$T/sm-bpf.log" 2>&1 &
        SMB_PID=$!; PIDS+=("$SMB_PID")
        wait_code "http://127.0.0.1:$SMB_A/ready" 200 || { cat "$T/sm-bpf.log" >&2; exit 1; }
        if grep -q "acceleration on" "$T/sm-bpf.log"; then
            SPLICE_NOTE="sockmesh+splice rows: client -> sockmesh hop spliced (sockops + sk_msg), sockmesh -> origin plain TCP; access log off via /logging"
            curl -s -o /dev/null -X POST "http://127.0.0.1:$SMB_A/logging?level=warn"
        else
            SPLICE_NOTE="sockmesh+splice rows: skipped ($(grep -o 'acceleration off: .*' "$T/sm-bpf.log" | head -1))"
            kill -TERM "$SMB_PID"; SMB_PID=""
        fi
    fi
fi

cat >"$T/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 4000
defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend fe
    bind 127.0.0.1:$HA_H1
    bind 127.0.0.1:$HA_H2 proto h2
    default_backend be
backend be
    server origin 127.0.0.1:$O_H1
EOF
haproxy -db -f "$T/haproxy.cfg" >"$T/haproxy.log" 2>&1 &
HA_PID=$!; PIDS+=("$HA_PID")

# HAProxy with its HTTP access log (`option httplog`) to stdout, and stdout to a file.
HAL_PID=""
if [[ "$LOGGED" == 1 ]]; then
    sed -e "s/^    nbthread 1$/    nbthread 1\n    log stdout format raw local0/" \
        -e "s/^    mode http$/    mode http\n    log global\n    option httplog/" \
        -e "s/:$HA_H1\$/:$HAL_H1/" -e "s/:$HA_H2 proto h2\$/:$HAL_H2 proto h2/" \
        "$T/haproxy.cfg" >"$T/haproxy-log.cfg"
    haproxy -db -f "$T/haproxy-log.cfg" >"$T/haproxy-access.log" 2>&1 &
    HAL_PID=$!; PIDS+=("$HAL_PID")
fi

{
    nginx_common "$T/nproxy"
    echo "http {"
    nginx_http_common "$T/nproxy"
    cat <<EOF
    upstream origin {
        server 127.0.0.1:$O_H1;
        keepalive 1024;
        keepalive_requests 10000000;
        keepalive_timeout 300s;
    }
    server {
        listen 127.0.0.1:$NP_H1;
        listen 127.0.0.1:$NP_H2 http2;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
} >"$T/nproxy.conf"
nginx -p "$T/nproxy" -c "$T/nproxy.conf" -e "$T/nproxy/error.log" &
NP=$!; PIDS+=("$NP")

# nginx-proxy with its default access log (`combined` format, one write per request) to a file:
# a server-level access_log, which overrides the http-level `off`.
NPL=""
if [[ "$LOGGED" == 1 ]]; then
    sed -e "s|$T/nproxy|$T/nproxylog|g" -e "s/:$NP_H1;/:$NPL_H1;/" -e "s/:$NP_H2 http2;/:$NPL_H2 http2;/" \
        -e "s|^        location / {$|        access_log $T/nproxylog/access.log;\n        location / {|" \
        "$T/nproxy.conf" >"$T/nproxylog.conf"
    nginx -p "$T/nproxylog" -c "$T/nproxylog.conf" -e "$T/nproxylog/error.log" &
    NPL=$!; PIDS+=("$NPL")
fi

wait_code "http://127.0.0.1:$HA_H1$PATH_REQ" 200
wait_code "http://127.0.0.1:$NP_H1$PATH_REQ" 200
NP_PIDS="$NP $(children "$NP")"
if [[ "$LOGGED" == 1 ]]; then
    wait_code "http://127.0.0.1:$HAL_H1$PATH_REQ" 200
    wait_code "http://127.0.0.1:$NPL_H1$PATH_REQ" 200
    NPL_PIDS="$NPL $(children "$NPL")"
fi

# Sanity: every row's URL answers 200 over its protocol; the policy is really enforced.
H2=(--http2-prior-knowledge)
check direct-h1 "http://127.0.0.1:$O_H1$PATH_REQ" 200
check direct-h2 "http://127.0.0.1:$O_H2$PATH_REQ" 200 "${H2[@]}"
check sockmesh-h1 "http://127.0.0.1:$SM_P$PATH_REQ" 200
check sockmesh-h2 "http://127.0.0.1:$SMH2_P$PATH_REQ" 200 "${H2[@]}"
check sockmesh-deny "http://127.0.0.1:$SM_P/not-allowed" 403
check sockmesh-deny-h2 "http://127.0.0.1:$SMH2_P/not-allowed" 403 "${H2[@]}"
check haproxy-h1 "http://127.0.0.1:$HA_H1$PATH_REQ" 200
check haproxy-h2 "http://127.0.0.1:$HA_H2$PATH_REQ" 200 "${H2[@]}"
check nginx-proxy-h1 "http://127.0.0.1:$NP_H1$PATH_REQ" 200
check nginx-proxy-h2 "http://127.0.0.1:$NP_H2$PATH_REQ" 200 "${H2[@]}"
if [[ "$LOGGED" == 1 ]]; then
    check sockmesh-log-h1 "http://127.0.0.1:$SML_P$PATH_REQ" 200
    check sockmesh-log-h2 "http://127.0.0.1:$SML_P$PATH_REQ" 200 "${H2[@]}"
    check sockmesh-json-h1 "http://127.0.0.1:$SMJ_P$PATH_REQ" 200
    check haproxy-log-h1 "http://127.0.0.1:$HAL_H1$PATH_REQ" 200
    check haproxy-log-h2 "http://127.0.0.1:$HAL_H2$PATH_REQ" 200 "${H2[@]}"
    check nginx-proxy-log-h1 "http://127.0.0.1:$NPL_H1$PATH_REQ" 200
    check nginx-proxy-log-h2 "http://127.0.0.1:$NPL_H2$PATH_REQ" 200 "${H2[@]}"
    sleep 0.5 # Sockmesh writes its lines in batches, within ~5 ms
    for f in "$T/sm-log.log:access: " "$T/sm-json.log:\"target\":\"access\"" \
        "$T/haproxy-access.log:GET $PATH_REQ" "$T/nproxylog/access.log:GET $PATH_REQ"; do
        if ! grep -q -- "${f#*:}" "${f%%:*}"; then
            echo "sanity check failed: no access-log line in ${f%%:*}" >&2
            exit 1
        fi
    done
fi
if [[ -n "$SMB_PID" ]]; then
    check sockmesh-splice-h1 "http://127.0.0.1:$SMB_P$PATH_REQ" 200
    check sockmesh-splice-h2 "http://127.0.0.1:$SMB_P$PATH_REQ" 200 "${H2[@]}"
fi

# ---------------------------------------------------------------- load rows
ROWS="$T/rows.tsv"; : >"$ROWS"
# row TARGET TOOL PORT "PROXY_PIDS" [CGROUP]: the load generator runs in CGROUP when given.
row() {
    local target=$1 tool=$2 port=$3 ppids=$4 cg=${5:-}
    local out="$T/$target-$tool.out" log="$T/$target-$tool.log" parsed
    local run=(); [[ -n "$cg" ]] && run=("${IN_CGROUP[@]}" "$cg")
    local url="http://127.0.0.1:$port$PATH_REQ"
    sleep 1
    local pu0 ps0 pu1 ps1 o0 o1 x
    read -r pu0 ps0 < <(python3 "$LIB" ticks $ppids)
    read -r o0 x < <(python3 "$LIB" ticks $ORIGIN_PIDS); o0=$((o0 + x))
    case $tool in
    wrk)
        "${run[@]}" timeout $((DURATION + 30)) wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$url" >"$out" 2>&1 ;;
    h2load-m1 | h2load-m10)
        "${run[@]}" timeout $((DURATION + 30)) h2load -t1 -c"$CONNS" -m"${tool#h2load-m}" -D "$DURATION" \
            --log-file="$log" "$url" >"$out" 2>&1 ;;
    esac
    read -r pu1 ps1 < <(python3 "$LIB" ticks $ppids)
    read -r o1 x < <(python3 "$LIB" ticks $ORIGIN_PIDS); o1=$((o1 + x))
    if [[ $tool == wrk ]]; then
        parsed=$(python3 "$LIB" wrk "$out")
    else
        parsed=$(python3 "$LIB" h2load "$out" "$log")
        rm -f "$log"
    fi
    read -r rps total p50 p99 bad <<<"$parsed"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$tool" "$rps" "$total" "$p50" \
        "$p99" "$bad" $((pu1 - pu0)) $((ps1 - ps0)) $((o1 - o0)) >>"$ROWS"
    echo "  round $ROUND: $target $tool: $rps req/s" >&2
}

START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
NROWS=12; [[ -n "$SMB_PID" ]] && NROWS=15
[[ "$LOGGED" == 1 ]] && NROWS=$((NROWS + 10))
echo "running $ROUNDS rounds of $NROWS rows of ${DURATION}s ..." >&2
for ROUND in $(seq 1 "$ROUNDS"); do
for tool in wrk h2load-m1 h2load-m10; do
    if [[ $tool == wrk ]]; then
        row direct "$tool" "$O_H1" "$ORIGIN_PIDS"
        row sockmesh "$tool" "$SM_P" "$SM_PID"
        [[ -n "$SML_PID" ]] && row sockmesh+log "$tool" "$SML_P" "$SML_PID"
        [[ -n "$SMJ_PID" ]] && row sockmesh+json "$tool" "$SMJ_P" "$SMJ_PID"
        [[ -n "$SMB_PID" ]] && row sockmesh+splice "$tool" "$SMB_P" "$SMB_PID" "$SPLICE_CG"
        row haproxy "$tool" "$HA_H1" "$HA_PID"
        [[ -n "$HAL_PID" ]] && row haproxy+log "$tool" "$HAL_H1" "$HAL_PID"
        row nginx-proxy "$tool" "$NP_H1" "$NP_PIDS"
        [[ -n "$NPL" ]] && row nginx-proxy+log "$tool" "$NPL_H1" "$NPL_PIDS"
    else
        row direct "$tool" "$O_H2" "$ORIGIN_PIDS"
        row sockmesh "$tool" "$SMH2_P" "$SMH2_PID"
        [[ -n "$SML_PID" ]] && row sockmesh+log "$tool" "$SML_P" "$SML_PID"
        [[ -n "$SMB_PID" ]] && row sockmesh+splice "$tool" "$SMB_P" "$SMB_PID" "$SPLICE_CG"
        row haproxy "$tool" "$HA_H2" "$HA_PID"
        [[ -n "$HAL_PID" ]] && row haproxy+log "$tool" "$HAL_H2" "$HAL_PID"
        row nginx-proxy "$tool" "$NP_H2" "$NP_PIDS"
        [[ -n "$NPL" ]] && row nginx-proxy+log "$tool" "$NPL_H2" "$NPL_PIDS"
    fi
done
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
RSS_SM_AFTER=$(python3 "$LIB" rss "$SM_PID")
rss_sum() { local t=0 p r; for p in "$@"; do read -r r _ < <(python3 "$LIB" rss "$p"); t=$((t + r)); done; echo "$t"; }
RSS_HA_AFTER=$(rss_sum "$HA_PID")
RSS_NP_AFTER=$(rss_sum $NP_PIDS)

# ---------------------------------------------------------------- report
kib_mib() { awk -v k="$1" 'BEGIN { printf "%.2f MiB", k / 1024 }'; }
read -r rss1 _ <<<"${RSS[1]}"
read -r rssN _ <<<"${RSS[$RSS_RULES]}"
read -r rssI _ <<<"$RSS_SM_IDLE"
read -r rssA hwmA <<<"$RSS_SM_AFTER"
mkdir -p "$HERE/results"
{
    echo "# bench/http: $START, $(nproc) CPUs, $(uname -r), checkout at git $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$ROOT" && git diff --quiet HEAD -- 2>/dev/null || echo ' (dirty)')"
    echo "# command: DURATION=$DURATION ROUNDS=$ROUNDS RULES=$RULES RSS_RULES=$RSS_RULES CONNS=$CONNS $CMDLINE"
    echo "# $(nginx -v 2>&1 | sed 's/.*: //'), $(haproxy -v | head -1 | cut -d' ' -f1-3), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), $(h2load --version | head -1)"
    echo "# sockmesh binary: $BIN (sha256 $(sha256sum "$BIN" | cut -c1-12), built $(date -u -r "$BIN" +%Y-%m-%dT%H:%M:%SZ))"
    # A stale proxy/link-order.txt (code changed since scripts/link-order.py) shows in idle RSS.
    ORDER="$ROOT/proxy/link-order.txt"
    echo "# link order: $(nm --defined-only "$BIN" 2>/dev/null | awk 'NF == 3 { print $3 }' | sort -u | comm -12 - <(sort -u "$ORDER") | wc -l) of $(sort -u "$ORDER" | wc -l) functions of proxy/link-order.txt found in the binary"
    echo "# loadavg before/after: $LOAD0 / $LOAD1"
    echo "# sockmesh: $RULES-rule policy in force (GET $PATH_REQ allowed only by the last rule), --workers 1"
    echo "# $SM_NOTE"
    echo "# $SPLICE_NOTE"
    echo "# haproxy: nbthread 1, http-reuse always; nginx-proxy: 1 worker, proxy_http_version 1.1, keepalive 1024"
    if [[ "$LOGGED" == 1 ]]; then
        echo "# +log rows: access log on, to a file: sockmesh at its default level info (human format; +json: --log-format json), stdout to a file; haproxy option httplog, log stdout; nginx-proxy access_log FILE (combined)"
    fi
    echo "# origin: nginx, 1 worker, sendfile off, return 200 \"ok\\n\"; wrk -t1 -c$CONNS -d${DURATION}s; h2load -t1 -c$CONNS -mN -D $DURATION (h2c prior knowledge)"
    echo "# p50/p99: wrk --latency; h2load from --log-file per-request durations. CPU from /proc/PID/stat utime+stime (CLK_TCK $CLK_TCK)"
    echo
    python3 "$LIB" table "$ROWS" "$CLK_TCK"
    if [[ "$LOGGED" == 1 ]]; then
        # No line lost while the writer keeps up: every answered request has its line.
        for v in "sockmesh+log:sm-log:$SML_A:access: " "sockmesh+json:sm-json:$SMJ_A:\"target\":\"access\""; do
            IFS=: read -r tgt name admin needle <<<"$v"
            answered=$(awk -F'\t' -v t="$tgt" '$1 == t { n += $4 } END { print n + 0 }' "$ROWS")
            written=$(grep -c -- "$needle" "$T/$name.log" || true)
            dropped=$(curl -s "http://127.0.0.1:$admin/metrics" | awk '/^sockmesh_log_lines_dropped_total / { print $2 }')
            echo "  $tgt: $written access-log lines written for $answered requests answered in its rows (plus checks); sockmesh_log_lines_dropped_total ${dropped:-?}"
        done
    fi
    echo
    echo "sockmesh idle RSS, 1 rule:          $(kib_mib "$rss1")   (after one request: $(kib_mib "${RSS1[1]%% *}"))"
    echo "sockmesh idle RSS, $RSS_RULES rules:   $(kib_mib "$rssN")   (after one request: $(kib_mib "${RSS1[$RSS_RULES]%% *}"))   target < 10 MiB: $(awk -v k="$rssN" 'BEGIN { print (k < 10240 ? "MET" : "NOT MET") }')"
    echo "sockmesh idle RSS, $RULES rules (before load): $(kib_mib "$rssI"); after the load rows: $(kib_mib "$rssA") (peak $(kib_mib "$hwmA"))"
    echo "for comparison, after the load rows: haproxy $(kib_mib "$RSS_HA_AFTER"), nginx-proxy (master+worker) $(kib_mib "$RSS_NP_AFTER")"
} | tee "$HERE/results/latest.txt"
