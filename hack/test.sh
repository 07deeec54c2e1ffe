#!/usr/bin/env bash
# The test command: installs what a fresh Debian machine lacks, builds the development
# cluster's binaries and agentnet's images (cached under ~/.cache/agentnet), then runs
# formatting, lints, unit and integration tests, a bounded run of each fuzz target, and
# the end-to-end tests against a real
# kube-apiserver and a real node (run as root: the node is real), and checks that the
# machine is left as it was found.
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

# The e2e clusters are stopped by watchers once the test process is gone: wait for
# them (bounded) before comparing the machine with its state before the run.
settled_host() {
  local deadline=$((SECONDS + 180))
  while [[ -n $(find "${TMPDIR:-/tmp}" -maxdepth 1 -type d -name 'agentnet-e2e-*' -print -quit) ]] &&
    ((SECONDS < deadline)); do sleep 1; done
  "$HACK_DIR/hostcheck.sh" compare "$1"
}

step "prerequisites" "$HACK_DIR/prereqs.sh"
hostcheck=$(mktemp "${TMPDIR:-/tmp}/agentnet-hostcheck.XXXXXX")
trap 'rm -f "$hostcheck"' EXIT
"$HACK_DIR/hostcheck.sh" snapshot "$hostcheck"
step "cluster binaries (Kubernetes, etcd, containerd, CoreDNS, helm)" "$HACK_DIR/testbin.sh"
step "MCP and A2A test peers" "$HACK_DIR/peers.sh"
step "ExternalAuth test authorizer (OPA-Envoy)" "$HACK_DIR/authz.sh"
step "cargo fmt --check" cargo fmt --all -- --check
step "cargo clippy" cargo clippy --workspace --all-targets -- -D warnings
step "unit and integration tests" cargo test --workspace --exclude agentnet-e2e
step "fuzz targets (${AGENTNET_FUZZ_SECONDS:-30}s each)" "$HACK_DIR/fuzz.sh" "${AGENTNET_FUZZ_SECONDS:-30}"
if ((run_e2e)); then
  [[ $(id -u) == 0 ]] || die "the end-to-end tests run a real node (containerd, kubelet, iptables): run as root, or use --no-e2e"
  step "images (agentnet: release build + buildah; node; MCP/A2A peers)" "$HACK_DIR/images.sh" build agentnet node peers
  # The harness starts its own clusters in temporary directories and stops them when
  # the test process ends; inherited KUBECONFIGs would point it elsewhere.
  # The tests mostly wait on the clusters, not the CPUs: more threads than cores.
  step "end-to-end tests" env -u KUBECONFIG -u AGENTNET_E2E_NODE_KUBECONFIG \
    RUST_TEST_THREADS="${RUST_TEST_THREADS:-6}" cargo test -p agentnet-e2e
  step "the machine is left as it was" settled_host "$hostcheck"
  summary PASSED "fmt, clippy, unit, fuzz, e2e, host unchanged"
else
  summary PASSED "fmt, clippy, unit, fuzz; e2e skipped by --no-e2e"
fi
