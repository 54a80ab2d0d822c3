#!/usr/bin/env bash
# The project's one test command (README "Two commands"; .ci/run calls exactly this):
# installs prerequisites, builds the binary, and runs every test of the workspace,
# including the end-to-end tests against real peers and the root/BPF tests.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
export SOCKMESH_PYTHON="$PWD/.venv/bin/python"
# The checked-in eBPF object must be what sockmap-ebpf/programs builds to (nightly + bpf-linker,
# installed on first use).
./scripts/check-ebpf-object.sh
cargo build --locked --workspace --bins
cargo test --locked --workspace
# Every codec's fuzz target for a bounded time (FUZZ_SECONDS each; docs/FUZZING.md).
./scripts/fuzz.sh
