#!/usr/bin/env bash
# CI for the eBPF local hop (root): prerequisites, the checked-in object check, the root tests.
#
#   sudo scripts/ci-bpf.sh            # about 1-2 min after a debug build; +40 s object check
#
# Installs what is missing and mounts bpffs and cgroup2 when absent (scripts/install-deps.sh), verifies sockmap-ebpf/obj/sockmesh.bpf.o against its sources (nightly +
# rust-src + bpf-linker, installed by build-ebpf.sh when missing), then runs the bpf_* tests,
# which fail (never skip) when something is still missing.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

if [ "$(id -u)" != 0 ]; then
  echo "ci-bpf: must run as root (BPF programs, cgroups, network namespaces)" >&2
  exit 1
fi
"$ROOT/scripts/install-deps.sh"
"$ROOT/scripts/check-ebpf-object.sh"
cargo build -p sockmesh
cargo test -p sockmesh-tests --test bpf_splice --test bpf_intercept --test bpf_netns \
  --test bpf_fallback --test bpf_restart --test bpf_xds --test bpf_dns_intercept
