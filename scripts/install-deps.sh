#!/usr/bin/env bash
# Installs what the tests and benchmarks need, idempotently: Debian packages (real peers: nginx,
# curl, h2load, wrk, haproxy, kcat; DNS peers: unbound, dig, dnsperf, dnsdist; BPF tooling) and a
# Python venv at .venv with grpcio, h2 (an HTTP/2 client that can reset streams), dnspython and
# the Kafka clients (confluent-kafka, whose wheel carries librdkafka 2.16, and kafka-python);
# the tansu Kafka broker, built once into $SOCKMESH_CACHE (default /var/cache/sockmesh, outside
# the clone: the build takes about 15 minutes on two cores); as root it also mounts bpffs and
# cgroup v2 where they are missing.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# kcat: Debian's links librdkafka 2.0.2, which misreads tansu's ApiVersions v3; the tests run it
# on the librdkafka 2.16 of the confluent-kafka wheel below (tests/src/tansu.rs, `kcat`).
APT_PACKAGES=(nginx-light curl nghttp2-client wrk haproxy iproute2 python3-venv util-linux bpftool
  unbound dnsutils dnsperf dnsdist kcat)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${missing[*]}; run as root or: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The Debian nginx, unbound and dnsdist packages start system daemons (nginx on port 80, the DNS
# ones on port 53, unbound also rewriting resolv.conf through unbound-resolvconf); the tests and
# benches run their own on free ports, so the system ones are disabled and stopped.
SYSTEM_DAEMONS=(nginx unbound unbound-resolvconf dnsdist)
for d in "${SYSTEM_DAEMONS[@]}"; do
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now "$d" >/dev/null 2>&1 || true; fi
  if [ -x "/etc/init.d/$d" ] && command -v service >/dev/null 2>&1; then
    service "$d" stop >/dev/null 2>&1 || true
  fi
done
# Whatever of unbound or dnsdist still listens on port 53 (started by hand or by an init system
# that ignored the above) would answer in place of a test's resolver: stop it by its pid.
dns53_pids() {
  command -v ss >/dev/null 2>&1 || return 0
  ss -Hlnptu 'sport = :53' 2>/dev/null | grep -Eo '\("(unbound|dnsdist)",pid=[0-9]+' | grep -Eo '[0-9]+$' | sort -u
}
for pid in $(dns53_pids); do kill "$pid" 2>/dev/null || true; done
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -z "$(dns53_pids)" ] && break; sleep 0.5; done
if [ -n "$(dns53_pids)" ]; then
  echo "a system unbound or dnsdist still listens on port 53 (pids: $(dns53_pids | xargs)): stop it" >&2
  exit 1
fi

PY_PACKAGES=(grpcio==1.85.3 grpcio-tools==1.85.1 h2==4.4.1 dnspython==2.9.2
  confluent-kafka==2.16.2 kafka-python==3.0.12)
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import grpc, grpc_tools, h2, dns.message, confluent_kafka, kafka" >/dev/null 2>&1; then
  .venv/bin/pip install -q --disable-pip-version-check "${PY_PACKAGES[@]}"
fi
# The Kafka broker the tests and bench run: tansu from crates.io (see ../shared/DESIGN.md for its
# quirks). Cached by version; the tests find it through $SOCKMESH_TANSU or this path.
TANSU_VERSION=0.6.0
CACHE="${SOCKMESH_CACHE:-/var/cache/sockmesh}"
TANSU_ROOT="$CACHE/tansu-$TANSU_VERSION"
if [ ! -x "$TANSU_ROOT/bin/tansu" ]; then
  echo "building tansu $TANSU_VERSION into $TANSU_ROOT (about 15 minutes, once)"
  mkdir -p "$CACHE"
  CARGO_TARGET_DIR="$CACHE/tansu-build" cargo install --quiet "tansu@$TANSU_VERSION" --locked \
    --no-default-features --features dynostore --root "$TANSU_ROOT"
  rm -rf "$CACHE/tansu-build"
fi
# The BPF tests pin under /sys/fs/bpf and attach to cgroup v2: mount both when absent (root only).
if [ "$(id -u)" -eq 0 ]; then
  if ! grep -q " /sys/fs/bpf bpf " /proc/mounts; then
    mount -t bpf bpf /sys/fs/bpf
  fi
  if ! awk '$3 == "cgroup2" { found = 1 } END { exit !found }' /proc/mounts; then
    mkdir -p /sys/fs/cgroup/unified
    mount -t cgroup2 none /sys/fs/cgroup/unified
  fi
fi
echo "dependencies ready"
