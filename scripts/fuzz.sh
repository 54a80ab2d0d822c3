#!/usr/bin/env bash
# Builds the fuzz targets of proxy/fuzz (cargo-fuzz, libFuzzer, on the nightly toolchain the
# eBPF build uses) and runs each for a bounded time from its seed corpus; fails on any crash,
# with the crash's input and stack trace. docs/FUZZING.md describes the targets.
#
#   scripts/fuzz.sh [TARGET...]      (default: every target in proxy/fuzz/Cargo.toml)
#
# FUZZ_SECONDS    fuzzing time per target (default 13: about 160 s for the twelve targets)
# SOCKMESH_NIGHTLY  the toolchain to build with (default nightly)
# SOCKMESH_FUZZ_TARGET  build directory (default /var/cache/sockmesh/fuzz-target as root, else
#                  proxy/fuzz/target): outside the clone, so that a fresh CI clone on the same
#                  machine reuses the ten-minute instrumented build
#
# Installs cargo-fuzz when it is missing (`cargo install cargo-fuzz --locked`). Build output,
# the inputs each run adds (target/corpus/TARGET) and the logs (target/logs/TARGET.log) stay in
# proxy/fuzz/target/; a crash's input goes to proxy/fuzz/artifacts/TARGET/. The seed corpora
# (proxy/fuzz/corpus/TARGET) are only read.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FUZZ_DIR=$ROOT/proxy/fuzz
NIGHTLY=${SOCKMESH_NIGHTLY:-nightly}
PER_TARGET=${FUZZ_SECONDS:-13}
TRIPLE=x86_64-unknown-linux-gnu
if [ "$(id -u)" -eq 0 ]; then
  TARGET_DIR=${SOCKMESH_FUZZ_TARGET:-/var/cache/sockmesh/fuzz-target}
else
  TARGET_DIR=${SOCKMESH_FUZZ_TARGET:-$FUZZ_DIR/target}
fi
mkdir -p "$TARGET_DIR"

die() {
  echo "fuzz: $*" >&2
  exit 1
}

# (0 would be no limit at all to libFuzzer.)
case "$PER_TARGET" in
  '' | *[!0-9]* | 0) die "FUZZ_SECONDS must be a number of seconds, 1 or more: '$PER_TARGET'" ;;
esac
[ "$(uname -m)-$(uname -s)" = "x86_64-Linux" ] || die "runs on x86_64 Linux only ($TRIPLE)"

# Prerequisites: rustup's nightly (sanitizers and -Z flags need it), a C++ compiler (libfuzzer-sys
# builds libFuzzer), cargo-fuzz.
command -v rustup >/dev/null 2>&1 ||
  die "rustup not found; install it from rustup.rs, then: rustup toolchain install $NIGHTLY"
rustc +"$NIGHTLY" --version >/dev/null 2>&1 ||
  die "no '$NIGHTLY' toolchain; install one with: rustup toolchain install $NIGHTLY"
command -v c++ >/dev/null 2>&1 ||
  die "no C++ compiler (libFuzzer is C++); install one with: apt-get install -y g++"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked ||
    die "could not install cargo-fuzz; install it with: cargo install cargo-fuzz --locked"
fi

# Every target of the crate, in its Cargo.toml's order, unless named.
mapfile -t ALL < <(awk '/^\[\[bin\]\]/ { bin = 1; next }
  bin && /^name = / { gsub(/"/, "", $3); print $3; bin = 0 }' "$FUZZ_DIR/Cargo.toml")
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL[@]}")
for t in "${TARGETS[@]}"; do
  [[ " ${ALL[*]} " == *" $t "* ]] || die "no target '$t'; the targets are: ${ALL[*]}"
  [ -d "$FUZZ_DIR/corpus/$t" ] || die "no seed corpus $FUZZ_DIR/corpus/$t"
done

# The longest input each target is given: a little over its largest realistic input.
max_len() {
  case "$1" in
    request_target) echo 1024 ;;
    http1_head | h2_frames | cilium_policy) echo 8192 ;;
    *) echo 4096 ;;
  esac
}

echo "fuzz: building ${#TARGETS[@]} target(s) with $(rustc +"$NIGHTLY" --version)"
build_start=$(date +%s)
if [ "${TARGETS[*]}" = "${ALL[*]}" ]; then
  cargo +"$NIGHTLY" fuzz build --fuzz-dir "$FUZZ_DIR" --target-dir "$TARGET_DIR"
else
  for t in "${TARGETS[@]}"; do
    cargo +"$NIGHTLY" fuzz build --fuzz-dir "$FUZZ_DIR" --target-dir "$TARGET_DIR" "$t"
  done
fi
echo "fuzz: built in $(($(date +%s) - build_start)) s"

BIN=$TARGET_DIR/$TRIPLE/release
mkdir -p "$FUZZ_DIR/target/logs"
failed=()
summary=()
for t in "${TARGETS[@]}"; do
  work=$FUZZ_DIR/target/corpus/$t
  artifacts=$FUZZ_DIR/artifacts/$t
  log=$FUZZ_DIR/target/logs/$t.log
  mkdir -p "$work" "$artifacts"
  echo "fuzz: $t for ${PER_TARGET} s (max_len $(max_len "$t"))"
  start=$(date +%s)
  status=0
  # The first corpus directory receives what the run finds; the seeds are only read.
  "$BIN/$t" "$work" "$FUZZ_DIR/corpus/$t" \
    -max_total_time="$PER_TARGET" -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1 || status=$?
  took=$(($(date +%s) - start))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  runs=${runs:-?}
  corpus=$(find "$work" -type f | wc -l)
  if [ "$status" -ne 0 ]; then
    failed+=("$t")
    summary+=("$(printf '%-16s FAILED (exit %s) after %s runs in %s s' \
      "$t" "$status" "$runs" "$took")")
    echo "fuzz: $t FAILED (exit $status); the end of $log:" >&2
    tail -n 60 "$log" >&2
    echo "fuzz: crash inputs in $artifacts/:" >&2
    ls -l "$artifacts" >&2
    echo "fuzz: reproduce with: $BIN/$t $artifacts/<file>" >&2
  else
    rate=$([ "$took" -gt 0 ] && [ "$runs" != "?" ] && echo $((runs / took)) || echo "?")
    summary+=("$(printf '%-16s ok: %10s runs in %3s s (%s/s), working corpus %s inputs' \
      "$t" "$runs" "$took" "$rate" "$corpus")")
  fi
done

echo "fuzz: summary"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  die "crash in: ${failed[*]} (inputs under $FUZZ_DIR/artifacts/)"
fi
echo "fuzz: no crash in ${#TARGETS[@]} target(s)"
