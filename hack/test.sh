#!/usr/bin/env bash
# The test command: installs what a fresh Debian machine lacks, builds the test control
# plane (cached under ~/.cache/agentnet), then runs formatting, lints, unit and
# integration tests, and the end-to-end tests against a real kube-apiserver.
#
#   hack/test.sh            everything (what CI runs)
#   hack/test.sh --no-e2e   skip the end-to-end suite (quick local loop)
#
# Ends with one summary line; exits non-zero if any step failed.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

run_e2e=1
for arg in "$@"; do
  case $arg in
    --no-e2e) run_e2e=0 ;;
    *) die "unknown argument: $arg (usage: hack/test.sh [--no-e2e])" ;;
  esac
done

# One full build, not an edit loop: incremental caches would only cost disk (tens of GB).
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}

start=$SECONDS
declare -a results=()
step() { # name, command...
  local name=$1; shift
  local t=$SECONDS
  log "$name"
  if "$@"; then
    results+=("$name: ok ($((SECONDS - t))s)")
  else
    results+=("$name: FAILED ($((SECONDS - t))s)")
    summary FAILED "$name"
    exit 1
  fi
}
summary() {
  printf '\n' >&2
  printf '  %s\n' "${results[@]}" >&2
  if [[ $1 == PASSED ]]; then
    printf '\033[1;32magentnet tests: PASSED\033[0m (%s) in %ss\n' "$2" "$((SECONDS - start))"
  else
    printf '\033[1;31magentnet tests: FAILED\033[0m at step "%s" after %ss\n' "$2" "$((SECONDS - start))"
  fi
}

step "prerequisites" "$HACK_DIR/prereqs.sh"
step "control-plane binaries" "$HACK_DIR/testbin.sh"
step "MCP and A2A test peers" "$HACK_DIR/peers.sh"
step "ExternalAuth test authorizer (OPA-Envoy)" "$HACK_DIR/authz.sh"
step "cargo fmt --check" cargo fmt --all -- --check
step "cargo clippy" cargo clippy --workspace --all-targets -- -D warnings
step "unit and integration tests" cargo test --workspace --exclude agentnet-e2e
if ((run_e2e)); then
  # The harness starts its own control plane in a temporary directory and stops it
  # when the test process ends; an inherited KUBECONFIG would point it elsewhere.
  step "end-to-end tests" env -u KUBECONFIG cargo test -p agentnet-e2e
  summary PASSED "fmt, clippy, unit, e2e"
else
  summary PASSED "fmt, clippy, unit; e2e skipped by --no-e2e"
fi
