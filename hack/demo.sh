#!/usr/bin/env bash
# agentnet's whole job, end to end, on this machine, with real parts only:
#
#   1. a development cluster with a real node: kube-apiserver, etcd, controllers,
#      scheduler, kubelet, containerd, runc, the CNI bridge, kube-proxy and CoreDNS, all
#      built from Go modules or Debian packages (hack/cluster.sh up --node; needs root)
#   2. agentnet's images built with buildah from images/*.Containerfile and loaded into
#      the node, the chart installed with `helm install` (the webhook as a Deployment)
#   3. real MCP servers (server-everything, the Python `mcp` SDK) and an `a2a-sdk` agent
#   4. XBackends and XAccessPolicies applied with kubectl
#   5. an opted-in namespace and an agent Pod: the injected native sidecar starts first
#   6. the sidecar's workload certificate and policy (agentnet-sidecar status)
#   7. the official MCP Python SDK client inside the Pod: tools/list filtered, get-sum
#      answered, echo denied with the policy named
#   8. a live policy edit that allows echo
#   9. an A2A exchange: skill summarize allowed, translate denied (and never delivered)
#  10. `agentnet-sidecar explain`, the audit lines and the metrics
#  11. teardown, also on failure or Ctrl-C: the machine is left as it was
#
# It exits non-zero if any expected outcome does not happen. Re-runnable.
#
# Environment:
#   AGENTNET_DEMO_REPORT=FILE   also write a JSON report (every outcome, the sidecar's
#                               metrics, audit lines, explain output, transcript)
#   AGENTNET_DEMO_KEEP=1        leave the cluster running afterwards
#   NO_COLOR=1                  no colours even on a terminal
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

[[ $(id -u) == 0 ]] || die "the demo runs a real Kubernetes node (containerd, kubelet, iptables): run it as root (sudo hack/demo.sh)"
LOG=$(mktemp "${TMPDIR:-/tmp}/agentnet-demo-setup.XXXXXX.log")
step() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
quiet() { # what log-file command...: run it with its output in the log, tail it on failure
  local what=$1; shift
  "$@" >>"$LOG" 2>&1 || { tail -25 "$LOG" >&2; die "$what failed (log: $LOG)"; }
}

step "prerequisites (Debian packages, Go and Rust toolchains; log: $LOG)"
quiet "hack/prereqs.sh" "$HACK_DIR/prereqs.sh"
if [[ ! -x $(testbin_dir)/kubelet ]]; then
  step "building Kubernetes v1.37.2, etcd, containerd, CoreDNS and helm from Go modules (first run only: about 15 minutes on 2 cores)"
fi
quiet "hack/testbin.sh" "$HACK_DIR/testbin.sh"
step "the MCP/A2A peers (PyPI mcp and a2a-sdk, npm server-everything)"
quiet "hack/peers.sh" "$HACK_DIR/peers.sh"
step "agentnet's images (cargo build --release, buildah bud; first run: several minutes) and the peers image"
quiet "hack/images.sh" "$HACK_DIR/images.sh" build agentnet peers node
step "the demo driver (cargo build -p agentnet-e2e --bin agentnet-demo)"
quiet "cargo build" env CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}" cargo build -q -p agentnet-e2e --bin agentnet-demo
rm -f "$LOG"
exec "$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/agentnet-demo"
