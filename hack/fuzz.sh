#!/usr/bin/env bash
# Runs each cargo-fuzz target (fuzz/fuzz_targets) for a bounded time, from the seeds in
# fuzz/seeds plus a corpus kept under ~/.cache/agentnet/fuzz (so later runs start where
# earlier ones stopped). A crash fails the run and leaves its input in fuzz/artifacts.
#
#   hack/fuzz.sh                 30 s per target (what the test command runs)
#   hack/fuzz.sh --release 600   10 minutes per target, optimized
#
# Without --release the targets are built unoptimized: that build takes about half the
# time of the optimized one (every dependency is instrumented), which matters more to a
# 30-second smoke run than the executions per second do.
#
# Needs the nightly toolchain and cargo-fuzz (hack/prereqs.sh installs both).
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT/fuzz"

profile=(--dev)
if [[ ${1:-} == --release ]]; then profile=(); shift; fi
seconds=${1:-30}
[[ $seconds =~ ^[0-9]+$ ]] && ((seconds > 0)) || die "usage: hack/fuzz.sh [--release] [seconds per target]"
# The instrumented build is large and slow (every dependency, twice the code): cache it
# with the other heavy builds rather than in the checkout.
export CARGO_TARGET_DIR=$AGENTNET_CACHE/fuzz/target
corpus_root=$AGENTNET_CACHE/fuzz/corpus

# Safe Rust throughout, so the address sanitizer finds little that debug assertions
# (overflow, bounds) do not; without it the build and the runs are much faster.
flags=(--sanitizer none --debug-assertions "${profile[@]}")
log "building the fuzz targets (nightly, instrumented)"
cargo +nightly fuzz build "${flags[@]}" >&2

for target in $(cargo +nightly fuzz list); do
  corpus=$corpus_root/$target
  mkdir -p "$corpus"
  log "fuzzing $target for ${seconds}s"
  out=$(mktemp "${TMPDIR:-/tmp}/agentnet-fuzz-$target.XXXXXX")
  if ! cargo +nightly fuzz run "${flags[@]}" "$target" "$corpus" "seeds/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 >"$out" 2>&1; then
    tail -40 "$out" >&2
    rm -f "$out"
    die "fuzz target $target failed; the input is in fuzz/artifacts/$target"
  fi
  # libFuzzer's final statistics: executions and their rate, the corpus it ended with.
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out")
  cov=$(grep -o 'cov: [0-9]*' "$out" | tail -1)
  log "$target: ${runs:-?} executions in ${seconds}s (${rate:-?}/s), ${cov:-cov: ?}, corpus $(find "$corpus" -type f | wc -l) inputs, no crash"
  rm -f "$out"
done
