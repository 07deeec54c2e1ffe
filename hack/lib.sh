# shellcheck shell=bash
# Shared settings for hack/ scripts: pinned versions and the cache layout.
# Sourced, never executed.

K8S_VERSION=v1.37.2
ETCD_VERSION=v3.7.0
HELM_VERSION=v3.22.0

AGENTNET_CACHE=${AGENTNET_CACHE:-$HOME/.cache/agentnet}
HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HACK_DIR/.." && pwd)

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

go_version() { go env GOVERSION 2>/dev/null; }

# The directory holding kube-apiserver, etcd, kubectl and helm for the pinned versions.
testbin_dir() {
  echo "$AGENTNET_CACHE/bin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-helm-$HELM_VERSION-$(go_version)"
}
