#!/usr/bin/env bash
# CI check: the checked-in eBPF object is exactly what the sources produce.
#
# Method: byte-for-byte comparison. scripts/build-ebpf.sh is deterministic for a given nightly
# (paths remapped, no debug info, one codegen unit, --locked), so the check rebuilds from a
# clean target directory and compares the whole file. On a mismatch it prints the difference in
# the disassembly (llvm-objdump, when installed) and the two toolchain stamps (.toolchain) to tell
# a code change from toolchain drift, and fails: rerun scripts/build-ebpf.sh and commit
# sockmap-ebpf/obj/sockmesh.bpf.o and sockmap-ebpf/obj/sockmesh.bpf.toolchain.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OBJ=$ROOT/sockmap-ebpf/obj/sockmesh.bpf.o
WORK=$(mktemp -d /tmp/sockmesh-ebpf-check.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

CARGO_TARGET_DIR="$WORK/target" "$ROOT/scripts/build-ebpf.sh" "$WORK/rebuilt.o"
if cmp -s "$OBJ" "$WORK/rebuilt.o"; then
  echo "check-ebpf-object: OK, $OBJ matches the sources (sha256 $(sha256sum "$OBJ" | cut -d' ' -f1))"
  exit 0
fi
echo "check-ebpf-object: MISMATCH: $OBJ is not what sockmap-ebpf/programs builds to" >&2
STAMP=${OBJ%.o}.toolchain
if ! cmp -s "$STAMP" "$WORK/rebuilt.toolchain"; then
  echo "check-ebpf-object: the toolchain differs, which alone can change the bytes:" >&2
  echo "  checked in with: $(tr '\n' ' ' <"$STAMP" 2>/dev/null || echo unknown)" >&2
  echo "  this machine:    $(tr '\n' ' ' <"$WORK/rebuilt.toolchain")" >&2
fi
OBJDUMP=$(command -v llvm-objdump || command -v llvm-objdump-14 || true)
if [ -n "$OBJDUMP" ]; then
  "$OBJDUMP" -d -r "$OBJ" | tail -n +3 >"$WORK/checked-in.txt" || true
  "$OBJDUMP" -d -r "$WORK/rebuilt.o" | tail -n +3 >"$WORK/rebuilt.txt" || true
  diff -u "$WORK/checked-in.txt" "$WORK/rebuilt.txt" | head -n 80 >&2 || true
fi
echo "check-ebpf-object: run scripts/build-ebpf.sh and commit sockmap-ebpf/obj/sockmesh.bpf.o and .toolchain" >&2
exit 1
