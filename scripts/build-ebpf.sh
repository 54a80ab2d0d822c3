#!/usr/bin/env bash
# Rebuild the checked-in eBPF object sockmap-ebpf/obj/sockmesh.bpf.o from sockmap-ebpf/programs.
#
#   scripts/build-ebpf.sh [OUTPUT]      (default OUTPUT: sockmap-ebpf/obj/sockmesh.bpf.o)
#
# Needs the nightly toolchain with rust-src and bpf-linker 0.13 built against the nightly's own
# LLVM (Debian's LLVM 14 is too old); both are installed here when missing (about 80 s for
# bpf-linker). The build is deterministic for a given nightly: paths are remapped, no debug
# info, one codegen unit; scripts/check-ebpf-object.sh verifies the checked-in object.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/sockmap-ebpf/obj/sockmesh.bpf.o}
NIGHTLY=${SOCKMESH_NIGHTLY:-nightly}

if ! rustc +"$NIGHTLY" --version >/dev/null 2>&1; then
  echo "build-ebpf: no '$NIGHTLY' toolchain; install one with: rustup toolchain install nightly" >&2
  exit 1
fi
SYSROOT=$(rustc +"$NIGHTLY" --print sysroot)
if [ ! -d "$SYSROOT/lib/rustlib/src/rust/library/core" ]; then
  echo "build-ebpf: adding rust-src to $NIGHTLY" >&2
  rustup component add rust-src --toolchain "$NIGHTLY"
fi
if ! command -v bpf-linker >/dev/null 2>&1; then
  # bpf-linker must link the same LLVM major as the nightly: point it at the nightly's libLLVM.
  LIBLLVM=$(cd "$SYSROOT/lib" && ls libLLVM.so.*-rust-*-nightly 2>/dev/null | head -n1)
  if [ -z "$LIBLLVM" ]; then
    echo "build-ebpf: no libLLVM in $SYSROOT/lib; cannot build bpf-linker" >&2
    exit 1
  fi
  MAJOR=$(echo "$LIBLLVM" | sed -E 's/libLLVM\.so\.([0-9]+)\..*/\1/')
  PREFIX=$(mktemp -d /tmp/sockmesh-llvm.XXXXXX)
  mkdir -p "$PREFIX/lib"
  ln -sf "$SYSROOT/lib/$LIBLLVM" "$PREFIX/lib/libLLVM.so"
  ln -sf "$SYSROOT/lib/$LIBLLVM" "$PREFIX/lib/$LIBLLVM"
  echo "build-ebpf: building bpf-linker 0.13.0 against LLVM $MAJOR ($LIBLLVM)" >&2
  LLVM_PREFIX="$PREFIX" cargo install bpf-linker@0.13.0 --locked --no-default-features --features "llvm-$MAJOR"
fi

LINKER_VERSION=$(bpf-linker --version 2>/dev/null || true)
case "$LINKER_VERSION" in
  "bpf-linker 0.13."*) ;;
  *)
    echo "build-ebpf: found '${LINKER_VERSION:-no bpf-linker}', need bpf-linker 0.13 (the checked-in object's linker)." >&2
    echo "build-ebpf: remove it (cargo uninstall bpf-linker) and rerun: this script builds 0.13.0 against the nightly's LLVM" >&2
    exit 1
    ;;
esac

cd "$ROOT/sockmap-ebpf/programs"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/sockmap-ebpf/programs/target}
# Remap every absolute path that could reach the object so the output does not depend on
# where the repository, the registry or the toolchain live.
export RUSTFLAGS="--remap-path-prefix=$ROOT=/sockmesh --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo --remap-path-prefix=$SYSROOT=/rust"
CARGO_TARGET_DIR="$TARGET_DIR" cargo +"$NIGHTLY" build --release --locked
mkdir -p "$(dirname "$OUT")"
cp "$TARGET_DIR/bpfel-unknown-none/release/sockmesh" "$OUT"
# The toolchain that made the object, next to it: the byte-for-byte check holds only for the
# same nightly and linker, so scripts/check-ebpf-object.sh names a drift when it sees one.
{ rustc +"$NIGHTLY" --version; echo "$LINKER_VERSION"; } >"${OUT%.o}.toolchain"
echo "build-ebpf: wrote $OUT ($(wc -c <"$OUT") bytes, sha256 $(sha256sum "$OUT" | cut -d' ' -f1))"
