#!/usr/bin/env bash
# Installs what the tests and benchmarks need, idempotently: Debian packages (real peers: nginx,
# curl, h2load, wrk, haproxy; BPF tooling) and a Python venv at .venv with grpcio and h2 (an
# HTTP/2 client that can reset streams); as root it also mounts bpffs and cgroup v2 where they
# are missing.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(nginx-light curl nghttp2-client wrk haproxy iproute2 python3-venv util-linux bpftool)

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
# The Debian nginx package starts a system nginx on port 80; the tests run their own.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now nginx >/dev/null 2>&1 || true; fi

PY_PACKAGES=(grpcio==1.85.3 grpcio-tools==1.85.1 h2==4.4.1)
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import grpc, grpc_tools, h2" >/dev/null 2>&1; then
  .venv/bin/pip install -q --disable-pip-version-check "${PY_PACKAGES[@]}"
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
