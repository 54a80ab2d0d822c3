#!/usr/bin/env bash
# CI for the eBPF local hop (root): prerequisites, the checked-in object check, the root tests.
#
#   sudo scripts/ci-bpf.sh            # about 1-2 min after a debug build; +40 s object check
#
# Installs what is missing (iproute2, util-linux, curl, python3, bpftool), mounts bpffs and
# cgroup2 when absent, verifies sockmap-ebpf/obj/sockmesh.bpf.o against its sources (nightly +
# rust-src + bpf-linker, installed by build-ebpf.sh when missing), then runs the bpf_* tests,
# which fail (never skip) when something is still missing.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

if [ "$(id -u)" != 0 ]; then
  echo "ci-bpf: must run as root (BPF programs, cgroups, network namespaces)" >&2
  exit 1
fi
missing=()
for tool in ip:iproute2 nsenter:util-linux setpriv:util-linux curl:curl python3:python3 bpftool:bpftool; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool##*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ! grep -q " /sys/fs/bpf bpf " /proc/mounts; then
  mount -t bpf bpf /sys/fs/bpf
fi
if ! awk '$3 == "cgroup2" { found = 1 } END { exit !found }' /proc/mounts; then
  mkdir -p /sys/fs/cgroup/unified
  mount -t cgroup2 none /sys/fs/cgroup/unified
fi

"$ROOT/scripts/check-ebpf-object.sh"
cargo build -p sockmesh
cargo test -p sockmesh-tests --test bpf_splice --test bpf_intercept --test bpf_netns \
  --test bpf_fallback --test bpf_restart
